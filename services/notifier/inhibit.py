"""Inhibition: a firing source alert mutes the target alerts that share its ``equal`` labels.

The semantics are Alertmanager's (``inhibit/inhibit.go``):

- only a *firing* source inhibits; its resolution lifts the inhibition at once;
- a target must match ``target_matchers`` and carry the same values of the ``equal`` labels as some
  source (a label an alert lacks counts as empty);
- an alert that matches both sides is only muted by a source that does not itself match the target
  side, so two alerts of the same kind cannot mute each other (nor an alert itself).

Sources are indexed by their ``equal`` values when they arrive, so asking whether an alert is muted
costs one dictionary lookup per rule rather than a scan of every alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .subscriptions import InhibitRule

# Per rule: equal-label values → {source violation id: the source also matches the target side}.
_Index = dict[tuple[str, ...], dict[str, bool]]


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRule] = ()):
        self.rules = tuple(rules)
        self._sources: list[_Index] = [{} for _ in self.rules]
        self._indexed: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        self.version = 0  # bumped whenever the sources change, so callers may cache answers

    def observe(self, violation_id: str, labels: Mapping[str, str], firing: bool) -> None:
        """Record an alert's latest state; call for every alert event, firing or resolved."""
        self.forget(violation_id)
        if not firing:
            return
        places = []
        for position, rule in enumerate(self.rules):
            if rule.source_matches(labels):
                key = rule.equal_values(labels)
                both_sides = rule.target_matches(labels)
                self._sources[position].setdefault(key, {})[violation_id] = both_sides
                places.append((position, key))
        if places:
            self._indexed[violation_id] = places
            self.version += 1

    def forget(self, violation_id: str) -> None:
        places = self._indexed.pop(violation_id, ())
        if places:
            self.version += 1
        for position, key in places:
            sources = self._sources[position].get(key)
            if sources is not None:
                sources.pop(violation_id, None)
                if not sources:
                    del self._sources[position][key]

    def inhibiting_rule(self, labels: Mapping[str, str]) -> InhibitRule | None:
        """The first rule that mutes an alert with these labels, or None."""
        for position, rule in enumerate(self.rules):
            if not rule.target_matches(labels):
                continue
            sources = self._sources[position].get(rule.equal_values(labels))
            if not sources:
                continue
            if rule.source_matches(labels):
                # Two-sided: only a source that is not itself a target may mute this alert.
                if any(not both_sides for both_sides in sources.values()):
                    return rule
            else:
                return rule
        return None

    def mutes(self, labels: Mapping[str, str]) -> bool:
        return self.inhibiting_rule(labels) is not None

    @property
    def sources(self) -> int:
        return len(self._indexed)
