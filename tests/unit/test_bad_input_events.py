"""Bad-input corpus for event decoding: whatever arrives on a stream, ``contracts.decode`` either
returns a valid event or raises ``ContractError`` with a reason and a bounded kind — never anything
else — and its fast paths (the one-pass validation here, the evaluator's msgspec decoder for
``PostsObserved`` and ``OrganisationsRegistered``) accept and reject exactly what the careful path
does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gospublic import contracts as c
from services.evaluator import fastdecode

CORPUS = settings(
    max_examples=400,
    deadline=None,
    database=None,  # the checkout is shared: keep no example database in it
    suppress_health_check=[HealthCheck.too_slow],
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1023601000001")
LABELS = c.AlertLabels(
    org_id="1023601000001", org_name="Школа", founder="", municipality="Лиски", sphere="education",
    level="municipal", platform="vk", page_id="1", page_url="https://vk.com/club1", rule="no_posts",
    severity=c.Severity.HIGH,
)  # fmt: skip

VALID_EVENTS: list[c.Event] = [
    c.PageSnapshot.create(
        observed_at=NOW, platform="vk", page_ref=REF, sweep_id="s", page_id="1", name="Школа",
        links=("https://school.ru",), members=10, has_photo=True,
    ),
    c.PostsObserved.create(
        observed_at=NOW, platform="vk", page_ref=REF, sweep_id="s", page_id="1",
        posts=(c.Post(post_id="1", posted_at=NOW, is_own=True, is_repost=False, text="Привет"),),
    ),
    c.CommentsObserved.create(
        observed_at=NOW, platform="vk", page_ref=REF, sweep_id="s", page_id="1",
        comments=(c.Comment(comment_id="5", post_id="1", from_id="7", author_kind="citizen",
                            posted_at=NOW, text="Когда?"),),
    ),
    c.PageUnavailable.create(
        observed_at=NOW, platform="vk", page_ref=REF, sweep_id="s", reason="deleted", error_code=15,
    ),
    c.CollectTask.create(observed_at=NOW, sweep_id="s", platform="vk", pages=(REF,)),
    c.ViolationOpened.create(
        observed_at=NOW, violation_id="v1", labels=LABELS, summary="Нет постов", opened_at=NOW,
    ),
    c.ViolationResolved.create(
        observed_at=NOW, violation_id="v1", labels=LABELS, summary="Нет постов", opened_at=NOW,
        resolved_at=NOW,
    ),
    # The evaluator decodes this one with msgspec too (services/evaluator/fastdecode.py).
    c.OrganisationsRegistered.create(
        observed_at=NOW, registry_version="v1", region="voronezh", chunk=0, chunks=1,
        organisations=(
            c.Organisation(org_id="1023601000001", name="Школа", level="municipal", founder="",
                           municipality="Лиски", sphere="education", pages=(REF,)),
            c.Organisation(org_id="304500116000157", name="ИП", level="", founder="Отдел",
                           municipality="", sphere="", exempt=True),
        ),
    ),
    c.ScoresUpdated.create(
        observed_at=NOW, labels=c.OrgLabels(**LABELS.model_dump(include=set(c.OrgLabels.model_fields))),
        scores={"design": 50.0, "compliance": 12.5}, scored_at=NOW,
    ),
]  # fmt: skip

SCHEMAS = [f"{name}/{n}" for name in c.EVENT_TYPES for n in (0, 1, 2)] + ["", "x", "/1", "Nope/1"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "vk", "deleted", "2026-03-02T09:00:00Z", "1e400", "club1", "-1"])
    | st.sampled_from(["2026-03-02T09:00:00", "2026-03-02", "2026-03-02T09:00:00+03:00", "0.5"])
    # Lone surrogates (st.text never draws them), digits of other scripts, NUL.
    | st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "\ud83d\ude00", "١٢٣", "\x00"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def outcome(data: bytes, decoder=c.decode) -> tuple[str, object]:
    """("ok", event) or ("rejected", (kind, reason)); any other exception fails the test."""
    try:
        return "ok", decoder(data)
    except c.ContractError as exc:
        return "rejected", (exc.kind, exc.reason)


def check(data: bytes) -> tuple[str, object]:
    result = outcome(data)
    if result[0] == "rejected":
        kind, reason = result[1]
        assert kind in c.REJECTION_KINDS
        assert isinstance(reason, str) and reason.strip()
        assert len(reason) < 2000  # a reason quotes the input, but only a little of it
    else:
        event = result[1]
        assert isinstance(event, c.Event)
        assert event.schema_ == type(event).schema_id()
        assert c.decode(event.to_bytes()) == event  # what was accepted re-encodes to itself
    # The fast paths must never accept or reject differently from the careful one: contracts'
    # one-pass validation, and the evaluator's msgspec decoders for PostsObserved and
    # OrganisationsRegistered.
    careful = outcome(data, c._decode_carefully) if len(data) <= c.MAX_EVENT_BYTES else result
    assert same_outcome(careful, result)
    assert same_outcome(outcome(data, fastdecode.decode), result)
    return result


def same_outcome(a: tuple[str, object], b: tuple[str, object]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "rejected":
        return a[1][0] == b[1][0]  # the same kind of rejection
    return type(a[1]) is type(b[1]) and comparable(a[1]) == comparable(b[1])


def comparable(event: c.Event) -> dict[str, object]:
    """The fields by attribute (the msgspec path keeps its own post records, duck-typed), without
    the event_id: a message without one gets a fresh one on every decode."""
    fields = {k: getattr(event, k) for k in type(event).model_fields if k != "event_id"}
    if "posts" in fields:
        fields["posts"] = tuple(
            tuple((f, getattr(post, f)) for f in c.Post.model_fields) for post in fields["posts"]
        )
    if "organisations" in fields:  # the msgspec path keeps its own records here too
        fields["organisations"] = tuple(
            tuple(
                (f, getattr(org, f))
                if f != "pages"
                else (f, tuple(tuple((n, getattr(p, n)) for n in c.PageRef.model_fields)
                               for p in org.pages))
                for f in c.Organisation.model_fields
            )
            for org in fields["organisations"]
        )  # fmt: skip
    for key, value in fields.items():
        # Aware times compare by instant; a naive one must not slip through on either path.
        if isinstance(value, datetime):
            assert value.tzinfo is not None, key
    return fields


@CORPUS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@CORPUS
@given(json_values)
def test_arbitrary_json(value: object) -> None:
    check(json.dumps(value).encode())


@CORPUS
@given(st.sampled_from(SCHEMAS), st.dictionaries(st.text(max_size=20), json_values, max_size=6))
def test_objects_with_a_schema(schema: str, fields: dict) -> None:
    check(json.dumps({"schema": schema, **fields}).encode())


@st.composite
def mutated_events(draw) -> bytes:
    """A valid event with one field replaced, removed or added, anywhere in its tree."""
    event = draw(st.sampled_from(VALID_EVENTS))
    doc = json.loads(event.to_bytes())
    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            node[key] = draw(json_values)
        elif action == "remove" and isinstance(node, dict):
            del node[key]
        elif isinstance(node, dict):
            node[draw(st.text(max_size=10))] = draw(json_values)
        else:
            node.append(draw(json_values))
        break
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        # Producers here write "schema" first; others may not, which takes the careful path.
        text = json.dumps(dict(reversed(list(doc.items())))) if isinstance(doc, dict) else text
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate in CESU-8, as some write it


@settings(CORPUS, max_examples=1500)
@given(mutated_events())
def test_mutated_valid_events(data: bytes) -> None:
    check(data)


@CORPUS
@given(st.sampled_from(VALID_EVENTS), st.integers(min_value=0, max_value=400))
def test_truncated_and_padded_events(event: c.Event, cut: int) -> None:
    data = event.to_bytes()
    check(data[:cut])
    check(data + b" " * cut)
    check(b"\xef\xbb\xbf" + data)  # a byte-order mark is not JSON


def test_every_valid_event_decodes_to_itself() -> None:
    for event in VALID_EVENTS:
        assert check(event.to_bytes()) == ("ok", event)


def test_oversized_payload_is_rejected_as_too_large_before_parsing() -> None:
    event = VALID_EVENTS[0]
    data = event.to_bytes()
    assert outcome(data, lambda d: c.decode(d, max_bytes=len(d)))[0] == "ok"
    kind, reason = outcome(data, lambda d: c.decode(d, max_bytes=len(d) - 1))[1]
    assert kind == "too_large" and "exceeds the limit" in reason


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"1" * 5000, "not_json"),
        (b'{"schema":"PageSnapshot/1","members":' + b"9" * 4301 + b"}", "not_json"),
        (b'{"schema":"PostsObserved/1","total_count":-' + b"9" * 4301 + b"}", "not_json"),
        (b"[" * 5000 + b"]" * 5000, "not_json"),
        (b'{"schema":"PostsObserved/1","posts":' + b"[" * 3000 + b"]" * 3000 + b"}", "not_json"),
        (b'{"schema":"PageSnapshot/' + b"1" * 5000 + b'"}', "no_schema"),
    ],
    ids=["huge number", "huge member count", "huge total", "deep", "deep posts", "huge version"],
)
def test_what_python_cannot_read_is_rejected_with_a_reason(data: bytes, kind: str) -> None:
    """A number of over 4,300 digits (ValueError from json or int) and nesting deeper than the
    interpreter's stack (RecursionError) escaped ``decode`` instead of a ``ContractError``."""
    assert check(data)[0] == "rejected"
    assert outcome(data)[1][0] == kind


def _with(event: c.Event, old: bytes, new: bytes) -> bytes:
    data = event.to_bytes()
    assert old in data
    return data.replace(old, new, 1)


COMMENTS, OPENED, SNAPSHOT = VALID_EVENTS[2], VALID_EVENTS[5], VALID_EVENTS[0]


@pytest.mark.parametrize(
    "data",
    [
        _with(COMMENTS, b'"comment_id":"5"', b'"comment_id":"5\\ud800"'),
        _with(COMMENTS, b'"from_id":"7"', b'"from_id":"\\udfff7"'),
        _with(OPENED, b'"violation_id":"v1"', b'"violation_id":"v1\\uDBFF"'),
        _with(SNAPSHOT, b'"links":["', b'"links":["\\ud83d'),
        _with(SNAPSHOT, b'"links":["', b'"links":["\xed\xa0\x80'),  # the same in CESU-8 bytes
        _with(COMMENTS, b'"schema"', b'"\\udc00":1,"schema"'),
    ],
    ids=["comment id", "from id", "violation id", "link", "link in bytes", "key"],
)
def test_a_lone_surrogate_is_not_an_event(data: bytes) -> None:
    """json reads "\\ud800" as a lone surrogate; where a field has no length limit, pydantic took
    it, and the accepted event could not be encoded again (to store, publish or dead-letter)."""
    assert check(data)[0] == "rejected"
    assert outcome(data)[1][0] == "not_json"


def test_a_surrogate_pair_is_one_character() -> None:
    data = _with(COMMENTS, b'"comment_id":"5"', b'"comment_id":"5\\ud83d\\ude00"')
    status, event = check(data)
    assert status == "ok" and event.comments[0].comment_id == "5\U0001f600"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"likes":0', b'"likes":9223372036854775808'),
        (b'"reposts":0', b'"reposts":-9223372036854775809'),
        (b'"comments_count":0', b'"comments_count":' + b"9" * 30),
        (b'"views":null', b'"views":18446744073709551616'),
        (b'"total_count":null', b'"total_count":9223372036854775808'),
    ],
    ids=["likes 2**63", "reposts below Int64", "30 digits", "views 2**64", "total 2**63"],
)
def test_a_counter_beyond_int64_is_not_an_event(old: bytes, new: bytes) -> None:
    """ClickHouse stores the counters as Int64: an event with likes = 2**63 was accepted, on the
    pydantic and the msgspec path alike, and failed the whole batch's insert."""
    data = _with(VALID_EVENTS[1], old, new)
    assert check(data)[0] == "rejected"
    assert outcome(data)[1][0] == "invalid"
    assert outcome(data, fastdecode.decode)[0] == "rejected"


def test_the_largest_int64_counter_is_an_event() -> None:
    data = _with(VALID_EVENTS[1], b'"likes":0', b'"likes":9223372036854775807')
    status, event = check(data)
    assert status == "ok" and event.posts[0].likes == 2**63 - 1


def test_a_snapshot_of_version_1_reads_as_one_that_showed_every_field() -> None:
    """PageSnapshot/2 added ``unknown`` and ``has_address``; messages already on the stream (and
    producers not yet upgraded) send version 1, which must still be read, not dead-lettered."""
    data = SNAPSHOT.to_bytes()
    old = (
        data.replace(b'"PageSnapshot/3"', b'"PageSnapshot/1"')
        .replace(b'"has_address":null,', b"")
        .replace(b',"unknown":[]', b"")
        .replace(b',"widgets":null', b"")
    )
    assert b"unknown" not in old and b"/1" in old
    status, event = check(old)
    assert status == "ok"
    assert event.schema_ == "PageSnapshot/3" and event.unknown == () and event.has_address is None
    assert event.model_dump(exclude={"event_id"}) == SNAPSHOT.model_dump(exclude={"event_id"})
    kind, reason = outcome(old.replace(b"PageSnapshot/1", b"PageSnapshot/4"))[1]
    assert kind == "unsupported_version" and "PageSnapshot/1–PageSnapshot/3" in reason
    kind, _ = outcome(old.replace(b"PageSnapshot/1", b"PageSnapshot/0"))[1]
    assert kind == "unsupported_version"


def test_a_snapshot_names_only_known_facts_as_unknown() -> None:
    data = _with(SNAPSHOT, b'"unknown":[]', b'"unknown":["description","phones"]')
    assert check(data)[1].unknown == ("description", "phones")
    data = _with(SNAPSHOT, b'"unknown":[]', b'"unknown":["members"]')
    assert outcome(data)[1][0] == "invalid"
