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

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gospublic.contracts import Severity

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


class RulesConfig(_Config):
    page_missing_any: RuleConfig | None = Field(None, alias="PAGE_MISSING_ANY")
    description_missing: DescriptionConfig | None = Field(None, alias="DESCRIPTION_MISSING")
    contact_phone_missing: RuleConfig | None = Field(None, alias="CONTACT_PHONE_MISSING")
    wall_closed: RuleConfig | None = Field(None, alias="WALL_CLOSED")
    stale: StaleConfig | None = Field(None, alias="STALE")


_FIELD_BY_RULE = {
    field.alias: name for name, field in RulesConfig.model_fields.items() if field.alias
}


class Profile(_Config):
    name: str = Field(min_length=1, max_length=64)
    title: str = ""
    rules: RulesConfig

    def rule(self, rule_id: str) -> RuleConfig | DescriptionConfig | StaleConfig | None:
        """The rule's settings when the profile enables it, else None."""
        config = getattr(self.rules, _FIELD_BY_RULE[rule_id])
        return config if config is not None and config.enabled else None

    @property
    def enabled_rules(self) -> list[str]:
        return [rule for rule in _FIELD_BY_RULE if self.rule(rule) is not None]


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {path}: cannot read: {exc}") from None
    return parse_profile(data, str(path), default_name=path.stem)
