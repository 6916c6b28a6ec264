"""The pure parts of the VK client: VKScript building, answer parsing, error mapping, token pool."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, generate_latest
from pydantic import SecretStr

from services.collector import vk_client as vc


def test_execute_code_with_json_arguments() -> None:
    code = vc.execute_code(
        [
            ("wall.get", {"owner_id": -1, "count": 20}),
            ("groups.getById", {"group_ids": "a,b", "fields": "description"}),
        ]
    )
    assert code == (
        'return [API.wall.get({"owner_id": -1, "count": 20}),'
        'API.groups.getById({"group_ids": "a,b", "fields": "description"})];'
    )


def test_execute_code_keeps_unicode_and_escapes_quotes() -> None:
    code = vc.execute_code([("wall.search", {"query": 'школа "№1"'})])
    assert code == 'return [API.wall.search({"query": "школа \\"№1\\""})];'


def test_execute_code_limits() -> None:
    with pytest.raises(ValueError, match="at most 25"):
        vc.execute_code([("wall.get", {"owner_id": -i}) for i in range(26)])
    with pytest.raises(ValueError):
        vc.execute_code([])
    with pytest.raises(ValueError, match="not a VK method"):
        vc.execute_code([("wall.get({}); API.x", {})])


def test_encode_params() -> None:
    assert vc.encode_params({"group_ids": ["1", 2], "extended": True, "offset": 0, "x": None}) == {
        "group_ids": "1,2",
        "extended": "1",
        "offset": "0",
    }


def test_split_execute_maps_false_entries_to_errors_in_order() -> None:
    data = {
        "response": [{"count": 1, "items": []}, False, {"count": 0, "items": []}, False],
        "execute_errors": [
            {
                "method": "wall.get",
                "error_code": 15,
                "error_msg": "Access denied: wall is disabled",
            },
            {"method": "wall.get", "error_code": 30, "error_msg": "This profile is private"},
        ],
    }
    results = vc.split_execute(data, 4)
    assert results[0] == {"count": 1, "items": []}
    assert isinstance(results[1], vc.VkError) and results[1].code == 15
    assert results[2] == {"count": 0, "items": []}
    assert isinstance(results[3], vc.VkError) and results[3].code == 30


def test_split_execute_with_fewer_errors_than_failures() -> None:
    results = vc.split_execute({"response": [False]}, 1)
    assert isinstance(results[0], vc.VkError) and results[0].code == 0


@pytest.mark.parametrize(
    ("data", "n", "fragment"),
    [
        ({"response": [1, 2]}, 3, "list of 2 for 3 calls"),
        ({"response": {"count": 1}}, 1, "dict for 1 calls"),
        ({"response": [False], "execute_errors": "x"}, 1, "execute_errors"),
        ({"something": 1}, 1, "neither"),
    ],
)
def test_split_execute_garbage(data: dict, n: int, fragment: str) -> None:
    with pytest.raises(vc.VkGarbage, match=fragment):
        vc.split_execute(data, n)


def test_split_execute_whole_call_error() -> None:
    with pytest.raises(vc.VkError) as caught:
        vc.split_execute({"error": {"error_code": 13, "error_msg": "Runtime error"}}, 2)
    assert caught.value.code == 13


@pytest.mark.parametrize(
    ("status", "ctype", "body", "fragment"),
    [
        (502, "text/html", b"<html>Bad gateway</html>", "HTML instead of JSON (HTTP 502"),
        (503, "text/plain", b"Service Unavailable", "HTTP 503 (text/plain"),
        (200, "application/json", '{"response": "Вор'.encode()[:-1], "truncated JSON: ends inside"),
        (200, "text/html", b"\n<!DOCTYPE html><html><body>captcha</body></html>", "HTML instead"),
        (200, "application/json", b'{"response": {"count": 3, "items": [{"id"', "truncated JSON"),
        (200, "application/json", b'{"response": 1} trailing', "invalid JSON"),
        (200, "application/json", b"", "empty body"),
        (200, "application/json", b"[1, 2]", "JSON list instead of an object"),
        (200, "application/json", b'{"a": "\xff"}', "not UTF-8 (byte 7)"),
    ],
)
def test_parse_body_garbage(status: int, ctype: str, body: bytes, fragment: str) -> None:
    with pytest.raises(vc.VkGarbage) as caught:
        vc.parse_body(status, ctype, body)
    assert fragment in caught.value.reason


def test_parse_and_unwrap() -> None:
    data = vc.parse_body(200, "application/json", json.dumps({"response": [1]}).encode())
    assert vc.unwrap(data) == [1]
    error = vc.parse_body(
        200, "application/json", b'{"error": {"error_code": 6, "error_msg": "Too many"}}'
    )
    with pytest.raises(vc.VkError) as caught:
        vc.unwrap(error)
    assert (caught.value.code, caught.value.msg) == (6, "Too many")


@pytest.mark.parametrize(
    ("obj", "code"),
    [({"error_code": "6"}, 0), ({"error_code": True}, 0), ("oops", 0), ({"error_code": 29}, 29)],
)
def test_error_from_odd_shapes(obj: object, code: int) -> None:
    assert vc.error_from(obj).code == code


def test_next_quota_reset_is_moscow_midnight() -> None:
    # 22:30 UTC on 1 March is 01:30 on 2 March in Moscow: the reset is 21:00 UTC on 2 March.
    assert vc.next_quota_reset(datetime(2025, 3, 1, 22, 30, tzinfo=UTC)) == datetime(
        2025, 3, 2, 21, 0, tzinfo=UTC
    )
    assert vc.next_quota_reset(datetime(2025, 3, 1, 20, 0, tzinfo=UTC)) == datetime(
        2025, 3, 1, 21, 0, tzinfo=UTC
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool(n: int, rps: float = 2.0, quota: dict | None = None) -> tuple[vc.TokenPool, Clock]:
    clock = Clock()
    tokens = [SecretStr(f"token-{i}") for i in range(n)]
    return vc.TokenPool(tokens, rps, daily_quota=quota, clock=clock, wall_clock=clock), clock


def take(tokens: vc.TokenPool, calls: dict | None = None):
    """Pick and book a token as ``acquire`` does when it need not wait."""
    calls = calls or {"wall.get": 1}
    token, at = tokens.pick(calls)
    assert at == tokens.clock()
    return token, tokens.start(token, calls)


def test_pool_spreads_requests_and_counts_a_window_from_the_answers() -> None:
    tokens, clock = pool(2, rps=2.0)
    first = [take(tokens) for _ in range(4)]
    assert sorted(t.index for t, _ in first) == [0, 0, 1, 1]
    # Both tokens have two requests in flight: the next start waits for an answer.
    assert tokens.pick({"wall.get": 1})[1] is None
    clock.now += 0.3
    tokens.finish(first[0][1])
    # The window runs from the answer, not from when the request was sent.
    token, at = tokens.pick({"wall.get": 1})
    assert token is first[0][0] and at == pytest.approx(101.3)
    clock.now = 101.3
    assert take(tokens)[0] is token


def test_a_request_still_in_flight_counts_however_old() -> None:
    # A request may wait for a pooled connection and reach VK after later ones: until its answer
    # comes back it occupies a place in the window.
    tokens, clock = pool(1, rps=2.0)
    _, slow = take(tokens)
    _, quick = take(tokens)
    clock.now += 0.1
    tokens.finish(quick)
    clock.now += 1.2  # the quick one aged out; the slow one is still on its way
    take(tokens)
    assert tokens.pick({"wall.get": 1})[1] is None
    tokens.finish(slow)
    assert tokens.pick({"wall.get": 1})[1] == pytest.approx(clock.now + 1.0)


def test_pool_drops_invalid_tokens_and_fails_loudly_when_none_left() -> None:
    tokens, _ = pool(2, rps=100)
    first, _ = take(tokens, {"m": 1})
    tokens.drop(first)
    assert {take(tokens, {"m": 1})[0].index for _ in range(3)} == {1}
    tokens.drop(tokens.tokens[1])
    with pytest.raises(vc.VkNoTokens) as caught:
        tokens.pick({"m": 1})
    assert "token-" not in str(caught.value)


def test_pool_parks_a_token_per_method() -> None:
    tokens, clock = pool(2, rps=100)
    tokens.park(tokens.tokens[0], "wall.get", clock.now + 3600)
    assert {take(tokens, {"wall.get": 25})[0].index for _ in range(3)} == {1}
    # Token 0 is still good for other methods, and it is the one free soonest.
    assert take(tokens, {"groups.getById": 1})[0].index == 0
    tokens.park(tokens.tokens[1], "wall.get", clock.now + 60)
    with pytest.raises(vc.VkTransient) as caught:
        tokens.pick({"wall.get": 1})
    assert caught.value.retry_after == 60
    clock.now += 61
    assert take(tokens, {"wall.get": 1})[0].index == 1


def test_pool_rests_a_token_before_its_daily_quota_runs_out() -> None:
    tokens, _ = pool(2, rps=100, quota={"wall.get": 30})
    a, _ = take(tokens, {"wall.get": 25})
    b, _ = take(tokens, {"wall.get": 25})
    assert {a.index, b.index} == {0, 1}
    assert tokens.remaining(a, "wall.get") == 5
    assert take(tokens, {"wall.get": 5})[0] in (a, b)  # a small batch still fits
    with pytest.raises(vc.VkTransient) as caught:
        tokens.pick({"wall.get": 25})
    # Quotas reset at midnight Moscow time: 100 s after the epoch it is 03:01:40 there.
    assert caught.value.retry_after == pytest.approx(86_400 - 3 * 3600 - 100)
    assert tokens.remaining(a, "groups.getById") is None


def test_quota_gauge_names_tokens_by_fingerprint_only() -> None:
    tokens, _ = pool(1, rps=100, quota={"wall.get": 100})
    token, _ = take(tokens, {"wall.get": 25})
    fp = vc.fingerprint("token-0")
    assert fp == token.fingerprint and len(fp) == 6 and "token" not in fp
    labels = {"platform": "vk", "token": fp, "method": "wall.get"}
    assert REGISTRY.get_sample_value("gospublic_collector_quota_remaining", labels) == 75
    tokens.park(token, "wall.get", tokens.wall_clock() + 60)
    assert REGISTRY.get_sample_value("gospublic_collector_quota_remaining", labels) == 0
    exposed = generate_latest(REGISTRY).decode()
    assert "token-0" not in exposed


def test_pool_needs_a_token() -> None:
    with pytest.raises(vc.VkNoTokens):
        vc.TokenPool([SecretStr("")], 3.0)


def test_slow_down_pushes_the_next_start() -> None:
    tokens, _ = pool(1, rps=10.0)
    token, _ = take(tokens, {"m": 1})
    tokens.slow_down(token, 2.0)
    assert tokens.pick({"m": 1})[1] == pytest.approx(102.0)


async def test_acquire_waits_for_an_answer_then_for_the_window() -> None:
    tokens = vc.TokenPool([SecretStr("t")], 20.0)  # 20 per 1 s window
    for _ in range(20):
        await tokens.acquire({"m": 1})
    token = tokens.tokens[0]

    async def answer_later() -> None:
        await asyncio.sleep(0.05)
        for slot in list(token.slots)[:1]:
            tokens.finish(slot)

    waiter = asyncio.create_task(answer_later())
    started = time.monotonic()
    _, _, waited = await tokens.acquire({"m": 1})
    await waiter
    # One answer after 0.05 s, then a full window from it.
    assert time.monotonic() - started >= 1.0 and waited >= 1.0
