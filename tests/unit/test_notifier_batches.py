"""Alert batches: the ``AlertBatch`` contract, the evaluator's packing, the notifier's fast decoder
(checked against ``contracts.decode``) and the intake taking batches next to single messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gospublic import contracts as c
from services.evaluator.writer import alert_messages
from services.notifier import fastdecode
from services.notifier.compact import compact
from services.notifier.intake import Intake
from services.notifier.pipeline import Pipeline
from services.notifier.state import Held
from services.notifier.subscriptions import parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def labels(n: int = 1, **changes: str) -> c.AlertLabels:
    values = {
        "org_id": f"10236000000{n:02d}",
        "org_name": f"МБОУ СОШ {n}",
        "founder": "Отдел образования",
        "municipality": "Борисоглебский городской округ",
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": f"2100001{n:02d}",
        "page_url": f"https://vk.com/club2100001{n:02d}",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    return c.AlertLabels(**{**values, **changes})


def opened(vid: str, at: datetime = T0, n: int = 1) -> c.ViolationOpened:
    return c.ViolationOpened.create(
        event_id=f"open-{vid}-{at.timestamp():.0f}",
        violation_id=vid,
        labels=labels(n),
        summary=f"Описание короче 50 знаков ({vid})",
        basis="описание",
        value="12",
        threshold="50",
        observed_at=at,
        opened_at=at,
    )


def resolved(vid: str, at: datetime, n: int = 1) -> c.ViolationResolved:
    return c.ViolationResolved.create(
        event_id=f"resolved-{vid}-{at.timestamp():.0f}",
        violation_id=vid,
        labels=labels(n),
        summary="Описание есть",
        opened_at=T0,
        resolved_at=at,
        observed_at=at,
    )


def scores(n: int = 1, card: bool = True) -> c.ScoresUpdated:
    org = labels(n)
    return c.ScoresUpdated.create(
        event_id=f"scores-{n}",
        labels=c.OrgLabels(**{k: getattr(org, k) for k in c.OrgLabels.model_fields}),
        scores={"design": 62.5, "frequency": 40, "compliance": 71.4},
        scored_at=T0,
        observed_at=T0,
        scorecard=c.OrgScorecard(total=7.5, out_of=10, colour="yellow", version=1)
        if card
        else None,
    )


def batch(*items: c.Event) -> bytes:
    [(_, payload)] = c.alert_batches(list(items))
    return payload


# --- the contract and the packing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "max_items", "max_bytes", "sizes"),
    [
        (0, 500, 1 << 20, []),
        (1, 500, 1 << 20, [1]),
        (7, 3, 1 << 20, [3, 3, 1]),
        (6, 3, 1 << 20, [3, 3]),
        (5, 500, 1, [1, 1, 1, 1, 1]),  # an item over the byte bound goes alone
        (5, 500, "two items", [2, 2, 1]),
    ],
)
def test_alert_batches_are_bounded_and_keep_the_order(
    count: int, max_items: int, max_bytes: int | str, sizes: list[int]
) -> None:
    events = [opened(f"v{i}") for i in range(count)]
    if max_bytes == "two items":  # room for two items (and their commas), not three
        max_bytes = 2 * (len(events[0].to_bytes()) + 1) + 1
    packed = c.alert_batches(events, max_items=max_items, max_bytes=max_bytes)
    decoded = [c.decode(payload) for _, payload in packed]
    assert [len(b.items) for b in decoded] == sizes
    assert [item for b in decoded for item in b.items] == events
    for (event_id, payload), b in zip(packed, decoded, strict=True):
        assert isinstance(b, c.AlertBatch) and b.schema_ == "AlertBatch/1"
        assert b.event_id == event_id
        assert b.to_bytes() == payload  # exactly what the model itself writes
        assert b.observed_at == max(item.observed_at for item in b.items)
        if len(b.items) > 1:
            assert sum(len(item.to_bytes()) + 1 for item in b.items) <= max_bytes


def test_a_batch_id_depends_on_its_items_and_their_order_only() -> None:
    a, b = opened("a"), opened("b")
    [(first, _)] = c.alert_batches([a, b])
    [(again, _)] = c.alert_batches([opened("a"), opened("b")])
    [(swapped, _)] = c.alert_batches([b, a])
    assert first == again != swapped


def test_the_evaluator_publishes_a_flush_as_batches_alerts_first() -> None:
    alerts = [opened("v1"), resolved("v2", T0 + timedelta(hours=1))]
    out = alert_messages(alerts, [scores()])
    assert [m.subject for m in out] == [c.ALERT_BATCH_SUBJECT]
    assert out[0].msg_id == c.decode(out[0].payload).event_id
    assert c.decode(out[0].payload).items == (*alerts, scores())
    assert alert_messages([], []) == []


def _with_item(item: dict) -> bytes:
    good = json.loads(batch(opened("v1")))
    good["items"].append(item)
    return json.dumps(good, ensure_ascii=False).encode()


_OPENED = json.loads(opened("v2").to_bytes())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_with_item({**_OPENED, "schema": "ViolationOpened/2"}), "items.1"),
        (_with_item(json.loads(c.CollectTask.create(
            sweep_id="s", platform="vk", pages=(), observed_at=T0).to_bytes())), "items.1"),
        (_with_item({**_OPENED, "summary": "x" * 5001}), "items.1"),
        (_with_item({**_OPENED, "extra": 1}), "items.1"),
        (_with_item({k: v for k, v in _OPENED.items() if k != "schema"}), "items.1"),
        (json.dumps({"schema": "AlertBatch/1", "observed_at": "2025-03-03T09:00:00Z",
                     "items": [_OPENED] * 501}).encode(), "items"),
        (b'{"schema":"AlertBatch/2","observed_at":"2025-03-03T09:00:00Z","items":[]}',
         "unsupported version"),
    ],
)  # fmt: skip
def test_a_bad_batch_is_refused_whole_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(c.ContractError) as refused:
        c.decode(data)
    assert reason in refused.value.reason
    with pytest.raises(c.ContractError) as fast:
        fastdecode.decode(data)
    assert fast.value.reason == refused.value.reason


# --- the fast decoder against contracts.decode -----------------------------------------------


_BATCH = batch(opened("v1"), resolved("v2", T0 + timedelta(hours=2)), scores(), scores(2, False))
_ACCEPTED = [
    _BATCH,
    opened("v3").to_bytes(),
    resolved("v3", T0 + timedelta(days=1)).to_bytes(),
    scores(card=False).to_bytes(),
    b'{"schema":"AlertBatch/1","event_id":"e","observed_at":"2025-03-03T09:00:00Z","items":[]}',
    # What the fast path leaves to pydantic, which accepts it:
    _BATCH.replace(b"09:00:00Z", b"09:00:00.12345678Z", 1),  # a fraction beyond microseconds
    opened("v3").to_bytes().replace(b'"event_id":"open-v3-1740992400",', b""),  # generated id
    scores().to_bytes().replace(b'"version":1', b'"version":1.0'),  # an int as 1.0
    opened("v3").to_bytes().replace(b"09:00:00Z", b"12:00:00+03:00"),  # an offset
]


@pytest.mark.parametrize("data", _ACCEPTED)
def test_the_fast_decoder_reads_what_contracts_decode_reads(data: bytes) -> None:
    fast, careful = fastdecode.decode(data), c.decode(data)
    assert type(fast) is type(careful)
    if "event_id" in json.loads(data):
        assert fast == careful
        assert fast.to_bytes() == careful.to_bytes()
    items = fast.items if isinstance(fast, c.AlertBatch) else (fast,)
    for item in items:
        assert compact(item) is item


@pytest.mark.parametrize(
    "data",
    [
        b'{"schema":"ViolationOpened/1","schema":"CollectTask/1"}',
        _BATCH.replace(b'"org_id":"1023600000001"', b'"org_id":1023600000001', 1),
        _BATCH.replace(b'"severity":"high"', b'"severity":"urgent"', 1),
        _BATCH.replace(b'"design":62.5', b'"design":162.5', 1),
        _BATCH.replace(b'"summary":"', b'"summary":"\\ud800', 1),
        _BATCH.replace(b"09:00:00Z", b"09:00:00", 1),  # a naive time
        _BATCH[:-1],
        b"[]",
        c.CollectTask.create(sweep_id="s", platform="vk", pages=(), observed_at=T0).to_bytes(),
    ],
)
def test_the_fast_decoder_refuses_what_contracts_decode_refuses(data: bytes) -> None:
    try:
        careful = c.decode(data)
    except c.ContractError as exc:
        with pytest.raises(c.ContractError) as fast:
            fastdecode.decode(data)
        assert (fast.value.reason, fast.value.kind) == (exc.reason, exc.kind)
    else:  # a valid event of another kind: the intake refuses it by type
        assert fastdecode.decode(data) == careful


def test_a_repeated_schema_key_in_an_item_takes_the_careful_path() -> None:
    data = _BATCH.replace(
        b'"schema":"ViolationOpened/1"', b'"schema":"ScoresUpdated/2","schema":"ViolationOpened/1"'
    )
    assert fastdecode.decode(data) == c.decode(data)


# --- the intake ------------------------------------------------------------------------------


@dataclass
class Msg:
    data: bytes
    subject: str = c.ALERT_BATCH_SUBJECT
    headers: dict | None = None


@dataclass
class Store:
    alerts: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    fail: bool = False

    async def save_alerts(self, messages: list) -> None:
        if self.fail:
            raise ConnectionError("KV unavailable")
        for event in (e for m in messages for e in m.latest):
            if isinstance(event, c.ScoresUpdated):
                self.scores[event.labels.org_id] = event
            else:
                self.alerts[event.violation_id] = event

    async def forget_alerts(self, violation_ids: list[str]) -> None:
        for vid in violation_ids:
            self.alerts.pop(vid, None)


@dataclass
class Bus:
    replies: list[tuple[bytes, str]] = field(default_factory=list)
    dead: list[tuple[bytes, str]] = field(default_factory=list)

    async def reply(self, msg: Any, how: str, *, delay: float | None = None) -> bool:
        self.replies.append((msg.data, how))
        return True

    async def reply_all(self, msgs: list[Any], how: str) -> bool:
        self.replies.extend((msg.data, how) for msg in msgs)
        return True

    async def dead_letter(self, data: bytes, error: c.ContractError, headers: dict) -> None:
        self.dead.append((data, error.reason))


@dataclass
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


def intake(store: Store, bus: Bus) -> tuple[Intake, Held]:
    subs = parse_subscriptions(
        {
            "routes": [
                {
                    "name": "all",
                    "receivers": {"email": ["ops@example.org"]},
                    "group_by": ["municipality"],
                    "group_wait": "0s",
                }
            ]
        }
    )
    held = Held(Pipeline(subs), Clock())
    return Intake(held, store, bus, max_message_bytes=1 << 20), held


def notified(held: Held) -> list[tuple[list[str], list[str]]]:
    """What the due notifications say (firing ids, resolved ids), each marked sent."""
    out = []
    for note in held.pipeline.due(held.clock.now()):
        out.append((sorted(e.violation_id for e in note.firing), sorted(note.resolved_ids)))
        held.pipeline.mark_sent(note, held.clock.now())
    return out


LATER = T0 + timedelta(hours=1)
_CASES = {
    "a batch of alerts and scores": (
        [[batch(opened("v1"), opened("v2"), scores())]],
        {"acks": 1, "dead": 0, "naks": 0, "firing": ["v1", "v2"], "scores": 1},
    ),
    "single messages of older evaluators next to a batch": (
        [[opened("v1").to_bytes(), batch(opened("v2")), scores().to_bytes()]],
        {"acks": 3, "dead": 0, "naks": 0, "firing": ["v1", "v2"], "scores": 1},
    ),
    "opened and resolved in one batch end resolved": (
        [[batch(opened("v1"), opened("v2"), resolved("v1", T0))]],
        {"acks": 1, "dead": 0, "naks": 0, "firing": ["v2"], "scores": 0},
    ),
    "a replayed batch notifies nobody twice": (
        [[batch(opened("v1"), opened("v2"))], [batch(opened("v1"), opened("v2"))]],
        {"acks": 2, "dead": 0, "naks": 0, "firing": ["v1", "v2"], "scores": 0},
    ),
    "a replay in another composition notifies nobody twice": (
        [[batch(opened("v1"), opened("v2"))], [batch(opened("v2")), batch(opened("v1"))]],
        {"acks": 3, "dead": 0, "naks": 0, "firing": ["v1", "v2"], "scores": 0},
    ),
    "a bad batch is dead-lettered whole, the good one taken": (
        [[_with_item({**_OPENED, "value": "x" * 501}), batch(opened("v3"))]],
        {"acks": 1, "dead": 1, "naks": 0, "firing": ["v3"], "scores": 0},
    ),
}


@pytest.mark.parametrize(("deliveries", "expected"), list(_CASES.values()), ids=list(_CASES))
async def test_the_intake_takes_batches_like_the_alerts_they_hold(
    deliveries: list[list[bytes]], expected: dict
) -> None:
    store, bus = Store(), Bus()
    take, held = intake(store, bus)
    firing: list[str] = []
    for delivery in deliveries:
        await take.handle([Msg(data) for data in delivery])
        for ids, _ in notified(held):
            firing.extend(ids)
    assert sorted(firing) == expected["firing"]  # each new alert announced exactly once
    assert [how for _, how in bus.replies].count("ack") == expected["acks"] + expected["dead"]
    assert [how for _, how in bus.replies].count("nak") == expected["naks"]
    assert len(bus.dead) == expected["dead"]
    assert len(store.scores) == expected["scores"]
    # Every message gets exactly one reply.
    assert len(bus.replies) == sum(map(len, deliveries))


async def test_a_batch_the_store_refused_is_nakked_once_and_taken_on_redelivery() -> None:
    store, bus = Store(fail=True), Bus()
    take, held = intake(store, bus)
    message = batch(opened("v1"), scores())
    await take.handle([Msg(message), Msg(opened("v9").to_bytes())])
    assert [how for _, how in bus.replies] == ["nak", "nak"]
    assert notified(held) == [] and store.alerts == {}
    store.fail = False
    await take.handle([Msg(message)])
    assert bus.replies[-1] == (message, "ack")
    assert notified(held) == [(["v1"], [])]
    assert set(store.alerts) == {"v1"} and len(store.scores) == 1


async def test_a_resolution_in_a_later_batch_is_announced() -> None:
    store, bus = Store(), Bus()
    take, held = intake(store, bus)
    await take.handle([Msg(batch(opened("v1"), opened("v2")))])
    assert notified(held) == [(["v1", "v2"], [])]
    held.clock.at = LATER + timedelta(minutes=10)
    await take.handle([Msg(batch(resolved("v1", LATER)))])
    assert notified(held) == [(["v2"], ["v1"])]


async def test_a_flush_leaves_out_a_notification_still_in_delivery_and_waits_for_it() -> None:
    store, bus = Store(), Bus()
    take, held = intake(store, bus)
    await take.handle([Msg(batch(opened("v1"), opened("v2")))])
    pipeline = held.pipeline
    [first] = pipeline.due(T0)
    # While it is on its way, v2 resolves and the group's timer expires again.
    held.clock.at = LATER
    await take.handle([Msg(batch(resolved("v2", LATER)))])
    assert pipeline.due(LATER, busy={first.log_key}) == []
    assert "v2" in pipeline.alerts  # that flush is not finished: v2 waits for its notice
    pipeline.mark_sent(first, LATER)
    [second] = pipeline.due(LATER + timedelta(hours=1))
    assert (second.firing_ids, second.resolved_ids) == ({"v1"}, {"v2"})
    assert [e.violation_id for e in second.resolved] == ["v2"]
