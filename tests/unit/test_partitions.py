"""Partitioned events and evaluators: the subjects every producer builds, the partitions an
evaluator owns, its durable and its subject filters."""

from __future__ import annotations

import json

import pytest

from gospublic import contracts as c
from gospublic.bus.topology import (
    PartitionError,
    owned_partitions,
    parse_partitions,
    partition_filter,
)
from gospublic.settings import Settings

ALL = frozenset(range(c.EVENT_PARTITIONS))


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_region_has_one_partition_in_every_process() -> None:
    # Pinned: another hash (or count) moves every region's events to other subjects, a migration.
    assert c.EVENT_PARTITIONS == 16
    assert [c.region_partition(r) for r in ("", "36", "voronezh", "default")] == [4, 9, 7, 13]
    assert {c.region_partition(f"{n:02d}") for n in range(100)} == set(range(16))


def test_event_subjects_carry_the_partition_first() -> None:
    assert c.event_subject("vk", "posts_observed", 3) == "events.3.vk.posts_observed"
    assert c.registry_subject("36") == "events.9.registry.organisations"
    assert c.event_filter("vk", ">") == "events.*.vk.>"
    for bad in (-1, c.EVENT_PARTITIONS):
        with pytest.raises(ValueError, match="partition"):
            c.event_subject("vk", "posts_observed", bad)


def test_producers_without_a_region_use_the_partition_of_none() -> None:
    from services.collector.outcomes import to_outgoing as collected
    from services.receiver.payloads import to_outgoing as pushed

    ref = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1023601000001")
    event = c.PostsObserved.create(
        observed_at=c.utcnow(), platform="vk", page_ref=ref, sweep_id="s", page_id="1"
    )
    assert collected(event).subject == f"events.{c.region_partition('')}.vk.posts_observed"
    assert collected(event, 11).subject == "events.11.vk.posts_observed"
    assert pushed(event, 11).subject == collected(event, 11).subject
    assert pushed(event).msg_id == collected(event, 11).msg_id  # dedup does not see partitions


@pytest.mark.parametrize(
    ("spec", "owned"),
    [("0-7", set(range(8))), ("0,2,4", {0, 2, 4}), (" 3 , 8-9 ", {3, 8, 9}), ("15", {15})],
)
def test_partition_lists_and_ranges(spec: str, owned: set[int]) -> None:
    assert parse_partitions(spec) == owned


@pytest.mark.parametrize("spec", ["16", "7-3", "a", "1-2-3", ",", "0-16"])
def test_partitions_out_of_range_or_unreadable_are_refused(spec: str) -> None:
    with pytest.raises(PartitionError):
        parse_partitions(spec)


def test_by_default_one_evaluator_owns_everything_on_the_old_durable() -> None:
    owned = owned_partitions(settings())
    assert owned == ALL
    assert c.evaluator_durable(owned) == c.EVALUATOR_DURABLE == "evaluator-v1"
    assert partition_filter(owned) == {"filter_subject": "events.>"}
    assert c.evaluator_durable(parse_partitions("0-15")) == c.EVALUATOR_DURABLE


def test_a_part_has_its_own_durable_and_filters() -> None:
    owned = owned_partitions(settings(evaluator_partitions="0-3,8"))
    assert c.evaluator_durable(owned) == "evaluator-v1-p0-3_8"
    # One set, one name, however it is written.
    assert c.evaluator_durable(parse_partitions("8,3,2,1,0")) == "evaluator-v1-p0-3_8"
    assert partition_filter(owned) == {
        "filter_subjects": ["events.0.>", "events.1.>", "events.2.>", "events.3.>", "events.8.>"]
    }


def test_groups_split_the_partitions_by_pod_index() -> None:
    groups = [
        owned_partitions(settings(evaluator_partition_groups=4, evaluator_partition_group=g))
        for g in range(4)
    ]
    assert groups == [frozenset(range(4 * g, 4 * g + 4)) for g in range(4)]
    assert [c.evaluator_durable(g) for g in groups] == [
        "evaluator-v1-p0-3", "evaluator-v1-p4-7", "evaluator-v1-p8-11", "evaluator-v1-p12-15",
    ]  # fmt: skip
    uneven = [
        owned_partitions(settings(evaluator_partition_groups=3, evaluator_partition_group=g))
        for g in range(3)
    ]
    assert sorted(p for g in uneven for p in g) == list(range(16))


def test_conflicting_or_impossible_settings_are_refused() -> None:
    with pytest.raises(PartitionError, match="not both"):
        owned_partitions(settings(evaluator_partitions="0-7", evaluator_partition_groups=2))
    with pytest.raises(PartitionError, match="not below"):
        owned_partitions(settings(evaluator_partition_groups=2, evaluator_partition_group=2))
    with pytest.raises(ValueError):
        settings(evaluator_partitions="0-7; DROP")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSPUBLIC_EVALUATOR_PARTITION_GROUPS", "4")
    monkeypatch.setenv("GOSPUBLIC_EVALUATOR_PARTITION_GROUP", "2")
    assert owned_partitions(Settings(_env_file=None)) == frozenset(range(8, 12))


def test_the_partition_of_a_subject() -> None:
    assert c.subject_partition(c.event_subject("vk", "posts_observed", 12)) == 12
    assert c.subject_partition(c.registry_subject("36")) == c.region_partition("36")
    assert c.subject_partition("events.vk.posts_observed") is None  # before partitions
    assert c.subject_partition("alerts.high.stale") is None


async def test_a_replica_replays_only_the_batches_of_its_partitions() -> None:
    """The batch log is shared: a replica leaves another's records alone."""
    from types import SimpleNamespace

    from services.evaluator.batchlog import Replay
    from services.evaluator.main import own_replays

    subjects = {1: c.event_subject("vk", "posts_observed", 2), 5: "events.9.ok.page_snapshot"}

    class Stream:
        async def get_msg(self, stream: str, seq: int) -> SimpleNamespace:
            if seq not in subjects:
                raise LookupError("no message")
            return SimpleNamespace(subject=subjects[seq])

    replays = {
        "mine": Replay("mine", frozenset({1, 3})),
        "theirs": Replay("theirs", frozenset({5, 6})),
        "expired": Replay("expired", frozenset({7})),
    }
    kept = await own_replays(Stream(), replays, frozenset(range(8)))
    assert set(kept) == {"mine", "expired"}
    assert await own_replays(Stream(), replays, frozenset(range(16))) == replays


class Consumers:
    """A stream of ``last`` messages and the durables on it, as ``evaluator_start`` reads them."""

    def __init__(self, last: int, **durables: tuple[int, int, int]) -> None:
        from types import SimpleNamespace as NS

        self.last = last
        # name → (not yet delivered, delivered unacknowledged, acknowledged floor)
        self.infos = {
            name: NS(name=name, num_pending=p, num_ack_pending=a, ack_floor=NS(stream_seq=f),
                     config=NS(deliver_policy="by_start_sequence", opt_start_seq=f + 1))
            for name, (p, a, f) in durables.items()
        }  # fmt: skip

    async def consumer_info(self, stream: str, name: str):
        from nats.js.errors import NotFoundError

        if name not in self.infos:
            raise NotFoundError
        return self.infos[name]

    async def consumers_info(self, stream: str):
        return list(self.infos.values())

    async def stream_info(self, stream: str):
        from types import SimpleNamespace as NS

        return NS(state=NS(last_seq=self.last))


async def start(js: Consumers, durable: str) -> dict[str, object]:
    from gospublic.bus.topology import evaluator_start

    return await evaluator_start(js, durable)


async def test_a_new_durable_takes_over_from_its_predecessors_only() -> None:
    from nats.js.api import DeliverPolicy

    first, second = "evaluator-v1-p0-7", "evaluator-v1-p8-15"
    # Nothing before it: the whole stream.
    assert await start(Consumers(500), "evaluator-v1") == {"deliver_policy": DeliverPolicy.ALL}
    # A peer of other partitions, however far it got, is not a predecessor.
    assert await start(Consumers(500, **{second: (0, 0, 480)}), first) == {
        "deliver_policy": DeliverPolicy.ALL
    }
    # The one evaluator before them, drained: after the stream's last message.
    split = await start(Consumers(500, **{"evaluator-v1": (0, 0, 500)}), first)
    assert split == {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 501}
    # Not drained: after its acknowledged floor, so nothing it had not evaluated is skipped.
    busy = await start(Consumers(500, **{"evaluator-v1": (40, 3, 420)}), second)
    assert busy == {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 421}
    # Groups back into one: the lowest position of those it covers.
    merged = await start(
        Consumers(500, **{first: (0, 0, 490), second: (7, 0, 460)}), "evaluator-v1"
    )
    assert merged == {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 461}
    # A durable that exists keeps how it was created.
    kept = await start(Consumers(500, **{first: (0, 0, 99)}), first)
    assert kept == {"deliver_policy": "by_start_sequence", "opt_start_seq": 100}


def test_durable_names_tell_their_partitions() -> None:
    from gospublic.bus.topology import durable_partitions

    assert durable_partitions("evaluator-v1") == ALL
    assert durable_partitions("evaluator-v1-p0-3_8") == {0, 1, 2, 3, 8}
    for name in ("notifier-v1", "evaluator-v2", "evaluator-v1-pX"):
        assert durable_partitions(name) is None
    for owned in (frozenset({5}), frozenset(range(4, 12)), frozenset({0, 2, 3, 15})):
        assert durable_partitions(c.evaluator_durable(owned)) == owned


def test_a_sweeps_tasks_carry_its_regions_partition_and_old_tasks_none() -> None:
    from datetime import UTC, datetime

    from services.collector.outcomes import to_outgoing
    from services.collector.scheduler import plan_tasks

    now = datetime(2026, 12, 1, tzinfo=UTC)
    refs = [c.PageRef(platform=c.Platform.VK, native_id=str(n), org_id="1") for n in range(3)]
    tasks = plan_tasks(refs, c.Platform.VK, "s", 2, now, c.region_partition("36"))
    assert [t.partition for t in tasks] == [9, 9]
    again = c.decode(tasks[0].to_bytes())
    assert isinstance(again, c.CollectTask) and again.partition == 9
    event = c.PageUnavailable.create(
        observed_at=now, platform=c.Platform.VK, page_ref=refs[0], sweep_id="s",
        reason=c.Unavailability.NOT_FOUND,
    )  # fmt: skip
    assert to_outgoing(event, again.partition).subject == "events.9.vk.page_unavailable"

    # A version 1 task (from a scheduler before partitions) names none: no known region's.
    old = tasks[0].model_dump(mode="json", by_alias=True)
    old["schema"] = "CollectTask/1"
    del old["partition"]
    read = c.decode(json.dumps(old).encode())
    assert isinstance(read, c.CollectTask) and read.partition is None
    assert to_outgoing(event, read.partition).subject == "events.4.vk.page_unavailable"
