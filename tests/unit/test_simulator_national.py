"""The national preset: 175,000 VK pages derived per index, cheap, reproducible, resolvable."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from gospublic.apps.cli import main
from gospublic.registry import ogrn_is_valid
from services.simulator.national import PAGES, organisations_for
from services.simulator.region import (
    Region,
    generate_region,
    group_id_from_ref,
    vk_ref_from_link,
)

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def national() -> Region:
    return generate_region("national", seed=42, now=NOW)


def sample(region: Region, step: int = 97):
    return [region.organisations[i] for i in range(0, len(region.organisations), step)]


def test_generation_is_lazy_and_small() -> None:
    region = generate_region("national", seed=3, now=NOW)
    assert len(region.organisations) == organisations_for(PAGES)
    assert len(region.municipality_list) > 1500  # 85 regions, capitals and districts


def test_exactly_175000_vk_links(national: Region) -> None:
    world = national.organisations.world
    with_vk = sum(
        1
        for i in range(world.size)
        if world.presence(i) not in ("no_links", "no_links_exempt", "tg_only", "ok_only")
    )
    assert with_vk == PAGES == 175_000


def test_the_same_seed_gives_the_same_country(national: Region) -> None:
    again = generate_region("national", seed=42, now=NOW)
    other = generate_region("national", seed=43, now=NOW)
    picks = [0, 41, 5_000, 99_999, len(national.organisations) - 1]
    assert [national.organisations[i] for i in picks] == [again.organisations[i] for i in picks]
    assert [national.organisations[i] for i in picks] != [other.organisations[i] for i in picks]


def test_organisations_look_real_and_ogrn_are_valid(national: Region) -> None:
    orgs = sample(national)
    assert all(ogrn_is_valid(o.ogrn) for o in orgs)
    assert len({o.ogrn for o in orgs}) == len(orgs)
    regions = {national.preset_of(o).region_nominative for o in orgs}
    assert {"Республика Татарстан", "Воронежская область", "город Москва"} <= regions
    names = " ".join(o.name for o in orgs)
    for word in ("МБОУ", "Детский сад", "Администрация", "Министерство", "ГБУЗ"):
        assert word in names


def test_links_resolve_to_their_groups(national: Region) -> None:
    resolved = 0
    for org in sample(national, 31):
        if not org.vk:
            continue
        group = national.resolve(vk_ref_from_link(org.vk))
        if org.presence.startswith("vk_not_found"):
            assert group is None
            continue
        assert group is not None and national.org_of(group) == org
        assert group.deactivated == (
            "deleted" if "deleted" in org.presence else "banned" if "banned" in org.presence else ""
        )
        resolved += 1
    assert resolved > 4000
    assert national.resolve("club1") is None and national.resolve("nobody_zz") is None
    assert national.resolve("no.such_name") is None


def test_shares_of_links_and_defects(national: Region) -> None:
    orgs = sample(national, 23)
    n = len(orgs)
    presence = Counter(o.presence for o in orgs)
    assert abs(presence["no_links"] / n - 0.045) < 0.01
    live = [o for o in orgs if o.presence in ("live", "exempt_live")]
    ok_share = sum(1 for o in live if o.ok) / len(live)
    tg_share = sum(1 for o in orgs if o.telegram) / n
    assert 0.3 < ok_share < 0.4 and 0.2 < tg_share < 0.35
    groups = [national.groups[o.group_id] for o in live]
    walls = Counter(g.wall for g in groups)
    assert abs(walls[0] / len(groups) - 0.03) < 0.01
    kinds = Counter(g.wall_kind for g in groups)
    assert kinds["stale_critical"] and kinds["user_posts_medium"] and kinds["disabled"]


def test_a_changed_page_stays_changed() -> None:
    national = generate_region("national", seed=42, now=NOW)
    org = next(o for o in sample(national) if o.presence == "live")
    national.change_page(org.group_id, deactivated="deleted")
    for gid in range(150_000_000, 150_100_000, 7):  # push it out of the recent-groups cache
        national.groups.get(gid)
    assert national.groups[org.group_id].deactivated == "deleted"
    assert group_id_from_ref(f"club{org.group_id}") == org.group_id


def test_the_national_preset_writes_its_ground_truth_by_default(tmp_path) -> None:
    out = tmp_path / "sim"
    argv = ["simulate", "--preset", "national", "--size", "1500", "--write-only"]
    assert main([*argv, "--now", NOW.isoformat(), "--out", str(out)]) == 0
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    assert truth["preset"] == "national" and truth["organisations"] == 1500
    assert truth["counts"]["STALE"] > 0 and truth["counts"]["PAGE_NOT_PUBLIC"] > 0
    assert main([*argv, "--no-truth", "--out", str(tmp_path / "bare")]) == 0
    assert not (tmp_path / "bare" / "ground_truth.json").exists()
