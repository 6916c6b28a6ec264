"""Verdicts on answers shaped as VK really sends them, from groups.getById and wall.get through the
mapping (``gospublic.platforms.vk``) to the rules: what the answer does not show is never a FAIL.

The shapes follow recorded responses: an old group object that carries only the requested keys,
``addresses`` naming its main address by id alone, open walls where citizens' posts outnumber the
page's own, a pinned post older than everything else on the wall, a ``count`` far above the items
returned.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.collector.vk_collect import REQUESTED_FIELDS
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
GID = 109125816
REF = c.PageRef(platform=c.Platform.VK, native_id=str(GID), org_id="1023601234567")
DEFAULT = load_profile("dialog-default")
DESCRIPTION = (
    "Официальная страница МБОУ СОШ № 3. Наша цель — качественное образование. "
    "Телефон: +7 (47391) 4-11-22, почта school3@liski.ru"
)
PROFILE_RULES = (
    r.DESCRIPTION_MISSING,
    r.DESCRIPTION_NO_GOALS,
    r.CONTACT_PHONE_MISSING,
    r.CONTACT_EMAIL_MISSING,
    r.ADDRESS_MISSING,
    r.WEBSITE_LINK_MISSING,
    r.AVATAR_MISSING,
    r.COVER_MISSING,
)


def verdicts(group: dict, requested: frozenset[str] | None = None) -> dict[str, str]:
    snapshot = vn.build_snapshot(group, REF, "s", NOW, requested)
    assert c.decode(snapshot.to_bytes()) == snapshot
    return {
        x.rule: x.status for x in r.evaluate_profile(snapshot, DEFAULT) if x.rule in PROFILE_RULES
    }


# --- absent is not empty ------------------------------------------------------------------------

# groups.getById with only the default fields, as an old client or a saved answer has it: no
# description, contacts, addresses, site, links, cover or has_photo keys at all.
BARE_GROUP = {
    "id": GID,
    "name": "МБОУ СОШ № 3",
    "screen_name": "school3_liski",
    "is_closed": 0,
    "type": "group",
    "is_admin": 0,
    "is_member": 0,
    "is_advertiser": 0,
    "photo_50": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=50x50",
    "photo_100": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=100x100",
    "photo_200": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=200x200",
}


def test_fields_that_were_not_requested_are_not_evaluable_not_failed() -> None:
    """Before: description, phone, e-mail, address and website all FAILed for an answer that
    simply did not carry them."""
    got = verdicts(BARE_GROUP)
    for rule in (
        r.DESCRIPTION_MISSING,
        r.DESCRIPTION_NO_GOALS,
        r.CONTACT_PHONE_MISSING,
        r.CONTACT_EMAIL_MISSING,
        r.ADDRESS_MISSING,
        r.WEBSITE_LINK_MISSING,
        r.COVER_MISSING,
    ):
        assert got[rule] == r.NOT_EVALUABLE, rule
    assert got[r.AVATAR_MISSING] == r.PASS  # the picture's address is always in the object


def test_requested_and_left_out_is_empty_and_fails() -> None:
    """VK leaves an empty requested field out: asked for and absent is a page without it."""
    got = verdicts({**BARE_GROUP, "description": "", "has_photo": 0, "cover": {"enabled": 0}},
                   REQUESTED_FIELDS)  # fmt: skip
    for rule in PROFILE_RULES:
        assert got[rule] == r.FAIL, rule


def test_what_is_shown_counts_even_when_other_fields_are_unknown() -> None:
    got = verdicts({**BARE_GROUP, "description": DESCRIPTION})
    assert got[r.DESCRIPTION_MISSING] == r.PASS
    assert got[r.DESCRIPTION_NO_GOALS] == r.PASS
    assert got[r.CONTACT_PHONE_MISSING] == r.PASS  # found in the description
    assert got[r.CONTACT_EMAIL_MISSING] == r.PASS
    assert got[r.ADDRESS_MISSING] == r.NOT_EVALUABLE
    # No phone in the description, contacts not shown: the phone may well be there.
    got = verdicts({**BARE_GROUP, "description": "Школа № 3", "site": ""})
    assert got[r.CONTACT_PHONE_MISSING] == r.NOT_EVALUABLE
    assert got[r.WEBSITE_LINK_MISSING] == r.NOT_EVALUABLE  # links not shown


def test_unknown_facts_are_listed_in_the_snapshot() -> None:
    snapshot = vn.build_snapshot({**BARE_GROUP, "description": "x"}, REF, "s", NOW)
    assert snapshot.unknown == ("site", "links", "phones", "emails", "address")
    assert vn.build_snapshot(BARE_GROUP, REF, "s", NOW, REQUESTED_FIELDS).unknown == ()


def test_a_default_picture_is_no_avatar() -> None:
    group = {**BARE_GROUP, "photo_200": "https://vk.com/images/community_200.png"}
    assert verdicts(group)[r.AVATAR_MISSING] == r.FAIL
    assert verdicts({**group, "has_photo": 1})[r.AVATAR_MISSING] == r.PASS


# --- VK's real shapes ----------------------------------------------------------------------------


def test_an_address_named_by_id_alone_is_an_address() -> None:
    """fields=addresses in API 5.120 gives ``{"is_enabled": true, "main_address_id": N}`` without
    the address object; ADDRESS_MISSING failed on it."""
    group = {**BARE_GROUP, "description": DESCRIPTION, "site": "https://school3.ru",
             "addresses": {"is_enabled": True, "main_address_id": 1784}}  # fmt: skip
    got = verdicts(group, REQUESTED_FIELDS)
    assert got[r.ADDRESS_MISSING] == r.PASS
    assert got[r.CONTACT_PHONE_MISSING] == r.PASS  # in the description
    # The address block's phone is not shown: without another phone nothing is proven.
    group["description"] = "Школа № 3: наша цель — образование. Почта school3@liski.ru"
    assert verdicts(group, REQUESTED_FIELDS)[r.CONTACT_PHONE_MISSING] == r.NOT_EVALUABLE


@pytest.mark.parametrize(
    "addresses", [{"is_enabled": False}, {"is_enabled": 0, "main_address_id": 5}]
)
def test_a_disabled_address_block_is_no_address(addresses: dict) -> None:
    group = {**BARE_GROUP, "addresses": addresses}
    assert verdicts(group, REQUESTED_FIELDS)[r.ADDRESS_MISSING] == r.FAIL


def test_a_contact_person_without_phone_or_email_is_neither() -> None:
    group = {**BARE_GROUP, "description": "Школа № 3", "contacts": [{"user_id": 421825761}]}
    got = verdicts(group, REQUESTED_FIELDS)
    assert got[r.CONTACT_PHONE_MISSING] == r.FAIL
    assert got[r.CONTACT_EMAIL_MISSING] == r.FAIL
