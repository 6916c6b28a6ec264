"""The one way a collector builds an HTTP client for a platform: it never leaves the platform.

A platform's answer is untrusted, and so is a redirect in it: a ``302`` (or a ``307``, which would
send the form with the access token again) to ``http://127.0.0.1:…/latest/meta-data/`` would make
the collector fetch an internal address and keep its body. Every request a platform client makes,
the first and each redirect, is checked before it is sent: its origin must be the configured API
URL's own (scheme, host and port: a simulator on 127.0.0.1 allows that port only) or one of the
platform's official hosts over https. Anything else raises :class:`RedirectRefused`; nothing is
fetched there. The check is an httpx request hook, so it holds whatever transport or proxy the
client uses.
"""

from __future__ import annotations

from typing import Any

import httpx

from gospublic.platforms.descriptor import descriptors

# The platforms' own API hosts, reached over https only: their descriptors' (gospublic.platforms).
OFFICIAL_HOSTS: dict[str, frozenset[str]] = {d.id: d.api_hosts for d in descriptors()}
MAX_REDIRECTS = 5

Origin = tuple[str, str, int]


class RedirectRefused(Exception):
    """A request (in practice a redirect) to an origin outside the platform's; never sent."""

    def __init__(self, platform: str, url: httpx.URL) -> None:
        # The origin only: the path and query of an attacker's Location are nobody's business.
        self.target = format_origin(origin_of(url))
        super().__init__(
            f"redirect to {self.target} refused: not a {platform} host (nothing fetched there)"
        )
        self.platform = platform


def origin_of(url: httpx.URL | str) -> Origin:
    url = httpx.URL(url)
    scheme = url.scheme.lower()
    port = url.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (url.host or "").lower(), port


def format_origin(origin: Origin) -> str:
    scheme, host, port = origin
    default = {"http": 80, "https": 443}.get(scheme)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")


def allowed_origins(platform: str, base_url: str) -> frozenset[Origin]:
    """The configured URL's origin and the platform's official hosts over https."""
    official = {("https", host, 443) for host in OFFICIAL_HOSTS.get(platform, ())}
    return frozenset({origin_of(base_url), *official})


def platform_client(platform: str, base_url: str, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``platform`` whose every request stays on its origins.

    Redirects are followed (at most ``MAX_REDIRECTS``) only while they stay there; ``options``
    go to ``httpx.AsyncClient`` as they are (timeout, limits, headers).
    """
    allowed = allowed_origins(platform, base_url)

    async def stay_on_platform(request: httpx.Request) -> None:
        if origin_of(request.url) not in allowed:
            raise RedirectRefused(platform, request.url)

    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        event_hooks={"request": [stay_on_platform]},
        **options,
    )
