"""The pure parts of the VK client: VKScript building, answer parsing, error mapping, token pool."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
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


def pool(n: int, rps: float = 2.0) -> tuple[vc.TokenPool, Clock]:
    clock = Clock()
    tokens = [SecretStr(f"token-{i}") for i in range(n)]
    return vc.TokenPool(tokens, rps, clock=clock, wall_clock=clock), clock


def test_pool_spreads_requests_over_the_token_free_soonest() -> None:
    tokens, clock = pool(2, rps=2.0)
    picks = [tokens.reserve(["wall.get"]) for _ in range(4)]
    assert [(t.index, wait) for t, wait in picks] == [(0, 0.0), (1, 0.0), (0, 0.5), (1, 0.5)]
    clock.now += 10
    assert tokens.reserve(["wall.get"])[1] == 0.0


def test_pool_drops_invalid_tokens_and_fails_loudly_when_none_left() -> None:
    tokens, _ = pool(2)
    first, _ = tokens.reserve(["m"])
    tokens.drop(first)
    assert {tokens.reserve(["m"])[0].index for _ in range(3)} == {1}
    tokens.drop(tokens.tokens[1])
    with pytest.raises(vc.VkNoTokens) as caught:
        tokens.reserve(["m"])
    assert "token-" not in str(caught.value)


def test_pool_parks_a_token_per_method() -> None:
    tokens, clock = pool(2)
    tokens.park(tokens.tokens[0], "wall.get", clock.now + 3600)
    assert {tokens.reserve(["execute", "wall.get"])[0].index for _ in range(3)} == {1}
    # Token 0 is still good for other methods, and it is the one free soonest.
    assert tokens.reserve(["groups.getById"])[0].index == 0
    tokens.park(tokens.tokens[1], "wall.get", clock.now + 60)
    with pytest.raises(vc.VkTransient) as caught:
        tokens.reserve(["wall.get"])
    assert caught.value.retry_after == 60
    clock.now += 61
    assert tokens.reserve(["wall.get"])[0].index == 1


def test_pool_needs_a_token() -> None:
    with pytest.raises(vc.VkNoTokens):
        vc.TokenPool([SecretStr("")], 3.0)


def test_slow_down_pushes_the_next_slot() -> None:
    tokens, _ = pool(1, rps=10.0)
    token, _ = tokens.reserve(["m"])
    tokens.slow_down(token, 2.0)
    assert tokens.reserve(["m"])[1] == pytest.approx(2.0)
