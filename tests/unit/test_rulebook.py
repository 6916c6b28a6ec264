"""The one catalogue of rule texts: every rule has a Russian title, a norm in words and a fix."""

from __future__ import annotations

import re

import pytest

from gospublic import rulebook as book
from services.evaluator import rules as r
from services.evaluator.profiles import available_profiles, load_profile
from services.notifier import email as mail

CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


@pytest.mark.parametrize(
    ("n", "word"),
    [
        (0, "постов"), (1, "пост"), (2, "поста"), (4, "поста"), (5, "постов"), (11, "постов"),
        (12, "постов"), (14, "постов"), (21, "пост"), (22, "поста"), (25, "постов"),
        (101, "пост"), (111, "постов"), (1.5, "поста"),
    ],
)  # fmt: skip
def test_plural(n: float, word: str) -> None:
    assert book.plural(n, "пост", "поста", "постов") == word


def test_counted_and_genitive_after_a_comparison() -> None:
    assert book.counted(1, "пост", "поста", "постов") == "1 пост"
    assert book.counted(1.5, "пост", "поста", "постов") == "1,5 поста"
    assert book.at_least(3, "поста", "постов") == "3 постов"
    assert book.at_least(1, "поста", "постов") == "1 поста"
    assert book.at_least(21, "поста", "постов") == "21 поста"
    assert book.at_least(2.5, "поста", "постов") == "2,5 поста"


def test_every_rule_has_a_russian_title_a_norm_and_a_fix() -> None:
    assert set(book.RULEBOOK) == set(r.RULES)
    for rule, text in book.RULEBOOK.items():
        assert CYRILLIC.search(text.title), rule
        assert CYRILLIC.search(text.fix), rule
        assert CYRILLIC.search(text.norm(None)), rule


@pytest.mark.parametrize("name", available_profiles())
def test_every_norm_renders_from_every_shipped_profile(name: str) -> None:
    profile = load_profile(name)
    for rule in profile.enabled_rules:
        words = book.norm(rule, profile.rule(rule))
        assert CYRILLIC.search(words), (name, rule)
        # Words, not the settings' notation.
        assert not re.search(r"[<>{}]|\bin\b|\d+d\b|/нед", words), (name, rule, words)


def test_norms_follow_the_profile() -> None:
    default = load_profile("dialog-default")
    frequency = book.norm("LOW_FREQUENCY", default.rule("LOW_FREQUENCY"))
    floor = default.rule("LOW_FREQUENCY").min_posts_per_week
    assert f"не реже {book.number(floor)} собственн" in frequency and "в неделю" in frequency
    sla = default.rule("UNANSWERED_COMMENT")
    expected = "рабочих часов" if sla.working_hours else "часов"
    assert f"не позже {book.number(sla.hours)} {expected}" in book.norm("UNANSWERED_COMMENT", sla)


def test_the_e_mail_reads_the_same_catalogue() -> None:
    for rule in r.RULES:
        assert mail.rule_title(rule) == book.title(rule)
        assert mail.rule_fix(rule) == book.fix(rule)
    assert mail.plural is book.plural


def test_statuses_and_severities_in_russian() -> None:
    assert [book.status_title(s) for s in (r.PASS, r.FAIL, r.NOT_EVALUABLE)] == [
        "выполнено", "НАРУШЕНИЕ", "не проверяется",
    ]  # fmt: skip
    assert [book.severity_title(s) for s in ("critical", "high", "medium", "low", "info")] == [
        "критично", "высокая", "средняя", "низкая", "инфо",
    ]  # fmt: skip


LAW_FIRST = (
    "DESCRIPTION_MISSING", "DESCRIPTION_NO_GOALS", "CONTACT_PHONE_MISSING", "CONTACT_EMAIL_MISSING",
    "ADDRESS_MISSING",
)  # fmt: skip


@pytest.mark.parametrize("rule", LAW_FIRST)
def test_rules_from_the_law_cite_the_law_before_the_methodology(rule: str) -> None:
    basis = r.RULES[rule].basis
    assert basis.startswith("Федеральный закон от 09.02.2009 № 8-ФЗ")
    assert "270-ФЗ" in basis and "№ 1933" in basis
    assert basis.index("№ 1933") < basis.index("методика")


@pytest.mark.parametrize("name", ["dialog-default", "bashkortostan-2025"])
def test_goals_and_tasks_are_more_than_a_cosmetic_finding(name: str) -> None:
    # The law asks for them; only the avatar and the cover stay "low".
    goals = load_profile(name).rule("DESCRIPTION_NO_GOALS")
    assert goals is not None and goals.severity != "low"


def test_foreign_messengers_cite_both_laws() -> None:
    basis = r.RULES["FOREIGN_MESSENGER_SERVICE"].basis
    assert "№ 149-ФЗ" in basis and "№ 41-ФЗ" in basis and "01.06.2025" in basis


def test_each_rule_feeds_a_criterion_of_the_scorecard_or_none() -> None:
    from services.evaluator.scorecard import CRITERIA

    assert tuple(book.CRITERION_TITLES) == CRITERIA
    assert set(book.RULE_CRITERION) <= set(book.RULEBOOK)
    assert set(book.RULE_CRITERION.values()) <= set(CRITERIA)
    fed = set(book.RULE_CRITERION.values())
    # Only the register's column and the views feed the table without a rule.
    assert set(CRITERIA) - fed == {"connection", "reach_week", "reach_post"}


def test_check_names_the_criterion_a_violation_costs(tmp_path, capsys) -> None:
    import json

    from gospublic.apps import check
    from gospublic.apps.cli import build_parser
    from gospublic.settings import Settings

    group = tmp_path / "group.json"
    group.write_text(json.dumps([{"id": 1, "name": "Школа", "is_closed": 0, "description": ""}]))
    argv = ["check", "--group", str(group), "--now", "2026-12-01T12:00+03:00"]
    assert check.run(Settings(_env_file=None), build_parser().parse_args(argv)) == 1
    assert "В оценочной таблице: Оформление: описание" in capsys.readouterr().out
    check.run(Settings(_env_file=None), build_parser().parse_args([*argv, "--format", "json"]))
    verdicts = {v["rule"]: v for v in json.loads(capsys.readouterr().out)["verdicts"]}
    assert verdicts["DESCRIPTION_MISSING"]["criterion"] == "description"
    assert verdicts["CONTACT_PHONE_MISSING"]["criterion"] is None
