"""The VK simulator's group objects carry requested and unrequested fields as VK does, and the
mapping reads them the way the rules need: requested and empty is a failure, not shown is unknown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.collector.vk_collect import GROUP_FIELDS, REQUESTED_FIELDS
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile
from services.simulator.region import Region, generate_region
from services.simulator.vk_api import VkSimulator

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
DEFAULT = load_profile("dialog-default")


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW, size=600)


def group_object(region: Region, group, fields: str) -> dict:
    answer = VkSimulator(region).handle(
        "groups.getById",
        {"access_token": "t", "v": "5.199", "group_ids": str(group.id), "fields": fields},
    )
    return vn.groups_of(answer["response"])[0]


def verdicts(obj: dict, requested) -> dict[str, str]:
    ref = c.PageRef(platform=c.Platform.VK, native_id=str(obj["id"]), org_id="1023601234567")
    snapshot = vn.build_snapshot(obj, ref, "s", NOW, requested)
    return {x.rule: x.status for x in r.evaluate_profile(snapshot, DEFAULT)}


def test_empty_requested_fields_are_sent_as_vk_sends_them(region: Region) -> None:
    live = [g for g in region.groups.values() if g.live]
    bare = [g for g in live if not region.contacts(g) and not region.description(g).strip()]
    assert bare, "the region plants pages without description and contacts"
    for group in bare[:20]:
        obj = group_object(region, group, GROUP_FIELDS)
        assert obj["description"] == ""  # a recorded answer: an empty description is ""
        assert "contacts" not in obj  # an empty list is left out
        assert "addresses" in obj and "has_photo" in obj
        got = verdicts(obj, REQUESTED_FIELDS)
        assert got[r.DESCRIPTION_MISSING] == r.FAIL
        assert got[r.CONTACT_EMAIL_MISSING] == r.FAIL


def test_fields_not_requested_are_left_out_and_read_as_unknown(region: Region) -> None:
    group = next(g for g in region.groups.values() if g.live and not g.is_closed)
    obj = group_object(region, group, "members_count")
    for key in ("description", "contacts", "addresses", "site", "links", "has_photo", "cover"):
        assert key not in obj
    got = verdicts(obj, None)
    for rule in (
        r.DESCRIPTION_MISSING,
        r.CONTACT_PHONE_MISSING,
        r.CONTACT_EMAIL_MISSING,
        r.ADDRESS_MISSING,
        r.WEBSITE_LINK_MISSING,
        r.COVER_MISSING,
    ):
        assert got[rule] == r.NOT_EVALUABLE, rule
    # The same answer, but the reader says the fields were requested: left out means empty.
    assert verdicts(obj, frozenset({"description", "contacts"}))[r.DESCRIPTION_MISSING] == r.FAIL
