"""Which rule profile an organisation is checked with: per region, level or sphere (YAML).

An assignment file looks like::

    assign:
      - {region: bashkortostan, profile: bashkortostan-2025}
      - {level: federal, profile: federal-min}
      - {region: bashkortostan, level: federal, profile: federal-min}

An entry matches an organisation when every key it names (``region``, ``level``, ``sphere``) equals
the organisation's; an organisation no entry matches gets the default profile (``GOSPUBLIC_PROFILE``,
``dialog-default``). When several entries match, the most specific wins: the one naming more keys;
between entries naming as many, level before region before sphere — the law's obligations follow
the level of government, and a regional act binds the region's own bodies and institutions, of
every sphere. Two entries with the same keys and values are an error, so the winner is never a
matter of order in the file.

Resolution runs once per organisation: ``ProfileBook.for_org`` keeps the answer next to the
organisation it was computed for and computes it again only when the register replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gospublic.contracts import Organisation
from gospublic.registry import LEVELS

from .profiles import Profile, ProfileError, load_profile, read_yaml

ASSIGNMENT_FILE = Path(__file__).resolve().parent / "assignment.yaml"
# Keys an entry may match on, most decisive first (see the module docstring).
MATCH_KEYS = ("level", "region", "sphere")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = Field(None, min_length=1, max_length=64)
    level: str | None = Field(None, min_length=1, max_length=64)
    sphere: str | None = Field(None, min_length=1, max_length=64)
    profile: str = Field(min_length=1, max_length=200)

    @field_validator("region", "level", "sphere")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        # The register stores these lower-case (registry.parse), so the file may use any case.
        return value.strip().lower() if value is not None else None

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str | None) -> str | None:
        if value is not None and value not in LEVELS:
            raise ValueError(f"unknown level {value!r}; expected one of {', '.join(LEVELS)}")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    assign: tuple[_Entry, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """The keys an entry names; ``None`` matches any value."""

    level: str | None = None
    region: str | None = None
    sphere: str | None = None

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        named = tuple(int(getattr(self, k) is not None) for k in MATCH_KEYS)
        return (sum(named), *named)

    def matches(self, region: str, level: str, sphere: str) -> bool:
        return (
            (self.level is None or self.level == level)
            and (self.region is None or self.region == region)
            and (self.sphere is None or self.sphere == sphere)
        )

    def describe(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in MATCH_KEYS if getattr(self, k))


class ProfileBook:
    """The default profile and the assigned ones; answers "which profile for this organisation"."""

    def __init__(self, default: Profile, assigned: Sequence[tuple[Match, Profile]] = ()) -> None:
        self.default = default
        # Most specific first: the first entry that matches wins.
        self.assigned = tuple(sorted(assigned, key=lambda mp: mp[0].specificity, reverse=True))
        self.single = not self.assigned
        self._by_org: dict[str, tuple[Organisation, str, Profile]] = {}

    @property
    def profiles(self) -> list[Profile]:
        """Every profile in use, the default first, each once."""
        out = {self.default.name: self.default}
        for _, profile in self.assigned:
            out.setdefault(profile.name, profile)
        return list(out.values())

    def resolve(self, region: str, level: str, sphere: str) -> Profile:
        for match, profile in self.assigned:
            if match.matches(region, level, sphere):
                return profile
        return self.default

    def for_org(self, org: Organisation | None, region: str = "") -> Profile:
        """The organisation's profile, resolved once per registration of it (``None``: default)."""
        if self.single or org is None:
            return self.default
        hit = self._by_org.get(org.org_id)
        # The register replaces the Organisation object when the organisation changes, and a
        # rolled-back batch restores the old one: identity says whether the answer still holds.
        if hit is not None and hit[0] is org and hit[1] == region:
            return hit[2]
        profile = self.resolve(region, org.level, org.sphere)
        self._by_org[org.org_id] = (org, region, profile)
        return profile

    def describe(self) -> list[str]:
        return [f"{m.describe()} -> {p.name}" for m, p in self.assigned] + [
            f"default -> {self.default.name}"
        ]


def parse_assignment(data: Any, source: str) -> list[tuple[Match, str]]:
    """(match, profile name) per entry, validated; the message names the file and the entry."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(
            f"profile assignment {source}: expected a mapping with 'assign', "
            f"got {type(data).__name__}"
        )
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ProfileError(f"profile assignment {source}: {problems}") from None
    out: list[tuple[Match, str]] = []
    seen: dict[Match, int] = {}
    for i, entry in enumerate(parsed.assign):
        match = Match(level=entry.level, region=entry.region, sphere=entry.sphere)
        if match.specificity[0] == 0:
            raise ProfileError(
                f"profile assignment {source}: assign.{i}: name at least one of "
                f"{', '.join(MATCH_KEYS)} (the default profile is GOSPUBLIC_PROFILE)"
            )
        if match in seen:
            raise ProfileError(
                f"profile assignment {source}: assign.{i} repeats assign.{seen[match]} "
                f"({match.describe()}): which profile wins would depend on the order"
            )
        seen[match] = i
        out.append((match, entry.profile))
    return out


def load_assignment(path: Path) -> list[tuple[Match, str]]:
    return parse_assignment(read_yaml(path, "profile assignment"), str(path))


def load_book(
    default: str,
    profiles_dir: Path | None = None,
    assignment: Path | None = None,
) -> ProfileBook:
    """The default profile plus the assignment file's (default: the shipped one), all loaded.

    A profile the file names that cannot be loaded is an error at start, with the entry's keys.
    """
    path = assignment or ASSIGNMENT_FILE
    entries = load_assignment(path)
    cache: dict[str, Profile] = {}

    def profile(name: str) -> Profile:
        if name not in cache:
            cache[name] = load_profile(name, profiles_dir)
        return cache[name]

    assigned = []
    for match, name in entries:
        try:
            assigned.append((match, profile(name)))
        except ProfileError as exc:
            raise ProfileError(f"profile assignment {path}: {match.describe()}: {exc}") from None
    return ProfileBook(profile(default), assigned)
