"""The simulated register's max column: the MAX simulator's channels, read by the register's own
rules, in every planted state; an organisation whose only channels are off the legal list is
OFF_LIST_ONLY in the ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from gospublic.contracts import Platform
from gospublic.registry import parse_registry
from services.simulator import max_api
from services.simulator.region import Region, generate_region

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW)


def test_the_register_lists_every_planted_max_channel(tmp_path, region: Region) -> None:
    path = region.write_registry_csv(tmp_path / "registry.csv")
    organisations = parse_registry("registry.csv", path.read_bytes())
    listed = {
        o.org_id: p.native_id for o in organisations for p in o.pages if p.platform == Platform.MAX
    }
    states: Counter[str] = Counter()
    for index, org in enumerate(region.organisations):
        channel = max_api.channel(region, index)
        if channel is None:
            assert org.ogrn not in listed
            continue
        assert listed[org.ogrn] == channel.name
        states[channel.state] += 1
    assert set(states) == {"connected", "not_connected", "empty", "stale", "copied"}, states


def test_off_the_legal_list_counts_max_channels(region: Region) -> None:
    off_list = {r["org_id"] for r in region.ground_truth() if r["rule"] == "OFF_LIST_ONLY"}
    only_max = [
        o
        for o in region.organisations
        if region.max_link(o) and not o.telegram and not o.ok and not o.exempt
        and (region.vk_group_of(o) is None or not region.vk_group_of(o).live)
    ]  # fmt: skip
    assert only_max, "the region plants organisations whose only channel is MAX"
    assert {o.ogrn for o in only_max} <= off_list


def test_the_ground_truth_judges_each_max_channel_by_its_planted_state(region: Region) -> None:
    """Not connected: PAGE_NOT_CONNECTED under the register's name; stale and empty channels:
    STALE critical under the chat id; COPIED_CONTENT (low) on channels copying the VK page only;
    the truth names no channel the simulator did not plant."""
    on_max: dict[str, list[tuple[str, str, str]]] = {}
    for row in region.ground_truth():
        if row["platform"] == "max":
            on_max.setdefault(row["org_id"], []).append(
                (row["rule"], row["page_id"], row["severity"])
            )
    planted = max_api.planted(region)
    assert set(on_max) <= set(planted)
    states: Counter[str] = Counter()
    for ogrn, channel in planted.items():
        found = on_max.get(ogrn, [])
        states[channel["state"]] += 1
        copied = ("COPIED_CONTENT", str(channel["chat_id"]), "low")
        if copied in found:
            assert (channel["state"], channel["copies"]) == ("copied", "vk"), channel
            states["copied_content"] += 1
            found = [f for f in found if f != copied]
        if channel["state"] == "not_connected":
            assert found == [("PAGE_NOT_CONNECTED", channel["name"], "medium")]
        elif channel["state"] in ("stale", "empty"):
            assert found == [("STALE", str(channel["chat_id"]), "critical")], channel
        elif (channel["newest_own_post_age_days"] or 99) < 7:
            assert found == [], channel
    assert min(states.values()) > 10, states


def test_a_max_channel_is_the_scorecard_of_an_organisation_without_a_vk_page(
    region: Region,
) -> None:
    """An organisation's card is its VK page's, else its best page's: without a live VK page, the
    MAX channel the bot sees gives its points (MAX has no mark, cover or widgets); a channel the
    bot is not in gives none, the register's column alone counts."""
    import yaml

    from services.evaluator.profiles import PROFILES_DIR
    from services.simulator.scorecard_truth import expected_totals

    section = yaml.safe_load((PROFILES_DIR / "dialog-default.yaml").read_text(encoding="utf-8"))[
        "scorecard"
    ]
    totals = expected_totals(region, section)
    channels = max_api.scorecard_facts(region)
    kinds: Counter[str] = Counter()
    for index, org in enumerate(region.organisations):
        group = region.vk_group_of(org)
        if group is not None and group.live and not group.is_closed:
            continue
        column = 10.0 if org.gospubliki == "да" else 0.0
        channel = max_api.channel(region, index)
        if channel is None or channel.state == "not_connected":
            assert totals[org.ogrn] == column, org.ogrn
            kinds["register only"] += 1
            continue
        facts = channels[org.ogrn]
        profile = 5.0 * facts.avatar + 5.0 * facts.description
        assert totals[org.ogrn] >= column + profile, org.ogrn
        # No «Госорганизация» mark (10), cover (10) or widgets (10) on MAX.
        assert totals[org.ogrn] <= column + profile + 30 + 10 + 5
        kinds[channel.state] += 1
    assert kinds["register only"] and kinds["connected"], kinds
