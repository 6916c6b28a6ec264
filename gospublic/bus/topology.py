"""The streams, buckets and durable consumers, declared in one place."""

from __future__ import annotations

import re

from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

from gospublic import contracts as c
from gospublic.settings import Settings

DAY_S = 86_400.0

_NAME_IN_USE = 10058  # JetStream: stream name already in use (with a different configuration)
_PARTITION_RANGE = re.compile(r"^([0-9]{1,3})(?:-([0-9]{1,3}))?$")


def stream_configs(settings: Settings) -> list[StreamConfig]:
    window = settings.events_duplicate_window_s
    return [
        StreamConfig(
            name=c.TASKS_STREAM,
            subjects=["tasks.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=2 * DAY_S,
        ),
        # Limits retention: several consumers (evaluator, archivers, replays) read the same events.
        StreamConfig(
            name=c.EVENTS_STREAM,
            subjects=["events.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=7 * DAY_S,
            max_msg_size=c.MAX_EVENT_BYTES,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=c.ALERTS_STREAM,
            subjects=["alerts.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=30 * DAY_S,
        ),
        StreamConfig(
            name=c.DEADLETTER_STREAM,
            subjects=["deadletter.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY_S,
        ),
    ]


async def ensure_topology(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream and bucket; safe to call from every process at start.

    Processes started together race to create: one that finds a stream or bucket missing and
    then loses the race gets "stream name already in use" (err_code 10058) and takes it as found.
    A collector crashed at start on that (the other had already turned on the cursor bucket's
    direct gets, so the configurations differed).
    """
    for config in stream_configs(settings):
        try:
            await js.stream_info(config.name)
            await js.update_stream(config)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise
                await js.update_stream(config)
    for bucket, ttl in (
        (c.REGISTRY_BUCKET, None),
        (c.CURSORS_BUCKET, None),
        (c.NOTIFICATION_LOG_BUCKET, None),
        (c.SILENCES_BUCKET, None),
        (c.PUSHES_BUCKET, c.PUSH_MARK_TTL_S),  # a hint for the next sweep, stale after that
    ):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                await js.create_key_value(KeyValueConfig(bucket=bucket, history=1, ttl=ttl))
            except BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise


async def ensure_pull_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create a durable pull consumer, or leave one that exists as it is.

    What ``pull_subscribe`` does about the consumer, without the subscription it returns: a
    service that pulls with its own requests would leave that inbox idle. An existing durable is
    not updated, so a deployment whose settings changed keeps the consumer's delivery state.
    """
    try:
        await js.consumer_info(stream, config.durable_name)
    except NotFoundError:
        await js.add_consumer(stream, config)


async def consumer_pending(js: JetStreamContext, stream: str, durable: str) -> tuple[int, int]:
    """(not yet delivered, delivered but not acked) for a durable consumer; (0, 0) if none yet."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return (0, 0)
    return (info.num_pending or 0, info.num_ack_pending or 0)


# --- partitioned evaluators ------------------------------------------------------------------


class PartitionError(ValueError):
    """The evaluator's partition settings name no valid set of partitions."""


def parse_partitions(spec: str) -> frozenset[int]:
    """Numbers and ranges of partitions, comma-separated ("0-7", "0,2,4", "0-3,8"); each must be
    below ``contracts.EVENT_PARTITIONS``."""
    owned: set[int] = set()
    for part in spec.split(","):
        match = _PARTITION_RANGE.match(part.strip())
        if match is None:
            raise PartitionError(f"{part.strip()!r} is not a partition or a range a-b")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        if first > last or last >= c.EVENT_PARTITIONS:
            raise PartitionError(
                f"{part.strip()!r}: partitions are 0..{c.EVENT_PARTITIONS - 1}, ranges ascending"
            )
        owned.update(range(first, last + 1))
    return frozenset(owned)


def owned_partitions(settings: Settings) -> frozenset[int]:
    """The partitions this evaluator owns: ``evaluator_partitions`` when set; else its group's
    share (``evaluator_partition_group`` of ``evaluator_partition_groups`` contiguous, equal
    groups: a StatefulSet's pod index picks one); by default all of them."""
    spec = settings.evaluator_partitions.strip()
    groups, group = settings.evaluator_partition_groups, settings.evaluator_partition_group
    if spec:
        if groups != 1:
            raise PartitionError("set evaluator_partitions or evaluator_partition_groups, not both")
        return parse_partitions(spec)
    if group >= groups:
        raise PartitionError(f"evaluator_partition_group {group} is not below the {groups} groups")
    n = c.EVENT_PARTITIONS
    return frozenset(range(group * n // groups, (group + 1) * n // groups))


def partition_filter(partitions: frozenset[int]) -> dict[str, object]:
    """The consumer's subject filter for its partitions: every event (``events.>``, also what was
    published before the subjects had partitions) when it owns all of them, else one filter per
    owned partition (``filter_subjects``: nats-server 2.10 or newer)."""
    if partitions == frozenset(range(c.EVENT_PARTITIONS)):
        return {"filter_subject": c.EVENTS_ALL}
    return {"filter_subjects": c.partition_filters(partitions)}


def durable_partitions(name: str) -> frozenset[int] | None:
    """The partitions an evaluator durable reads, from its name (``contracts.evaluator_durable``);
    None for a consumer that is not an evaluator's."""
    if name == c.EVALUATOR_DURABLE:
        return frozenset(range(c.EVENT_PARTITIONS))
    prefix = f"{c.EVALUATOR_DURABLE}-p"
    if not name.startswith(prefix):
        return None
    try:
        return parse_partitions(name.removeprefix(prefix).replace("_", ","))
    except PartitionError:
        return None


async def evaluator_start(js: JetStreamContext, durable: str) -> dict[str, object]:
    """Where an evaluator's durable reads from, as ``ConsumerConfig`` fields.

    A durable that exists keeps what it was created with (the server refuses to change it). A new
    one takes over from the evaluator durables that read any of its partitions before (one
    evaluator-v1 split into groups, groups into other groups), so that it neither reads the
    retained week again nor skips what they have not evaluated: after one with nothing pending or
    unacknowledged, at the stream's end; else after its acknowledged floor (the lowest of them).
    Exact when they were drained and stopped first. Durables of other partitions (the replica's
    peers) are not its predecessors; with none before it, it reads the stream from the start.
    """
    try:
        own = await js.consumer_info(c.EVENTS_STREAM, durable)
    except NotFoundError:
        pass
    else:
        return {
            "deliver_policy": own.config.deliver_policy,
            "opt_start_seq": own.config.opt_start_seq,
        }
    mine = durable_partitions(durable) or frozenset()
    before = [
        info
        for info in await js.consumers_info(c.EVENTS_STREAM)
        if info.name != durable and (durable_partitions(info.name) or frozenset()) & mine
    ]
    if not before:
        return {"deliver_policy": DeliverPolicy.ALL}
    end = (await js.stream_info(c.EVENTS_STREAM)).state.last_seq + 1
    starts = [
        end
        if not info.num_pending and not info.num_ack_pending
        else (info.ack_floor.stream_seq if info.ack_floor else 0) + 1
        for info in before
    ]
    return {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": min(starts)}
