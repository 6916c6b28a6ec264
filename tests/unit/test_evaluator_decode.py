"""contracts.decode: the one-pass path gives the same events and the same errors as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gospublic import contracts as c

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1023601000001")


def posts() -> c.PostsObserved:
    return c.PostsObserved.create(
        observed_at=NOW, platform="vk", page_ref=REF, sweep_id="s", page_id="1",
        posts=(c.Post(post_id="1", posted_at=NOW, is_own=True, is_repost=False, text="Привет"),),
    )  # fmt: skip


def test_valid_event_round_trips() -> None:
    event = posts()
    assert c.decode(event.to_bytes()) == event
    # Whatever the key order or spacing, the result is the same.
    shuffled = json.dumps(dict(reversed(list(json.loads(event.to_bytes()).items()))))
    assert c.decode(shuffled.encode()) == event
    assert c.decode(b"  " + event.to_bytes()) == event


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: {**d, "schema": "PostsObserved/2"}, "unsupported version 'PostsObserved/2'"),
        (lambda d: {**d, "schema": "Nope/1"}, "unknown schema 'Nope'"),
        (lambda d: {**d, "platform": "myspace"}, "invalid PostsObserved/1: platform"),
        (lambda d: {**d, "extra": 1}, "invalid PostsObserved/1: extra"),
        (lambda d: {k: v for k, v in d.items() if k != "schema"}, "missing or malformed"),
    ],
)
def test_errors_are_the_careful_path_ones(mutate, reason: str) -> None:
    data = json.dumps(mutate(json.loads(posts().to_bytes()))).encode()
    with pytest.raises(c.ContractError) as info:
        c.decode(data)
    assert info.value.reason.startswith(reason)


def test_a_repeated_schema_key_is_judged_by_the_last_one() -> None:
    body = posts().to_bytes().decode()
    doubled = body[:-1] + ', "schema": "Nope/1"}'
    with pytest.raises(c.ContractError, match="unknown schema"):
        c.decode(doubled.encode())


def test_not_json_and_too_big() -> None:
    with pytest.raises(c.ContractError, match="not JSON"):
        c.decode(b'{"schema": "PostsObserved/1", ')
    with pytest.raises(c.ContractError, match="exceeds the limit"):
        c.decode(b" " * (c.MAX_EVENT_BYTES + 1))
