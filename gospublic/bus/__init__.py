"""Thin NATS JetStream adapter: connection, streams and buckets, publishing, dead letters, and the
one consumer every service reads JetStream with.

Everything that touches NATS goes through here so that the topology and the protocol are declared
in one place:

- :mod:`.connection`: connecting (credentials, TLS, one log line per change) and ``within``, the
  deadline of every await on the network;
- :mod:`.topology`: streams, buckets, durable consumers;
- :mod:`.publish`: pipelined, deduplicated publishing and dead letters;
- :mod:`.consume`: ``Consumer`` (the pull protocol), ``reply`` (ack, nak...), ``scan_kv``;
- :mod:`.natspatch`: the fix of nats-py installed on import (on the releases it was checked
  against; importing on any other raises).
"""

from __future__ import annotations

import asyncio  # noqa: F401  (tests reach the module's asyncio through the package)

from .connection import (
    ConnectionLog,
    NetworkTimeout,
    broker_security,
    connect,
    connect_options,
    make_broker,
    tls_context,
    within,
)
from .consume import Consumer, reply, reply_all, scan_kv
from .natspatch import (
    NATS_PY_FIXED,
    NATS_PY_PATCHED,
    UnverifiedNatsClient,
    _process_pong_once,
    patch_process_pong,
)
from .publish import (
    DEAD_LETTER_PAYLOAD_BYTES,
    REJECTED,
    BulkPublisher,
    Outgoing,
    PublishError,
    _error_reason,
    _status_reason,
    connection_publisher,
    dead_letter,
    event_message,
    publish_all,
    publish_paced,
)
from .topology import (
    DAY_S,
    consumer_pending,
    ensure_pull_consumer,
    ensure_topology,
    stream_configs,
)

patch_process_pong()  # every connection of the process, FastStream's too

__all__ = [
    "DAY_S",
    "DEAD_LETTER_PAYLOAD_BYTES",
    "NATS_PY_FIXED",
    "NATS_PY_PATCHED",
    "REJECTED",
    "BulkPublisher",
    "ConnectionLog",
    "Consumer",
    "NetworkTimeout",
    "Outgoing",
    "PublishError",
    "UnverifiedNatsClient",
    "_error_reason",
    "_process_pong_once",
    "_status_reason",
    "broker_security",
    "connect",
    "connect_options",
    "connection_publisher",
    "consumer_pending",
    "dead_letter",
    "ensure_pull_consumer",
    "ensure_topology",
    "event_message",
    "make_broker",
    "patch_process_pong",
    "publish_all",
    "publish_paced",
    "reply",
    "reply_all",
    "scan_kv",
    "stream_configs",
    "tls_context",
    "within",
]
