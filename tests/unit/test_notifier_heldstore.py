"""The held alerts stored one value per ALERTS message: what a restart reads back is each alert's
newest event, never an older one that a deleted value used to shadow."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from gospublic import contracts as c
from services.notifier.heldstore import HeldStore, StoredMessage, held_id

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def labels(vid: str) -> c.AlertLabels:
    return c.AlertLabels(
        org_id="1023600000001",
        org_name="МБОУ СОШ №1",
        founder="Отдел образования",
        municipality="Город",
        sphere="education",
        level="municipal",
        platform="vk",
        page_id=vid,
        page_url=f"https://vk.com/club{vid}",
        rule="STALE",
        severity="high",
    )


def opened(vid: str, at: int) -> c.ViolationOpened:
    when = T0 + timedelta(minutes=at)
    return c.ViolationOpened.create(
        event_id=f"open-{vid}-{at}",
        violation_id=vid,
        labels=labels(vid),
        summary="s",
        observed_at=when,
        opened_at=when,
    )


def resolved(vid: str, at: int) -> c.ViolationResolved:
    when = T0 + timedelta(minutes=at)
    return c.ViolationResolved.create(
        event_id=f"resolve-{vid}-{at}",
        violation_id=vid,
        labels=labels(vid),
        summary="s",
        observed_at=when,
        opened_at=T0,
        resolved_at=when,
    )


class Bucket:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.puts = 0

    async def put_all(self, items: list[tuple[str, bytes]]) -> None:
        self.puts += len(items)
        for key, value in items:
            # A stream's order: a key written again is read after the others (scan_kv reads the
            # values in the order of their last write, as the events of equal time came).
            self.values.pop(key, None)
            self.values[key] = value

    async def delete(self, key: str) -> None:
        self.values.pop(key, None)

    def store(self) -> HeldStore:
        return HeldStore(self.put_all, self.delete, lambda vid: f"resolved.{vid}")

    def held(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.values.items() if k.startswith("held.")]


class Notifier:
    """What the intake and the pipeline do with the store: the newest event per violation, the
    messages holding one stored, and a resolved alert forgotten once dealt with."""

    def __init__(self, bucket: Bucket) -> None:
        self.store = bucket.store()
        alerts, scores = self.store.load(bucket.held())
        self.held: dict[str, Any] = {held_id(e): e for e in (*alerts, *scores)}
        self.store.latest_of = self.held.get

    async def take(self, *events) -> None:
        payload = [e for _, payload in c.alert_batches(list(events)) for e in [payload]]
        assert len(payload) == 1
        latest, others = [], []
        for event in events:
            held = self.held.get(held_id(event))
            if held is not None and not newer(held, event):
                others.append(held_id(event))
            else:
                self.held[held_id(event)] = event
                latest.append(event)
        if latest:
            await self.store.save([StoredMessage(payload[0], latest, others)])

    async def forget(self, *vids: str) -> None:
        for vid in vids:
            assert isinstance(self.held.pop(vid), c.ViolationResolved)
        await self.store.forget(list(vids))


def newer(held, event) -> bool:
    if isinstance(event, c.ScoresUpdated):
        return held.scored_at <= event.scored_at
    return held.event_id != event.event_id and _when(held) <= _when(event)


def _when(event) -> datetime:
    return event.resolved_at if isinstance(event, c.ViolationResolved) else event.opened_at


async def restart(bucket: Bucket, before: Notifier | None = None) -> Notifier:
    """A new notifier on the bucket. Given the one before, what came back that it had forgotten
    must be resolved (a forgotten alert is a resolved one), and is forgotten again, as the
    pipeline does with a resolved alert nobody was told about."""
    notifier = Notifier(bucket)
    await notifier.store.prune()
    if before is not None:
        back = [vid for vid in notifier.held if vid not in before.held]
        for vid, event in notifier.held.items():
            if vid in before.held:
                assert event == before.held[vid]
        await notifier.forget(*back)
        assert notifier.held == before.held
    return notifier


async def test_one_put_per_message_and_a_restart_reads_the_newest_events() -> None:
    bucket = Bucket()
    notifier = Notifier(bucket)
    await notifier.take(*(opened(f"v{n}", 0) for n in range(300)))
    assert bucket.puts == 1
    await notifier.take(resolved("v1", 5), opened("v300", 5))
    assert bucket.puts == 3  # the message, and the resolution kept for the digest
    again = await restart(bucket)
    assert again.held == notifier.held
    assert isinstance(again.held["v1"], c.ViolationResolved)


async def test_a_forgotten_alert_does_not_come_back_from_an_older_message() -> None:
    bucket = Bucket()
    notifier = Notifier(bucket)
    await notifier.take(opened("a", 0), opened("b", 0))
    await notifier.take(resolved("a", 5))
    await notifier.forget("a")
    # The first message still holds b's latest event, and a's opening: a's resolution stays.
    again = await restart(bucket)
    assert set(again.held) == {"a", "b"} and isinstance(again.held["a"], c.ViolationResolved)
    # Once b resolves and is forgotten too, nothing is left.
    await again.take(resolved("b", 6))
    await again.forget("a", "b")
    assert bucket.held() == []
    assert (await restart(bucket)).held == {}


async def test_a_value_no_alert_needs_is_deleted() -> None:
    bucket = Bucket()
    notifier = Notifier(bucket)
    await notifier.take(opened("a", 0))
    await notifier.take(resolved("a", 1))
    assert len(bucket.held()) == 1  # the opening's message holds nobody's latest event
    await notifier.take(opened("a", 2))  # reopened
    assert len(bucket.held()) == 1
    assert (await restart(bucket)).held == notifier.held


async def test_random_histories_restart_to_what_was_held() -> None:
    rng = random.Random(7)
    for _ in range(25):
        bucket = Bucket()
        notifier = Notifier(bucket)
        floor: dict[str, int] = {}
        for clock in range(1, rng.randint(2, 26)):
            if rng.random() < 0.3:
                notifier = await restart(bucket, notifier)
            batch = {}
            for _ in range(rng.randint(1, 5)):
                vid = f"v{rng.randint(0, 6)}"
                # Sometimes older than what is held; never older than a resolution forgotten
                # (which a restart may read back while an older event of it is stored).
                at = max(clock - rng.randint(0, 3), floor.get(vid, -9) + 1)
                batch[vid] = (opened if rng.random() < 0.5 else resolved)(vid, at)
            await notifier.take(*batch.values())
            done = [vid for vid, e in notifier.held.items() if isinstance(e, c.ViolationResolved)]
            gone = rng.sample(done, rng.randint(0, len(done)))
            if gone:
                floor.update({vid: minutes(notifier.held[vid]) for vid in gone})
                await notifier.forget(*gone)
            await restart(bucket, notifier)


def minutes(event) -> int:
    return int((_when(event) - T0).total_seconds() // 60)


async def test_a_value_mostly_resolved_is_written_again_with_what_is_held() -> None:
    bucket = Bucket()
    notifier = Notifier(bucket)
    await notifier.take(*(opened(f"v{n}", 0) for n in range(20)))
    [first] = bucket.held()
    await notifier.take(*(resolved(f"v{n}", 1) for n in range(16)))
    await notifier.forget(*(f"v{n}" for n in range(16)))
    # Four of twenty still held: the first message went, its four alerts are in a new value.
    assert first not in bucket.held() and len(bucket.held()) == 1
    assert (await restart(bucket, notifier)).held == notifier.held


def scores(org: str, at: int, design: float) -> c.ScoresUpdated:
    when = T0 + timedelta(minutes=at)
    return c.ScoresUpdated.create(
        event_id=f"scores-{org}-{at}",
        labels=c.OrgLabels(
            org_id=org,
            org_name="МБОУ СОШ №1",
            founder="Отдел образования",
            municipality="Город",
            sphere="education",
            level="municipal",
        ),
        scores={"design": design},
        scored_at=when,
        observed_at=when,
    )


async def test_scores_are_held_in_their_message_like_alerts() -> None:
    bucket = Bucket()
    notifier = Notifier(bucket)
    await notifier.take(opened("a", 0), scores("o1", 0, 10.0), scores("o2", 0, 20.0))
    assert bucket.puts == 1
    await notifier.take(scores("o1", 1, 11.0), scores("o2", -1, 99.0))  # o2's is older
    again = await restart(bucket, notifier)
    assert again.held["scores\x1fo1"].scores == {"design": 11.0}
    assert again.held["scores\x1fo2"].scores == {"design": 20.0}
    # Once the first message holds nobody's latest, it goes.
    await notifier.take(resolved("a", 2), scores("o2", 2, 21.0))
    await notifier.forget("a")
    assert len(bucket.held()) == 2
    assert (await restart(bucket, notifier)).held == notifier.held
