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
