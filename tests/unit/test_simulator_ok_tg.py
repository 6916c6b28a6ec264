"""The OK and Telegram simulators without a server: signatures, error bodies, missing channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.simulator.ok_api import OkSimulator, signature
from services.simulator.other_pages import ok_group, ok_private, tg_channel
from services.simulator.region import Region, generate_region
from services.simulator.tg_web import TgSimulator

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
KEY, SECRET, TOKEN = "CBAKEY", "app-secret", "user-token"


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW)


def signed(**params: str) -> dict[str, str]:
    params = {"application_key": KEY, "format": "json", **params}
    params["sig"] = signature(params, TOKEN, SECRET)
    params["access_token"] = TOKEN
    return params


def groups(region: Region):
    for org in region.organisations:
        if org.ok:
            yield ok_group(region, org.ok_id)


def test_ok_planted_states(region: Region) -> None:
    all_groups = list(groups(region))
    states = {
        "deleted": [g for g in all_groups if g.deactivated == "deleted"],
        "blocked": [g for g in all_groups if g.deactivated == "banned"],
        "private": [g for g in all_groups if ok_private(region, g)],
    }
    assert all(states.values()), {k: len(v) for k, v in states.items()}
    sim = OkSimulator(region, KEY, SECRET)
    uids = ",".join(str(g.id) for g in all_groups[:100])
    answer = sim.handle(signed(method="group.getInfo", uids=uids))
    returned = {int(g["uid"]) for g in answer}
    assert not returned & {g.id for g in states["deleted"]}
    assert {g["status"] for g in answer} <= {"ACTIVE", "BLOCKED"}
    private = states["private"][0]
    denied = sim.handle(signed(method="mediatopic.getTopics", gid=str(private.id)))
    assert denied["error_code"] == 10 and denied["error_msg"].startswith("PERMISSION_DENIED : ")
    gone = sim.handle(signed(method="mediatopic.getTopics", gid=str(states["deleted"][0].id)))
    assert gone["error_code"] == 300


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sig": "0" * 32}, 104),
        ({"application_key": "OTHER"}, 101),
        ({"method": "users.getInfo"}, 3),
        ({"uids": ""}, 100),
    ],
)
def test_ok_error_bodies(region: Region, change: dict, code: int) -> None:
    sim = OkSimulator(region, KEY, SECRET)
    params = signed(method="group.getInfo", uids="70000000000001")
    params.update(change)
    if "sig" not in change and "application_key" not in change:
        params.pop("access_token")
        params["sig"] = signature(params, TOKEN, SECRET)
        params["access_token"] = TOKEN
    body = sim.handle(params)
    assert set(body) == {"error_code", "error_msg", "error_data"}
    assert body["error_code"] == code and body["error_data"] is None
    assert TOKEN not in str(sim.request_log)


def test_ok_refuses_an_unknown_token(region: Region) -> None:
    sim = OkSimulator(region, KEY, SECRET, tokens={"another"})
    assert sim.handle(signed(method="group.getInfo", uids="1"))["error_code"] == 102


def test_telegram_missing_channels_answer_200_without_a_channel(region: Region) -> None:
    tg = TgSimulator(region)
    names = [o.telegram.rsplit("/", 1)[1] for o in region.organisations if o.telegram]
    missing = [n for n in names if tg_channel(region, n) is None]
    assert 0 < len(missing) < len(names) * 0.15
    status, body = tg.page(missing[0])
    assert status == 200 and b"tgme_channel_info" not in body and b"Contact @" in body
    status, body = tg.page("never_listed_anywhere")
    assert status == 200 and b"tgme_channel_info" not in body
    live = next(n for n in names if n not in missing)
    status, body = tg.page(live)
    assert status == 200 and b"tgme_channel_info" in body and b"tgme_widget_message_views" in body


def test_ok_links_by_short_name_resolve_through_url_get_info(region: Region) -> None:
    sim = OkSimulator(region, KEY, SECRET)
    linked = [o for o in region.organisations if o.ok]
    by_name = [o for o in linked if "/group/" not in o.ok]
    assert 0.2 < len(by_name) / len(linked) < 0.4  # the rest link the group id
    live = [o for o in by_name if ok_group(region, o.ok_id).deactivated != "deleted"]
    for org in live[:20]:
        answer = sim.handle(signed(method="url.getInfo", url=org.ok))
        assert answer["type"] == "GROUP" and answer["objectId"] == org.ok_id
        info = sim.handle(signed(method="group.getInfo", uids=str(org.ok_id)))
        assert org.ok.endswith("/" + info[0]["shortname"])
    by_id = next(o for o in linked if "/group/" in o.ok)
    if ok_group(region, by_id.ok_id).deactivated != "deleted":
        assert sim.handle(signed(method="url.getInfo", url=by_id.ok))["objectId"] == by_id.ok_id
    gone = next(o for o in by_name if ok_group(region, o.ok_id).deactivated == "deleted")
    assert sim.handle(signed(method="url.getInfo", url=gone.ok))["error_code"] == 300
    unknown = sim.handle(signed(method="url.getInfo", url="https://ok.ru/no.such.group"))
    assert unknown["error_code"] == 300
    elsewhere = sim.handle(signed(method="url.getInfo", url="https://example.org/x"))
    assert elsewhere["error_code"] == 100


def test_national_ok_short_names_carry_the_index() -> None:
    national = generate_region("national", seed=42, now=NOW, size=3000)
    by_name = [o for o in national.organisations if o.ok and "/group/" not in o.ok]
    assert by_name
    for org in by_name[:50]:
        assert national.org_by_ok_name(org.ok.rsplit("/", 1)[1]).ogrn == org.ogrn
        assert national.org_by_ok(org.ok_id).ogrn == org.ogrn
