"""Posts and comments: the part of a batch step for the events that carry a page's content."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from gospublic.contracts import CommentsObserved, PostsObserved, is_pushed

from . import copies
from . import rules as r
from .profiles import Profile
from .rows import Same
from .state import PageState
from .verdicts import epoch_ms
from .workcal import WorkCalendar

# Post fields in TABLE_COLUMNS order between posted_at and text_len.
_POST_FLAGS = attrgetter(
    "is_own", "is_repost", "is_pinned", "comments_open", "comments_count", "likes", "reposts",
    "views",
)  # fmt: skip


class ContentEvents:
    """``PostsObserved`` and ``CommentsObserved``; part of ``handlers.Step``."""

    def posts(self, event: PostsObserved) -> None:
        if is_pushed(event):
            return  # one post, not the wall: the next sweep's reading carries it with the rest
        key, previous, org = self._page(event)
        at, sweep = event.observed_at, event.sweep_id
        platform = event.platform.value
        page_id = event.page_id
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        posts = event.posts
        posted = r.posted_ms(posts)
        if posts:
            self.out.rows["post_observations"].extend(
                len(posts),
                (
                    Same(epoch_ms(at)), Same(sweep), Same(platform), Same(page_id), Same(org_id),
                    [p.post_id for p in posts], posted,
                    *zip(*map(_POST_FLAGS, posts), strict=True),
                    [len(p.text) for p in posts],
                ),
            )  # fmt: skip
        level = org.level if org else ""
        results = r.evaluate_activity(event, self.profile, at, posted, level)
        last = previous.posts_observed_at if previous else None
        current = last is None or at >= last
        base = previous or PageState(org_id, page_id, r.UNKNOWN)
        evidence = tuple((e.rule, e.found) for e in r.posts_evidence(event, self.profile))
        new = replace(
            base, page_id=base.page_id or page_id, posts_observed_at=at, posts_evidence=evidence
        )
        engagement = rank = None
        if current:
            results.extend(self._evidence_results(new, base.profile_evidence, evidence))
            rate = r.engagement_rate(event, base.members)
            cohort = (platform, level, org.sphere if org else "", self.state.region.get(org_id, ""))
            size = 0
            if rate is not None:
                self.state.set_engagement(key, cohort, rate)
                rank, size = self.state.cohort_rank(cohort, rate)
                engagement = rank
            shown = r.shown_note(event) if rate is not None else ""
            results.extend(r.evaluate_engagement(rate, rank, size, self.profile, platform, shown))
            results.extend(self._copies(org, org_id, platform, event, at))
        self._record(org, org_id, platform, page_id, results, at, sweep, transitions=current)
        if current:
            self.state.put_page(key, new)
            self._page_scores(
                org, org_id, platform, page_id, at,
                frequency=r.frequency_score(event, posted, at, self.profile, level, results),
                engagement=engagement,
                er=self.state.engagement[key][1] if key in self.state.engagement else None,
            )  # fmt: skip
            self._card_posts(org, key, event, posted, base.members, at)

    def _copies(
        self, org: Any, org_id: str, platform: str, event: PostsObserved, at: datetime
    ) -> list[r.RuleResult]:
        """COPIED_CONTENT for an organisation with pages on several platforms: this page's posts
        against the latest ones of its other pages (kept, bounded, in the state)."""
        if self.profile.rule(r.COPIED_CONTENT) is None or org is None:
            return []
        if len({p.platform for p in org.pages}) < 2:
            return []
        kept = copies.kept((p.posted_at, p.text) for p in event.posts)
        self.state.set_post_texts(org_id, platform, kept)
        found = copies.kept_originality(self.state.post_texts[org_id], platform, at)
        return r.evaluate_copied_content(found, self.profile)

    def comments(self, event: CommentsObserved) -> None:
        if is_pushed(event):
            return  # one comment, not the page's comments: rules read the next sweep's reading
        key, previous, org = self._page(event)
        at, sweep = event.observed_at, event.sweep_id
        platform = event.platform.value
        page_id = event.page_id
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        rows = self.out.rows["comments"]
        at_ms = epoch_ms(at)
        for c in event.comments:
            rows.append(
                (
                    at_ms, sweep, platform, page_id, org_id, c.post_id, c.comment_id, c.from_id,
                    c.author_kind, c.reply_to or "", epoch_ms(c.posted_at), len(c.text),
                )
            )  # fmt: skip
        tz = self.profile.calendar.timezone(self.state.region.get(org_id, ""))
        calendar = _calendar(self.profile)
        results = r.evaluate_comments(event, self.profile, at, calendar, tz)
        last = previous.comments_observed_at if previous else None
        current = last is None or at >= last
        self._record(org, org_id, platform, page_id, results, at, sweep, transitions=current)
        if current:
            base = previous or PageState(org_id, page_id, r.UNKNOWN)
            self.state.put_page(key, replace(base, comments_observed_at=at))
            response = r.response_score(event, self.profile, at, calendar, tz)
            self._page_scores(org, org_id, platform, page_id, at, response=response)


_CALENDARS: dict[tuple, WorkCalendar] = {}


def _calendar(profile: Profile) -> WorkCalendar:
    config = profile.calendar
    key = (config.office_start, config.office_end, config.country)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = _CALENDARS[key] = WorkCalendar(*key)
    return calendar
