"""A push mark is a hint: whatever a bucket holds, it reads as a moment or as nothing."""

from __future__ import annotations

import pytest

from gospublic import contracts as c
from gospublic import pushmarks


def test_a_mark_reads_back_as_its_moment() -> None:
    assert pushmarks.decode_mark(pushmarks.encode_mark(1_765_000_000.25)) == 1_765_000_000.25


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b"[]", b'{"at": "soon"}', b'{"at": -5}', b'{"at": null}', b'{"t": 1}'],
)
def test_anything_else_in_the_bucket_is_no_mark(value: bytes) -> None:
    assert pushmarks.decode_mark(value) is None


@pytest.mark.parametrize(
    ("platform", "native", "key"),
    [
        (c.Platform.VK, "club123", "vk.club123"),
        (c.Platform.MAX, "-72000000000123", "max.-72000000000123"),
        (c.Platform.VK, "школа.1", "vk.=D1=88=D0=BA=D0=BE=D0=BB=D0=B0=2E1"),
    ],
)
def test_a_page_key_holds_only_what_a_kv_key_may(platform, native, key) -> None:
    ref = c.PageRef(platform=platform, native_id=native, org_id="1")
    assert pushmarks.page_key(ref) == key
