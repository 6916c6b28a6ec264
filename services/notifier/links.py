"""Links an e-mail (or a digest, a webhook payload) shows: checked, since the addresses come from
the register and the platforms."""

from __future__ import annotations

import functools
import re
from urllib.parse import quote, urlsplit

from gospublic import display
from gospublic.display import UNSAFE as _UNSAFE
from gospublic.settings import Settings

_SPACE = re.compile(r"\s")


def safe_url(url: str) -> str | None:
    """A link to show a recipient: http(s) only, nothing that reorders text, no credentials."""
    url = display.without_userinfo(url.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or _UNSAFE.search(url):
        return None
    if _SPACE.search(url):  # the characters str.isspace() names
        return None
    return url


def org_link(org_id: str, settings: Settings) -> str | None:
    """The organisation's card on the dashboard, if one is configured."""
    template = settings.org_dashboard_url
    if not template or not org_id:
        return None
    link = template.replace("{org_id}", quote(org_id, safe=""))
    # A quoted id is letters, digits, "-._~" and "%": in a template that safe_url leaves as it
    # is, it cannot make the link unsafe (the check, once per template, spares one per row).
    return link if _plain_template(template) else safe_url(link)


@functools.lru_cache(maxsize=8)
def _plain_template(template: str) -> bool:
    sample = template.replace("{org_id}", "0")
    return "{org_id}" in template and safe_url(sample) == sample
