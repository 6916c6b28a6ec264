"""The evaluator's fast ``PostsObserved`` decoder agrees with ``contracts.decode`` on every input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from gospublic import contracts as c
from services.evaluator import fastdecode
from services.evaluator.fastdecode import (
    OrganisationRecord,
    OrganisationsRegisteredRecord,
    PageRefRecord,
    PostRecord,
    PostsObservedRecord,
)
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState


def _plain(event: c.Event) -> dict:
    """An event's fields as plain data, whichever decoder built it (posts read by attribute)."""
    fields = {name: getattr(event, name) for name in type(event).model_fields}
    if isinstance(event, c.OrganisationsRegistered):
        fields["organisations"] = [
            {
                **{n: getattr(o, n) for n in c.Organisation.model_fields},
                "pages": [{n: getattr(p, n) for n in c.PageRef.model_fields} for p in o.pages],
            }
            for o in event.organisations
        ]
        return fields
    fields.pop("posts", None)
    fields["page_ref"] = {n: getattr(event.page_ref, n) for n in c.PageRef.model_fields}
    posts = getattr(event, "posts", None)
    if posts is not None:
        fields["posts"] = [{n: getattr(p, n) for n in c.Post.model_fields} for p in posts]
    for value in [fields, *fields.get("posts", [])]:
        for name, item in value.items():  # the same instant, whichever tzinfo class holds it
            if hasattr(item, "utcoffset"):
                value[name] = (item.isoformat(), item.utcoffset())
    return fields


def _outcome(decode, data: bytes) -> tuple[str, object]:
    try:
        event = decode(data)
    except c.ContractError as exc:
        return "rejected", exc.reason
    return type(event).__name__, _plain(event)


NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _posts_event(i: int) -> c.PostsObserved:
    ref = c.PageRef(platform=c.Platform.VK, native_id=f"club{i}", org_id=f"{1027700000000 + i}")
    posts = tuple(
        c.Post(
            post_id=str(100 + k),
            posted_at=NOW - timedelta(hours=7 * k + i, microseconds=k),
            from_id=f"-{i}",
            is_own=k % 4 != 0,
            is_repost=k % 4 == 0,
            is_pinned=k == 0,
            comments_count=k,
            comments_open=k % 3 != 0,
            likes=i * k,
            reposts=k,
            views=None if k == 1 else 100 * k,
            text="" if k == 2 else f"Новости учреждения № {i}: приём граждан {k} декабря.",
            links=("https://vk.com/away?to=x",) if k == 3 else (),
        )
        for k in range(i % 6)
    )
    return c.PostsObserved.create(
        event_id=f"posts-{i}",
        observed_at=NOW,
        platform=c.Platform.VK,
        page_ref=ref,
        sweep_id="s1",
        page_id=str(i),
        total_count=None if i % 2 else 1000 + i,
        posts=posts,
    )


def _register(first: int, count: int) -> c.OrganisationsRegistered:
    organisations = tuple(
        c.Organisation(
            org_id=f"{1027700000000 + i}",
            name=f"МБОУ «Школа № {i}»",
            level=("municipal", "regional")[i % 2],
            founder="Управление образования",
            municipality="Лискинский район",
            sphere="education",
            exempt=i % 7 == 0,
            pages=(
                c.PageRef(
                    platform=c.Platform.VK, native_id=f"club{i}", org_id=f"{1027700000000 + i}"
                ),
            )
            if i % 5
            else (),
        )
        for i in range(first, first + count)
    )
    return c.OrganisationsRegistered.create(
        event_id=f"registry-{first}",
        observed_at=NOW - timedelta(hours=1),
        registry_version="2026-11",
        region="36",
        chunk=0,
        chunks=1,
        organisations=organisations,
    )


def _posts_payloads(pages: int = 30) -> list[bytes]:
    return [_posts_event(i).to_bytes() for i in range(1, pages + 1)]


def test_the_sweep_decodes_to_the_same_events() -> None:
    payloads = _posts_payloads()
    assert payloads
    for data in payloads:
        fast = fastdecode.decode(data)
        assert isinstance(fast, c.PostsObserved)
        assert all(isinstance(p, PostRecord) for p in fast.posts)  # it took the fast path
        assert _outcome(fastdecode.decode, data) == _outcome(c.decode, data)


def test_a_register_decodes_to_the_same_event() -> None:
    data = _register(1, 40).to_bytes()
    fast = fastdecode.decode(data)
    assert isinstance(fast, c.OrganisationsRegistered)
    assert all(isinstance(o, OrganisationRecord) for o in fast.organisations)
    assert _outcome(fastdecode.decode, data) == _outcome(c.decode, data)


def test_either_decoder_gives_the_same_rows_and_alerts() -> None:
    payloads = [_register(1, 40).to_bytes(), *_posts_payloads(40)]
    outputs = []
    for decode in (c.decode, fastdecode.decode):
        events = [decode(data) for data in payloads]
        out = process_batch(EvaluatorState(), events, load_profile("dialog-default"), NOW)
        outputs.append(({t: list(rows) for t, rows in out.rows.items()}, out.alerts))
    assert outputs[0][0]["post_observations"]
    assert outputs[0][1]
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    "org_id",
    ["1027700000001", "102770000000", "1027700000001\n", " 1027700000001", "١٠٢٧٧٠٠٠٠٠٠٠١"],
)
def test_a_register_with_an_unusual_ogrn_gets_the_same_verdict(org_id: str) -> None:
    raw = json.loads(_register(1, 3).to_bytes())
    raw["organisations"][1]["org_id"] = org_id
    data = json.dumps(raw, ensure_ascii=False).encode()
    assert _outcome(fastdecode.decode, data) == _outcome(c.decode, data)


def _mutated(change) -> bytes:
    raw = json.loads(_posts_payloads(5)[-1])
    change(raw)
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()


def _set_post(field: str, value: object):
    def change(raw: dict) -> None:
        raw["posts"][0][field] = value

    return change


def _set(field: str, value: object):
    def change(raw: dict) -> None:
        raw[field] = value

    return change


def _drop(field: str):
    def change(raw: dict) -> None:
        raw.pop(field)

    return change


EDGES = {
    "bool as a string": _mutated(_set_post("is_own", "true")),
    "bool as a number": _mutated(_set_post("is_repost", 1)),
    "int as a float": _mutated(_set_post("likes", 3.0)),
    "int as a string": _mutated(_set_post("likes", "3")),
    "huge int": _mutated(_set_post("likes", 10**30)),
    "null views": _mutated(_set_post("views", None)),
    "null from_id": _mutated(_set_post("from_id", None)),
    "post_id 64 chars": _mutated(_set_post("post_id", "я" * 64)),
    "post_id 65 chars": _mutated(_set_post("post_id", "я" * 65)),
    "empty native_id": _mutated(lambda r: r["page_ref"].update(native_id="")),
    "unknown platform": _mutated(_set("platform", "fb")),
    "extra field": _mutated(_set("extra", 1)),
    "extra post field": _mutated(_set_post("extra", 1)),
    "naive time": _mutated(_set_post("posted_at", "2026-11-26T09:00:00")),
    "offset time": _mutated(_set_post("posted_at", "2026-11-26T12:00:00+03:00")),
    "seven fraction digits": _mutated(_set_post("posted_at", "2026-11-26T09:00:00.1234567Z")),
    "time as a number": _mutated(_set_post("posted_at", 1764147600)),
    "short time": _mutated(_set_post("posted_at", "2026-11-26T09:00Z")),
    "no event_id": _mutated(_drop("event_id")),
    "no posts": _mutated(_drop("posts")),
    "no page_id": _mutated(_drop("page_id")),
    "posts not a list": _mutated(_set("posts", {})),
    "lone surrogate": _mutated(_set_post("text", "@@")).replace(b"@@", b"\\ud800"),
    "invalid UTF-8": _mutated(_set_post("text", "@@")).replace(b"@@", b"\xff"),
    "wrong version": _mutated(_set("schema", "PostsObserved/2")),
    "schema_ by name": _mutated(lambda r: r.update(schema_=r.pop("schema"))),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_an_unusual_message_gets_the_same_verdict(name: str) -> None:
    data = EDGES[name]
    fast, slow = _outcome(fastdecode.decode, data), _outcome(c.decode, data)
    if name == "no event_id":  # a generated one, different every time
        assert fast[1].pop("event_id") != slow[1].pop("event_id")
    assert fast == slow


def test_a_repeated_key_counts_as_in_the_pydantic_path() -> None:
    data = _posts_payloads(5)[-1]
    twice = data[:-1] + b',"schema":"PageSnapshot/1"}'
    assert _outcome(fastdecode.decode, twice) == _outcome(c.decode, twice)
    assert _outcome(fastdecode.decode, twice)[0] == "rejected"
    sweep = data[:-1] + b',"sweep_id":"other"}'
    assert _outcome(fastdecode.decode, sweep) == _outcome(c.decode, sweep)


def test_too_large_and_other_events_go_the_usual_way() -> None:
    data = _posts_payloads(5)[-1]
    assert _outcome(fastdecode.decode, data)[0] == "PostsObserved"
    with pytest.raises(c.ContractError, match="exceeds the limit"):
        fastdecode.decode(data, max_bytes=len(data) - 1)
    event = _posts_event(5)
    snapshot = c.PageSnapshot.create(
        observed_at=NOW, platform=c.Platform.VK, page_ref=event.page_ref, sweep_id="s1",
        page_id="5", name="Школа № 5",
    )  # fmt: skip
    assert fastdecode.decode(snapshot.to_bytes()) == snapshot


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (PostRecord, c.Post),
        (PageRefRecord, c.PageRef),
        (PostsObservedRecord, c.PostsObserved),
        (OrganisationRecord, c.Organisation),
        (OrganisationsRegisteredRecord, c.OrganisationsRegistered),
    ],
)
def test_the_mirror_has_the_model_fields_and_defaults(record: type, model: type) -> None:
    mirror = {f.name: f for f in msgspec.structs.fields(record)}
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    assert set(mirror) == set(fields)
    for name, field in fields.items():
        if name == "event_id":  # required in the mirror: see fastdecode
            assert mirror[name].required
            continue
        assert mirror[name].required == field.is_required(), name
        if not field.is_required():
            assert mirror[name].default == field.default, name
