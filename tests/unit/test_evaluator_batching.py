"""How much an event counts for in a batch: a register chunk weighs by its organisations."""

from __future__ import annotations

from datetime import UTC, datetime

from gospublic import contracts as c
from services.evaluator.main import ORGANISATIONS_PER_MESSAGE, batch_weight

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _register(count: int) -> c.OrganisationsRegistered:
    organisations = tuple(
        c.Organisation(
            org_id=f"{1027700000000 + i}",
            name=f"Школа № {i}",
            level="municipal",
            founder="Управление образования",
            municipality="Лиски",
            sphere="education",
        )
        for i in range(count)
    )
    return c.OrganisationsRegistered.create(
        observed_at=NOW,
        registry_version="v1",
        region="36",
        chunk=0,
        chunks=1,
        organisations=organisations,
    )


def test_a_register_chunk_weighs_by_its_organisations() -> None:
    assert batch_weight(_register(500)) == 500 // ORGANISATIONS_PER_MESSAGE
    assert batch_weight(_register(ORGANISATIONS_PER_MESSAGE * 3 + 1)) == 3


def test_every_event_weighs_at_least_one_message() -> None:
    assert batch_weight(_register(1)) == 1
    ref = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1027700000001")
    posts = c.PostsObserved.create(
        observed_at=NOW, platform=c.Platform.VK, page_ref=ref, sweep_id="s1", page_id="1"
    )
    assert batch_weight(posts) == 1
