"""The streams, buckets and durable consumers, declared in one place."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
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
    for bucket in (
        c.REGISTRY_BUCKET,
        c.CURSORS_BUCKET,
        c.NOTIFICATION_LOG_BUCKET,
        c.SILENCES_BUCKET,
    ):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
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
