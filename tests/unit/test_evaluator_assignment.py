"""Profile assignment per region, level and sphere: precedence, validation, the stream and check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gospublic.apps import check
from gospublic.apps.cli import build_parser
from gospublic.contracts import (
    Organisation,
    OrganisationsRegistered,
    PageRef,
    PageSnapshot,
    Platform,
)
from gospublic.settings import Settings
from services.evaluator.assignment import (
    ASSIGNMENT_FILE,
    Match,
    ProfileBook,
    load_assignment,
    load_book,
    parse_assignment,
)
from services.evaluator.handlers import TABLE_COLUMNS, process_batch
from services.evaluator.profiles import ProfileError, load_profile
from services.evaluator.state import EvaluatorState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEFAULT = load_profile("dialog-default")
STRICT = load_profile("bashkortostan-2025")
FEDERAL = load_profile("federal-min")
FOUNDATION = load_profile("foundation")

# Every kind of entry, so each precedence step is exercised.
BOOK = ProfileBook(
    DEFAULT,
    [
        (Match(region="bashkortostan"), STRICT),
        (Match(level="federal"), FEDERAL),
        (Match(sphere="health"), FOUNDATION),
        (Match(region="bashkortostan", sphere="culture"), FEDERAL),
        (Match(level="regional", sphere="health"), STRICT),
    ],
)


@pytest.mark.parametrize(
    ("region", "level", "sphere", "expected", "why"),
    [
        ("voronezh", "municipal", "education", "dialog-default", "nothing matches: the default"),
        ("", "", "", "dialog-default", "an organisation with nothing known"),
        ("bashkortostan", "municipal", "education", "bashkortostan-2025", "region"),
        ("voronezh", "federal", "education", "federal-min", "level"),
        ("voronezh", "municipal", "health", "foundation", "sphere"),
        ("bashkortostan", "federal", "education", "federal-min", "level beats region"),
        ("bashkortostan", "municipal", "health", "bashkortostan-2025", "region beats sphere"),
        ("voronezh", "federal", "health", "federal-min", "level beats sphere"),
        ("bashkortostan", "municipal", "culture", "federal-min", "two keys beat one"),
        ("bashkortostan", "federal", "culture", "federal-min", "two keys beat level alone"),
        ("bashkortostan", "regional", "health", "bashkortostan-2025", "level+sphere: 2 keys"),
        ("Bashkortostan", "municipal", "education", "dialog-default", "values are exact"),
    ],
)
def test_the_most_specific_entry_wins(region, level, sphere, expected, why) -> None:
    assert BOOK.resolve(region, level, sphere).name == expected, why


def test_the_order_in_the_file_does_not_matter() -> None:
    entries = list(BOOK.assigned)
    reversed_book = ProfileBook(DEFAULT, list(reversed(entries)))
    for region in ("bashkortostan", "voronezh"):
        for level in ("federal", "regional", "municipal"):
            for sphere in ("health", "culture", "education"):
                assert (
                    reversed_book.resolve(region, level, sphere).name
                    == BOOK.resolve(region, level, sphere).name
                )


def test_the_shipped_assignment_loads() -> None:
    book = load_book("dialog-default")
    assert book.default.name == "dialog-default"
    assert book.resolve("bashkortostan", "municipal", "education").name == "bashkortostan-2025"
    assert book.resolve("voronezh", "federal", "").name == "federal-min"
    assert book.resolve("voronezh", "municipal", "education").name == "dialog-default"
    assert [p.name for p in book.profiles] == [
        "dialog-default",
        "federal-min",
        "bashkortostan-2025",
    ]
    assert load_assignment(ASSIGNMENT_FILE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a mapping with 'assign'"),
        ({"assign": [{"profile": "federal-min"}]}, "assign.0: name at least one of"),
        ({"assign": [{"region": "x"}]}, "assign.0.profile: Field required"),
        ({"assign": [{"regoin": "x", "profile": "federal-min"}]}, "assign.0.regoin"),
        ({"assign": [{"level": "county", "profile": "federal-min"}]}, "unknown level 'county'"),
        ({"default": "dialog-default"}, "default: Extra inputs are not permitted"),
        (
            {
                "assign": [
                    {"region": "bashkortostan", "profile": "federal-min"},
                    {"region": "Bashkortostan ", "profile": "dialog-default"},
                ]
            },
            "assign.1 repeats assign.0 (region=bashkortostan)",
        ),
    ],
)
def test_a_bad_assignment_is_refused_with_the_entry_named(data, message) -> None:
    with pytest.raises(ProfileError, match=r"profile assignment test\.yaml") as caught:
        parse_assignment(data, "test.yaml")
    assert message in str(caught.value)


def test_an_unknown_profile_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("assign:\n  - {sphere: health, profile: no-such-profile}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_book("dialog-default", assignment=path)
    assert "sphere=health" in str(caught.value)
    assert "no-such-profile" in str(caught.value)
    assert "available:" in str(caught.value)


def test_an_empty_file_assigns_everyone_the_default(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    book = load_book("foundation", assignment=path)
    assert book.single
    assert book.resolve("bashkortostan", "federal", "health").name == "foundation"


# --- the stream path ----------------------------------------------------------------------------


def organisation(org_id: str, level: str, native_id: str) -> Organisation:
    return Organisation(
        org_id=org_id, name=f"Учреждение {org_id[-1]}", level=level, founder="Учредитель",
        municipality="Район", sphere="education",
        pages=(PageRef(platform=Platform.VK, native_id=native_id, org_id=org_id),),
    )  # fmt: skip


def registered(region: str, *orgs: Organisation) -> OrganisationsRegistered:
    return OrganisationsRegistered.create(
        observed_at=NOW, registry_version="v1", region=region, chunk=0, chunks=1,
        organisations=orgs,
    )  # fmt: skip


def snapshot(org: Organisation, description: str) -> PageSnapshot:
    ref = org.pages[0]
    return PageSnapshot.create(
        observed_at=NOW, platform=Platform.VK, page_ref=ref, sweep_id="s",
        page_id=ref.native_id.removeprefix("club"), name=org.name, description=description,
        wall=1,
    )  # fmt: skip


def checked(out, org_id: str) -> dict[str, tuple[str, str, str]]:
    """rule → (profile, status, severity) of an organisation's verdicts in check_results."""
    columns = TABLE_COLUMNS["check_results"]
    rows = [dict(zip(columns, row, strict=True)) for row in out.rows["check_results"]]
    return {
        row["rule"]: (row["profile"], row["status"], row["severity"])
        for row in rows
        if row["org_id"] == org_id
    }


def test_each_organisation_is_checked_with_its_own_profile() -> None:
    bashkir = organisation("1020200000001", "municipal", "club1")
    federal = organisation("1020200000002", "federal", "club2")
    voronezh = organisation("1023600000003", "municipal", "club3")
    # 60 characters: enough for dialog-default (50), too short for bashkortostan-2025 (100).
    description = "Официальная страница учреждения. Новости и объявления здесь."
    events = [
        registered("bashkortostan", bashkir, federal),
        registered("voronezh", voronezh),
        *(snapshot(o, description) for o in (bashkir, federal, voronezh)),
    ]
    book = load_book("dialog-default")
    out = process_batch(EvaluatorState(), events, book, NOW)

    strict, law, default = (checked(out, o.org_id) for o in (bashkir, federal, voronezh))
    assert {p for p, _, _ in strict.values()} == {"bashkortostan-2025"}
    assert {p for p, _, _ in law.values()} == {"federal-min"}
    assert {p for p, _, _ in default.values()} == {"dialog-default"}
    assert strict["DESCRIPTION_MISSING"][1:] == ("fail", "high")
    assert default["DESCRIPTION_MISSING"][1:] == ("pass", "high")
    assert "DESCRIPTION_MISSING" not in law  # the law alone sets no length
    assert strict["PAGE_MISSING_OK"][1] == "fail"  # the regional profile requires OK as well
    assert "PAGE_MISSING_OK" not in default
    opened = {(a.labels.org_id, a.labels.rule) for a in out.alerts}
    assert (bashkir.org_id, "DESCRIPTION_MISSING") in opened
    assert (voronezh.org_id, "DESCRIPTION_MISSING") not in opened


def test_a_reregistered_organisation_is_resolved_again() -> None:
    state = EvaluatorState()
    book = load_book("dialog-default")
    org = organisation("1020200000001", "municipal", "club1")
    process_batch(state, [registered("bashkortostan", org)], book, NOW)
    assert book.for_org(state.orgs[org.org_id], "bashkortostan").name == "bashkortostan-2025"
    promoted = org.model_copy(update={"level": "federal"})
    out = process_batch(state, [registered("bashkortostan", promoted)], book, NOW)
    assert {p for p, _, _ in checked(out, org.org_id).values()} == {"federal-min"}


def test_a_rolled_back_registration_gets_its_old_profile_back() -> None:
    state = EvaluatorState()
    book = load_book("dialog-default")
    org = organisation("1020200000001", "municipal", "club1")
    process_batch(state, [registered("bashkortostan", org)], book, NOW)
    state.begin()
    process_batch(state, [registered("bashkortostan", org.model_copy(update={"level": "federal"}))],
                  book, NOW)  # fmt: skip
    state.rollback()
    out = process_batch(state, [snapshot(org, "Коротко")], book, NOW)
    assert {p for p, _, _ in checked(out, org.org_id).values()} == {"bashkortostan-2025"}


# --- gospublic check ------------------------------------------------------------------------------


def run_check(tmp_path: Path, capsys, *extra: str) -> dict:
    group = {
        "id": 1, "name": "Школа", "screen_name": "s", "is_closed": 0, "wall": 1,
        "description": "Официальная страница школы. Новости и объявления для родителей.",
    }  # fmt: skip
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"response": {"groups": [group]}}), encoding="utf-8")
    argv = ["check", "--group", str(path), "--now", NOW.isoformat(), "--format", "json", *extra]
    code = check.run(Settings(_env_file=None), build_parser().parse_args(argv))
    assert code in (0, 1)
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((), "dialog-default"),
        (("--region", "bashkortostan"), "bashkortostan-2025"),
        (("--region", "bashkortostan", "--org-level", "federal"), "federal-min"),
        (("--org-level", "Federal"), "federal-min"),
        (("--region", "bashkortostan", "--profile", "foundation"), "foundation"),
    ],
)
def test_check_uses_the_assigned_profile_unless_one_is_named(
    tmp_path, capsys, extra, expected
) -> None:
    document = run_check(tmp_path, capsys, *extra)
    assert document["profile"] == expected
    assert {v["rule"] for v in document["verdicts"]} == set(load_profile(expected).enabled_rules)


def test_check_takes_another_assignment_file(tmp_path, capsys) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("assign:\n  - {sphere: culture, profile: foundation}\n", encoding="utf-8")
    document = run_check(
        tmp_path, capsys, "--profile-assignment", str(path), "--org-sphere", "culture"
    )
    assert document["profile"] == "foundation"
