"""Bad-input corpus for platform answers: VK JSON, OK JSON and the Telegram preview HTML.

A platform answer is untrusted. Whatever it holds, mapping it gives either events that fit the
contracts (and survive encoding and decoding) or ``MalformedResponse`` with a reason, which the
collector turns into ``PageUnavailable(api_error)`` carrying that reason and counts in
``gospublic_collector_pages_total{outcome="api_error"}``. Any other exception is a bug.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gospublic import contracts as c
from gospublic.platforms import vk
from services.collector import ok_collect, tg_collect
from services.collector.main import page_outcomes

CORPUS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # the checkout is shared: keep no example database in it
    suppress_health_check=[HealthCheck.too_slow],
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VK_REF = c.PageRef(platform=c.Platform.VK, native_id="123", org_id="1023601000001")
OK_REF = c.PageRef(platform=c.Platform.OK, native_id="555", org_id="1023601000001")
TG_REF = c.PageRef(platform=c.Platform.TG, native_id="school1", org_id="1023601000001")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
junk = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
# JSON numbers have no bound: ids and counts beyond 64 bits, and over 64 digits, come too.
ints = st.integers(min_value=-(2**63), max_value=2**63) | st.sampled_from(
    [0, 1, -1, 2**40, 2**64, -(10**70), 10**70]
)
flags = st.sampled_from([0, 1, True, False, 2, -1, "1", None])
texts = st.text(max_size=60) | st.sampled_from(["", " ", "https://vk.com", "+7 (473) 255-12-34"])


def plausible(fields: dict) -> st.SearchStrategy[dict]:
    """Objects with the documented keys, each of the right type or of any JSON type."""
    return st.fixed_dictionaries(
        {}, optional={k: v | junk for k, v in fields.items()}
    ) | st.dictionaries(st.sampled_from(list(fields)), junk, max_size=4)


# The OK mapping raises the VK module's exception (the collector's copy until the two are one).
MALFORMED = tuple({vk.MalformedResponse, getattr(ok_collect, "vn", vk).MalformedResponse})


def must_be_malformed(exc: vk.MalformedResponse) -> None:
    assert isinstance(exc.reason, str) and exc.reason.strip()
    event = vk_unavailable(exc.reason)
    assert c.decode(event.to_bytes()).detail == event.detail  # the reason fits the contract


def vk_unavailable(reason: str) -> c.PageUnavailable:
    from services.collector.vk_collect import unavailable

    return unavailable(VK_REF, "s", NOW, c.Unavailability.API_ERROR, reason)


def survives_the_wire(event: c.Event) -> None:
    data = event.to_bytes()
    if len(data) > c.MAX_EVENT_BYTES:
        return  # the collector splits larger ones before publishing
    decoded = c.decode(data)
    assert decoded == event


# --- VK ------------------------------------------------------------------------------------------

links = plausible({"url": texts, "name": texts})
contacts = plausible({"phone": texts, "email": texts, "user_id": ints})
vk_groups = plausible(
    {
        "id": ints,
        "name": texts,
        "screen_name": texts,
        "description": texts,
        "site": texts,
        "links": st.lists(links, max_size=3),
        "contacts": st.lists(contacts, max_size=3),
        "addresses": plausible(
            {
                "is_enabled": st.booleans(),
                "main_address": plausible(
                    {"address": texts, "phone": texts, "city": plausible({"title": texts})}
                ),
            }
        ),
        "members_count": ints,
        "is_closed": ints,
        "is_government_organization": flags,
        "verified": flags,
        "wall": ints,
        "has_photo": flags,
        "cover": plausible({"enabled": flags}),
        "deactivated": st.sampled_from(["deleted", "banned", "", "other"]),
    }
)
vk_posts = plausible(
    {
        "id": ints,
        "date": ints,
        "from_id": ints,
        "owner_id": ints,
        "text": texts,
        "is_pinned": flags,
        "copy_history": st.lists(junk, max_size=2),
        "comments": plausible({"count": ints, "can_post": flags}),
        "likes": plausible({"count": ints}),
        "reposts": plausible({"count": ints}),
        "views": plausible({"count": ints}),
        "attachments": st.lists(
            plausible({"type": st.sampled_from(["link", "photo"]), "link": links}), max_size=2
        ),
    }
)
vk_comments = plausible(
    {
        "id": ints,
        "from_id": ints,
        "date": ints,
        "text": texts,
        "reply_to_comment": ints,
        "parents_stack": st.lists(ints | junk, max_size=2),
        "thread": plausible({"count": ints, "items": st.lists(junk, max_size=2)}),
    }
)


@CORPUS
@given(vk_groups | junk)
def test_vk_group_objects(group: object) -> None:
    try:
        snapshot = vk.build_snapshot(group, VK_REF, "s", NOW)
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    survives_the_wire(snapshot)


@CORPUS
@given(plausible({"groups": st.lists(vk_groups, max_size=2)}) | st.lists(junk, max_size=2) | junk)
def test_vk_groups_get_by_id_answers(answer: object) -> None:
    try:
        for group in vk.groups_of(answer):
            vk.group_id(group)
            vk.deactivation(group) if isinstance(group, dict) else None
    except MALFORMED as exc:
        must_be_malformed(exc)


@CORPUS
@given(plausible({"count": ints, "items": st.lists(vk_posts | junk, max_size=3)}) | junk, ints)
def test_vk_wall_answers(answer: object, gid: int) -> None:
    try:
        event = vk.build_posts(answer, gid, VK_REF, "s", NOW)
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    survives_the_wire(event)


@CORPUS
@given(
    plausible({"items": st.lists(vk_comments | junk, max_size=3), "current_level_count": ints})
    | junk,
    ints,
)
def test_vk_comment_answers(answer: object, gid: int) -> None:
    try:
        comments, partial, level = vk.comments_page(answer, gid, "1")
        event = vk.build_comments(comments, gid, VK_REF, "s", NOW)
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    assert all(isinstance(t, int) for t in partial) and isinstance(level, int)
    survives_the_wire(event)


# --- OK ------------------------------------------------------------------------------------------

ok_groups = plausible(
    {
        "uid": st.sampled_from(["555", 555]) | junk,
        "name": texts,
        "description": texts,
        "shortname": texts,
        "members_count": ints,
        "private": st.booleans(),
        "status": st.sampled_from(["ACTIVE", "BLOCKED"]),
        "homepage_url": texts,
    }
)
ok_topics = plausible(
    {
        "id": ints | texts,
        "created_ms": ints,
        "author_ref": st.sampled_from(["group:555", "user:1", "group:", ""]) | texts,
        "is_sticky": st.booleans(),
        "media": st.lists(
            plausible({"type": st.sampled_from(["text", "reshare", "link"]), "text": texts}),
            max_size=2,
        ),
        "discussion_summary": plausible({"comments_count": ints}),
        "like_summary": plausible({"count": ints}),
        "reshare_summary": plausible({"count": ints}),
    }
)
ok_comments = plausible(
    {
        "id": ints | texts,
        "date": st.sampled_from(["2026-03-01 10:00:00", "2026-13-01 10:00:00", ""]) | texts,
        "author_type": st.sampled_from(["GROUP", "USER"]),
        "author_id": st.sampled_from(["555", "1"]) | junk,
        "reply_to_comment_id": ints | texts,
        "text": texts,
    }
)


@CORPUS
@given(ok_groups)
def test_ok_group_objects(group: dict) -> None:
    try:
        snapshot = ok_collect._snapshot(group, OK_REF, "s", NOW)
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    survives_the_wire(snapshot)


@CORPUS
@given(plausible({"media_topics": st.lists(ok_topics | junk, max_size=3)}) | junk)
def test_ok_topic_answers(answer: object) -> None:
    try:
        event = ok_collect._posts(answer, "555", OK_REF, "s")
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    survives_the_wire(event)


@CORPUS
@given(ok_comments | junk)
def test_ok_comment_objects(item: object) -> None:
    try:
        comment = ok_collect._comment(item, "555", "1")
    except MALFORMED as exc:
        must_be_malformed(exc)
        return
    event = c.CommentsObserved.create(
        observed_at=NOW, platform="ok", page_ref=OK_REF, sweep_id="s", page_id="555",
        comments=(comment,),
    )  # fmt: skip
    survives_the_wire(event)


# --- Telegram preview ----------------------------------------------------------------------------

TG_CLASSES = [
    "tgme_channel_info",
    "tgme_channel_info_header_title",
    "tgme_channel_info_description",
    "counter_value",
    "tgme_widget_message",
    "tgme_widget_message_text",
    "tgme_widget_message_views",
    "tgme_widget_message_forwarded_from",
    "other",
]
TG_TAGS = ["div", "span", "a", "time", "br", "img", "p", "b", "i", "script", "td"]


@st.composite
def html_fragments(draw, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "element", "junk"] if depth < 4 else ["text", "junk"]))
        if kind == "text":
            parts.append(
                draw(
                    st.text(max_size=30)
                    | st.sampled_from(["1.2K", "3M", "950", "..", ".K", "1e9K", "9" * 400, "&amp;"])
                )
            )
        elif kind == "junk":
            parts.append(
                draw(
                    st.sampled_from(
                        [
                            "<",
                            ">",
                            "</div>",
                            "<!--",
                            "<![CDATA[",
                            "&#",
                            "<br",
                            "<![",
                            "<![x ",
                            "<!x",
                        ]
                    )
                )
            )
        else:
            tag = draw(st.sampled_from(TG_TAGS))
            attrs = []
            if draw(st.booleans()):
                attrs.append(
                    f'class="{" ".join(draw(st.lists(st.sampled_from(TG_CLASSES), max_size=2)))}"'
                )
            if draw(st.booleans()):
                post = draw(
                    st.sampled_from(["school1/7", "school1/x", "", "/", "a/99999999999"])
                    | st.text(max_size=10)
                )
                attrs.append(f'data-post="{post}"')
            if tag == "time" or draw(st.booleans()):
                when = draw(
                    st.sampled_from(
                        [
                            "2026-03-01T10:00:00+00:00",
                            "2026-03-01T10:00:00",
                            "9999-12-31T23:59:59-23:59",
                            "x",
                        ]
                    )
                    | st.text(max_size=12)
                )
                attrs.append(f'datetime="{when}"')
            if tag == "a" or draw(st.booleans()):
                attrs.append(
                    f'href="{draw(st.sampled_from(["https://x.ru/a", ""]) | st.text(max_size=10))}"'
                )
            inner = draw(html_fragments(depth + 1))
            parts.append(f"<{tag} {' '.join(attrs)}>{inner}</{tag}>")
    return "".join(parts)


def tg_events(html: str) -> list[c.PageEvent]:
    preview = tg_collect.parse_preview(html)
    return tg_collect.preview_events(TG_REF, "s", preview, 20, NOW)


@settings(CORPUS, max_examples=600)
@given(html_fragments())
def test_telegram_previews(body: str) -> None:
    events = tg_events('<div class="tgme_channel_info">' + body)
    check_tg(events)


@CORPUS
@given(st.text(max_size=400))
def test_telegram_previews_of_any_text(text: str) -> None:
    check_tg(tg_events(text))


def check_tg(events: list[c.PageEvent]) -> None:
    assert events
    for event in events:
        survives_the_wire(event)
        if isinstance(event, c.PageUnavailable):
            assert event.detail.strip()
    task = c.CollectTask.create(observed_at=NOW, sweep_id="s", platform="tg", pages=(TG_REF,))
    [(outcome, n)] = page_outcomes(task, events).items()
    assert n == 1 and outcome in {"ok", *(u.value for u in c.Unavailability)}


def test_a_rejected_answer_is_counted_with_its_reason() -> None:
    """The collector's page outcome for a malformed answer is ``api_error``, with the reason in
    the event it publishes."""
    try:
        vk.build_snapshot({"id": "12"}, VK_REF, "s", NOW)
    except MALFORMED as exc:
        event = vk_unavailable(exc.reason)
    task = c.CollectTask.create(observed_at=NOW, sweep_id="s", platform="vk", pages=(VK_REF,))
    assert dict(page_outcomes(task, [event])) == {"api_error": 1}
    assert "id: expected an integer, got str" in json.loads(event.to_bytes())["detail"]


def test_an_oversized_telegram_description_is_cut_to_the_contract() -> None:
    html = (
        '<div class="tgme_channel_info"><div class="tgme_channel_info_description">'
        + "а" * 150_000
        + "</div></div>"
    )
    snapshot, _ = tg_events(html)
    assert len(snapshot.description) == 100_000
    survives_the_wire(snapshot)


def test_times_without_a_zone_and_huge_counters_are_skipped() -> None:
    html = """<div class="tgme_channel_info"><span class="counter_value">99999999999999M</span></div>
    <div class="tgme_widget_message" data-post="school1/7"><time datetime="2026-03-01T10:00:00">x</time></div>
    <div class="tgme_widget_message" data-post="school1/8"><time datetime="2026-03-01T10:00:00+03:00">x</time>
    <span class="tgme_widget_message_views">..</span></div>"""
    snapshot, posts = tg_events(html)
    assert snapshot.members is None
    [post] = posts.posts
    assert post.post_id == "8" and post.posted_at == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert post.views is None


def test_naive_times_are_not_events() -> None:
    """Rules compare times with the clock; a time without a zone would break a whole batch."""
    data = c.PageUnavailable.create(
        observed_at=NOW, platform="vk", page_ref=VK_REF, sweep_id="s", reason="deleted"
    ).to_bytes()
    naive = data.replace(b'"2026-03-02T09:00:00Z"', b'"2026-03-02T09:00:00"')
    assert naive != data
    try:
        c.decode(naive)
    except c.ContractError as exc:
        assert exc.kind == "invalid" and "observed_at" in exc.reason
    else:
        raise AssertionError("a naive time was accepted")


# --- the answer's JSON itself ---------------------------------------------------------------------


def _parsed(body: bytes) -> object:
    from services.collector.vk_client import VkGarbage, parse_json

    try:
        return ("value", parse_json(200, "application/json", body))
    except VkGarbage as exc:
        return ("garbage", str(exc))


def _by_json(body: bytes) -> object:
    try:
        return ("value", json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSONDecodeError and
        return ("garbage",)  # a number of over 4,300 digits


@CORPUS
@given(value=junk, spaces=st.sampled_from(["", " ", "\n  "]))
def test_json_is_read_as_the_json_module_reads_it(value: object, spaces: str) -> None:
    """The fast reader and the ``json`` module agree on every JSON text (NaN and huge numbers
    included): the same value, compared through its repr so that NaN equals NaN. (``junk`` draws
    no lone surrogates, which the reader repairs: see the test after the next.)"""
    body = (spaces + json.dumps(value, ensure_ascii=bool(len(spaces) % 2)) + spaces).encode()
    assert repr(_parsed(body)) == repr(_by_json(body))


@CORPUS
@given(body=st.binary(max_size=80) | junk.map(lambda v: json.dumps(v).encode()[:-1]))
def test_broken_json_is_garbage_with_a_reason_or_what_json_reads(body: bytes) -> None:
    kind, *detail = _parsed(body)
    expected = _by_json(body)
    if kind == "value":
        assert repr((kind, *detail)) == repr(expected)
    else:
        assert expected[0] == "garbage" or body[:512].lstrip().startswith(b"<") or not body.strip()
        assert detail and detail[0]


@pytest.mark.parametrize(
    "body",
    [
        b"1" * 5000,
        b'{"response": {"count": -' + b"9" * 4301 + b"}}",
        b"[" * 5000 + b"]" * 5000,
        b'{"response": ' + b'{"a": ' * 1500 + b"1" + b"}" * 1501,
    ],
    ids=["huge number", "huge count", "deep arrays", "deep objects"],
)
def test_json_that_python_cannot_hold_is_garbage_with_a_reason(body: bytes) -> None:
    """A number of over 4,300 digits (ValueError) or nesting deeper than the interpreter's stack
    (RecursionError) escaped the reader and failed the whole task, not just its call."""
    kind, *detail = _parsed(body)
    assert kind == "garbage" and detail[0].startswith("invalid JSON")


def _huge(digits: int = 70) -> int:
    return 10 ** (digits - 1)


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: vk.build_posts({"items": [{"id": _huge(), "date": 0}]}, 1, VK_REF, "s", NOW),
         "post_id"),
        (lambda: vk.build_posts({"items": [{"id": 1, "date": 0, "from_id": -_huge()}]}, 1,
                                VK_REF, "s", NOW), "from_id"),
        (lambda: vk.build_posts({"items": [{"id": 1, "date": 0, "text": "a\ud800"}]}, 1,
                                VK_REF, "s", NOW), "text"),
        (lambda: vk.comments_page({"items": [{"id": 1, "from_id": 2, "date": 0,
                                              "text": "\udfff"}]}, 1, "1"), "text"),
        (lambda: ok_collect._posts({"media_topics": [{"id": "1", "created_ms": 0, "media": [
            {"type": "text", "text": "\ud800"}]}]}, "555", OK_REF, "s"), "text"),
        (lambda: ok_collect._comment({"id": "1", "date": "2026-03-01 10:00:00",
                                      "text": "\ud800"}, "555", "1"), "text"),
    ],
    ids=["VK post id", "VK post author", "VK post text", "VK comment text", "OK topic text",
         "OK comment text"],
)  # fmt: skip
def test_a_post_or_comment_that_does_not_fit_the_contract_is_malformed(call, where: str) -> None:
    """pydantic's ValidationError escaped the mapping (an id of 70 digits is a valid JSON
    number) and failed the whole task instead of the page."""
    with pytest.raises(MALFORMED) as caught:
        call()
    must_be_malformed(caught.value)
    assert f".{where}: " in caught.value.reason


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'"\\ud800"', "\ufffd"),
        (b'{"a\\udc00": ["x\\uD83Dy", {"k": "\\udfff"}]}', {"a\ufffd": ["x\ufffdy", {"k": "\ufffd"}]}),
        (b'["\\ud83d\\ude00", "\\\\ud800"]', ["\U0001f600", "\\ud800"]),  # a pair; no escape
    ],
    ids=["string", "nested, keys too", "untouched"],
)  # fmt: skip
def test_a_lone_surrogate_in_an_answer_is_read_as_a_replacement_character(
    body: bytes, value: object
) -> None:
    assert _parsed(body) == ("value", value)


def test_an_answer_with_lone_surrogates_gives_events_that_can_be_published() -> None:
    """json reads "\\ud800" as a lone surrogate, which no UTF-8 text carries: in a name it made
    the snapshot malformed, in a link, phone or error message it made an event that could not be
    encoded, and the task failed at publishing."""
    from services.collector.vk_client import error_from, parse_body

    group = {"id": 1, "name": "Школа\ud800", "links": [{"url": "https://x.ru/\udfff"}],
             "contacts": [{"phone": "+7 473\ud83d"}]}  # fmt: skip
    answer = parse_body(200, "application/json", json.dumps({"response": [group]}).encode())
    snapshot = vk.build_snapshot(vk.groups_of(answer["response"])[0], VK_REF, "s", NOW)
    assert snapshot.name == "Школа\ufffd" and snapshot.links == ("https://x.ru/\ufffd",)
    survives_the_wire(snapshot)

    error = {"error": {"error_code": 15, "error_msg": "Access denied\udc00"}}
    exc = error_from(parse_body(200, "application/json", json.dumps(error).encode())["error"])
    event = vk_unavailable(f"wall.get: VK error {exc.code}: {exc.msg}")
    survives_the_wire(event)


@pytest.mark.parametrize(
    "section",
    ["<![x]>", "<![y >", "<![<![ >", "<![if x]>", "<![endif]>", "<![ >", "<![1]]>"],
)
def test_a_marked_section_the_parser_does_not_know_is_skipped(section: str) -> None:
    """html.parser raises AssertionError at "<![x" ("unknown status keyword", "expected name
    token"), which failed the whole task; HTML reads it as a bogus comment up to the next ">"."""
    html = (
        f'<div class="tgme_channel_info">{section}<div class="tgme_channel_info_header_title">'
        f'Школа</div></div>{section}<div class="tgme_widget_message" data-post="school1/7">'
        '<time datetime="2026-03-01T10:00:00+00:00">x</time></div>'
    )
    events = tg_events(html)
    check_tg(events)
    snapshot, posts = events
    assert snapshot.name == "Школа"
    assert [p.post_id for p in posts.posts] == ["7"]
    check_tg(tg_events(f'<div class="tgme_channel_info">{section[:-1]}'))  # never closed


@pytest.mark.parametrize(
    "group",
    [{"id": 12, "name": "x", "members_count": 2**63}, {"id": 12, "name": "x", "wall": -(2**64)}],
    ids=["members 2**63", "wall below Int64"],
)
def test_a_profile_number_beyond_int64_is_malformed(group: dict) -> None:
    """Member counts and the wall setting are Int64 columns: a larger number made a snapshot
    whose insert failed the whole batch."""
    with pytest.raises(MALFORMED) as caught:
        vk.build_snapshot(group, VK_REF, "s", NOW)
    must_be_malformed(caught.value)
    assert "snapshot does not fit the contract" in caught.value.reason
