"""compact(): held events share their repeated strings and fields sets, and nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gospublic import contracts as c
from services.notifier.compact import compact
from services.notifier.pipeline import labels_of

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
BASIS = "Постановление Правительства РФ № 1936, п. 5 «а»: описание не короче 50 знаков"


def opened_bytes(n: int, **extra) -> bytes:
    """One page's alert as it arrives: serialised, so decoding gives it its own strings."""
    return c.ViolationOpened.create(
        event_id=f"open-{n}",
        violation_id=f"vk:{210_000_000 + n}:DESCRIPTION_MISSING",
        labels=c.AlertLabels(
            org_id=f"1{n:013d}",
            org_name=f"МБОУ «Школа № {n}» Борисоглебского городского округа Воронежской области",
            founder="Отдел образования администрации Борисоглебского городского округа",
            municipality="Борисоглебский городской округ Воронежской области",
            sphere="education",
            level="municipal",
            platform="vk",
            page_id=str(210_000_000 + n),
            page_url=f"https://vk.com/club{210_000_000 + n}",
            rule="DESCRIPTION_MISSING",
            severity="high",
        ),
        summary="Описание короче 50 знаков",
        basis=BASIS,
        threshold="50",
        observed_at=AT,
        opened_at=AT,
        **extra,
    ).to_bytes()


def scores_bytes(n: int) -> bytes:
    return c.ScoresUpdated.create(
        event_id=f"scores-{n}",
        labels=c.OrgLabels(
            org_id=f"1{n:013d}",
            org_name=f"МБОУ «Школа № {n}»",
            founder="Отдел образования администрации Борисоглебского городского округа",
            municipality="Борисоглебский городской округ Воронежской области",
            sphere="education",
            level="municipal",
        ),
        scores={"design": 62.5, "compliance": 71.4},
        scored_at=AT,
        observed_at=AT,
    ).to_bytes()


def test_compact_changes_no_value_and_no_output():
    for data in (opened_bytes(1), opened_bytes(2, value="12"), scores_bytes(3)):
        event, untouched = c.decode(data), c.decode(data)
        assert compact(event) is event
        assert event == untouched
        assert event.to_bytes() == untouched.to_bytes() == data
        assert event.model_dump() == untouched.model_dump()
        assert event.model_dump(exclude_unset=True) == untouched.model_dump(exclude_unset=True)
        assert event.model_fields_set == untouched.model_fields_set
        if isinstance(event, c.ViolationOpened):
            assert hash(event) == hash(untouched)
            assert labels_of(event) == labels_of(untouched)


def test_repeated_strings_and_fields_sets_are_shared():
    first, second = c.decode(opened_bytes(1)), c.decode(opened_bytes(2))
    scores = c.decode(scores_bytes(3))
    assert first.labels.founder is not second.labels.founder  # decoding copies long strings
    for event in (first, second, scores):
        compact(event)
    for name in ("founder", "municipality", "sphere", "level"):
        assert getattr(first.labels, name) is getattr(second.labels, name)
        assert getattr(first.labels, name) is getattr(scores.labels, name)
    assert first.basis is second.basis and first.summary is second.summary
    assert first.labels.severity is second.labels.severity  # the enum member, left as it is
    assert first.model_fields_set is second.model_fields_set
    assert first.labels.model_fields_set is second.labels.model_fields_set
    # Interning keeps the values: the held labels still match what was sent.
    assert labels_of(first)["page_url"] == "https://vk.com/club210000001"


def test_shared_fields_sets_stay_private_to_each_event():
    first, second = compact(c.decode(opened_bytes(1))), compact(c.decode(opened_bytes(2)))
    shared = first.model_fields_set
    before = set(shared)
    with pytest.raises(ValidationError):
        first.summary = "changed"  # frozen: the only path that would add to the shared set
    # model_copy adds the updated names to a copy of the set, never to the shared one.
    changed = first.model_copy(update={"summary": "changed"})
    assert changed.summary == "changed" and first.summary == "Описание короче 50 знаков"
    assert changed.model_fields_set is not shared
    assert second.model_fields_set is shared and shared == before


@pytest.mark.parametrize("severity", list(c.Severity))
def test_labels_of_is_the_json_dump_of_the_labels(severity):
    event = c.decode(opened_bytes(1)).model_copy(update={"labels": _labels(severity)})
    json_labels = event.labels.model_dump(mode="json")
    assert labels_of(event) == json_labels and list(labels_of(event)) == list(json_labels)
    assert all(type(value) is str for value in labels_of(event).values())
    assert labels_of(event)["severity"] == severity.value


def _labels(severity: c.Severity) -> c.AlertLabels:
    return c.decode(opened_bytes(1)).labels.model_copy(update={"severity": severity})
