"""Verdicts into check results and violation transitions: the part of a batch step that opens and
resolves violations (rows of ``check_results`` and ``violations``, and the alerts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from hashlib import sha256
from typing import Any

from gospublic.contracts import (
    AlertLabels,
    Organisation,
    Severity,
    ViolationOpened,
    ViolationResolved,
    built,
    message_id,
)
from gospublic.platforms.descriptor import descriptor

from . import rules as r
from .rows import Same
from .state import _LABEL_FIELDS, OpenViolation, Slot

ANY_PLATFORM = "any"
_OPENED = ViolationOpened.schema_id()
_RESOLVED = ViolationResolved.schema_id()
# ``_label_values`` and ``_page_labels`` write the labels in this order, which ``OpenViolation``
# relies on.
assert _LABEL_FIELDS == (
    "org_id", "org_name", "founder", "municipality", "sphere", "level", "platform", "page_id",
    "page_url", "rule", "severity",
)  # fmt: skip


def page_url(platform: str, page_id: str) -> str:
    """Where a person opens the page: its platform's descriptor says."""
    if not page_id:
        return ""
    try:
        return descriptor(platform).page_url(page_id)
    except KeyError:
        return ""


epoch_ms = r.epoch_ms


def violation_id(org_id: str, platform: str, page_id: str, rule: str, severity: str) -> str:
    return message_id(org_id, platform, page_id, rule, severity)


def hashed_id(*parts: str) -> str:
    """``message_id(*parts)`` for parts that are strings already (a ``StrEnum`` member joins as
    its value, as ``str`` gives it), without a ``str()`` call per part: a first sweep makes two
    of these per violation it opens."""
    return sha256("\x1f".join(parts).encode()).hexdigest()[:32]


_SEVERITIES = {s.value: s for s in Severity}


class Verdicts:
    """Records verdicts and the transitions they make; part of ``handlers.Step``, whose
    ``state``, ``profile``, ``now`` and ``out`` it uses."""

    def _label_values(self, org: Organisation | None, slot: Slot, severity: str) -> dict[str, Any]:
        """``AlertLabels``' values, in its field order (``OpenViolation`` keeps them as a tuple)."""
        org_id, platform, page_id, rule = slot
        return {
            "org_id": org_id,
            "org_name": org.name if org else "",
            "founder": org.founder if org else "",
            "municipality": org.municipality if org else "",
            "sphere": org.sphere if org else "",
            "level": org.level if org else "",
            "platform": platform,
            "page_id": page_id,
            "page_url": page_url(platform, page_id),
            "rule": rule,
            "severity": Severity(severity),
        }

    def _labels(self, org: Organisation | None, slot: Slot, severity: str) -> AlertLabels:
        # Built from validated events and the profile: constructed, not validated again (a first
        # sweep opens hundreds of thousands of these).
        return built(AlertLabels, **self._label_values(org, slot, severity))

    def _iso(self, at: datetime) -> str:
        """``at.isoformat()``, once for the several verdicts of an event observed at ``at``."""
        if self._iso_of[0] is not at:
            self._iso_of = (at, at.isoformat())
        return self._iso_of[1]

    _iso_of: tuple[datetime | None, str] = (None, "")

    def _page_labels(self, org: Organisation | None, slot: Slot) -> tuple[str, ...]:
        """The labels a page's violations share (all but rule and severity), in ``AlertLabels``
        order; made once for the several verdicts of one event."""
        org_id, platform, page_id, _ = slot
        held = self._page_labels_of
        if held[0] is org and held[1] == (org_id, platform, page_id):
            return held[2]
        labels = (
            org_id,
            org.name if org else "",
            org.founder if org else "",
            org.municipality if org else "",
            org.sphere if org else "",
            org.level if org else "",
            platform,
            page_id,
            page_url(platform, page_id),
        )
        self._page_labels_of = (org, (org_id, platform, page_id), labels)
        return labels

    _page_labels_of: tuple[Any, tuple[str, str, str], tuple[str, ...]] = (None, ("", "", ""), ())

    def _open(self, org: Organisation | None, slot: Slot, result: r.RuleResult, at: datetime):
        severity = result.severity
        values = (
            *self._page_labels(org, slot),
            slot[3],
            _SEVERITIES.get(severity) or Severity(severity),
        )
        labels = built(AlertLabels, **dict(zip(_LABEL_FIELDS, values, strict=True)))
        vid = hashed_id(*slot, severity)  # violation_id(org_id, platform, page_id, rule, severity)
        value, threshold = result.value[:500], result.threshold[:500]
        event = built(
            ViolationOpened,
            schema_=_OPENED,
            event_id=hashed_id("ViolationOpened", vid, self._iso(at)),
            observed_at=at,
            violation_id=vid,
            labels=labels,
            summary=result.summary[:5000],
            basis=result.basis[:2000],
            value=value,
            threshold=threshold,
            opened_at=at,
        )
        self.state.open_violation(slot, OpenViolation(vid, severity, values, at))
        self.out.alerts.append(event)
        self.out.rows["violations"].append(
            (
                vid, "open", *values[:-2], slot[3], severity, result.summary, result.basis,
                result.value, result.threshold, at, None, self.state.tick(self.now),
            )
        )  # fmt: skip

    def _resolve(self, slot: Slot, current: OpenViolation, at: datetime, summary: str) -> None:
        labels = current.labels
        event = built(
            ViolationResolved,
            schema_=_RESOLVED,
            event_id=message_id("ViolationResolved", current.violation_id, self._iso(at)),
            observed_at=at,
            violation_id=current.violation_id,
            labels=labels,
            summary=summary[:5000],
            opened_at=current.opened_at,
            resolved_at=at,
        )
        self.state.close_violation(slot)
        self.out.alerts.append(event)
        self.out.rows["violations"].append(
            (
                current.violation_id, "resolved", labels.org_id, labels.org_name, labels.founder,
                labels.municipality, labels.sphere, labels.level, labels.platform, labels.page_id,
                labels.page_url, labels.rule, current.severity, summary, "", "", "",
                current.opened_at, at, self.state.tick(self.now),
            )
        )  # fmt: skip

    def _transition(
        self, org: Organisation | None, slot: Slot, result: r.RuleResult, at: datetime
    ) -> None:
        current = self.state.open.get(slot)
        if result.status == r.FAIL:
            if current is not None and current.severity == result.severity:
                return
            if current is not None:
                self._resolve(
                    slot, current, at,
                    f"Уровень нарушения изменился на «{result.severity}»: {result.summary}",
                )  # fmt: skip
            self._open(org, slot, result, at)
        elif result.status == r.PASS and current is not None:
            self._resolve(slot, current, at, f"Нарушение устранено. {result.summary}")

    def _record(
        self,
        org: Organisation | None,
        org_id: str,
        platform: str,
        page_id: str,
        results: Iterable[r.RuleResult],
        at: datetime,
        sweep_id: str,
        *,
        transitions: bool = True,
        resolve_open: bool = False,
    ) -> None:
        results = results if isinstance(results, list) else list(results)
        if not results:
            return
        if self.out.verdicts is not None:
            self.out.verdicts.extend((org_id, platform, page_id, x) for x in results)
        # The check results go in as columns: the event's values once, the verdicts' fields
        # (a RuleResult starts with rule, status, severity, value, threshold) transposed in C.
        rule, status, severity, value, threshold, _, _ = zip(*results, strict=True)
        self._checks.extend(
            len(results),
            (
                Same(epoch_ms(at)), Same(sweep_id), Same(self.profile.name), Same(org_id),
                Same(platform), Same(page_id), rule, status, severity, value, threshold,
            ),
        )  # fmt: skip
        if not transitions:
            return
        for result in results:
            slot = (org_id, platform, page_id, result.rule)
            if resolve_open:
                current = self.state.open.get(slot)
                if current is not None:
                    self._resolve(slot, current, at, result.summary)
            else:
                self._transition(org, slot, result, at)

    def _resolve_under(
        self, org_id: str, platform: str, old_id: str, results: list[r.RuleResult], at: datetime
    ) -> None:
        """A page known until now only by its register id (unavailable before any snapshot: a
        MAX channel the bot was not in, a VK page gone) now has the platform's id: what opened
        under the register id is judged under the new one from now on, so it resolves there."""
        summaries = {x.rule: x.summary for x in results}
        stale = [slot for slot in self.state.open if slot[:3] == (org_id, platform, old_id)]
        for slot in stale:
            summary = summaries.get(slot[3], "Страница снова доступна.")
            self._resolve(slot, self.state.open[slot], at, summary)

    def _presence(self, org: Organisation, at: datetime, sweep_id: str = "") -> None:
        results = r.evaluate_presence(org, self.state.page_status(org), self.profile)
        self._record(org, org.org_id, ANY_PLATFORM, "", results, at, sweep_id)
        self._score(org, org.org_id, ANY_PLATFORM, "", "compliance", self._compliance(org), at)
