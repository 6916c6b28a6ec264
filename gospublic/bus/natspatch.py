"""A fix of nats-py installed on its ``Client`` class, for the releases it was checked against only.

nats-py 2.16.0 (the newest release, December 2026) ends a connection's read loop for good when the
PONG of a ping whose ``flush`` gave up arrives: ``Client._process_pong`` calls ``set_result`` on the
cancelled future and raises ``InvalidStateError``. The connection then reads nothing more (no acks,
no replies, no pulled messages) and never reconnects. The nearest upstream report is
https://github.com/nats-io/nats.py/issues/624 (the same ``InvalidStateError`` on a cancelled future,
in the flusher task; fixed there by https://github.com/nats-io/nats.py/pull/636 without touching
``_process_pong``).

On any other nats-py release importing ``gospublic.bus`` raises :class:`UnverifiedNatsClient`: the
replacement was written against 2.16.0's ``_process_pong``, and installing it blindly could undo a
fix or break the client. An upgrade is a deliberate step: read the new release's method, run
tests/integration/test_bus_publish.py without the fix, and list the release below.
"""

from __future__ import annotations

import nats
from nats.aio.client import Client

# nats-py releases whose ``_process_pong`` this replacement was written for (read, and the bug
# shown by a test).
NATS_PY_PATCHED = frozenset({"2.16.0"})
# Releases read and checked to fix the bug themselves: there the replacement is not installed.
NATS_PY_FIXED = frozenset[str]()


async def _process_pong_once(self: Client) -> None:
    """``Client._process_pong`` that passes over the PONG of a ping whose flush gave up.

    In nats-py 2.16 a ``flush`` that times out cancels its PONG future; when that PONG arrives,
    ``set_result`` raises ``InvalidStateError`` inside the read loop, which ends the loop for good:
    the connection then reads nothing more (no acks, no replies) and does not reconnect. Seen on a
    loaded machine: the evaluator's publishes waited for acks that were never read again.
    PONGs answer pings in order, so the first future is still the one to pop.

    No upstream issue reports this path (searched nats-io/nats.py, December 2026); the nearest is
    https://github.com/nats-io/nats.py/issues/624, the same ``InvalidStateError`` on a cancelled
    future in the flusher task, fixed by https://github.com/nats-io/nats.py/pull/636 without
    touching ``_process_pong``. 2.16.0 is the newest release and still has the bug
    (tests/integration/test_bus_publish.py shows it).
    """
    if self._pongs:
        future = self._pongs.pop(0)
        if not future.done():
            future.set_result(True)
        self._pongs_received += 1
        self._pings_outstanding = 0


class UnverifiedNatsClient(RuntimeError):
    """The installed nats-py is neither a release the PONG fix was written for nor one that fixes
    the bug itself."""


def patch_process_pong(client: type[Client] = Client, version: str | None = None) -> bool:
    """Install :func:`_process_pong_once` on ``client`` if ``version`` (the installed nats-py by
    default) needs it; ``False`` if that release fixes the bug itself. Raises
    :class:`UnverifiedNatsClient` for a release not checked either way, leaving ``client`` as it
    is."""
    version = version or nats.aio.client.__version__
    if version in NATS_PY_FIXED:
        return False
    if version not in NATS_PY_PATCHED:
        raise UnverifiedNatsClient(
            f"nats-py {version} is not a release gospublic.bus's _process_pong fix was checked "
            f"against ({', '.join(sorted(NATS_PY_PATCHED))}): read its Client._process_pong, run "
            "tests/integration/test_bus_publish.py without the fix, and add the release to "
            "NATS_PY_PATCHED (still broken) or NATS_PY_FIXED (fixed) in gospublic/bus/natspatch.py; "
            "see https://github.com/nats-io/nats.py/issues/624"
        )
    client._process_pong = _process_pong_once
    return True
