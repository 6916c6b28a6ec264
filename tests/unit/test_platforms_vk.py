"""VK objects → contract fields, on JSON bodies shaped like real groups.getById / wall.get answers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.VK, native_id="210000123", org_id="1023601234567")

GROUP = json.loads(
    """
{
  "id": 210000123, "name": "Администрация Лискинского района", "screen_name": "liski_adm",
  "is_closed": 0, "type": "page", "verified": 0, "is_government_organization": true,
  "has_photo": 1, "members_count": 5120, "wall": 1, "activity": "Государственная организация",
  "description": "Официальная страница. Телефон приёмной: 8 (47391) 4-11-22. Пишите: adm@liski.ru",
  "site": "https://liski-adm.ru",
  "links": [{"id": 1, "url": "https://liski-adm.ru", "name": "Сайт"},
            {"id": 2, "url": "https://gosuslugi.ru", "name": "Госуслуги"}],
  "contacts": [{"user_id": 1, "desc": "Приёмная", "phone": "+7 (473) 914-11-22", "email": "adm@liski.ru"},
               {"user_id": 2, "desc": "Пресс-служба", "phone": "+7 473 255 12 34"},
               {"user_id": 3, "desc": "Без телефона"}],
  "addresses": {"is_enabled": true, "main_address_id": 7,
                "main_address": {"id": 7, "address": "пл. Революции, 1", "phone": "84732551234",
                                 "city": {"id": 42, "title": "Лиски"}}},
  "cover": {"enabled": 1, "images": []}
}
"""
)


def post(
    post_id: int, from_id: int, *, owner_id: int = -210000123, date: int = 1740000000, **extra
) -> dict:
    body = {
        "id": post_id,
        "owner_id": owner_id,
        "from_id": from_id,
        "date": date,
        "text": f"post {post_id}",
        "comments": {"count": 3, "can_post": 1},
        "likes": {"count": 10, "user_likes": 0, "can_like": 1},
        "reposts": {"count": 2},
        "views": {"count": 400},
    }
    body.update(extra)
    return body


def test_snapshot_fields_from_a_full_group() -> None:
    fields = vn.snapshot_fields(GROUP)
    assert fields["page_id"] == "210000123"
    assert fields["screen_name"] == "liski_adm"
    assert fields["description"].startswith("Официальная страница")
    assert fields["site"] == "https://liski-adm.ru"
    assert fields["links"] == ("https://liski-adm.ru", "https://gosuslugi.ru")
    assert fields["emails"] == ("adm@liski.ru",)
    assert fields["address"] == "Лиски, пл. Революции, 1"
    assert fields["members"] == 5120
    assert fields["wall"] == 1
    assert fields["is_closed"] == 0
    assert fields["verified"] is False
    assert fields["is_government_organization"] is True
    assert fields["has_photo"] is True
    assert fields["has_cover"] is True


def test_phones_from_contacts_and_address_each_counted_once() -> None:
    fields = vn.snapshot_fields(GROUP)
    # The address phone 84732551234 is the press office's +7 473 255 12 34, written differently.
    assert fields["phones"] == ("+7 (473) 914-11-22", "+7 473 255 12 34")
    assert [vn.phone_key(p) for p in fields["phones"]] == ["74739141122", "74732551234"]


def test_description_phone_stays_in_the_description_only() -> None:
    # The rules read the description themselves; copying its numbers into phones would count
    # them twice.
    group = {"id": 1, "name": "Школа", "description": "Звоните +74732551234", "contacts": []}
    fields = vn.snapshot_fields(group)
    assert fields["phones"] == ()
    assert "+74732551234" in fields["description"]


def test_address_phone_alone_counts() -> None:
    group = {
        "id": 1,
        "name": "Школа",
        "addresses": {"is_enabled": True, "main_address": {"id": 1, "phone": "8 473 2551234"}},
    }
    assert vn.snapshot_fields(group)["phones"] == ("8 473 2551234",)


def test_minimal_group_maps_missing_fields_to_unknown() -> None:
    fields = vn.snapshot_fields({"id": 5, "name": "Библиотека"})
    assert fields["description"] == ""
    assert fields["phones"] == () and fields["emails"] == () and fields["links"] == ()
    assert fields["members"] is None
    assert fields["wall"] is None
    assert fields["is_government_organization"] is None
    assert fields["has_photo"] is None and fields["has_cover"] is None
    assert fields["verified"] is False


def test_disabled_address_block_gives_no_address() -> None:
    group = {
        "id": 5,
        "name": "x",
        "addresses": {"is_enabled": False, "main_address": {"id": 1, "address": "ул. Мира, 2"}},
    }
    assert vn.snapshot_fields(group)["address"] == ""


def test_build_snapshot_is_a_valid_event() -> None:
    snapshot = vn.build_snapshot(GROUP, REF, "sweep-1", NOW)
    assert isinstance(snapshot, c.PageSnapshot)
    assert c.decode(snapshot.to_bytes()) == snapshot


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"id": "210000123"}, "id: expected an integer"),
        ({"description": ["a"]}, "description: expected a string"),
        ({"contacts": {"phone": "+7"}}, "contacts: expected a list"),
        ({"contacts": ["+7 473 255 12 34"]}, "contacts[0]: expected an object"),
        ({"links": [{"url": 5}]}, "links[0].url: expected a string"),
        ({"addresses": {"main_address": "пл. Ленина"}}, "main_address: expected an object"),
        ({"members_count": "5k"}, "members_count: expected an integer"),
        ({"wall": True}, "wall: expected an integer"),
        ({"verified": 7}, "verified: expected 0/1"),
        ({"cover": []}, "cover: expected an object"),
    ],
)
def test_garbage_field_raises_malformed(patch: dict, fragment: str) -> None:
    group = copy.deepcopy(GROUP)
    group.update(patch)
    with pytest.raises(vn.MalformedResponse) as caught:
        vn.build_snapshot(group, REF, "sweep-1", NOW)
    assert fragment in caught.value.reason


def test_group_object_that_is_not_an_object() -> None:
    with pytest.raises(vn.MalformedResponse):
        vn.snapshot_fields("<html>")
    with pytest.raises(vn.MalformedResponse):
        vn.group_id({"name": "no id"})


def test_groups_of_both_response_shapes() -> None:
    assert vn.groups_of({"groups": [GROUP], "profiles": []}) == [GROUP]
    assert vn.groups_of([GROUP]) == [GROUP]
    with pytest.raises(vn.MalformedResponse):
        vn.groups_of({"groups": None})
    with pytest.raises(vn.MalformedResponse):
        vn.groups_of("nope")


def test_deactivation() -> None:
    assert vn.deactivation({"id": 1, "deactivated": "deleted"}) == c.Unavailability.DELETED
    assert vn.deactivation({"id": 1, "deactivated": "banned"}) == c.Unavailability.BANNED
    assert vn.deactivation({"id": 1}) is None


def test_own_repost_and_foreign_posts() -> None:
    owner = -210000123
    own = post(10, owner, is_pinned=1)
    repost = post(11, owner, copy_history=[post(5, -999, owner_id=-999)])
    foreign = post(12, 777)
    count, posts = vn.wall_posts({"count": 57, "items": [own, repost, foreign]}, owner)
    assert count == 57
    assert [(p.post_id, p.is_own, p.is_repost, p.is_pinned) for p in posts] == [
        ("10", True, False, True),
        ("11", False, True, False),
        ("12", False, False, False),
    ]
    first = posts[0]
    assert first.from_id == str(owner)
    assert first.posted_at == datetime.fromtimestamp(1740000000, UTC)
    assert (first.comments_count, first.comments_open) == (3, True)
    assert (first.likes, first.reposts, first.views) == (10, 2, 400)
    assert first.text == "post 10"


def test_post_counters_comments_and_links() -> None:
    item = post(
        20,
        -1,
        owner_id=-1,
        comments={"count": 0, "can_post": 0},
        views=None,
        attachments=[
            {"type": "photo", "photo": {"id": 1}},
            {"type": "link", "link": {"url": "https://liski-adm.ru/news/1", "title": "Новости"}},
        ],
    )
    (p,) = vn.wall_posts({"count": 1, "items": [item]}, -1)[1]
    assert p.comments_open is False
    assert p.views is None
    assert p.links == ("https://liski-adm.ru/news/1",)


def test_post_without_comments_object_is_not_accused_of_closed_comments() -> None:
    item = post(21, -1, owner_id=-1)
    del item["comments"]
    (p,) = vn.wall_posts({"count": 1, "items": [item]}, -1)[1]
    assert (p.comments_count, p.comments_open) == (0, True)


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        ([], "wall.get: expected an object"),
        ({"count": 1, "items": "x"}, "items: expected a list"),
        ({"count": 1, "items": [{"id": 1, "from_id": -1}]}, "date: missing"),
        ({"count": 1, "items": [{"id": 1, "date": "yesterday"}]}, "date: expected an integer"),
        ({"count": 1, "items": [{"id": 1, "date": 1, "likes": 5}]}, "likes: expected an object"),
        ({"count": 1, "items": [{"id": 1, "date": 10**15}]}, "date: out of range"),
        ({"count": 1, "items": [{"id": 1, "date": 1, "copy_history": {}}]}, "copy_history"),
    ],
)
def test_garbage_wall_raises_malformed(response: object, fragment: str) -> None:
    with pytest.raises(vn.MalformedResponse) as caught:
        vn.build_posts(response, 1, REF, "sweep-1", NOW)
    assert fragment in caught.value.reason


def test_build_posts_is_a_valid_event() -> None:
    event = vn.build_posts({"count": 1, "items": [post(1, -7, owner_id=-7)]}, 7, REF, "s", NOW)
    assert event.page_id == "7" and event.total_count == 1 and event.posts[0].is_own
    assert c.decode(event.to_bytes()) == event


# --- wall.getComments ----------------------------------------------------------------------------


def test_comments_page_with_threads_and_page_replies() -> None:
    response = {
        "count": 4,
        "current_level_count": 2,
        "items": [
            {
                "id": 5001,
                "from_id": 42,
                "date": 1_740_000_000,
                "text": "Когда будет вода?",
                "parents_stack": [],
                "thread": {
                    "count": 3,
                    "items": [
                        {
                            "id": 5003,
                            "from_id": -77,
                            "date": 1_740_003_600,
                            "text": "Завтра.",
                            "parents_stack": [5001],
                            "reply_to_comment": 5001,
                            "reply_to_user": 42,
                        }
                    ],
                },
            },
            {"id": 5002, "from_id": 43, "date": 1_740_000_100, "text": "+"},
        ],
    }
    comments, partial, top = vn.comments_page(response, 77, "5")
    assert [x.comment_id for x in comments] == ["5001", "5003", "5002"]
    reply = comments[1]
    assert (reply.author_kind, reply.from_id, reply.reply_to, reply.post_id) == (
        "page",
        "-77",
        "5001",
        "5",
    )
    assert comments[0].author_kind == "citizen" and comments[0].reply_to is None
    assert partial == [5001]  # 3 replies, 1 shown: the thread is read on its own
    assert top == 2


@pytest.mark.parametrize(
    "item",
    [
        {"from_id": 1, "date": 1, "text": ""},
        {"id": 1, "from_id": "x", "date": 1},
        {"id": 1, "from_id": 1, "date": 1, "thread": []},
    ],
)
def test_malformed_comments_name_the_field(item: dict) -> None:
    with pytest.raises(vn.MalformedResponse) as caught:
        vn.comments_page({"count": 1, "items": [item]}, 77, "5")
    assert "comment" in caught.value.reason or "thread" in caught.value.reason
