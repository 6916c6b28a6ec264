"""The MAX simulator over real HTTP, every answer validated against MAX's published OpenAPI schema.

The schema (``tests/fixtures/max-api-schema``, see its MANIFEST) is OpenAPI 3.0: its schemas are
JSON Schema with ``nullable`` and ``$ref`` into ``#/components``. ``json_schema`` below turns
``nullable: true`` into "or null", keeps the references (resolved against the whole document) and
checks ``int32``/``int64`` ranges. Every named object schema is closed with
``unevaluatedProperties: false``: the schema's objects allow more properties, real MAX answers may
carry some, but a simulator that invents a field the schema does not name is wrong.

``GET /chats`` is not among the paths of the kept schema version (see the MANIFEST); its answers
are validated against the ``ChatList`` component, which is. Error answers (401, 403, 404, 400, 429)
are validated against ``Error``, the body the schema gives every error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from services.simulator.max_api import MaxSimulator
from services.simulator.region import generate_region
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkSimulator

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "max-api-schema" / "schema.yaml"
NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
TOKEN = "max-bot-token-1"


def json_schema(node: Any, named: bool = False) -> Any:
    """An OpenAPI 3.0 schema (or document) as JSON Schema 2020-12 (see the module's text)."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if "schemas" in node and isinstance(node["schemas"], dict):
        out["schemas"] = {k: json_schema(v, named=True) for k, v in node["schemas"].items()}
    if named and out.get("type") == "object":
        out["unevaluatedProperties"] = False
    if node.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _int_format(bits: int):
    def check(value: object) -> bool:
        return not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)

    return check


FORMATS = FormatChecker()
FORMATS.checks("int32")(_int_format(32))
FORMATS.checks("int64")(_int_format(64))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json_schema(yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))


def validator(document: dict[str, Any], ref: str) -> Draft202012Validator:
    """A validator for the schema at ``ref`` (a JSON pointer into the document)."""
    root = {"$ref": ref, "components": document["components"], "paths": document["paths"]}
    return Draft202012Validator(root, format_checker=FORMATS)


def response_ref(path: str, status: int) -> str:
    """The schema of an answer: the path's documented 200 answer, ``Error`` for every error."""
    if status != 200:
        return "#/components/schemas/Error"
    if path == "/chats":
        return "#/components/schemas/ChatList"  # the path is not in the kept version
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/get/responses/200/content/application~1json/schema"


@pytest.fixture(scope="module")
def served():
    region = generate_region("voronezh", seed=11, now=NOW, size=160)
    simulator = MaxSimulator(region, TOKEN)
    with VkSimServer(VkSimulator(region), max=simulator) as server:
        yield simulator, server.max_url


def _check(document, client: httpx.Client, path: str, route: str, params=None, headers=None):
    response = client.get(path, params=params, headers=headers or {"Authorization": TOKEN})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    errors = sorted(
        validator(document, response_ref(route, response.status_code)).iter_errors(body), key=str
    )
    assert not errors, f"{path} {params}: {errors[0].message} at {list(errors[0].absolute_path)}"
    return response.status_code, body


def test_helper_refuses_what_the_schema_forbids(document) -> None:
    """The validator is not a rubber stamp: answers the schema excludes fail."""
    chat = validator(document, "#/components/schemas/Chat")
    good = {
        "chat_id": -1,
        "type": "channel",
        "status": "active",
        "last_event_time": 1,
        "participants_count": 2,
        "is_public": True,
        "title": None,
        "icon": None,
    }
    assert chat.is_valid(good)
    assert not chat.is_valid({**good, "type": "supergroup"})  # not a ChatType
    assert not chat.is_valid({**good, "icon": {"href": "x"}})  # Image needs url
    assert not chat.is_valid({**good, "invented": 1})  # not a field of Chat
    assert not chat.is_valid({k: v for k, v in good.items() if k != "is_public"})
    assert not chat.is_valid({**good, "participants_count": 2**40})  # int32
    message = validator(document, "#/components/schemas/Message")
    assert not message.is_valid({"recipient": {"chat_type": "channel"}, "timestamp": 1})
    assert not message.is_valid(
        {"recipient": {"chat_type": "channel"}, "timestamp": 1, "body": {"mid": "", "seq": 1}}
    )  # MessageId minLength 1


def test_every_answer_matches_the_schema(served, document) -> None:
    simulator, url = served
    seen_states: set[str] = set()
    comments = by_page = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        chats: list[dict] = []
        marker = None
        pages = 0
        while True:
            params = {"count": 40} | ({"marker": marker} if marker is not None else {})
            status, body = _check(document, client, "/chats", "/chats", params)
            assert status == 200
            chats.extend(body["chats"])
            pages += 1
            marker = body["marker"]
            if marker is None:
                break
        assert pages >= 3  # paged by marker
        assert len({chat["chat_id"] for chat in chats}) == len(chats)
        states = {ch.chat_id: ch.state for ch in simulator.channels()}
        assert {states[chat["chat_id"]] for chat in chats} <= {
            "connected",
            "empty",
            "stale",
            "copied",
        }
        for chat in chats:
            seen_states.add(states[chat["chat_id"]])
            route = "/chats/{chatId}"
            status, one = _check(document, client, f"/chats/{chat['chat_id']}", route)
            assert status == 200 and one["chat_id"] == chat["chat_id"]
            params = {"chat_id": chat["chat_id"], "count": 100}
            status, listed = _check(document, client, "/messages", "/messages", params)
            assert status == 200
            messages = listed["messages"]
            assert len(messages) == min(100, one["messages_count"])
            for message in messages[:5]:
                mid = message["body"]["mid"]
                route = "/messages/{messageId}/comments"
                status, listed = _check(document, client, f"/messages/{mid}/comments", route)
                assert status == 200
                comments += len(listed["messages"])
                by_page += sum(1 for m in listed["messages"] if m["sender"] is None)
            if len(messages) > 3:  # one page back from the third newest
                before = messages[2]["timestamp"]
                params = {**params, "count": 5, "before": before}
                status, older = _check(document, client, "/messages", "/messages", params)
                expected = [m["body"]["mid"] for m in messages if m["timestamp"] < before][:5]
                assert [m["body"]["mid"] for m in older["messages"]] == expected
        assert seen_states == {"connected", "empty", "stale", "copied"}
        assert comments > by_page > 0  # citizens' comments and the channel's replies

        # Errors, each an Error body: not connected, unknown, bad count, no or wrong token, 429.
        hidden = next(ch for ch in simulator.channels() if ch.state == "not_connected")
        route = "/chats/{chatId}"
        assert _check(document, client, f"/chats/{hidden.chat_id}", route)[0] == 403
        params = {"chat_id": hidden.chat_id}
        assert _check(document, client, "/messages", "/messages", params)[0] == 403
        assert _check(document, client, "/chats/-5", route)[0] == 404
        params = {"chat_id": chats[0]["chat_id"], "count": 101}
        assert _check(document, client, "/messages", "/messages", params)[0] == 400
        assert _check(document, client, "/chats", "/chats", headers={"X": "1"})[0] == 401
        wrong = {"Authorization": "Bearer " + TOKEN}  # MAX wants the bare token
        assert _check(document, client, "/chats", "/chats", headers=wrong)[0] == 401
        simulator.throttle(1, "2")
        response = client.get("/chats", headers={"Authorization": TOKEN})
        assert response.status_code == 429 and response.headers["retry-after"] == "2"
        assert validator(document, response_ref("/chats", 429)).is_valid(response.json())


def test_copied_channels_repeat_the_vk_or_telegram_posts(served) -> None:
    """A copying channel's posts are its organisation's posts on VK (a live page) or, without
    one, on Telegram, later and word for word; another channel's posts are its own."""
    from services.simulator.other_pages import tg_channel

    simulator, url = served
    region = simulator.region
    sources: dict[str, set[str]] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for ch in simulator.channels():
            if ch.state not in ("copied", "connected"):
                continue
            org = region.organisations[ch.index]
            if ch.state == "copied" and ch.copies == "vk":
                page = region.vk_group_of(org)
            elif ch.state == "copied":
                page = tg_channel(region, org.telegram.rsplit("/", 1)[-1])
            else:
                page = region.vk_group_of(org)
            if page is None or (ch.copies in sources and ch.state == "copied"):
                continue
            answer = client.get(
                "/messages", params={"chat_id": ch.chat_id}, headers={"Authorization": TOKEN}
            ).json()
            texts = {m["body"]["text"] for m in answer["messages"]} - {""}
            originals = {region.post_text(page, p) for p in region.posts(page)}
            if ch.state == "copied" and texts:
                assert ch.lag_s > 0 and texts <= originals, ch.name
                sources[ch.copies] = texts
            elif texts:
                assert not texts & originals, ch.name
    assert set(sources) == {"vk", "telegram"}
