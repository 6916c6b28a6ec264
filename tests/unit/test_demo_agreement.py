"""The demo's agreement table: MAX channels are compared apart, for the rules the ground truth
plants on them, and their other verdicts stay out of every row."""

from __future__ import annotations

from gospublic.apps.demo import agreement_with_truth, planted_rules
from gospublic.apps.report import Findings, Violation


def violation(platform: str, page_id: str, rule: str, severity: str) -> Violation:
    return Violation("1", "Школа", "Лиски", "Отдел", platform, page_id, "", rule, severity, "")


def truth_row(platform: str, page_id: str, rule: str, severity: str) -> dict[str, str]:
    return {
        "org_id": "1",
        "platform": platform,
        "page_id": page_id,
        "rule": rule,
        "severity": severity,
    }


TRUTH = {
    "violations": [
        truth_row("vk", "100", "STALE", "high"),
        truth_row("max", "-72000000000001", "STALE", "critical"),
        truth_row("max", "school_gos", "PAGE_NOT_CONNECTED", "medium"),
    ],
    "counts": {"STALE": 1, "DESCRIPTION_MISSING": 0},
    "platform_counts": {"max": {"PAGE_NOT_CONNECTED": 1, "STALE": 1}},
}


def test_max_rules_have_rows_of_their_own() -> None:
    assert planted_rules(TRUTH) == [
        "DESCRIPTION_MISSING",
        "PAGE_NOT_CONNECTED (MAX)",
        "STALE",
        "STALE (MAX)",
    ]


def test_max_findings_count_only_in_the_max_rows() -> None:
    findings = Findings(
        organisations=1,
        pages=2,
        violations=[
            violation("vk", "100", "STALE", "high"),
            violation("max", "-72000000000001", "STALE", "critical"),
            # Not planted on MAX: not compared, neither in its row nor in the VK one.
            violation("max", "-72000000000001", "DESCRIPTION_MISSING", "high"),
        ],
    )
    agreement = agreement_with_truth(findings, TRUTH)
    assert sorted(agreement) == planted_rules(TRUTH)
    row = {"truth": 1, "found": 1, "missing": 0, "extra": 0}
    assert agreement["STALE"] == agreement["STALE (MAX)"] == row
    assert agreement["DESCRIPTION_MISSING"] == {"truth": 0, "found": 0, "missing": 0, "extra": 0}
    assert agreement["PAGE_NOT_CONNECTED (MAX)"] == {
        "truth": 1,
        "found": 0,
        "missing": 1,
        "extra": 0,
    }


def test_a_max_stale_finding_on_a_vk_truth_is_extra_in_the_max_row_only() -> None:
    findings = Findings(
        organisations=1,
        pages=2,
        violations=[
            violation("vk", "100", "STALE", "high"),
            violation("max", "-72000000000001", "STALE", "medium"),
            violation("max", "school_gos", "PAGE_NOT_CONNECTED", "medium"),
        ],
    )
    agreement = agreement_with_truth(findings, TRUTH)
    assert agreement["STALE"]["extra"] == agreement["STALE"]["missing"] == 0
    assert (agreement["STALE (MAX)"]["missing"], agreement["STALE (MAX)"]["extra"]) == (1, 1)


def test_copied_content_is_compared_on_max_only() -> None:
    """The truth plants COPIED_CONTENT on MAX channels copying the body's VK page; the VK page's
    own verdict of the rule is not planted, so it counts in no row."""
    truth = {
        "violations": [truth_row("max", "-72000000000002", "COPIED_CONTENT", "low")],
        "counts": {"STALE": 0},
        "platform_counts": {"max": {"STALE": 0, "COPIED_CONTENT": 1}},
    }
    findings = Findings(
        organisations=1,
        pages=2,
        violations=[
            violation("max", "-72000000000002", "COPIED_CONTENT", "low"),
            violation("vk", "100", "COPIED_CONTENT", "low"),
        ],
    )
    agreement = agreement_with_truth(findings, truth)
    assert sorted(agreement) == ["COPIED_CONTENT (MAX)", "STALE", "STALE (MAX)"]
    assert agreement["COPIED_CONTENT (MAX)"] == {"truth": 1, "found": 1, "missing": 0, "extra": 0}
