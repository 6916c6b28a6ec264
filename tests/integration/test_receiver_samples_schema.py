"""The push samples (tests/fixtures/push, see PROVENANCE.md) against the platforms' own schemas.

VK: the callback envelope against ``callback_base`` (and the confirmation against
``callback_confirmation``) of the official schema's callback/objects.json (an excerpt is kept
beside the samples), the objects against ``wall_wallpost_full``, ``wall_wall_comment`` and
``callback_wall_comment_delete``. MAX: each update against its component of the official OpenAPI
schema (Update, MessageCreatedUpdate, CommentCreatedUpdate, kept beside the samples), with Message
and what it references from tests/fixtures/max-api-schema. The validators are the simulator
schema tests' own, so the samples are held to the rules the simulated answers are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from test_simulator_max_schema import FORMATS, json_schema
from test_simulator_vk_schema import Schema

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PUSH = FIXTURES / "push"


def sample(name: str) -> dict[str, Any]:
    return json.loads((PUSH / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vk() -> Schema:
    return Schema()


def callback_definition(name: str) -> dict[str, Any]:
    """A definition of the callback excerpt with its references into the same file resolved."""
    definitions = json.loads((PUSH / "vk-callback-objects.json").read_text())["definitions"]
    prefix = "../callback/objects.json#/definitions/"

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = resolve(definitions[node["$ref"].removeprefix(prefix)])
            # Draft 4 ignores a $ref's siblings; "required": true is the parent's business.
            return {**target, **({"required": True} if node.get("required") is True else {})}
        return {key: resolve(value) for key, value in node.items()}

    return resolve(definitions[name])


@pytest.mark.parametrize(
    ("name", "object_file", "object_definition"),
    [
        ("vk_wall_post_new.json", "wall/objects.json", "wall_wallpost_full"),
        ("vk_wall_reply_new.json", "wall/objects.json", "wall_wall_comment"),
        ("vk_wall_reply_edit.json", "wall/objects.json", "wall_wall_comment"),
        ("vk_wall_reply_delete.json", None, "callback_wall_comment_delete"),
    ],
)
def test_vk_samples_follow_the_callback_schema(
    vk: Schema, name: str, object_file: str | None, object_definition: str
) -> None:
    body = sample(name)
    vk.validate(body, callback_definition("callback_base"))
    if object_file is None:
        vk.validate(body["object"], callback_definition(object_definition))
    else:
        vk.validate(body["object"], vk.definition(object_file, object_definition))


def test_the_vk_confirmation_sample_follows_the_schema(vk: Schema) -> None:
    vk.validate(sample("vk_confirmation.json"), callback_definition("callback_confirmation"))


def test_a_sample_missing_a_required_field_is_caught(vk: Schema) -> None:
    body = sample("vk_wall_reply_new.json")
    del body["event_id"]
    with pytest.raises(AssertionError, match="event_id"):
        vk.validate(body, callback_definition("callback_base"))


@pytest.fixture(scope="module")
def max_document() -> dict[str, Any]:
    api = yaml.safe_load((FIXTURES / "max-api-schema" / "schema.yaml").read_text(encoding="utf-8"))
    updates = yaml.safe_load((PUSH / "max-updates-schema.yaml").read_text(encoding="utf-8"))
    document = json_schema(api)
    # Update is a base the others extend (allOf): closed by itself, it would refuse their fields.
    # Each kind is closed as a whole instead: nothing outside Update and its own part.
    for name, schema in updates["components"]["schemas"].items():
        converted = json_schema(schema)
        if name != "Update":
            converted["unevaluatedProperties"] = False
        document["components"]["schemas"][name] = converted
    return document


@pytest.mark.parametrize(
    ("name", "component"),
    [
        ("max_message_created.json", "MessageCreatedUpdate"),
        ("max_message_created_dialog.json", "MessageCreatedUpdate"),
        ("max_comment_created.json", "CommentCreatedUpdate"),
    ],
)
def test_max_samples_follow_the_update_schema(
    max_document: dict[str, Any], name: str, component: str
) -> None:
    root = {"$ref": f"#/components/schemas/{component}", "components": max_document["components"]}
    errors = list(Draft202012Validator(root, format_checker=FORMATS).iter_errors(sample(name)))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_a_max_sample_with_a_wrong_type_is_caught(max_document: dict[str, Any]) -> None:
    body = sample("max_message_created.json")
    body["message"]["timestamp"] = "yesterday"
    root = {"$ref": "#/components/schemas/MessageCreatedUpdate", **max_document}
    assert list(Draft202012Validator(root, format_checker=FORMATS).iter_errors(body))
