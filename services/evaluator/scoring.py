"""Scores and scorecards: the part of a batch step that writes ``scores`` and ``scorecards`` and
publishes each organisation's changed scores once per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from gospublic.contracts import (
    SCORE_COMPONENTS,
    Organisation,
    OrgLabels,
    OrgScorecard,
    PostsObserved,
    ScoresUpdated,
    built,
    message_id,
)

from . import rules as r
from . import scorecard as sc
from .verdicts import ANY_PLATFORM, epoch_ms

_SCORES = ScoresUpdated.schema_id()
# Score components on a 0..1 scale in the scores table (design is a percentage already); "er",
# the raw engagement rate, is not a score and is not published.
_FRACTIONS = frozenset({"frequency", "engagement", "response", "compliance"})
_PUBLISHED = frozenset(SCORE_COMPONENTS)


class Scoring:
    """Scores and cards of the pages and organisations a batch touched; part of ``handlers.Step``,
    whose ``state``, ``profile``, ``out`` and ``_use`` it uses."""

    def _score(
        self,
        org: Organisation | None,
        org_id: str,
        platform: str,
        page_id: str,
        component: str,
        value: float | None,
        at: datetime,
    ) -> None:
        if value is None:
            return
        self.out.rows["scores"].append(
            (
                epoch_ms(at), self.profile.name, org_id, platform, page_id, component, float(value),
                self.state.region.get(org_id, ""), org.level if org else "",
                org.sphere if org else "", org.founder if org else "",
                org.municipality if org else "",
            )
        )  # fmt: skip
        # value == value: a NaN would make an event the notifier rejects.
        if org is not None and component in _PUBLISHED and value == value:
            self.state.set_score(org_id, platform, page_id, component, float(value))
            held = self._scored.get(org_id)
            if held is None or at > held[1]:
                self._scored[org_id] = (org, at)

    def _cards_of(self, org_id: str, org: Organisation) -> tuple[list[sc.Card], sc.Card] | None:
        """The pages' cards and the organisation's card from the facts held now (None: no
        scorecard in its profile); the profile in use is the organisation's afterwards."""
        self._use(org, org_id)
        if org_id not in self._cards:
            config = self.profile.scorecard
            if config is None:
                self._cards[org_id] = None
            else:
                connected = self.state.connected.get(org_id)
                pages = [
                    sc.score_page(config, facts, connected)
                    for page in org.pages
                    if (facts := self.state.card_facts.get(page.key)) is not None
                ]
                self._cards[org_id] = (pages, sc.score_org(config, pages, connected))
        return self._cards[org_id]

    def _org_scorecard(self, org_id: str, org: Organisation) -> OrgScorecard | None:
        """The organisation's scorecard as the digest shows it (None: no scorecard)."""
        cards = self._cards_of(org_id, org)
        if cards is None or self.profile.scorecard is None:
            return None
        card = cards[1]
        out_of = sum(card.maximum.values())
        if out_of <= 0:
            return None
        return OrgScorecard(
            total=card.total, out_of=out_of, colour=card.colour,
            version=self.profile.scorecard.version,
        )  # fmt: skip

    def publish_scores(self) -> None:
        """One ScoresUpdated per organisation scored or carded in the batch whose rounded scores
        or scorecard changed; each carries the organisation's current scorecard (the notifier
        keeps only the latest event per organisation)."""
        due = {**self._carded, **self._scored}
        for org_id, (org, at) in due.items():
            scores = org_scores(self.state.scores.get(org_id, ()))
            card = self._org_scorecard(org_id, org)
            shown = None if card is None else (card.total, card.out_of, card.colour, card.version)
            digest = hash((tuple(scores.items()), shown))
            if not scores or digest == self.state.published_scores.get(org_id):
                continue
            self.state.set_published_scores(org_id, digest)
            labels = built(
                OrgLabels,
                org_id=org_id, org_name=org.name, founder=org.founder,
                municipality=org.municipality, sphere=org.sphere, level=org.level,
            )  # fmt: skip
            self.out.scores.append(
                built(
                    ScoresUpdated,
                    schema_=_SCORES,
                    event_id=message_id("ScoresUpdated", org_id, at.isoformat(), scores, shown),
                    observed_at=at,
                    labels=labels,
                    scores=scores,
                    scored_at=at,
                    scorecard=card,
                )
            )  # fmt: skip

    def _compliance(self, org: Organisation) -> float:
        """Share of the profile's rules the organisation has no open violation of (info aside)."""
        total = self._rule_count
        return max(0.0, 1.0 - self.state.open_by_org.get(org.org_id, 0) / total) if total else 1.0

    def _page_scores(self, org: Organisation | None, org_id: str, platform: str, page_id: str,
                     at: datetime, **components: float | None) -> None:  # fmt: skip
        for component, value in components.items():
            self._score(org, org_id, platform, page_id, component, value, at)
        if org is not None:
            self._score(org, org_id, ANY_PLATFORM, "", "compliance", self._compliance(org), at)

    # --- scorecard -------------------------------------------------------------------------

    def _card_changed(self, org: Organisation | None, at: datetime) -> None:
        if org is None:
            return
        held = self._carded.get(org.org_id)
        if held is None or at > held[1]:
            self._carded[org.org_id] = (org, at)

    def _drop_card(self, org: Organisation | None, key: str, at: datetime) -> None:
        if key in self.state.card_facts:
            self.state.drop_card_facts(key)
            self._card_changed(org, at)

    def _card_facts(
        self, org: Organisation | None, key: str, at: datetime, facts: sc.PageFacts
    ) -> None:
        if self.profile.scorecard is None:
            return
        self.state.set_card_facts(key, facts)
        self._card_changed(org, at)

    def _card_posts(
        self,
        org: Organisation | None,
        key: str,
        event: PostsObserved,
        posted: Sequence[int],
        members: int | None,
        at: datetime,
    ) -> None:
        config = self.profile.scorecard
        if config is None:
            return
        now = epoch_ms(at)
        wall = r.Wall.of(event, posted)
        reach = r.page_reach(event, members, now, wall)
        # The wall's span as the rules read it: all of it, or from its oldest unpinned post on.
        since = None if wall.complete else wall.edge_ms
        week = (reach.views, reach.own_posts, reach.complete)
        own = [ms for _, ms in wall.own]
        facts = sc.post_facts(config, own, since, now, week)
        old = self.state.card_facts.get(key) or sc.PageFacts(event.platform.value, event.page_id)
        self._card_facts(org, key, at, replace(old, posts=facts))

    def write_scorecards(self) -> None:
        """The cards of each organisation whose facts changed in the batch, when they changed."""
        rows = self.out.rows["scorecards"]
        for org_id, (org, at) in self._carded.items():
            cards = self._cards_of(org_id, org)
            config = self.profile.scorecard
            if cards is None or config is None:
                continue
            connected = self.state.connected.get(org_id)
            pages, card = cards
            digest = hash((config.version, card.key(), *(p.key() for p in pages)))
            if digest == self.state.written_cards.get(org_id):
                continue
            self.state.set_written_cards(org_id, digest)
            head = (
                epoch_ms(at), sc.week_of(at), self.profile.name, config.version,
                self.state.region.get(org_id, ""), org_id, org.name, org.level, org.founder,
                org.municipality, org.sphere,
            )  # fmt: skip
            facts_of = {page.key: self.state.card_facts.get(page.key) for page in org.pages}
            by_page = {(f.platform, f.page_id): sc.facts_map(f) for f in facts_of.values() if f}
            if connected is not None:
                by_page[(sc.ANY_PLATFORM, "")] = {"connection": float(connected)}
            for one in (card, *pages):
                rows.append(
                    (
                        *head, one.platform, one.page_id, one.total, one.colour, one.points,
                        one.maximum, list(one.not_evaluable),
                        by_page.get((one.platform, one.page_id), {}),
                    )
                )  # fmt: skip


def org_scores(scores: tuple) -> dict[str, float]:
    """An organisation's components 0..100, rounded: the mean over its pages that have one.

    ``scores`` is the state's flat tuple: (platform, page_id, component, value, platform, ...).
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for i in range(2, len(scores), 4):
        component, value = scores[i], scores[i + 1]
        if component in _FRACTIONS:
            value *= 100
        if component in sums:
            sums[component] += value
            counts[component] += 1
        else:
            sums[component] = value
            counts[component] = 1
    out = {}
    for component in SCORE_COMPONENTS:  # one order, so equal scores compare and hash equal
        if component in sums:
            mean = sums[component] / counts[component]
            out[component] = round(100.0 if mean > 100 else 0.0 if mean < 0 else mean, 1)
    return out
