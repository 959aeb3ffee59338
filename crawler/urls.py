"""Canonical URLs: one spelling per article, so the same story is stored once."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: Query parameters that only track the reader; they never change the article.
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|"
    r"_ga|_gl|ref_src|ref_url|cmpid|ocid|sr_share|smid|s_cid|__twitter_impression|amp)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: News-search redirect hosts whose links carry the publisher's URL in a parameter.
_REDIRECT_PARAMS = {
    "news.google.com": ("url",),
    "www.google.com": ("url", "q"),
    "l.facebook.com": ("u",),
}


def canonicalize(url: str) -> str:
    """Normalise ``url`` for identity: lowercase scheme and host, no default port, no fragment,
    no tracking parameters, sorted query, no trailing ``/amp``.

    Returns ``""`` for what is not an http(s) URL.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    unwrapped = _unwrap_redirect(host, parts.query)
    if unwrapped:
        return canonicalize(unwrapped)
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    path = re.sub(r"/amp/?$", "/", path)
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        )
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def _unwrap_redirect(host: str, query: str) -> str | None:
    for param in _REDIRECT_PARAMS.get(host, ()):
        for key, value in parse_qsl(query):
            if key == param and value.startswith(("http://", "https://")):
                return value
    return None


def host_of(url: str) -> str:
    """The lowercase host of ``url`` (``""`` if it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
