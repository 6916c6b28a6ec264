"""The collector's fast path (typed ``wall.get`` answers, events written by msgspec) against the
mapping it stands in for: the same events from every answer the mapping takes, the mapping's own
reason for every answer it refuses, and the same JSON as ``Event.to_bytes``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gospublic import contracts as c
from gospublic.platforms import vk
from services.collector import vk_wall
from services.collector.outcomes import to_json, to_outgoing
from services.collector.vk_client import VkError, VkGarbage, read_answer, split_execute
from services.collector.vk_collect import _posts, _snapshot

NOW = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.VK, native_id="club123", org_id="1023601000001")
WALL_CALLS = [("wall.get", {"owner_id": -123, "count": 20})]
EVENT_ID = re.compile(rb'"event_id":"[0-9a-f]{32}"')

# Every JSON type where the API has one, and numbers at and beyond the contract's Int64.
numbers = st.integers(-(2**63), 2**63 - 1) | st.sampled_from(
    [0, 1, -1, 2**63, -(2**63) - 1, 2**64, 10**70, 253402300800]
)
anything = st.none() | st.booleans() | numbers | st.floats(allow_nan=False) | st.text(max_size=8)
flags = st.sampled_from([0, 1, 2, -1, True, False, None, "1"])


def maybe(values: st.SearchStrategy, junk: bool) -> st.SearchStrategy:
    return values | anything | st.just([]) if junk else values


def obj(fields: dict, junk: bool, required: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    """Objects with some of ``fields``; those ``required`` always, unless ``junk``."""
    needed = () if junk else required
    return st.fixed_dictionaries(
        {k: fields[k] for k in needed},
        optional={k: maybe(v, junk) for k, v in fields.items() if k not in needed},
    )


def wall_answers(junk: bool) -> st.SearchStrategy[dict]:
    """Answers of VK's shape; with ``junk``, any JSON value may stand in for a field, and numbers
    and flags go out of their range."""
    number = numbers if junk else st.integers(-(2**63), 2**63 - 1)
    flag = flags if junk else st.sampled_from([0, 1, True, False, None])
    counter = obj({"count": number}, junk)
    link = obj(
        {"url": st.text(max_size=12) | st.just(" https://x.ru/a "), "title": st.text()}, junk
    )
    post = obj(
        {
            "id": number,
            "date": number | st.integers(0, 2**31),
            "from_id": number | st.just(-123),
            "copy_history": st.lists(obj({"id": number}, junk), max_size=2),
            "comments": obj({"count": number, "can_post": flag}, junk),
            "attachments": st.lists(
                obj({"type": st.sampled_from(["link", "photo"]), "link": link}, junk), max_size=3
            ),
            "is_pinned": flag,
            "likes": counter,
            "reposts": counter,
            "views": counter,
            "text": st.text(max_size=20),
        },
        junk,
        required=("id", "date"),
    )
    return obj({"count": number, "items": st.lists(post, max_size=3)}, junk)


def answer_bytes(wall: object) -> bytes:
    return json.dumps({"response": [wall]}).encode()


def by_the_mapping(wall: object) -> bytes | str:
    try:
        return EVENT_ID.sub(b"", vk.build_posts(wall, 123, REF, "s", NOW).to_bytes())
    except vk.MalformedResponse as exc:
        return exc.reason


def by_the_collector(body: bytes) -> bytes | str:
    (result,) = split_execute(read_answer(200, "application/json", body, WALL_CALLS), 1)
    try:
        return EVENT_ID.sub(b"", to_json(_posts(result, 123, REF, "s", NOW)))
    except vk.MalformedResponse as exc:
        return exc.reason


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(wall_answers(junk=True) | wall_answers(junk=False))
def test_a_wall_answer_gives_what_the_mapping_gives(wall: dict) -> None:
    assert by_the_collector(answer_bytes(wall)) == by_the_mapping(wall)


def test_a_good_answer_takes_the_fast_path() -> None:
    wall = {
        "count": 2,
        "items": [
            {"id": 7, "date": 1_700_000_000, "from_id": -123, "text": "Школа",
             "comments": {"count": 3, "can_post": 0}, "likes": {"count": 5},
             "views": {"count": 9}, "is_pinned": 1,
             "attachments": [{"type": "link", "link": {"url": " https://x.ru "}},
                             {"type": "link", "link": {"url": "https://x.ru"}},
                             {"type": "photo", "photo": {"id": 1}}]},
            {"id": 6, "date": 1_690_000_000, "from_id": 55, "copy_history": [{"id": 1}]},
        ],
    }  # fmt: skip
    body = answer_bytes(wall)
    (result,) = split_execute(read_answer(200, "application/json", body, WALL_CALLS), 1)
    assert isinstance(result, vk_wall.WallAnswer)
    event = _posts(result, 123, REF, "s", NOW)
    assert isinstance(event.posts[0], vk_wall.PostRecord)
    assert event.posts[0].links == ("https://x.ru",) and event.posts[0].is_own
    assert not event.posts[1].is_own and event.posts[1].is_repost
    assert by_the_collector(body) == by_the_mapping(wall)
    assert c.decode(to_json(event)) == vk.build_posts(wall, 123, REF, "s", NOW).model_copy(
        update={"event_id": event.event_id}
    )


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (b'{"response": [false], "execute_errors": [{"error_code": 15, "error_msg": "no"}]}',
         VkError),
        (b'{"response": [true]}', bool),
        (b'{"response": [{"count": 1, "items": [{"id": 1, "date": 0, "text": "\\ud800"}]}]}',
         dict),
    ],
    ids=["failed call", "true", "lone surrogate"],
)  # fmt: skip
def test_answers_the_fast_path_leaves_alone(body: bytes, outcome: type) -> None:
    (result,) = split_execute(read_answer(200, "application/json", body, WALL_CALLS), 1)
    assert isinstance(result, outcome)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b'{"error": {"error_code": 5, "error_msg": "bad"}, "response": [false]}', VkError),
        (500, b'{"response": [{"count": 0, "items": []}]}', VkGarbage),
        (200, b'{"response": [{"count": 0}, {"count": 0}]}', VkGarbage),
    ],
    ids=["error", "HTTP 500", "two results for one call"],
)
def test_an_error_or_a_wrong_answer_is_not_taken_for_walls(
    status: int, body: bytes, error: type
) -> None:
    with pytest.raises(error):
        split_execute(read_answer(status, "application/json", body, WALL_CALLS), 1)


def group(**extra: object) -> dict:
    return {
        "id": 123, "name": "Школа", "screen_name": "school", "description": "О нас",
        "members_count": 10, "is_closed": 0, "wall": 1, "verified": 1, "has_photo": 1,
        "contacts": [{"phone": "+7 (473) 255-12-34", "email": "a@b.ru"}],
        "addresses": {"is_enabled": True, "main_address": {"address": "ул. Мира, 1"}},
        "menu": {"items": [{"title": "Сообщить", "url": "https://pos.gosuslugi.ru/form/?opaId=1"}]},
        **extra,
    }  # fmt: skip


def test_a_snapshot_is_the_one_the_mapping_builds() -> None:
    fast = _snapshot(group(), REF, "s", NOW)
    slow = vk.build_snapshot(group(), REF, "s", NOW, frozenset(vk.FACT_SOURCES) | {"menu"})
    assert fast.widgets and fast.phones
    assert to_json(fast) == slow.model_copy(update={"event_id": fast.event_id}).to_bytes()


@pytest.mark.parametrize(
    "extra",
    [{"members_count": 2**63}, {"wall": -(2**63) - 1}, {"is_closed": 2**64}, {"id": 10**70}],
    ids=["members", "wall", "is_closed", "id of 71 digits"],
)
def test_a_snapshot_the_contract_refuses_is_malformed_as_before(extra: dict) -> None:
    with pytest.raises(vk.MalformedResponse) as caught:
        _snapshot(group(**extra), REF, "s", NOW)
    assert "snapshot does not fit the contract" in caught.value.reason


def test_the_json_is_the_models_for_every_kind_of_event() -> None:
    comment = c.Comment(
        comment_id="1", post_id="7", from_id="5", author_kind="citizen", posted_at=NOW,
        text='a\n"б"\x00', addressees=("-123",),
    )  # fmt: skip
    events = [
        vk.build_snapshot(group(), REF, "s", NOW, frozenset({"menu"})),
        vk.build_posts({"items": [{"id": 1, "date": 0, "text": "\u2028"}]}, 123, REF, "s", NOW),
        vk.build_comments([comment], 123, REF, "s", NOW, partial_posts=("7",)),
        c.PageUnavailable.create(
            observed_at=NOW, platform=c.Platform.VK, page_ref=REF, sweep_id="s",
            reason=c.Unavailability.PRIVATE, error_code=15, detail="VK error 15",
        ),
    ]  # fmt: skip
    for event in events:
        assert to_json(event) == event.to_bytes()


def test_an_oversized_fast_posts_event_is_cut_to_fit() -> None:
    items = [{"id": n, "date": 0, "text": "x" * 90_000} for n in range(20)]
    body = answer_bytes({"count": 20, "items": items})
    (result,) = split_execute(read_answer(200, "application/json", body, WALL_CALLS), 1)
    event = _posts(result, 123, REF, "s", NOW)
    message = to_outgoing(event)
    assert len(message.payload) <= c.MAX_EVENT_BYTES
    decoded = c.decode(message.payload)
    assert decoded.event_id == event.event_id and len(decoded.posts) == 20


def test_the_page_id_bound_is_the_contracts() -> None:
    (bound,) = [m.max_length for m in c.PageSnapshot.model_fields["page_id"].metadata]
    assert bound == vk_wall.PAGE_ID_MAX
