"""The evaluator's parts against in-memory fakes of its ports: no NATS, no ClickHouse."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from gospublic.contracts import Organisation, OrganisationsRegistered, PageRef, Platform
from gospublic.settings import Settings
from services.evaluator import flusher as flusher_module
from services.evaluator.batchlog import Replay
from services.evaluator.main import Evaluator
from services.evaluator.profiles import load_profile
from services.evaluator.restart import Replays, RestartHold
from services.evaluator.state import EvaluatorState

PROFILE = load_profile("federal-min")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeMsg:
    """A JetStream message as the evaluator sees it; its replies are recorded."""

    seq: int
    data: bytes
    delivered: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    log: list[str] | None = None  # shared with the store: the order of acks and inserts

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(
            sequence=SimpleNamespace(stream=self.seq), num_delivered=self.delivered
        )

    async def _reply(self, how: str) -> None:
        self.replies.append(how)
        if self.log is not None:
            self.log.append(f"{how} {self.seq}")

    async def ack(self) -> None:
        await self._reply("ack")

    async def nak(self, delay: float | None = None) -> None:
        await self._reply("nak")

    async def in_progress(self) -> None:
        await self._reply("in_progress")


class FakeStore:
    def __init__(self, log: list[str], failures: list[Exception] | None = None) -> None:
        self.log = log
        self.failures = failures or []
        self.rows: dict[str, int] = {}

    async def insert_tables(self, inserts, written: dict[str, int]) -> None:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        for table, rows, _, _ in inserts:
            if rows:
                self.rows[table] = self.rows.get(table, 0) + len(rows)
                written[table] = len(rows)
                self.log.append(f"insert {table}")


class FakeOutbox:
    def __init__(self) -> None:
        self.published: list[Any] = []
        self.dead: list[tuple[int, str]] = []

    async def publish(self, messages) -> None:
        self.published.extend(messages)

    async def dead_letter(self, raw, reason) -> None:
        self.dead.append((raw.seq, str(reason)))


def org_event(i: int) -> OrganisationsRegistered:
    oid = f"10236010000{i:02d}"
    org = Organisation(
        org_id=oid, name=f"Школа {i}", level="municipal", founder="Отдел образования",
        municipality="Лискинский район", sphere="education",
        pages=(PageRef(platform=Platform.VK, native_id=f"club{i}", org_id=oid),),
    )  # fmt: skip
    return OrganisationsRegistered.create(
        observed_at=T0, registry_version="v", region="36", chunk=0, chunks=1, organisations=(org,)
    )


def evaluator(store: FakeStore, outbox: FakeOutbox, **settings: Any) -> Evaluator:
    config = Settings(_env_file=None, **{"batch_max_messages": 10, **settings})
    return Evaluator(config, PROFILE, store, EvaluatorState(), outbox=outbox)  # type: ignore[arg-type]


def messages(n: int, log: list[str] | None = None, start: int = 1) -> list[FakeMsg]:
    return [FakeMsg(i, org_event(i).to_bytes(), log=log) for i in range(start, start + n)]


async def test_a_batch_is_acknowledged_only_after_its_rows_are_stored() -> None:
    log: list[str] = []
    store, outbox = FakeStore(log), FakeOutbox()
    ev = evaluator(store, outbox)
    msgs = messages(3, log)
    await ev.receive(msgs)
    token, batch = ev.next_batch()
    await ev.flush(batch, token=token)
    first_ack = min(i for i, line in enumerate(log) if line.startswith("ack"))
    last_insert = max(i for i, line in enumerate(log) if line.startswith("insert"))
    assert last_insert < first_ack
    assert [m.replies for m in msgs] == [["ack"]] * 3
    assert store.rows["organisations"] == 3
    assert ev.state.open_transactions == 0 and len(ev.state.orgs) == 3
    assert outbox.published  # the registered organisations' presence verdicts and scores


async def test_a_passing_store_failure_is_retried_in_place(monkeypatch) -> None:
    monkeypatch.setattr(flusher_module, "IN_PLACE_BACKOFF_S", 0.01)
    log: list[str] = []
    store = FakeStore(log, failures=[ConnectionError("ClickHouse away")] * 2)
    ev = evaluator(store, FakeOutbox())
    monkeypatch.setattr(ev.flusher, "is_data_error", lambda exc: False)
    msgs = messages(2, log)
    await ev.receive(msgs)
    storing = []
    original = ev.readiness.set_storing
    monkeypatch.setattr(
        ev.readiness, "set_storing", lambda ok, exc=None: (storing.append(ok), original(ok, exc))
    )
    _, batch = ev.next_batch()
    await ev.flush(batch)
    # Not ready while it failed, ready again once stored; the messages were kept in progress
    # between attempts, never nak'ed, and acknowledged once.
    assert storing == [False, False, True] and ev.storing
    assert [m.replies for m in msgs] == [["in_progress", "in_progress", "ack"]] * 2
    assert store.rows["organisations"] == 2 and ev.state.open_transactions == 0


async def test_a_message_at_fault_is_isolated_and_dead_lettered(monkeypatch) -> None:
    store, outbox = FakeStore([]), FakeOutbox()
    ev = evaluator(store, outbox)
    msgs = messages(4)

    calls = []
    real = store.insert_tables

    async def insert_tables(inserts, written):
        rows = dict((t, r) for t, r, _, _ in inserts)
        calls.append(len(rows.get("organisations", [])))
        if any(row[0].endswith("03") for row in rows.get("organisations", [])):
            raise ValueError("unstorable")
        await real(inserts, written)

    monkeypatch.setattr(store, "insert_tables", insert_tables)
    monkeypatch.setattr(ev.flusher, "is_data_error", lambda exc: True)  # the rows are at fault
    await ev.receive(msgs)
    _, batch = ev.next_batch()
    await ev.flush(batch)
    assert [seq for seq, _ in outbox.dead] == [3]
    assert store.rows["organisations"] == 3
    assert all(m.replies == ["ack"] for m in msgs)
    assert len(ev.state.orgs) == 3


async def test_a_late_copy_of_a_stored_message_is_acknowledged_not_evaluated() -> None:
    store = FakeStore([])
    ev = evaluator(store, FakeOutbox())
    await ev.receive(messages(2))
    _, batch = ev.next_batch()
    await ev.flush(batch)
    copy = messages(1)[0]
    copy.delivered = 2
    await ev.receive([copy])
    assert copy.replies == ["ack"] and not ev.buffer
    assert store.rows["organisations"] == 2


async def test_a_copy_of_a_held_message_is_acknowledged_with_it() -> None:
    ev = evaluator(FakeStore([]), FakeOutbox())
    original, copy = messages(1)[0], messages(1)[0]
    await ev.receive([original, copy])
    assert len(ev.buffer) == 1 and not copy.replies
    _, batch = ev.next_batch()
    await ev.flush(batch)
    assert original.replies == ["ack"] and copy.replies == ["ack"]


async def test_an_invalid_message_is_dead_lettered_at_once() -> None:
    outbox = FakeOutbox()
    ev = evaluator(FakeStore([]), outbox)
    bad = FakeMsg(7, b"{not json")
    await ev.receive([bad])
    assert [seq for seq, _ in outbox.dead] == [7] and bad.replies == ["ack"]


def test_a_recorded_batch_is_reassembled_in_stream_order() -> None:
    ready = []
    replays = Replays(
        {"tok": Replay("tok", frozenset({5, 6, 7}))}, on_ready=lambda: ready.append(1)
    )
    msgs = messages(3, start=5)
    assert not replays.take(FakeMsg(9, b""), None)  # not of the batch
    assert replays.take(msgs[2], "c") and replays.take(msgs[0], "a")
    assert not replays.ready and replays
    assert replays.take(msgs[1], "b")
    assert ready == [1] and not replays
    token, batch = replays.next_ready()
    assert token == "tok" and [event for _, event in batch] == ["a", "b", "c"]


async def test_an_incomplete_replay_is_flushed_under_a_new_token_after_patience() -> None:
    now = [0.0]
    replays = Replays({"tok": Replay("tok", frozenset({5, 6}))}, clock=lambda: now[0])
    replays.take(messages(1, start=6)[0], "b")
    assert not replays.overdue(600)
    now[0] = 601
    assert replays.overdue(600)
    replays.give_up()
    token, batch = replays.next_ready()
    assert token is None and [event for _, event in batch] == ["b"]


def test_newer_messages_wait_for_a_crashed_runs_unacknowledged_ones() -> None:
    now = [0.0]
    hold = RestartHold(clock=lambda: now[0])
    hold.start(delivered_seq=10, unacked=2, patience_s=30)
    assert hold.active
    assert hold.hold(FakeMsg(12, b""), "new") == []
    assert hold.hold(FakeMsg(9, b""), "old 9") == []
    released = hold.hold(FakeMsg(4, b""), "old 4")
    assert [event for _, event in released] == ["old 4", "old 9", "new"]
    assert not hold.active


def test_patience_ends_the_hold() -> None:
    now = [0.0]
    hold = RestartHold(clock=lambda: now[0])
    hold.start(delivered_seq=10, unacked=5, patience_s=30)
    assert hold.hold(FakeMsg(12, b""), "new") == [] and not hold.overdue()
    now[0] = 31
    assert hold.overdue()
    assert [event for _, event in hold.release()] == ["new"]


def test_nothing_left_behind_means_no_hold() -> None:
    hold = RestartHold()
    hold.start(delivered_seq=10, unacked=0, patience_s=30)
    assert not hold.active


async def test_a_stop_during_an_outage_hands_the_batch_back_for_a_replay(monkeypatch) -> None:
    monkeypatch.setattr(flusher_module, "IN_PLACE_BACKOFF_S", 0.05)
    store = FakeStore([], failures=[ConnectionError("ClickHouse away")] * 1000)
    ev = evaluator(store, FakeOutbox())
    monkeypatch.setattr(ev.flusher, "is_data_error", lambda exc: False)
    msgs = messages(2)
    await ev.receive(msgs)
    _, batch = ev.next_batch()
    flushing = asyncio.create_task(ev.flush(batch))
    await asyncio.sleep(0.3)  # a few attempts in place
    assert not flushing.done() and not ev.storing
    await ev.stop()
    await asyncio.wait_for(flushing, 5)
    # Naked for a redelivery (never acked), and awaited as the same batch under the same token.
    assert all(m.replies[-1] == "nak" and "ack" not in m.replies for m in msgs)
    assert ev.replays and ev.state.open_transactions == 0 and not ev.state.orgs
