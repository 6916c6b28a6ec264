"""MAX answers mapped to the contracts, register links read, and bad input refused with a reason.

A MAX answer is untrusted: whatever a ``Chat``, ``ChatList`` or ``MessageList`` holds, mapping it
gives events that fit the contracts (and survive encoding) or ``MalformedResponse`` naming the
field, which the collector reports as ``PageUnavailable(api_error)``. Any other exception is a bug.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from gospublic import contracts as c
from gospublic.httpclient import allowed_origins, origin_of
from gospublic.platforms import max as mx
from gospublic.platforms.vk import MalformedResponse
from gospublic.settings import Settings
from services.collector.max_client import MaxError, error_of, retry_after

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.MAX, native_id="minobr_gos", org_id="1023601000001")
CHAT = {
    "chat_id": -72000000000004,
    "type": "channel",
    "status": "active",
    "title": "Министерство образования",
    "icon": {"url": "https://i.max.ru/a.webp"},
    "last_event_time": 1772400000000,
    "participants_count": 1532,
    "is_public": True,
    "link": "https://max.ru/minobr_gos",
    "description": "Новости ведомства. Сайт: https://minobr.example.ru/ и https://gosuslugi.ru",
    "messages_count": 240,
}
MESSAGE = {
    "sender": None,
    "recipient": {"chat_id": -72000000000004, "chat_type": "channel"},
    "timestamp": 1772380800000,
    "body": {"mid": "mid.abc", "seq": 7, "text": "Приём документов: https://minobr.example.ru/x"},
    "stat": {"views": 321},
}

CORPUS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize(
    ("cell", "native_id"),
    [
        ("https://max.ru/minobr_gos", "minobr_gos"),
        ("http://www.max.ru/Minobr_Gos/", "Minobr_Gos"),
        ("max.ru/school-12_gos", "school-12_gos"),
        ("minobr_gos", "minobr_gos"),
        ("-72000000000004", "-72000000000004"),
        ("https://max.ru/join/AbCdEf123", None),  # an invitation names no public channel
        ("https://max.ru/minobr_gos/mid.123", None),  # a post, not a channel
        ("https://t.me/minobr", None),
        ("https://max.ru.evil.example/minobr", None),
        ("https://max.ru/9starts_with_digit", None),
        ("", None),
    ],
)
def test_register_cells_name_a_channel_or_nothing(cell: str, native_id: str | None) -> None:
    assert mx.ref_from_link(cell) == native_id


def test_page_url_is_the_public_link() -> None:
    assert mx.page_url("minobr_gos") == "https://max.ru/minobr_gos"
    assert mx.page_url("-72000000000004") == "https://max.ru/"


def test_a_channel_becomes_a_snapshot() -> None:
    snapshot = mx.build_snapshot(CHAT, REF, "s1", NOW)
    assert snapshot.platform == c.Platform.MAX and snapshot.page_id == "-72000000000004"
    assert snapshot.screen_name == "minobr_gos" and snapshot.name == "Министерство образования"
    assert snapshot.members == 1532 and snapshot.has_photo is True and snapshot.is_closed == 0
    assert snapshot.links == ("https://minobr.example.ru/", "https://gosuslugi.ru")
    bare = mx.build_snapshot(
        {**CHAT, "icon": None, "description": None, "is_public": False}, REF, "s1", NOW
    )
    assert bare.has_photo is False and bare.description == "" and bare.is_closed == 1
    c.decode(snapshot.to_bytes())


def test_messages_become_posts_newest_first_with_views() -> None:
    older = {**MESSAGE, "timestamp": 1772300000000, "body": {"mid": "mid.old", "seq": 6}}
    forwarded = {
        **MESSAGE,
        "timestamp": 1772390000000,
        "body": {"mid": "mid.fwd", "seq": 8, "text": None},
        "link": {
            "type": "forward",
            "chat_id": -5,
            "message": {"mid": "mid.x", "seq": 1, "text": "Оригинал"},
        },
        "stat": None,
    }
    event = mx.build_posts([older, MESSAGE, forwarded], CHAT, REF, "s1", NOW)
    assert [p.post_id for p in event.posts] == ["mid.fwd", "mid.abc", "mid.old"]
    fwd, own, old = event.posts
    assert own.is_own and not own.is_repost and own.views == 321
    assert own.from_id == "-72000000000004" and own.links == ("https://minobr.example.ru/x",)
    assert own.posted_at == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert fwd.is_repost and not fwd.is_own and fwd.views is None and fwd.text == "Оригинал"
    assert old.text == "" and event.total_count == 240 and event.page_id == "-72000000000004"
    c.decode(event.to_bytes())


def test_chats_are_matched_by_name_in_any_case_or_by_id() -> None:
    other = {**CHAT, "chat_id": -9, "link": "https://max.ru/join/hash"}
    private = {**CHAT, "chat_id": -10, "link": None}
    found = mx.match_chats(
        ["MINOBR_GOS", "-9", "-10", "absent_gos", "hash"], [CHAT, other, private]
    )
    assert found["MINOBR_GOS"]["chat_id"] == CHAT["chat_id"]
    assert found["-9"]["chat_id"] == -9 and found["-10"]["chat_id"] == -10
    assert "absent_gos" not in found and "hash" not in found


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("active", None),
        ("removed", c.Unavailability.NOT_CONNECTED),
        ("left", c.Unavailability.NOT_CONNECTED),
        ("closed", c.Unavailability.DELETED),
    ],
)
def test_a_chat_status_says_whether_the_bot_can_read_it(status, reason) -> None:
    assert mx.chat_state({**CHAT, "status": status}) == reason


def test_not_connected_is_not_a_page_that_is_gone() -> None:
    assert c.Unavailability("not_connected") not in c.PAGE_GONE


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"chat_id": "-1"}, "chat_id"),
        ({"participants_count": 1.5}, "participants_count"),
        ({"participants_count": True}, "participants_count"),
        ({"participants_count": 2**63}, "participants_count"),
        ({"icon": {"href": "x"}}, "icon.url"),
        ({"is_public": "yes"}, "is_public"),
        ({"title": ["a"]}, "title"),
        ({"status": "frozen"}, "status"),
    ],
)
def test_a_malformed_chat_names_the_field(change: dict, where: str) -> None:
    with pytest.raises(MalformedResponse, match=where.replace(".", r"\.")):
        chat = {**CHAT, **change}
        mx.chat_state(chat)
        mx.build_snapshot(chat, REF, "s1", NOW)


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({**MESSAGE, "timestamp": 1772380800}, "timestamp"),  # seconds, not milliseconds
        ({**MESSAGE, "timestamp": None}, "timestamp"),
        ({**MESSAGE, "body": None}, "body"),
        ({**MESSAGE, "body": {"mid": "", "seq": 1}}, "mid"),
        ({**MESSAGE, "body": {"mid": "m" * 65, "seq": 1}}, "mid"),
        ({**MESSAGE, "stat": {"views": "many"}}, "views"),
        ({**MESSAGE, "sender": {"user_id": "x"}}, "user_id"),
        ({**MESSAGE, "link": "forward"}, "link"),
    ],
)
def test_a_malformed_message_names_the_field(message: dict, where: str) -> None:
    with pytest.raises(MalformedResponse, match=where):
        mx.build_posts([message], CHAT, REF, "s1", NOW)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
junk = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mapped_or_refused(call) -> None:
    try:
        event = call()
    except MalformedResponse as exc:
        assert exc.reason
        return
    if event is not None:
        c.decode(event.to_bytes())


@CORPUS
@given(st.fixed_dictionaries({}, optional={k: junk for k in CHAT}))
def test_any_chat_maps_or_is_refused(chat: dict) -> None:
    def call():
        if mx.chat_state(chat) is None:
            return mx.build_snapshot(chat, REF, "s1", NOW)
        return None

    _mapped_or_refused(call)


@CORPUS
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "sender": junk,
                "timestamp": junk | st.integers(1_000_000_000_000, 2_000_000_000_000),
                "body": st.fixed_dictionaries(
                    {}, optional={"mid": junk, "text": junk, "markup": junk}
                )
                | junk,
                "link": junk,
                "stat": st.fixed_dictionaries({}, optional={"views": junk}) | junk,
            },
        ),
        max_size=3,
    )
    | junk
)
def test_any_message_list_maps_or_is_refused(answer: object) -> None:
    _mapped_or_refused(
        lambda: mx.build_posts(mx.messages_of({"messages": answer}), CHAT, REF, "s1", NOW)
    )


@CORPUS
@given(junk)
def test_any_chat_list_reads_or_is_refused(answer: object) -> None:
    try:
        chats, marker = mx.chats_of(answer)
    except MalformedResponse as exc:
        assert exc.reason
        return
    assert all(isinstance(chat["chat_id"], int) for chat in chats)
    assert marker is None or isinstance(marker, int)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("99999", 600.0),
        ("Sun, 06 Dec 2026 21:00:10 GMT", 10.0),
    ],
)
def test_retry_after_reads_seconds_or_a_date(header, seconds) -> None:
    now = datetime(2026, 12, 6, 21, 0, tzinfo=UTC).timestamp()
    assert retry_after(header, now) == seconds


def test_an_error_body_of_any_shape_becomes_a_max_error() -> None:
    error = error_of(403, {"code": "chat.denied", "message": "Bot is not a member"})
    assert isinstance(error, MaxError) and error.status == 403 and error.code == "chat.denied"
    assert error_of(500, ["x"]).code == "" and error_of(400, {"code": 5}).code == ""


def test_the_bot_token_is_a_redacted_secret() -> None:
    settings = Settings(_env_file=None, max_token=SecretStr("bot-token-value-1"))
    assert "bot-token-value-1" in settings.secret_values()
    assert "bot-token-value-1" not in repr(settings) and "bot-token-value-1" not in str(settings)
    assert settings.max_api_url == "https://platform-api2.max.ru"
    assert settings.max_requests_per_second == 30.0


def test_only_max_hosts_are_allowed_to_its_client() -> None:
    allowed = allowed_origins("max", "https://platform-api2.max.ru")
    assert origin_of("https://platform-api2.max.ru/chats") in allowed
    assert origin_of("https://platform-api.max.ru/chats") in allowed
    assert origin_of("http://platform-api2.max.ru/chats") not in allowed  # https only
    assert origin_of("https://max.ru/chats") not in allowed
    assert origin_of("https://api.vk.com/method") not in allowed


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({**MESSAGE, "body": {"mid": "mid.a", "seq": 1, "text": "x\ud800y"}}, "text"),
        ({**MESSAGE, "body": {"mid": "mid.\udfff", "seq": 1}}, "body.mid"),
    ],
)
def test_a_post_that_does_not_fit_the_contract_is_malformed(message: dict, where: str) -> None:
    """pydantic's ValidationError escaped the mapping of a message (a lone surrogate that did not
    come through the JSON reader) and would have failed the whole task instead of the page."""
    with pytest.raises(MalformedResponse, match=f"messages\\[0\\].{where}: "):
        mx.build_posts([message], CHAT, REF, "s1", NOW)


def _comment(mid: str, sender: dict | None, reply_to: str | None = None) -> dict:
    comment = {
        "sender": sender,
        "recipient": {"chat_id": -72000000000004, "chat_type": "channel", "post_id": "mid.abc"},
        "timestamp": 1772380900000,
        "body": {"mid": mid, "seq": 1, "text": "Когда откроется запись?"},
    }
    if reply_to:
        comment["link"] = {"type": "reply", "message": {"mid": reply_to, "seq": 1}}
    return comment


def test_comments_name_their_author_and_thread() -> None:
    citizen = {"user_id": 501, "first_name": "Анна", "is_bot": False}
    comments = mx.build_comments(
        [
            _comment("c3", None, "c2"),  # the channel answers the reply
            _comment("c2", {**citizen, "user_id": 502}, "c1"),
            _comment("c1", citizen),
            _comment("c9", citizen, "c0"),  # answers a comment not read
        ],
        -72000000000004,
        "mid.abc",
    )
    by_id = {cm.comment_id: cm for cm in comments}
    assert by_id["c1"].author_kind == "citizen" and by_id["c1"].from_id == "501"
    assert by_id["c1"].reply_to is None and by_id["c1"].thread_id is None
    assert by_id["c2"].reply_to == "c1" and by_id["c2"].thread_id == "c1"
    assert by_id["c3"].author_kind == "page" and by_id["c3"].from_id == "-72000000000004"
    assert by_id["c3"].reply_to == "c2" and by_id["c3"].thread_id == "c1"
    assert by_id["c9"].thread_id == "c0"
    assert all(cm.post_id == "mid.abc" for cm in comments)


@pytest.mark.parametrize(
    ("comment", "where"),
    [
        ({**_comment("c1", None), "timestamp": "x"}, "timestamp"),
        ({**_comment("c1", None), "body": {"seq": 1}}, "mid"),
        ({**_comment("c1", None), "link": {"type": "reply", "message": {}}}, "link.message.mid"),
        ({**_comment("c1", {"user_id": True})}, "user_id"),
        (_comment("c1\ud800", None), "body.mid"),
    ],
)
def test_a_malformed_comment_names_the_field(comment: dict, where: str) -> None:
    with pytest.raises(MalformedResponse, match=where.replace(".", r"\.")):
        mx.build_comments([comment], -1, "mid.abc")
