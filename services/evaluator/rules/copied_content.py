"""COPIED_CONTENT: a page whose every recent post appeared first on another page of the same
organisation (a MAX channel that only copies the VK page)."""

from __future__ import annotations

from gospublic.rulebook import PLATFORM_TITLES

from ..copies import Originality
from ..profiles import Profile
from .catalogue import COPIED_CONTENT, FAIL, NOT_EVALUABLE, PASS
from .results import RuleResult, _result


def evaluate_copied_content(found: Originality, profile: Profile) -> list[RuleResult]:
    """COPIED_CONTENT: a page whose every post of the last four weeks appeared first on another
    page of the same organisation (see ``copies.originality``)."""
    config = profile.rule(COPIED_CONTENT)
    if config is None:
        return []
    threshold = ">= 1 собственного поста за 4 недели"
    if found.posts == 0:
        summary = "За 4 недели нет постов с текстом, по которому видно, откуда он."
        return [_result(COPIED_CONTENT, NOT_EVALUABLE, config.severity, 0, threshold, summary)]
    value = f"{found.original}/{found.posts}"
    if found.no_original_content:
        sources = ", ".join(PLATFORM_TITLES.get(p, p) for p in found.copied_from)
        summary = (
            f"Все {found.posts} пост(а/ов) за 4 недели повторяют посты, раньше опубликованные "
            f"на других страницах организации ({sources}): собственных материалов нет."
        )
        return [_result(COPIED_CONTENT, FAIL, config.severity, value, threshold, summary)]
    summary = f"Собственных постов за 4 недели: {found.original} из {found.posts}."
    return [_result(COPIED_CONTENT, PASS, config.severity, value, threshold, summary)]
