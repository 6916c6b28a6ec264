"""``bus.publish_paced``: a bounded window of publishes in flight, passing refusals sent again."""

from __future__ import annotations

import json

import pytest

from gospublic import bus


def messages(n: int) -> list[bus.Outgoing]:
    return [bus.Outgoing(f"events.x.{i}", b"{}", f"m-{i}") for i in range(n)]


class Server:
    """Stands in for ``bus.publish.publish_all``: refuses the first calls as told, records the rest."""

    def __init__(self, refusals: list[bus.PublishError]) -> None:
        self.refusals = refusals
        self.calls: list[int] = []
        self.stored: dict[str, int] = {}

    async def publish_all(self, js, part: list[bus.Outgoing]) -> int:
        self.calls.append(len(part))
        if self.refusals:
            raise self.refusals.pop(0)
        new = [m for m in part if m.msg_id not in self.stored]
        for m in part:
            self.stored[m.msg_id] = self.stored.get(m.msg_id, 0) + 1
        return len(new)


@pytest.fixture
def no_pauses(monkeypatch) -> list[float]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(bus.asyncio, "sleep", sleep)
    return pauses


async def test_a_window_refused_while_the_server_is_busy_is_sent_again(monkeypatch, no_pauses):
    busy = bus.PublishError("pending publishes exceeded (code 429)", retryable=True)
    server = Server([busy, busy])
    monkeypatch.setattr(bus.publish, "publish_all", server.publish_all)
    assert await bus.publish_paced(None, messages(1000), window=256) == 1000
    # Never more than one window unacknowledged; the refused window went again, twice.
    assert server.calls == [256, 256, 256, 256, 256, 232]
    assert no_pauses == [0.5, 1.0]
    assert set(server.stored.values()) == {1}


async def test_a_lasting_refusal_or_the_last_attempt_raises(monkeypatch, no_pauses):
    full = bus.PublishError("maximum messages exceeded", retryable=False)
    monkeypatch.setattr(bus.publish, "publish_all", Server([full]).publish_all)
    with pytest.raises(bus.PublishError, match="maximum messages"):
        await bus.publish_paced(None, messages(10))
    assert no_pauses == []
    busy = bus.PublishError("busy", retryable=True)
    monkeypatch.setattr(bus.publish, "publish_all", Server([busy] * 3).publish_all)
    with pytest.raises(bus.PublishError, match="busy"):
        await bus.publish_paced(None, messages(10), attempts=3)
    assert no_pauses == [0.5, 1.0]


def test_which_refusals_pass() -> None:
    def pub_ack(code: int, err_code: int, description: str) -> bytes:
        error = {"code": code, "err_code": err_code, "description": description}
        return json.dumps({"error": error}).encode()

    # JetStream's limit of pending publishes (the register import's 429, err_code 10167).
    assert bus._error_reason(pub_ack(429, 10167, "too many requests"))[0] is True
    # A stream limit answers 503 in its PubAck too, and will not pass by waiting.
    assert bus._error_reason(pub_ack(503, 10077, "maximum bytes exceeded"))[0] is False
    assert bus._status_reason({"Status": "503"})[0] is True  # no responders (a restart)
    assert bus._error_reason(b"garbage")[0] is False
