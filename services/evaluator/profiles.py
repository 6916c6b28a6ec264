"""Rule profiles: which rules run, with which severity and thresholds (YAML, never in code).

A profile file looks like::

    name: dialog-default
    title: ...
    rules:
      DESCRIPTION_MISSING: {enabled: true, severity: high, min_chars: 50}
      STALE:
        enabled: true
        no_own_posts_severity: critical
        grades: [{days: 7, severity: medium}, {days: 30, severity: high}, {days: 90, severity: critical}]

A rule that the file does not list is off. A listed rule needs every one of its fields, so a typo
fails loudly at start instead of silently falling back to some default.
"""

from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gospublic.contracts import Platform, Severity

from .scorecard import ScorecardConfig

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


class ProfileError(ValueError):
    """A profile that cannot be found or read; the message names the file and the field."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleConfig(_Config):
    enabled: bool
    severity: Severity


class DescriptionConfig(RuleConfig):
    min_chars: int = Field(ge=1, le=10_000)


class StaleGrade(_Config):
    days: float = Field(gt=0)
    severity: Severity


class StaleConfig(_Config):
    enabled: bool
    no_own_posts_severity: Severity
    grades: tuple[StaleGrade, ...] = Field(min_length=1)

    @field_validator("grades")
    @classmethod
    def _largest_first(cls, grades: tuple[StaleGrade, ...]) -> tuple[StaleGrade, ...]:
        days = [g.days for g in grades]
        if len(set(days)) != len(days):
            raise ValueError(f"two grades with the same number of days: {sorted(days)}")
        return tuple(sorted(grades, key=lambda g: g.days, reverse=True))


class PlatformsConfig(RuleConfig):
    """PAGE_MISSING_<PLATFORM>: one rule per platform the profile requires."""

    required: tuple[Platform, ...] = Field(min_length=1)


class PageNotPublicConfig(_Config):
    enabled: bool
    deleted_severity: Severity
    closed_severity: Severity


class SimilarityConfig(RuleConfig):
    min_similarity: float = Field(gt=0, le=1)


class KeywordsConfig(RuleConfig):
    keywords: tuple[str, ...] = Field(min_length=1)


class DesignConfig(RuleConfig):
    min_percent: float = Field(gt=0, le=100)
    # Section B rules and their weight in "Оформление %"; a rule the profile switched off or
    # that could not be evaluated is left out of both sides of the share.
    weights: dict[str, float] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [rule for rule, w in weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {bad}")
        return weights


class FrequencyConfig(RuleConfig):
    min_posts_per_week: float = Field(gt=0)
    weeks: int = Field(ge=1, le=52)
    # A higher floor for some levels of government (e.g. a regional government posts daily).
    by_level: dict[str, float] = Field(default_factory=dict)


class ShareConfig(RuleConfig):
    max_share: float = Field(ge=0, le=1)


class RepostConfig(ShareConfig):
    weeks: int = Field(ge=1, le=52)


class CommentsClosedConfig(ShareConfig):
    last_posts: int = Field(ge=1, le=100)


class EngagementConfig(RuleConfig):
    bottom_percent: float = Field(gt=0, lt=100)
    min_cohort: int = Field(ge=2)


class SlaConfig(RuleConfig):
    hours: float = Field(gt=0)
    working_hours: bool
    # Comments older than this are not judged again (they leave the observed window anyway).
    window_days: int = Field(ge=1, le=365)


class DeadlineWarningConfig(RuleConfig):
    """UNANSWERED_COMMENT_SOON: a warning once this share of UNANSWERED_COMMENT's SLA has passed
    without an answer; the SLA (hours, working hours, window) is UNANSWERED_COMMENT's own."""

    share: float = Field(0.75, gt=0, lt=1)


class MedianResponseConfig(RuleConfig):
    hours: float = Field(gt=0)
    working_hours: bool
    days: int = Field(ge=1, le=365)


class ReplyRateConfig(RuleConfig):
    min_share: float = Field(gt=0, le=1)
    within_days: float = Field(gt=0)


class DomainsConfig(RuleConfig):
    domains: tuple[str, ...] = Field(min_length=1)


class MessengerConfig(RuleConfig):
    # A page fails when one sentence both names a foreign messenger and offers a service or a
    # conversation there (149-FZ art. 10 parts 8–10; 41-FZ of 01.04.2025 since 2025-06-01): a
    # service that involves personal data or payment (``service_words``) or an invitation to write,
    # apply or sign up (``action_words``). A sentence about a channel to read (``channel_words``)
    # needs an invitation; a warning against such offers (``warning_words``) is none. A link
    # that opens a private chat (``chat_links``, and a Telegram bot's t.me/<name>bot) is one by
    # itself. Words match at the start of a word, so stems catch every inflection.
    messengers: tuple[str, ...] = Field(min_length=1)
    service_words: tuple[str, ...] = Field(min_length=1)
    action_words: tuple[str, ...] = ()
    channel_words: tuple[str, ...] = ()
    warning_words: tuple[str, ...] = ()
    chat_links: tuple[str, ...] = ()


class CommentsConfig(_Config):
    """What the comment rules (UNANSWERED_COMMENT, SLOW_RESPONSE_MEDIAN, LOW_REPLY_RATE) count as
    a citizen's request to the page."""

    # A comment by another community (a school or a fund under the district's post) is usually
    # one institution talking to another, not a request: counted only when the profile says so.
    community_comments_are_requests: bool = False


class CalendarConfig(_Config):
    """Office hours for SLAs counted in working hours; the time zone is the organisation's."""

    office_start: time = time(9, 0)
    office_end: time = time(18, 0)
    country: str = "RU"
    default_timezone: str = "Europe/Moscow"
    # Region code (as in the register) → IANA time zone, for regions off Moscow time.
    timezones: dict[str, str] = Field(default_factory=dict)

    def timezone(self, region: str) -> str:
        return self.timezones.get(region, self.default_timezone)


class RulesConfig(_Config):
    # A. Presence and identity
    page_missing_any: RuleConfig | None = Field(None, alias="PAGE_MISSING_ANY")
    page_missing_platform: PlatformsConfig | None = Field(None, alias="PAGE_MISSING_PLATFORM")
    org_exempt: RuleConfig | None = Field(None, alias="ORG_EXEMPT")
    off_list_only: RuleConfig | None = Field(None, alias="OFF_LIST_ONLY")
    page_not_public: PageNotPublicConfig | None = Field(None, alias="PAGE_NOT_PUBLIC")
    page_not_connected: RuleConfig | None = Field(None, alias="PAGE_NOT_CONNECTED")
    not_verified: RuleConfig | None = Field(None, alias="NOT_VERIFIED")
    widgets_missing: RuleConfig | None = Field(None, alias="WIDGETS_MISSING")
    widget_foreign_org: RuleConfig | None = Field(None, alias="WIDGET_FOREIGN_ORG")
    name_mismatch: SimilarityConfig | None = Field(None, alias="NAME_MISMATCH")
    # B. Profile completeness
    description_missing: DescriptionConfig | None = Field(None, alias="DESCRIPTION_MISSING")
    description_no_goals: KeywordsConfig | None = Field(None, alias="DESCRIPTION_NO_GOALS")
    contact_phone_missing: RuleConfig | None = Field(None, alias="CONTACT_PHONE_MISSING")
    contact_email_missing: RuleConfig | None = Field(None, alias="CONTACT_EMAIL_MISSING")
    address_missing: RuleConfig | None = Field(None, alias="ADDRESS_MISSING")
    website_link_missing: RuleConfig | None = Field(None, alias="WEBSITE_LINK_MISSING")
    avatar_missing: RuleConfig | None = Field(None, alias="AVATAR_MISSING")
    cover_missing: RuleConfig | None = Field(None, alias="COVER_MISSING")
    design_score_low: DesignConfig | None = Field(None, alias="DESIGN_SCORE_LOW")
    # C. Activity
    stale: StaleConfig | None = Field(None, alias="STALE")
    low_frequency: FrequencyConfig | None = Field(None, alias="LOW_FREQUENCY")
    repost_heavy: RepostConfig | None = Field(None, alias="REPOST_HEAVY")
    copied_content: RuleConfig | None = Field(None, alias="COPIED_CONTENT")
    low_engagement: EngagementConfig | None = Field(None, alias="LOW_ENGAGEMENT")
    # D. Feedback and comments
    wall_closed: RuleConfig | None = Field(None, alias="WALL_CLOSED")
    comments_closed_posts: CommentsClosedConfig | None = Field(None, alias="COMMENTS_CLOSED_POSTS")
    unanswered_comment: SlaConfig | None = Field(None, alias="UNANSWERED_COMMENT")
    unanswered_comment_soon: DeadlineWarningConfig | None = Field(
        None, alias="UNANSWERED_COMMENT_SOON"
    )
    slow_response_median: MedianResponseConfig | None = Field(None, alias="SLOW_RESPONSE_MEDIAN")
    low_reply_rate: ReplyRateConfig | None = Field(None, alias="LOW_REPLY_RATE")
    # E. Content and safety
    banned_platform_links: DomainsConfig | None = Field(None, alias="BANNED_PLATFORM_LINKS")
    foreign_messenger_service: MessengerConfig | None = Field(
        None, alias="FOREIGN_MESSENGER_SERVICE"
    )


_FIELD_BY_RULE = {
    field.alias: name for name, field in RulesConfig.model_fields.items() if field.alias
}


class Profile(_Config):
    name: str = Field(min_length=1, max_length=64)
    title: str = ""
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    comments: CommentsConfig = Field(default_factory=CommentsConfig)
    rules: RulesConfig
    # The regional centre's scorecard (criteria, weights, bands, colours); None: no scorecard.
    scorecard: ScorecardConfig | None = None

    @model_validator(mode="after")
    def _design_weights_name_rules(self) -> Profile:
        design = self.rules.design_score_low
        if design is not None:
            unknown = sorted(set(design.weights) - DESIGN_RULES)
            if unknown:
                raise ValueError(
                    f"DESIGN_SCORE_LOW.weights: {unknown} are not section B rules "
                    f"({', '.join(sorted(DESIGN_RULES))})"
                )
        return self

    def rule(self, rule_id: str) -> Any:
        """The rule's settings when the profile enables it, else None.

        ``PAGE_MISSING_VK`` and its siblings share the ``PAGE_MISSING_PLATFORM`` settings and are
        on for the platforms it lists.
        """
        try:
            return self._enabled[rule_id]
        except KeyError:
            return None

    @cached_property
    def _enabled(self) -> dict[str, Any]:
        # Looked up for every rule of every event: resolved once per profile.
        ids = [*_FIELD_BY_RULE, *(platform_rule(p) for p in Platform)]
        return {rule: c for rule in ids if (c := self._lookup(rule)) is not None}

    def _lookup(self, rule_id: str) -> Any:
        if rule_id.startswith(_PLATFORM_RULE_PREFIX) and rule_id != "PAGE_MISSING_ANY":
            config = self.rules.page_missing_platform
            if config is None or not config.enabled:
                return None
            platform = rule_id[len(_PLATFORM_RULE_PREFIX) :].lower()
            return config if platform in config.required else None
        field = _FIELD_BY_RULE.get(rule_id)
        if field is None:
            return None
        config = getattr(self.rules, field)
        return config if config is not None and config.enabled else None

    @property
    def enabled_rules(self) -> list[str]:
        out = []
        for rule in _FIELD_BY_RULE:
            config = self.rule(rule) if rule != "PAGE_MISSING_PLATFORM" else None
            if config is not None:
                out.append(rule)
        platforms = self.rules.page_missing_platform
        if platforms is not None and platforms.enabled:
            out.extend(platform_rule(p) for p in platforms.required)
        return out


_PLATFORM_RULE_PREFIX = "PAGE_MISSING_"
# Section B ("оформление"): the rules whose weighted pass share is "Оформление %".
DESIGN_RULES = frozenset(
    {
        "DESCRIPTION_MISSING",
        "DESCRIPTION_NO_GOALS",
        "CONTACT_PHONE_MISSING",
        "CONTACT_EMAIL_MISSING",
        "ADDRESS_MISSING",
        "WEBSITE_LINK_MISSING",
        "AVATAR_MISSING",
        "COVER_MISSING",
    }
)


def platform_rule(platform: Platform | str) -> str:
    return f"{_PLATFORM_RULE_PREFIX}{Platform(platform).value.upper()}"


def available_profiles(profiles_dir: Path | None = None) -> list[str]:
    directory = profiles_dir or PROFILES_DIR
    return sorted(p.stem for p in directory.glob("*.yaml"))


def parse_profile(data: Any, source: str, default_name: str = "") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(
            f"profile {source}: expected a mapping at the top, got {type(data).__name__}"
        )
    if "name" not in data and default_name:
        data = {**data, "name": default_name}
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ProfileError(f"profile {source}: {problems}") from None


def load_profile(name: str, profiles_dir: Path | None = None) -> Profile:
    """Load a profile by name from ``profiles_dir`` (default: the shipped ones) or by file path."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        path = candidate
    else:
        path = (profiles_dir or PROFILES_DIR) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_profiles(profiles_dir)) or "none"
        raise ProfileError(f"profile {name!r} not found at {path}; available: {known}")
    return parse_profile(read_yaml(path, "profile"), str(path), default_name=path.stem)


def read_yaml(path: Path, what: str) -> Any:
    """A configuration file's YAML, or a ProfileError naming ``what`` and the path."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{what} {path}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{what} {path}: cannot read: {exc}") from None
