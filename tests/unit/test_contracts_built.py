"""``contracts.built``: the same model as ``model_construct``, for values that name every field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LABELS = dict(
    org_id="1023601547177", org_name="Школа № 1", founder="Управление образования",
    municipality="Лиски", sphere="education", level="municipal", platform="vk", page_id="1",
    page_url="https://vk.com/club1", rule="WALL_CLOSED", severity=c.Severity("critical"),
)  # fmt: skip


def opened(make) -> c.ViolationOpened:
    return make(
        c.ViolationOpened,
        schema_=c.ViolationOpened.schema_id(), event_id="e1", observed_at=AT, violation_id="v1",
        labels=make(c.AlertLabels, **LABELS), summary="Стена закрыта", basis="ст. 10",
        value="closed", threshold="open", opened_at=AT,
    )  # fmt: skip


def test_built_equals_model_construct_and_serialises_the_same() -> None:
    fast = opened(c.built)
    slow = opened(lambda cls, **values: cls.model_construct(**values))
    assert fast == slow
    assert fast.to_bytes() == slow.to_bytes()
    assert fast.model_fields_set == slow.model_fields_set
    assert c.decode(fast.to_bytes()) == c.ViolationOpened.model_validate_json(slow.to_bytes())


def test_built_refuses_a_missing_or_unknown_field() -> None:
    with pytest.raises(TypeError, match="needs exactly"):
        c.built(c.AlertLabels, **{k: v for k, v in LABELS.items() if k != "rule"})
    with pytest.raises(TypeError, match="needs exactly"):
        c.built(c.AlertLabels, **LABELS, extra="x")
