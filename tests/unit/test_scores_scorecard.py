"""The digest's scorecard comes with the scores: each ScoresUpdated carries the organisation's
current card (the notifier keeps only the latest event), and a card that changes alone is published."""

from __future__ import annotations

from datetime import timedelta

from test_evaluator_handlers import ORG_A, T0, organisation, posts, registered, snapshot

from gospublic.contracts import Platform, ScoresUpdated, decode
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState

PROFILE = load_profile("dialog-default")


def test_scores_carry_the_organisations_current_scorecard() -> None:
    assert PROFILE.scorecard is not None
    state = EvaluatorState()
    first = process_batch(
        state, [registered(organisation(ORG_A, (Platform.VK, "club100")))], PROFILE, T0
    )
    (event,) = first.scores
    assert event.scorecard is not None and event.scorecard.version == PROFILE.scorecard.version
    before = event.scorecard
    assert before.out_of == sum(PROFILE.scorecard.weights.values())

    at = T0 + timedelta(hours=1)
    out = process_batch(state, [snapshot(at), posts(at, timedelta(days=1))], PROFILE, at)
    (event,) = out.scores
    card = event.scorecard
    assert card is not None and card.total > before.total
    assert card.colour in ("green", "yellow", "red")
    assert decode(event.to_bytes()) == ScoresUpdated.model_validate(event.model_dump(by_alias=True))

    # The same observations again: neither the scores nor the card changed, nothing goes out.
    later = at + timedelta(minutes=5)
    again = process_batch(state, [snapshot(later), posts(later, timedelta(days=1))], PROFILE, later)
    assert again.scores == []


def test_a_scorecard_that_changes_alone_is_published() -> None:
    state = EvaluatorState()
    org = organisation(ORG_A, (Platform.VK, "club100"))
    (first,) = process_batch(state, [registered(org)], PROFILE, T0).scores
    # The register now says the body is connected to «Госпаблики»: the scores stay, the card moves.
    later = T0 + timedelta(hours=1)
    connected = org.model_copy(update={"gospubliki": True})
    (event,) = process_batch(state, [registered(connected, at=later)], PROFILE, later).scores
    assert event.scores == first.scores
    assert event.scorecard.total == first.scorecard.total + PROFILE.scorecard.weights["connection"]
