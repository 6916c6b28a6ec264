"""What the evaluator remembers between events: organisations, page liveness, open violations.

It is rebuilt from ClickHouse at start (see ``store.load_state``), so a restart neither forgets an
open violation nor opens it again. Changes made while a batch is processed are journalled: if the
batch cannot be stored or its alerts cannot be published, ``rollback`` undoes them and the
redelivered messages produce the same transitions again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gospublic.contracts import AlertLabels, Organisation

from .rules import GONE, UNKNOWN

# (org_id, platform, page_id, rule): at most one open violation per slot; its severity is part of
# the violation's identity, so a change of severity closes one violation and opens another.
Slot = tuple[str, str, str, str]

_MISSING = object()
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PageState:
    org_id: str
    page_id: str
    liveness: str  # LIVE | GONE | UNKNOWN
    name: str = ""
    observed_at: datetime | None = None  # last observation that said something about liveness
    posts_observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenViolation:
    violation_id: str
    severity: str
    labels: AlertLabels
    opened_at: datetime
    summary: str


class EvaluatorState:
    def __init__(self) -> None:
        self.orgs: dict[str, Organisation] = {}
        self.org_by_page: dict[str, str] = {}  # page key (vk:club1) → org_id
        self.pages: dict[str, PageState] = {}  # page key → state
        self.open: dict[Slot, OpenViolation] = {}
        self.last_change = datetime(1970, 1, 1, tzinfo=UTC)
        self._journal: list[tuple[Any, Any, Any]] | None = None

    # --- transactions ----------------------------------------------------------------------

    def begin(self) -> None:
        self._journal = []

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        journal, self._journal = self._journal or [], None
        for target, key, old in reversed(journal):
            if target is self:
                setattr(self, key, old)
            elif old is _MISSING:
                target.pop(key, None)
            else:
                target[key] = old

    def _set(self, target: dict, key: Any, value: Any) -> None:
        if self._journal is not None:
            self._journal.append((target, key, target.get(key, _MISSING)))
        target[key] = value

    def _delete(self, target: dict, key: Any) -> None:
        if key not in target:
            return
        if self._journal is not None:
            self._journal.append((target, key, target[key]))
        del target[key]

    # --- changes ---------------------------------------------------------------------------

    def put_org(self, org: Organisation) -> None:
        old = self.orgs.get(org.org_id)
        if old is not None:
            for page in old.pages:
                if self.org_by_page.get(page.key) == org.org_id:
                    self._delete(self.org_by_page, page.key)
        self._set(self.orgs, org.org_id, org)
        for page in org.pages:
            self._set(self.org_by_page, page.key, org.org_id)

    def put_page(self, key: str, page: PageState) -> None:
        self._set(self.pages, key, page)

    def open_violation(self, slot: Slot, violation: OpenViolation) -> None:
        self._set(self.open, slot, violation)

    def close_violation(self, slot: Slot) -> None:
        self._delete(self.open, slot)

    def tick(self, now: datetime) -> datetime:
        """A strictly increasing change time, so the log orders transitions made in one instant."""
        changed = max(now, self.last_change + _TICK)
        if self._journal is not None:
            self._journal.append((self, "last_change", self.last_change))
        self.last_change = changed
        return changed

    # --- reads -----------------------------------------------------------------------------

    def org_for(self, org_id: str, page_key: str) -> Organisation | None:
        org = self.orgs.get(org_id)
        if org is None:
            other = self.org_by_page.get(page_key)
            org = self.orgs.get(other) if other else None
        return org

    def page_status(self, org: Organisation) -> dict[str, str]:
        """Page key → live/gone/unknown for the presence rule."""
        status = {}
        for page in org.pages:
            state = self.pages.get(page.key)
            status[page.key] = state.liveness if state is not None else UNKNOWN
        return status


def counts_as_present(liveness: str) -> bool:
    """Presence needs evidence against a page: only GONE counts as absent."""
    return liveness != GONE
