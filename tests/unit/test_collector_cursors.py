"""Cursors: their keys, their bytes, and which posts need their comments read."""

from __future__ import annotations

import pytest

from gospublic import contracts as c
from services.collector.cursors import Cursor, changed_posts, cursor_key, posts_to_read


def ref(native_id: str) -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=native_id, org_id="1023601234567")


@pytest.mark.parametrize(
    ("native_id", "key"),
    [
        ("club123", "vk.club123"),
        ("school_3-anna", "vk.school_3-anna"),
        ("a.b", "vk.a=2Eb"),  # a dot would split the key into subject tokens
        ("ш", "vk.=D1=88"),
    ],
)
def test_cursor_keys_are_valid_kv_keys(native_id: str, key: str) -> None:
    assert cursor_key(ref(native_id)) == key


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor("20250301T0900Z", 512, {"510": 3, "512": 1}, 1740819600, 1740800000)
    assert Cursor.from_bytes(cursor.to_bytes()) == cursor
    for garbage in (b"", b"not json", b"[1]", b'{"last_post": "x"}', b'{"comments": [1]}'):
        assert Cursor.from_bytes(garbage) == Cursor()


def test_changed_posts() -> None:
    counts = {"10": 2, "11": 0, "12": 5, "13": 1}
    assert changed_posts(counts, None) == ["10", "12", "13"]  # the first sweep: all with comments
    cursor = Cursor("s", 13, {"10": 2, "12": 4, "11": 1})
    # 10 unchanged, 11 lost its comment (nothing to read), 12 grew, 13 is new.
    assert changed_posts(counts, cursor) == ["12", "13"]


def test_posts_with_a_waiting_comment_are_read_again_though_their_count_stayed() -> None:
    counts = {"10": 2, "11": 0, "12": 5, "13": 1}
    cursor = Cursor("s", 13, {"10": 2, "12": 4, "13": 1})
    cursor.waiting = {"10": 1_700_000_000, "11": 1_700_000_500, "99": 1_700_000_900}
    # 12 grew; 10 holds a comment waiting (read again); 11 lost its comments and 99 left the wall.
    assert posts_to_read(counts, cursor) == ["12", "10"]
    assert posts_to_read(counts, None) == changed_posts(counts, None)
