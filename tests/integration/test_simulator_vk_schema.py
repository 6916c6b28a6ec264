"""The VK simulator over real HTTP, every body validated against the official 5.199 JSON schema.

References across the files are resolved once, up front, into a graph of shared (and, for
``copy_history``, cyclic) dictionaries: validation is then several times faster than resolving
``$ref`` at every step, which keeps the whole-region check quick.

The vendored schema mixes drafts: Draft 4 keywords (``allOf``, ``oneOf``) with Draft 3 style
``"required": true`` inside a property, which the validator below understands. ``groups_group``
says ``additionalProperties: false`` and is then combined with more properties through ``allOf``
(``groups_group_full``); read literally, every full group with a description would be invalid, so
such an ``allOf`` is validated as its authors meant it: nothing outside the union of its branches.
Undocumented fields that real responses carry are declared explicitly in ``UNDOCUMENTED``; nothing
else outside the schema passes where the schema forbids extra properties.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from jsonschema import Draft4Validator, ValidationError, validators

from services.simulator.region import Region, generate_region
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkLimits, VkSimulator

pytestmark = pytest.mark.integration

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "vk-api-schema"
BASE = "https://vk-api-schema.test/"
NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
TOKEN = "sim-token-1"
V = "5.199"
ALL_FIELDS = (
    "description,contacts,addresses,site,links,members_count,wall,verified,has_photo,cover,"
    "is_government_organization,status,activity,can_post,fixed_post,menu"
)
# Fields real responses carry although the schema does not list them: (file, definition) → schema.
# ``menu``: the schema names it only among the groups.getById fields; its shape (``items`` with
# ``title`` and ``url``) is the one public checkers of the Госуслуги widgets read.
_MENU_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "url": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["title", "url"],
}
UNDOCUMENTED = {
    ("groups/objects.json", "groups_group_full"): {
        "is_government_organization": {"type": "boolean"},
        "menu": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _MENU_ITEM},
                "count": {"type": "integer"},
            },
            "required": ["items"],
        },
    },
}


# --- Schema loading and validation ------------------------------------------------------------


def _resolve_local(documents: dict[str, Any], current: str, ref: str) -> Any:
    """Follow a ``$ref`` (relative to the file ``current``) inside the loaded files."""
    target = urljoin(BASE + current, ref)
    file_url, _, pointer = target.partition("#")
    node = documents[file_url.removeprefix(BASE)]
    for part in filter(None, pointer.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _inline_refs(documents: dict[str, Any]) -> None:
    """Replace every ``{"$ref": ...}`` by the object it points to (Draft 4 ignores siblings)."""

    def walk(current: str, node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, dict) and "$ref" in value:
                # The target is walked as part of its own file, where relative refs mean the
                # right thing; here it only takes the place of the reference. A few refs in
                # errors.json name subcodes the file lacks: validation never reaches them.
                with contextlib.suppress(KeyError):
                    node[key] = _follow(documents, current, value)
            elif isinstance(value, dict | list):
                walk(current, value)

    for name, document in documents.items():
        walk(name, document)


def _follow(documents: dict[str, Any], current: str, node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = urljoin(BASE + current, node["$ref"])
        if ref in seen:
            raise ValueError(f"$ref loop at {ref}")
        seen.add(ref)
        current = ref.partition("#")[0].removeprefix(BASE)
        node = _resolve_local(documents, current, ref)
    return node


def _union_all_of(documents: dict[str, Any]) -> None:
    """Rewrite ``allOf`` whose branches forbid extra properties into "nothing outside the union"."""
    for current, document in documents.items():
        for name, definition in document.get("definitions", {}).items():
            branches = definition.get("allOf")
            if not branches:
                continue
            resolved = [
                _resolve_local(documents, current, b["$ref"]) if "$ref" in b else b
                for b in branches
            ]
            if not any(b.get("additionalProperties") is False for b in resolved):
                continue
            extra = UNDOCUMENTED.get((current, name), {})
            union: dict[str, Any] = {}
            new_branches = []
            for branch in resolved:
                union.update({key: {} for key in branch.get("properties", {})})
                relaxed = {k: v for k, v in branch.items() if k != "additionalProperties"}
                new_branches.append(relaxed)
            new_branches.append({"properties": extra})
            union.update({key: {} for key in extra})
            definition["allOf"] = new_branches
            definition["properties"] = union
            definition["additionalProperties"] = False


def _declare_undocumented(documents: dict[str, Any]) -> None:
    for (current, name), fields in UNDOCUMENTED.items():
        definition = documents[current]["definitions"][name]
        if definition.get("additionalProperties") is False:
            continue  # already declared by the allOf rewrite
        definition.setdefault("allOf", []).append({"properties": fields})


def load_documents() -> dict[str, Any]:
    documents = {
        path.relative_to(SCHEMA_DIR).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMA_DIR.rglob("*.json"))
    }
    originals = copy.deepcopy(documents)
    _union_all_of(documents)
    _declare_undocumented(documents)
    assert documents != originals  # the rewrite found groups_group_full
    _inline_refs(documents)
    return documents


def _properties(validator, properties, instance, schema):
    yield from Draft4Validator.VALIDATORS["properties"](validator, properties, instance, schema)
    if validator.is_type(instance, "object"):
        for name, subschema in properties.items():
            if subschema.get("required") is True and name not in instance:
                yield ValidationError(f"{name!r} is a required property")


def _required(validator, required, instance, schema):
    if isinstance(required, bool):
        return  # Draft 3 style, checked by _properties on the parent
    yield from Draft4Validator.VALIDATORS["required"](validator, required, instance, schema)


VkValidator = validators.extend(Draft4Validator, {"properties": _properties, "required": _required})


class Schema:
    def __init__(self) -> None:
        self.documents = load_documents()
        self._validators: dict[str, Any] = {}
        self.error_codes = {e["code"] for e in self.documents["errors.json"]["errors"].values()}

    def method_response(self, method: str) -> dict[str, Any]:
        """The method's ``responses.response`` definition, from ``<section>/methods.json``."""
        section = method.split(".")[0]
        methods = self.documents[f"{section}/methods.json"]["methods"]
        spec = next(m for m in methods if m["name"] == method)
        return spec["responses"]["response"]  # already the referenced definition

    def definition(self, path: str, name: str) -> dict[str, Any]:
        return self.documents[path]["definitions"][name]

    def validate(self, instance: Any, definition: dict[str, Any]) -> None:
        key = id(definition)
        if key not in self._validators:
            self._validators[key] = VkValidator(definition)
        validator = self._validators[key]
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            raise AssertionError(
                "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
                + f"\n(in {json.dumps(instance, ensure_ascii=False)[:500]})"
            )

    def validate_success(self, method: str, body: dict[str, Any]) -> None:
        assert "error" not in body, body
        self.validate(body, self.method_response(method))

    def validate_error(self, body: dict[str, Any], code: int) -> None:
        assert set(body) == {"error"}, body
        assert body["error"]["error_code"] == code, body
        assert code in self.error_codes, f"error {code} is not in errors.json"
        self.validate(body["error"], self.definition("base/objects.json", "base_error"))
        keys = [p["key"] for p in body["error"]["request_params"]]
        assert "access_token" not in keys
        assert TOKEN not in json.dumps(body)


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema()


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW)


@pytest.fixture(scope="module")
def sim(region: Region) -> VkSimulator:
    return VkSimulator(region, tokens={TOKEN, "sim-token-2"})


@pytest.fixture(scope="module")
def server(sim: VkSimulator) -> Iterator[VkSimServer]:
    with VkSimServer(sim) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: VkSimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/", timeout=10) as c:
        yield c


def call(client: httpx.Client, method: str, **params: Any) -> dict[str, Any]:
    params = {"access_token": TOKEN, "v": V, **params}
    response = client.get(method, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def pick(region: Region, predicate) -> Any:
    return next(g for g in sorted(region.groups.values(), key=lambda g: g.id) if predicate(g))


# --- The validator itself -----------------------------------------------------------------------


def _broken(body: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node = body
    for part in path[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()


def test_the_validator_rejects_what_the_schema_forbids(region: Region, schema: Schema) -> None:
    sim = VkSimulator(region)
    group = pick(region, lambda g: g.live and g.wall_kind == "reposts_only")
    base = {"access_token": TOKEN, "v": V}
    groups = sim.handle(
        "groups.getById", {**base, "group_ids": str(group.id), "fields": ALL_FIELDS}
    )
    wall = sim.handle("wall.get", {**base, "owner_id": str(-group.id), "count": "3"})
    error = sim.handle("wall.get", {**base, "owner_id": "-1"})
    schema.validate_success("groups.getById", groups)
    schema.validate_success("wall.get", wall)
    schema.validate_error(error, 100)
    g0 = ["response", "groups", 0]
    p0 = ["response", "items", 0]
    bad_groups = [
        _broken(groups, [*g0, "undocumented_field"], 1),
        _broken(groups, [*g0, "id"], _DELETE),
        _broken(groups, [*g0, "is_government_organization"], "yes"),
        _broken(groups, [*g0, "wall"], 7),
        _broken(groups, ["response"], _DELETE),
    ]
    bad_walls = [
        _broken(wall, [*p0, "date"], "yesterday"),
        _broken(wall, [*p0, "inner_type"], _DELETE),
        _broken(wall, [*p0, "copy_history", 0, "date"], "yesterday"),
        _broken(wall, [*p0, "likes", "count"], -1),
        _broken(wall, ["response", "count"], _DELETE),
    ]
    for body in bad_groups:
        with pytest.raises(AssertionError):
            schema.validate_success("groups.getById", body)
    for body in bad_walls:
        with pytest.raises(AssertionError):
            schema.validate_success("wall.get", body)
    with pytest.raises(AssertionError):
        schema.validate_error(_broken(error, ["error", "request_params", 0, "value"], 5), 100)


# --- Success cases ----------------------------------------------------------------------------


def test_server_url_shape(server: VkSimServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/method"


def test_groups_get_by_id(client: httpx.Client, region: Region, schema: Schema) -> None:
    live = pick(region, lambda g: g.live and g.custom_screen_name and g.wall_kind == "active")
    other = pick(region, lambda g: g.live and g.id != live.id and g.phone_place == "contacts")
    deleted = pick(region, lambda g: g.deactivated == "deleted")
    banned = pick(region, lambda g: g.deactivated == "banned")
    ids = [
        live.custom_screen_name,
        f"club{other.id}",
        str(deleted.id),
        str(banned.id),
        "999999999",
        "no_such_screen_name_1",
        str(live.id),  # a duplicate is answered once
    ]
    body = call(client, "groups.getById", group_ids=",".join(ids), fields=ALL_FIELDS)
    schema.validate_success("groups.getById", body)
    groups = body["response"]["groups"]
    assert body["response"]["profiles"] == []
    assert [g["id"] for g in groups] == [live.id, other.id, deleted.id, banned.id]
    first = groups[0]
    assert first["screen_name"] == live.custom_screen_name
    assert first["description"] == region.description(live)
    assert first["wall"] == live.wall and first["is_closed"] == 0
    assert isinstance(first["is_government_organization"], bool)
    assert first["addresses"]["is_enabled"] in (True, False)
    assert groups[1]["screen_name"] == other.screen_name
    assert any("phone" in c for c in groups[1]["contacts"])
    assert groups[2]["deactivated"] == "deleted" and "description" not in groups[2]
    assert groups[3]["deactivated"] == "banned"


def test_groups_get_by_id_without_fields_is_the_short_form(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group = pick(region, lambda g: g.live)
    body = call(client, "groups.getById", group_ids=str(group.id))
    schema.validate_success("groups.getById", body)
    (answer,) = body["response"]["groups"]
    assert "description" not in answer and "wall" not in answer
    assert answer["photo_200"].startswith("https://")


def test_wall_get_pinned_first_then_newest(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group = pick(region, lambda g: g.live and g.wall_kind == "pinned_old_fresh")
    body = call(client, "wall.get", owner_id=-group.id, count=20)
    schema.validate_success("wall.get", body)
    response = body["response"]
    posts = region.posts(group)
    assert response["count"] == len(posts)
    items = response["items"]
    assert len(items) == min(20, len(posts))
    assert items[0]["is_pinned"] == 1
    assert all("is_pinned" not in item for item in items[1:])
    dates = [item["date"] for item in items[1:]]
    assert dates == sorted(dates, reverse=True)
    assert all(item["owner_id"] == -group.id for item in items)
    for item in items:
        assert set(item["comments"]) >= {"count", "can_post"}
        assert {"likes", "reposts", "views", "text", "post_type", "from_id", "id"} <= set(item)

    page = call(client, "wall.get", owner_id=-group.id, count=3, offset=2)
    schema.validate_success("wall.get", page)
    assert [i["id"] for i in page["response"]["items"]] == [i["id"] for i in items[2:5]]


def test_wall_get_reposts_carry_copy_history(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group = pick(region, lambda g: g.live and g.wall_kind == "reposts_only")
    body = call(client, "wall.get", owner_id=-group.id, count=100)
    schema.validate_success("wall.get", body)
    items = body["response"]["items"]
    assert len(items) == len(region.posts(group)) > 20
    reposts = [i for i in items if "copy_history" in i]
    assert reposts and all(i["from_id"] == -group.id for i in reposts)
    original = reposts[0]["copy_history"][0]
    assert original["owner_id"] < 0 and original["owner_id"] != -group.id and original["text"]
    assert all("copy_history" in i for i in items[:20])


def test_wall_get_user_posts_and_empty_walls(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group = pick(region, lambda g: g.live and g.wall_kind == "user_posts_medium")
    body = call(client, "wall.get", owner_id=-group.id, count=5)
    schema.validate_success("wall.get", body)
    assert body["response"]["items"][0]["from_id"] > 0
    for kind in ("empty", "disabled"):
        group = pick(region, lambda g, k=kind: g.live and g.wall_kind == k)
        body = call(client, "wall.get", owner_id=-group.id)
        schema.validate_success("wall.get", body)
        assert body["response"] == {"count": 0, "items": []}


def test_post_form_equals_get(client: httpx.Client, region: Region, schema: Schema) -> None:
    group = pick(region, lambda g: g.live and g.wall_kind == "active")
    params = {"access_token": TOKEN, "v": V, "owner_id": str(-group.id), "count": "4"}
    posted = client.post("wall.get", data=params)
    assert posted.status_code == 200
    schema.validate_success("wall.get", posted.json())
    assert posted.json() == client.get("wall.get", params=params).json()


def _commented(region: Region, replies: bool = True):
    """A live page and a post of it with comments (and, if asked, the page's replies)."""
    for group in sorted(region.groups.values(), key=lambda g: g.id):
        if not group.live:
            continue
        for post in region.posts(group)[:20]:
            comments = region.comments(group, post)
            if comments and (not replies or any(c.from_id == -group.id for c in comments)):
                return group, post, comments
    raise AssertionError("no commented post")


def test_wall_get_comments_with_threads(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group, post, comments = _commented(region)
    body = call(
        client, "wall.getComments", owner_id=-group.id, post_id=post.id, thread_items_count=10
    )
    schema.validate_success("wall.getComments", body)
    r = body["response"]
    top = [c for c in comments if not c.thread]
    assert r["count"] == len(comments) and r["current_level_count"] == len(top)
    assert [i["id"] for i in r["items"]] == [c.id for c in top]
    replies = [reply for item in r["items"] for reply in item["thread"]["items"]]
    assert len(replies) == len(comments) - len(top)
    page = [reply for reply in replies if reply["from_id"] == -group.id]
    assert page and all(reply["parents_stack"] == [reply["reply_to_comment"]] for reply in page)
    assert all(reply["text"] for reply in page)
    wall = call(client, "wall.get", owner_id=-group.id, count=20)
    counts = {item["id"]: item["comments"]["count"] for item in wall["response"]["items"]}
    assert counts[post.id] == len(comments)

    # Without thread items: counts only; one thread by comment_id; newest first.
    bare = call(client, "wall.getComments", owner_id=-group.id, post_id=post.id, need_likes=1)
    schema.validate_success("wall.getComments", bare)
    # As VK answers without thread_items_count: each thread's replies counted, none shown.
    assert all(item["thread"]["items"] == [] for item in bare["response"]["items"])
    assert any(item["thread"]["count"] for item in bare["response"]["items"])
    assert all("likes" in item for item in bare["response"]["items"])
    root = next(c for c in top if any(x.thread == c.id for x in comments))
    thread = call(
        client, "wall.getComments", owner_id=-group.id, post_id=post.id, comment_id=root.id
    )
    schema.validate_success("wall.getComments", thread)
    assert [i["id"] for i in thread["response"]["items"]] == [
        c.id for c in comments if c.thread == root.id
    ]
    desc = call(client, "wall.getComments", owner_id=-group.id, post_id=post.id, sort="desc")
    assert [i["id"] for i in desc["response"]["items"]] == [c.id for c in top][::-1]


def test_real_comment_shapes_are_valid_answers(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    """The shapes real pages show: the page answering at the top level naming the citizen (with
    and without reply_to_user), another community's comment, citizens talking under a citizen's
    post, a thread longer than the 10 replies shown inline."""
    seen: dict[str, tuple[int, int]] = {}
    for group in sorted(region.groups.values(), key=lambda g: g.id):
        if not group.live or group.is_closed or group.wall == 0:
            continue
        for post in region.posts(group)[:20]:
            comments = region.comments(group, post)
            threads = Counter(c.thread for c in comments if c.thread)
            shapes = {
                "named with reply_to_user": any(
                    c.from_id == -group.id and not c.thread and c.reply_to_user for c in comments
                ),
                "named only": any(
                    c.from_id == -group.id and not c.thread and not c.reply_to_user and c.mention
                    for c in comments
                ),
                "community": any(c.from_id < 0 and c.from_id != -group.id for c in comments),
                "citizen post": bool(comments) and post.from_id > 0,
                "long thread": bool(threads) and max(threads.values()) > 10,
            }
            for shape, present in shapes.items():
                if present and shape not in seen:
                    seen[shape] = (group.id, post.id)
    assert set(seen) == {
        "named with reply_to_user", "named only", "community", "citizen post", "long thread"
    }  # fmt: skip
    for shape, (gid, post_id) in seen.items():
        body = call(
            client, "wall.getComments", owner_id=-gid, post_id=post_id, thread_items_count=10
        )
        schema.validate_success("wall.getComments", body)
        items = body["response"]["items"]
        if shape.startswith("named"):
            named = [i for i in items if i["from_id"] == -gid and i["text"].startswith("[id")]
            assert named and all(not i["parents_stack"] for i in named)
            assert any(
                ("reply_to_user" in i) == (shape == "named with reply_to_user") for i in named
            )
        if shape == "long thread":
            long = max(items, key=lambda i: i["thread"]["count"])
            assert long["thread"]["count"] > 10 and len(long["thread"]["items"]) == 10


def test_the_clock_brings_new_comments_and_replies(region: Region, schema: Schema) -> None:
    local = generate_region("voronezh", seed=42, now=NOW, size=300)
    sim = VkSimulator(local)
    base = {"access_token": TOKEN, "v": V}
    group, post = next(
        (g, p)
        for g in local.groups.values()
        if g.live and g.wall_kind == "active" and local.comments_open(g)
        for p in local.posts(g)[:3]
        if len(local._all_comments(g, p)) > len(local.comments(g, p))
    )
    before = len(local.comments(group, post))
    wall_before = sim.handle("wall.get", {**base, "owner_id": str(-group.id)})
    local.advance(12 * 86_400)
    after = sim.handle(
        "wall.getComments", {**base, "owner_id": str(-group.id), "post_id": str(post.id)}
    )
    schema.validate_success("wall.getComments", after)
    assert after["response"]["count"] > before
    wall_after = sim.handle("wall.get", {**base, "owner_id": str(-group.id), "count": "100"})
    schema.validate_success("wall.get", wall_after)
    # Active pages keep posting: new posts on top, ids growing, the old ones still there.
    assert wall_after["response"]["count"] > wall_before["response"]["count"]
    newest = wall_after["response"]["items"][0]
    assert newest["date"] > NOW.timestamp() and newest["id"] > post.id


def test_execute_with_a_failed_sub_call(
    client: httpx.Client, region: Region, schema: Schema, sim: VkSimulator
) -> None:
    live = pick(region, lambda g: g.live and g.wall_kind == "active")
    deleted = pick(region, lambda g: g.deactivated == "deleted")
    banned = pick(region, lambda g: g.deactivated == "banned")
    code = (
        "return ["
        f'API.wall.get({{"owner_id":-{live.id},"count":20}}), '
        f'API.wall.get({{"owner_id":-{deleted.id},"count":20}}), '
        f'API.wall.get({{"owner_id":-{banned.id},"count":20}}), '
        'API.wall.get({"owner_id":-1,"count":20}), '
        f'API.groups.getById({{"group_ids":"{live.id},{deleted.id}","fields":"description,wall"}})'
        "];"
    )
    before = sim.calls[("wall.get", TOKEN)]
    body = call(client, "execute", code=code)
    assert set(body) == {"response", "execute_errors"}
    r = body["response"]
    assert isinstance(r, list) and len(r) == 5
    schema.validate_success("wall.get", {"response": r[0]})
    assert r[1] is False and r[2] is False and r[3] is False
    schema.validate_success("groups.getById", {"response": r[4]})
    errors = body["execute_errors"]
    assert [(e["method"], e["error_code"]) for e in errors] == [
        ("wall.get", 18),
        ("wall.get", 15),
        ("wall.get", 100),
    ]
    assert all(e["error_code"] in schema.error_codes and e["error_msg"] for e in errors)
    assert sim.calls[("wall.get", TOKEN)] - before == 4


def test_execute_returning_one_call_matches_the_execute_schema(
    client: httpx.Client, region: Region, schema: Schema
) -> None:
    group = pick(region, lambda g: g.live)
    body = call(client, "execute", code=f'return API.groups.getById({{"group_id":{group.id}}});')
    schema.validate_success("execute", body)
    schema.validate_success("groups.getById", body)


def test_execute_all_sub_calls_succeed_has_no_errors_key(client, region, schema) -> None:
    groups = [g for g in sorted(region.groups.values(), key=lambda g: g.id) if g.live][:25]
    calls = ", ".join(f'API.wall.get({{"owner_id":-{g.id},"count":2}})' for g in groups)
    body = call(client, "execute", code=f"return [{calls}];")
    assert set(body) == {"response"} and len(body["response"]) == 25
    for answer in body["response"]:
        schema.validate_success("wall.get", {"response": answer})


# --- Errors -----------------------------------------------------------------------------------


def _too_many_calls() -> str:
    return "return [" + ",".join(['API.wall.get({"owner_id":-1})'] * 26) + "];"


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("wall.get", {"access_token": None, "owner_id": "-1"}, 5),
        ("wall.get", {"access_token": "wrong-token", "owner_id": "-1"}, 5),
        ("wall.get", {"v": None, "owner_id": "-1"}, 8),
        ("groups.search", {"q": "школа"}, 3),
        ("groups.getById", {"group_ids": "999999999,no_such_name_x"}, 100),
        ("groups.getById", {}, 100),
        ("groups.getById", {"group_ids": ",".join(str(i) for i in range(501))}, 100),
        ("wall.get", {"owner_id": "-999999999"}, 100),
        ("wall.get", {"owner_id": "abc"}, 100),
        ("wall.get", {"owner_id": "deleted"}, 18),
        ("wall.get", {"owner_id": "banned"}, 15),
        ("execute", {"code": "var a = API.wall.get({});"}, 12),
        ("execute", {"code": 'return [API.wall.get({"owner_id":-1)];'}, 12),
        ("execute", {"code": "__too_many__"}, 13),
        ("wall.getComments", {"owner_id": "deleted", "post_id": "1"}, 18),
        ("wall.getComments", {"owner_id": "banned", "post_id": "1"}, 15),
        ("wall.getComments", {"owner_id": "closed_comments", "post_id": "__first__"}, 212),
        ("wall.getComments", {"owner_id": "closed_comments", "post_id": "999999"}, 100),
    ],
)
def test_errors(
    client: httpx.Client,
    region: Region,
    schema: Schema,
    method: str,
    params: dict[str, Any],
    code: int,
) -> None:
    params = dict(params)
    if params.get("owner_id") in ("deleted", "banned"):
        state = params["owner_id"]
        params["owner_id"] = str(-pick(region, lambda g: g.deactivated == state).id)
    if params.get("owner_id") == "closed_comments":
        group = pick(region, lambda g: g.live and not g.comments_open and region.posts(g))
        params["owner_id"] = str(-group.id)
        if params["post_id"] == "__first__":
            params["post_id"] = str(region.posts(group)[0].id)
    if params.get("code") == "__too_many__":
        params["code"] = _too_many_calls()
    body = call(client, method, **params)
    schema.validate_error(body, code)
    if params.get("access_token", TOKEN) != TOKEN:
        assert "wrong-token" not in json.dumps(body)
    keys = {p["key"]: p["value"] for p in body["error"]["request_params"]}
    assert keys["method"] == method


# --- Faults, counters, connections -------------------------------------------------------------


def test_injected_faults(
    client: httpx.Client, region: Region, schema: Schema, sim: VkSimulator
) -> None:
    group = pick(region, lambda g: g.live and g.wall_kind == "active")
    params = {"access_token": TOKEN, "v": V, "owner_id": str(-group.id)}

    sim.fail_next("html")
    response = client.get("wall.get", params=params)
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content

    sim.fail_next("truncated")
    response = client.get("wall.get", params=params)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    full = client.get("wall.get", params=params).content
    assert full.startswith(response.content) and len(response.content) < len(full)

    sim.fail_next("error", count=2, error_code=6)
    for _ in range(2):
        schema.validate_error(client.get("wall.get", params=params).json(), 6)
    sim.fail_next("error")
    schema.validate_error(client.get("wall.get", params=params).json(), 10)
    schema.validate_success("wall.get", client.get("wall.get", params=params).json())

    with pytest.raises(ValueError):
        sim.fail_next("timeout")


def test_rate_limit_and_daily_quota_errors(region: Region, schema: Schema) -> None:
    clock = [1000.0]
    sim = VkSimulator(
        region,
        limits=VkLimits(daily={"wall.get": 4}),
        clock=lambda: clock[0],
        wall_clock=lambda: 1_750_000_000.0,
    )
    group = pick(region, lambda g: g.live and g.wall_kind == "active")
    params = {"access_token": TOKEN, "v": V, "owner_id": str(-group.id), "count": "1"}
    for _ in range(3):
        schema.validate_success("wall.get", sim.handle("wall.get", params))
    schema.validate_error(sim.handle("wall.get", params), 6)  # a 4th within the second
    clock[0] += 1.0
    schema.validate_success("wall.get", sim.handle("wall.get", params))
    clock[0] += 1.0
    schema.validate_error(sim.handle("wall.get", params), 29)  # 4 a day, all used
    # In an execute the quota counts every sub-call: the refused ones are false + errors.
    clock[0] += 1.0
    code = f'return [API.wall.get({{"owner_id":-{group.id}}}),API.groups.getById({{"group_id":{group.id}}})];'
    body = sim.handle("execute", {"access_token": "sim-token-2", "v": V, "code": code})
    assert body["response"][0]["count"] >= 1
    stats = sim.stats()
    assert (stats["rate_limited"], stats["quota_exceeded"]) == (1, 1)
    assert stats["errors"] == {"6": 1, "29": 1}
    assert sim.quota_used(TOKEN, "wall.get") == 4
    assert sim.quota_used("sim-token-2", "wall.get") == 1
    assert TOKEN not in json.dumps(stats)


def test_stats_and_clock_over_http(server: VkSimServer, region: Region) -> None:
    base = server.url.removesuffix("/method")
    stats = httpx.get(f"{base}/_sim/stats").json()
    assert {"requests", "requests_by_method", "errors", "rate_limited"} <= set(stats)
    now = httpx.get(f"{base}/_sim/clock").json()["now"]
    assert datetime.fromisoformat(now) == region.now
    moved = httpx.post(f"{base}/_sim/clock", params={"advance": "0"}).json()["now"]
    assert moved == now
    assert httpx.post(f"{base}/_sim/clock", params={"advance": "x"}).status_code == 400
    assert httpx.post(f"{base}/_sim/clock", params={"advance": "-60"}).status_code == 400
    truth = httpx.get(f"{base}/_sim/truth").json()
    assert truth["now"] == now and truth["violations"] == region.ground_truth()


def test_request_counter_and_log(client: httpx.Client, region: Region, sim: VkSimulator) -> None:
    group = pick(region, lambda g: g.live)
    before = sim.request_count("groups.getById", "sim-token-2")
    for _ in range(3):
        client.get(
            "groups.getById", params={"access_token": "sim-token-2", "v": V, "group_ids": group.id}
        )
    assert sim.request_count("groups.getById", "sim-token-2") - before == 3
    assert sim.requests[("groups.getById", "sim-token-2")] == sim.request_count(
        "groups.getById", "sim-token-2"
    )
    log = sim.log_entries()
    entries = [e for e in log if e["token"] == "sim-token-2"]
    assert len(entries) >= 3
    assert all("access_token" not in e["params"] for e in log)
    assert entries[-1]["method"] == "groups.getById" and entries[-1]["error_code"] is None


def test_connections_are_kept_alive(server: VkSimServer, region: Region) -> None:
    group = pick(region, lambda g: g.live)
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        sockets = []
        for _ in range(3):
            conn.request(
                "GET",
                f"/method/wall.get?owner_id=-{group.id}&count=1&access_token={TOKEN}&v={V}",
            )
            response = conn.getresponse()
            assert response.status == 200 and response.version == 11
            json.loads(response.read())
            sockets.append(conn.sock)
        assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
    finally:
        conn.close()


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("../nothing").status_code == 404


# --- The whole region --------------------------------------------------------------------------


def test_the_whole_region_validates(
    client: httpx.Client, region: Region, schema: Schema, sim: VkSimulator
) -> None:
    refs = [o.vk.rsplit("/", 1)[1] for o in region.organisations if o.vk]
    found = 0
    for start in range(0, len(refs), 500):
        body = call(
            client,
            "groups.getById",
            group_ids=",".join(refs[start : start + 500]),
            fields=ALL_FIELDS,
        )
        schema.validate_success("groups.getById", body)
        found += len(body["response"]["groups"])
    assert found == len(region.groups)

    # Every third page's wall through execute, as a collector reads them.
    pages = sorted(region.groups)[::3]
    for start in range(0, len(pages), 25):
        chunk = pages[start : start + 25]
        calls = ",".join(f'API.wall.get({{"owner_id":-{gid},"count":20}})' for gid in chunk)
        body = call(client, "execute", code=f"return [{calls}];")
        for gid, answer in zip(chunk, body["response"], strict=True):
            if region.groups[gid].live:
                schema.validate_success("wall.get", {"response": answer})
            else:
                assert answer is False
        for error in body.get("execute_errors", []):
            assert error["error_code"] in (15, 18)

    # Comments of every commented post on every tenth page, 25 posts to an execute.
    calls = [
        f'API.wall.getComments({{"owner_id":-{gid},"post_id":{post.id},"thread_items_count":10}})'
        for gid in sorted(region.groups)[::10]
        if region.groups[gid].live
        for post in region.posts(region.groups[gid])[:20]
        if region.comments(region.groups[gid], post)
    ]
    assert len(calls) > 100
    for start in range(0, len(calls), 25):
        body = call(client, "execute", code=f"return [{','.join(calls[start : start + 25])}];")
        assert "execute_errors" not in body
        for answer in body["response"]:
            schema.validate_success("wall.getComments", {"response": answer})


# --- The command ---------------------------------------------------------------------------------


def test_simulate_command_serves_until_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    env = {
        **os.environ,
        "GOSPUBLIC_STATE_DIR": str(tmp_path / "state"),
        "GOSPUBLIC_LOG_FORMAT": "text",
    }
    argv = [sys.executable, "-m", "gospublic", "simulate", "--size", "80", "--seed", "3"]
    argv += ["--now", "2025-06-01T12:00:00+03:00", "--out", str(out), "--tokens", "a,b"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        info = out / "simulator.json"
        deadline = time.monotonic() + 30
        while not info.exists():
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "simulator.json did not appear"
            time.sleep(0.05)
        url = json.loads(info.read_text())["url"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/method")
        truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
        assert truth["organisations"] == 80 and truth["seed"] == 3
        assert (out / "registry.csv").read_text(encoding="utf-8").startswith("ogrn,name,")
        ok = httpx.get(
            f"{url}/groups.getById",
            params={"group_ids": "210000000,club1", "access_token": "b", "v": V},
        )
        assert ok.json()["error"]["error_code"] == 100  # no such ids, but the token was accepted
        refused = httpx.get(
            f"{url}/wall.get", params={"owner_id": "-1", "access_token": "c", "v": V}
        )
        assert refused.json()["error"]["error_code"] == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        output = process.stdout.read().decode()
        assert f"VK API simulator: {url}" in output
        assert not info.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_simulate_write_only(tmp_path: Path) -> None:
    env = {**os.environ, "GOSPUBLIC_STATE_DIR": str(tmp_path / "state")}
    argv = [sys.executable, "-m", "gospublic", "simulate", "--size", "30", "--write-only"]
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    sim_dir = tmp_path / "state" / "sim"
    assert {p.name for p in sim_dir.iterdir()} == {"registry.csv", "ground_truth.json"}


def test_national_pages_validate(schema: Schema) -> None:
    national = generate_region("national", seed=42, now=NOW)
    sim = VkSimulator(national)
    base = {"access_token": TOKEN, "v": V}
    refs = [o.vk.rsplit("/", 1)[1] for o in national.organisations[:2000:4] if o.vk]
    body = sim.handle("groups.getById", {**base, "group_ids": ",".join(refs), "fields": ALL_FIELDS})
    schema.validate_success("groups.getById", body)
    live = [g for g in body["response"]["groups"] if "deactivated" not in g]
    assert len(live) > 300
    for group in live[:60]:
        wall = sim.handle("wall.get", {**base, "owner_id": str(-group["id"]), "count": "20"})
        schema.validate_success("wall.get", wall)
        for item in wall["response"]["items"]:
            if item["comments"]["count"]:
                params = {"owner_id": str(-group["id"]), "post_id": str(item["id"])}
                answer = sim.handle("wall.getComments", {**base, **params})
                schema.validate_success("wall.getComments", answer)


@pytest.mark.parametrize("code", [15, 18, 30, 100, 203, 212])
def test_injected_page_errors_are_vk_error_bodies(
    region: Region, schema: Schema, code: int
) -> None:
    sim = VkSimulator(region)
    group = pick(region, lambda g: g.live and g.wall_kind == "active")
    sim.fail_calls("wall.get", -group.id, code)
    params = {"access_token": TOKEN, "v": V, "owner_id": str(-group.id)}
    schema.validate_error(sim.handle("wall.get", params), code)
    inside = sim.handle(
        "execute",
        {**base_params(), "code": f'return [API.wall.get({{"owner_id":-{group.id}}})];'},
    )
    assert inside["response"] == [False]
    assert inside["execute_errors"][0]["error_code"] == code
    sim.fail_calls("wall.get", -group.id, 0)
    schema.validate_success("wall.get", sim.handle("wall.get", params))


def base_params() -> dict[str, str]:
    return {"access_token": TOKEN, "v": V}
