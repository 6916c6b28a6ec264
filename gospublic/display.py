"""What a person reads: untrusted text made safe to show, and URLs and texts without credentials.

Two kinds of output pass through here, whatever prints them (the console of ``up`` and ``demo``,
the logs, error texts, the HTML report, e-mails and digests, ``check``):

* Text from outside (register names, page titles, platform answers) may hold control characters
  and the Unicode direction overrides and isolates, which make a line render in another order than
  it is stored (``U+202E`` turns "exe.txt" round). :func:`clean` removes them.
* A URL may carry credentials in its userinfo (``nats://user:pass@host``), a token in its query, and
  a text may quote an ``Authorization`` header that httpx derived from such a URL.
  :func:`mask_credentials` replaces each of them with ``***``; :func:`url` is the same for one URL
  shown to a person.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab and the line breaks are whitespace, collapsed by the callers), the
# directional marks (LRM, RLM, ALM), embeddings and overrides (U+202A–U+202E) and isolates
# (U+2066–U+2069), and the byte-order mark. ZWJ (U+200D) stays: emoji sequences need it.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)

MASK = "***"

# scheme://userinfo@ — the userinfo up to the last "@" of the authority.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#\"'<>]+)@")
# name=value where the name says it is a secret: access_token, token, password, sig, secret_key…
_SECRET_PARAM = re.compile(
    r"(?P<name>\b[A-Za-z_\-]*(?:token|password|passwd|secret|secret_key|private_key|sig|"
    r"signature|session_key|apikey|api_key|auth)s?=)(?P<value>[^&\s\"'#<>]+)",
    re.IGNORECASE,
)
# An Authorization value as headers and error pages show it: "Basic dXNlcjpwYXNz", "Bearer glsa_…".
_AUTH_SCHEME = re.compile(
    r"(?P<scheme>\b(?:Basic|Bearer|Token|Digest|Negotiate|NTLM)\s+)(?P<value>[A-Za-z0-9._~+/=\-]{4,})",
    re.IGNORECASE,
)
# "Authorization: …" / "authorization": "…" with any other scheme or none.
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z\-]+\s+)?)"
    r"(?P<value>[^\s\"',;})\]]+)",
    re.IGNORECASE,
)


def clean(text: str, limit: int | None = None) -> str:
    """One line of untrusted text: no controls, no direction marks, whitespace collapsed, at most
    ``limit`` characters (cut with "…")."""
    text = " ".join(UNSAFE.sub("", text).split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    # Without a colon the userinfo is itself the secret (nats://<token>@host).
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def _mask_auth_header(match: re.Match[str]) -> str:
    return f"{match['name']}{MASK}"


def mask_credentials(text: str) -> str:
    """The text with every URL userinfo, secret-named parameter and Authorization value masked."""
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _SECRET_PARAM.sub(lambda m: f"{m['name']}{MASK}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']}{MASK}", text)
    return _AUTH_HEADER.sub(_mask_auth_header, text)


def without_userinfo(value: str) -> str:
    """A URL for a link a person clicks (an e-mail, a webhook payload): its user and password
    are nobody else's, and a browser asks for them anyway."""
    return _USERINFO.sub(lambda m: m["scheme"], value)


def url(value: str) -> str:
    """A URL (or a comma-separated list of them) as shown to a person: no password, no token."""
    return mask_credentials(value)
