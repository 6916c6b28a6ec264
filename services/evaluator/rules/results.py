"""One verdict (``RuleResult``) and how every rule builds it: the rule's severity, verdicts a
platform's data cannot support made ``not_evaluable``; and the epoch-millisecond times the rules
compare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from gospublic.contracts import Post

from ..profiles import Profile
from .catalogue import FAIL, NOT_EVALUABLE, NOT_EXPOSED, RULES

DAY_S = 86_400.0
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


class RuleResult(NamedTuple):
    """One verdict. A named tuple rather than a frozen dataclass: a first national sweep builds
    some four million of them, and a tuple is built in a third of the time."""

    rule: str
    status: str  # PASS | FAIL | NOT_EVALUABLE
    severity: str
    value: str
    threshold: str
    basis: str
    summary: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def _result(rule: str, status: str, severity: str, value: object, threshold: object, summary: str):
    return RuleResult(
        rule, status, str(severity), str(value), str(threshold), RULES[rule].basis, summary
    )


def _severity(config: object) -> str:
    """A rule's severity for a verdict that is not a failure of a particular grade."""
    severity = getattr(config, "severity", None)
    if severity is not None:
        return str(severity)
    grades = getattr(config, "grades", None)
    if grades:
        return str(grades[-1].severity)
    return str(getattr(config, "closed_severity", "info"))


def _exposed(
    results: list[RuleResult], hidden: Mapping[str, str], partly: Mapping[str, str]
) -> list[RuleResult]:
    """The results, with those a platform's data cannot support made ``not_evaluable``."""
    out = []
    for x in results:
        reason = hidden.get(x.rule)
        if reason is None and x.status == FAIL:
            reason = partly.get(x.rule)
        if reason is not None:
            x = RuleResult(x.rule, NOT_EVALUABLE, x.severity, "", x.threshold, x.basis, reason)
        out.append(x)
    return out


def not_exposed(platform: str, rules: Iterable[str], profile: Profile) -> list[RuleResult]:
    """``not_evaluable`` verdicts for rules whose data the platform does not expose."""
    hidden = NOT_EXPOSED.get(platform, {})
    out = []
    for rule in rules:
        config = profile.rule(rule)
        if config is not None and rule in hidden:
            out.append(_result(rule, NOT_EVALUABLE, _severity(config), "", "", hidden[rule]))
    return out


def not_evaluable(rule: str, profile: Profile, reason: str) -> RuleResult | None:
    """A verdict for a rule whose data did not come at all (e.g. no comments were given)."""
    config = profile.rule(rule)
    if config is None:
        return None
    return _result(rule, NOT_EVALUABLE, _severity(config), "", "", reason)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


_last_epoch: tuple[datetime | None, int] = (None, 0)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, truncated as ClickHouse stores DateTime64(3).

    Rules compare these integers rather than the datetimes: comparing two aware datetimes whose
    tzinfo objects differ asks each for its offset, and the ones pydantic parses answer slowly.
    A naive time is taken as local time, as ``datetime.timestamp`` does.

    The same moment (an event's time) is asked for again and again, by each of its verdicts'
    rows and scores: the last answer is kept for it (a datetime never changes).
    """
    global _last_epoch
    last = _last_epoch
    if last[0] is moment:
        return last[1]
    ms = _epoch_ms(moment)
    _last_epoch = (moment, ms)
    return ms


def posted_ms(posts: Iterable[Post]) -> list[int]:
    # Each post's time once: no use keeping it.
    return [_epoch_ms(post.posted_at) for post in posts]


# How every rule writes a threshold or a figure in a summary: no trailing zeros ("2.5", "3").
def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")
