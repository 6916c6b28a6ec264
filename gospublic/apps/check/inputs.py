"""What ``gospublic check`` is given: the saved files read and looked at before they are believed,
and the parts every platform's reading shares (the register entry, a gone page, comments under
posts the files do not show)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gospublic import contracts as c

CHECK_ORG_ID = "0000000000000"
SWEEP = "check"
MOSCOW = ZoneInfo("Europe/Moscow")


class InputError(ValueError):
    """An input that cannot be checked; the message says why in Russian, and what to give."""


@dataclass(frozen=True)
class ApiError:
    """A saved error answer of the platform instead of data."""

    code: int | None
    message: str

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"ошибка{code} ({self.message[:160]})" if self.message else f"ошибка{code}"


@dataclass
class Inputs:
    """The events a collector would have published, and why some data is missing."""

    platform: str
    events: list[c.Event]
    missing: dict[str, str] = field(default_factory=dict)  # rule source → reason
    notes: list[str] = field(default_factory=list)  # what the user should know about the input


# --- reading the files ---------------------------------------------------------------------------


def _text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{what} {path}: нет такого файла") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path}: это каталог, а нужен файл") from None
    except OSError as exc:
        raise InputError(
            f"{what} {path}: не удалось прочитать файл ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: файл не в кодировке UTF-8") from None


def _looks_like_html(text: str) -> bool:
    # JSON never starts with "<": whatever markup it is, it is not an API answer.
    return text.lstrip()[:1] == "<"


def _html_hint(text: str, platform: str) -> str:
    if "tgme_" in text:  # the classes t.me marks its elements with
        if platform == "tg":
            return ""
        return "это сохранённая страница Telegram: проверьте её с --platform tg --group ФАЙЛ."
    if platform == "ok":
        return (
            "это HTML (сохранённая веб-страница), а нужны ответы API Одноклассников в JSON: "
            "group.getInfo, mediatopic.getTopics, discussions.getComments."
        )
    if "ok.ru" in text or "odnoklassniki" in text.lower():
        return (
            "это сохранённая веб-страница Одноклассников, а нужны ответы API в JSON "
            "(group.getInfo) с --platform ok."
        )
    return (
        "это HTML (сохранённая веб-страница), а нужен ответ API в JSON: для ВКонтакте — "
        "groups.getById, wall.get, wall.getComments; страницу t.me/s/<канал> — с --platform tg."
    )


def _read(path: Path, what: str, platform: str) -> Any:
    """The data of a saved JSON answer (the envelope removed), or ``ApiError``."""
    text = _text(path, what)
    if _looks_like_html(text):
        raise InputError(f"{what} {path}: {_html_hint(text, platform)}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {path}: не JSON (строка {exc.lineno}, столбец {exc.colno}: {exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{what} {path}: не JSON ({type(exc).__name__})") from None
    return unwrap(data)


def unwrap(data: Any) -> Any:
    """The answer without the envelope; an error answer (VK's or OK's) as ``ApiError``."""
    if isinstance(data, dict) and "error" in data and "response" not in data:
        error = data["error"]
        if isinstance(error, dict):
            code = error.get("error_code")
            return ApiError(code if type(code) is int else None, str(error.get("error_msg", "")))
        return ApiError(None, str(error))
    if isinstance(data, dict) and "error_code" in data and "error_msg" in data:  # OK's shape
        code = data["error_code"]
        return ApiError(code if type(code) is int else None, str(data["error_msg"]))
    if isinstance(data, dict) and "response" in data:
        return data["response"]
    return data


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--now: {text!r:.60} — не дата и время ISO 8601 (например 2026-03-02T12:00+03:00)"
        ) from None
    # A moment without a zone is what a clock in Moscow shows: the organisations' default time.
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def _fields(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    # "" is a request without fields: VK then returns none of the optional ones, and an absent
    # field stays unknown, as without --fields.
    return frozenset(f.strip() for f in text.split(",") if f.strip())


# --- which platform's answer is it ---------------------------------------------------------------


def _platform_of(data: Any, platform: str) -> str | None:
    """The platform whose answer this looks like, when it is not ``platform``'s."""
    items = data.get("groups") if isinstance(data, dict) else data
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
    if isinstance(data, dict) and "media_topics" in data:
        return "ok" if platform != "ok" else None
    if isinstance(data, dict) and "items" in data and platform == "ok":
        return "vk"
    if first is not None:
        if "uid" in first and "id" not in first and platform != "ok":
            return "ok"
        if "id" in first and "uid" not in first and platform == "ok":
            return "vk"
    return None


def _wrong_platform(data: Any, what: str, path: Path, platform: str) -> None:
    other = _platform_of(data, platform)
    if other is None:
        return
    names = {"vk": "ВКонтакте", "ok": "Одноклассников"}
    raise InputError(
        f"{what} {path}: это ответ {names[other]}, а проверяется --platform {platform}: "
        f"укажите --platform {other}."
    )


def _vk_method_of(data: Any) -> str | None:
    """Which VK method's answer this looks like: a file given to the wrong option is named."""
    if isinstance(data, dict) and isinstance(data.get("groups"), list) and "items" not in data:
        return "groups.getById"
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    first = items[0]
    if "post_id" in first or "parents_stack" in first or "current_level_count" in data:
        return "wall.getComments"
    if "date" in first and ("owner_id" in first or "from_id" in first):
        return "wall.get"
    if "screen_name" in first or "is_closed" in first or "deactivated" in first:
        return "groups.getById"
    return None


_VK_METHOD = {"--group": "groups.getById", "--wall": "wall.get", "--comments": "wall.getComments"}


def _wrong_method(data: Any, what: str, path: Path) -> None:
    found = _vk_method_of(data)
    if found is None or found == _VK_METHOD[what]:
        return
    option = next(o for o, m in _VK_METHOD.items() if m == found)
    raise InputError(
        f"{what} {path}: это ответ {found}, а нужен {_VK_METHOD[what]}: "
        f"этот файл передайте в {option}."
    )


# --- what every platform's reading shares ---------------------------------------------------------


def _refuse_other_page(what: str, path: Path, owner: int, gid: int, platform: str = "vk") -> None:
    if platform == "vk":
        theirs = f"club{-owner}" if owner < 0 else f"id{owner}"
        raise InputError(
            f"{what} {path}: данные другой страницы — {theirs} (owner_id {owner}), а в --group "
            f"сообщество club{gid} (owner_id {-gid}). Сохраните ответы одной страницы."
        )
    raise InputError(
        f"{what} {path}: данные другой страницы — группа {owner}, а в --group группа {gid}. "
        "Сохраните ответы одной страницы."
    )


def _registered(org: c.Organisation | None, ref: c.PageRef, now: datetime, region: str):
    if org is None:
        return []
    org = org.model_copy(update={"pages": (ref,)})
    return [
        c.OrganisationsRegistered.create(
            observed_at=now, registry_version="check", region=region, chunk=0, chunks=1,
            organisations=(org,),
        )
    ]  # fmt: skip


def _gone(
    ref: c.PageRef, now: datetime, reason: c.Unavailability, detail: str
) -> c.PageUnavailable:
    """The platform's word that the page is gone or closed, as the collector would publish it."""
    return c.PageUnavailable.create(
        observed_at=now, platform=ref.platform, page_ref=ref, sweep_id=SWEEP, reason=reason,
        detail=detail[:200],
    )  # fmt: skip


def _unknown_posts(
    comments: Iterable[c.Comment], posts: c.PostsObserved | None, inputs: Inputs
) -> tuple[str, ...]:
    """Commented posts whose author the files do not show (every one, without a wall), noted."""
    commented = sorted({x.post_id for x in comments} - {""})
    shown = {p.post_id for p in posts.posts} if posts is not None else set()
    unknown = tuple(p for p in commented if p not in shown)
    if unknown:
        listed = ", ".join(unknown[:5]) + (" и др." if len(unknown) > 5 else "")
        where = "которых нет в --wall" if posts is not None else "а стена (--wall) не передана"
        inputs.notes.append(
            f"Комментарии к записям {listed}, {where}: чья это запись — страницы или жителя, — "
            "по файлам не видно, поэтому вопрос без ответа там не считается нарушением."
        )
    return unknown


def _comment_pages(data: Any, items_key: str = "items") -> list[tuple[str, Any]]:
    """(post id, comments answer) pairs from the accepted shapes of the file."""
    if isinstance(data, dict) and items_key in data:
        pages = [data]
    elif isinstance(data, list):
        pages = [d.get("response", d) if isinstance(d, dict) else d for d in data]
    elif isinstance(data, dict):
        return [(str(k), v) for k, v in data.items()]
    else:
        raise InputError(
            "--comments: ожидался ответ с комментариями, список таких ответов или "
            "{id записи: ответ}"
        )
    out = []
    for page in pages:
        items = page.get(items_key) if isinstance(page, dict) else None
        # A deleted comment carries no post_id: the post is named by any other item.
        named = (
            item.get("post_id")
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("post_id") is not None
        )
        out.append((str(next(named, "")), page))
    return out
