"""One descriptor per platform: everything the rest of the product needs to know about it.

Each platform module (``vk``, ``ok``, ``tg``, ``max``) ends with a ``DESCRIPTOR``; the register,
the scheduler, the collector's entry, the rules, ``check``, the dashboards' and deploy files' tests
read the platforms from :func:`descriptors` instead of naming them one by one. Adding a platform is
a platform module with its descriptor, a client and a collect module, a simulator and tests (plus
its value in ``contracts.Platform``, the contract every event carries).

The kernel never imports a service: a descriptor names its collector and simulator entry points
as ``"module:attribute"`` strings, imported only by the process that runs them (:func:`entry`).

A register cell is read in one place, :meth:`Descriptor.parse_cell`: only a plain link to one of
the platform's own hosts (http or https, the host exactly, no user, port, backslash or percent
escape, a path of plain characters) or a bare id, then the platform's own id rule. A register can
never make a collector request an arbitrary URL.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from gospublic import contracts as c

# What a plain link's address part may hold: a host name, nothing else (no user, no port, no
# backslash, no percent escape). urlsplit reads "evil.example\@vk.com" as a user on vk.com.
_PLAIN_HOST = re.compile(r"\A[A-Za-z0-9.-]+\Z")
_PLAIN_PATH = re.compile(r"\A[A-Za-z0-9_./-]*\Z")
# VK and OK short names: letters, digits, "_" and inner single dots (no "..", no dot at an end),
# 2 to 64 characters.
SCREEN_NAME = re.compile(r"\A[A-Za-z0-9_](?:[A-Za-z0-9_]|\.(?!\.)){0,62}[A-Za-z0-9_]\Z")
# Control characters (C0, DEL, C1) and bidirectional controls: no register means them, and they
# reorder or hide what a reader of a report or an e-mail sees.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Descriptor:
    """What the product knows of one platform."""

    platform: c.Platform
    name_ru: str  # "ВКонтакте": a person's name for it, in reports and e-mails
    name_in: str  # "во ВКонтакте": "страница во ВКонтакте"
    display: str  # "VK": short, in messages about links and in dashboards
    column: str  # the register's column
    hosts: frozenset[str]  # the hosts a register link may name
    api_hosts: frozenset[str]  # the hosts its collector may reach over https
    # The platform's own rule for the id in a link's path (or a bare cell): the native id, or
    # ValueError with the reason. ``text`` is the whole cell, for the message.
    id_from_path: Callable[[str, str], str]
    page_url: Callable[[str], str]  # where a person opens the page
    legal: bool  # on the law's list of platforms (government order 2523-r): VK and OK
    collector: str  # "module": has make_client(settings) -> client | reason, and collect
    simulator: str  # "module:attribute" of its simulator
    # Rules whose data the platform does not expose: not_evaluable with this reason.
    not_exposed: Mapping[str, str] = field(default_factory=dict)
    # Rules exposed in part: what was found passes, finding nothing proves nothing.
    partly_exposed: Mapping[str, str] = field(default_factory=dict)
    # Comment rules judged with the posts (the platform has no comments event of its own).
    reported_with_posts: tuple[str, ...] = ()
    bare_prefix: str = ""  # a bare cell may start with this ("@" for Telegram)
    # A register written before the platform was added lacks its column: its organisations then
    # list no page there. The older platforms' columns stay required, so a misspelt one is named.
    column_optional: bool = False
    # The platform shows a channel only to a bot its owner adds (MAX): a register channel the bot
    # cannot see is "not connected to the monitoring", a verdict of its own (PAGE_NOT_CONNECTED).
    needs_connection: bool = False
    order: int = 0  # the platforms' order in the register, menus and reports

    def __post_init__(self) -> None:
        object.__setattr__(self, "not_exposed", _frozen(self.not_exposed))
        object.__setattr__(self, "partly_exposed", _frozen(self.partly_exposed))

    @property
    def id(self) -> str:
        return self.platform.value

    def link_path(self, text: str) -> str:
        """The path of a plain link to the platform (``https://vk.com/club1`` → ``club1``); a bare
        id is its own path. Anything else raises ValueError."""
        if self.bare_prefix and text.startswith(self.bare_prefix):
            return text.removeprefix(self.bare_prefix)
        if "://" not in text and "/" not in text:
            return text
        scheme, _, rest = text.partition("://") if "://" in text else ("https", "", text)
        if scheme.lower() not in ("http", "https"):
            raise ValueError(f"not an http(s) link: {text!r:.80}")
        host, slash, path = rest.partition("/")
        if not _PLAIN_HOST.match(host):
            raise ValueError(
                f"not a plain {self.display} link (the address holds {host!r:.60}; "
                f"a user, a port or a backslash are not taken): {text!r:.80}"
            )
        if host.lower() not in self.hosts:
            raise ValueError(f"not a {self.display} link (host {host!r:.60}): {text!r:.80}")
        url = urlsplit(f"https://{host}{slash}{path}")
        if not _PLAIN_PATH.match(url.path):
            raise ValueError(f"not a plain {self.display} page link: {text!r:.80}")
        return url.path.strip("/")

    def parse_cell(self, text: str) -> str:
        """The native id of a register cell (a plain link or a bare id); ValueError with the
        reason otherwise."""
        text = text.strip()
        if CONTROL.search(text):
            raise ValueError(f"control character in the link: {text!r:.80}")
        return self.id_from_path(self.link_path(text), text)


@cache
def _catalogue() -> tuple[Descriptor, ...]:
    import gospublic.platforms as package

    found: list[Descriptor] = []
    for module in pkgutil.iter_modules(package.__path__):
        imported = importlib.import_module(f"{package.__name__}.{module.name}")
        descriptor = getattr(imported, "DESCRIPTOR", None)
        if isinstance(descriptor, Descriptor):
            found.append(descriptor)
    return tuple(sorted(found, key=lambda d: (d.order, d.id)))


def descriptors() -> tuple[Descriptor, ...]:
    """Every platform's descriptor, in the register's order (VK, OK, Telegram, MAX)."""
    return _catalogue()


def platform_ids() -> tuple[str, ...]:
    return tuple(d.id for d in descriptors())


def descriptor(platform: str | c.Platform) -> Descriptor:
    """The descriptor of a platform; KeyError for one without."""
    for d in descriptors():
        if d.platform == platform:
            return d
    raise KeyError(f"no descriptor for platform {platform!r}")


def entry(reference: str) -> Any:
    """Import ``module`` or ``module:attribute`` (a collector's or simulator's entry point) when a
    process needs it, never at the kernel's import."""
    module, _, attribute = reference.partition(":")
    imported = importlib.import_module(module)
    return getattr(imported, attribute) if attribute else imported
