"""Canonical URLs: one spelling per article, so the same story is stored once.

:func:`canonicalize` normalises one URL on its own (scheme and host case, default ports,
percent-encoding, dot segments, fragments, tracking parameters, AMP variants, redirect
wrappers). :func:`choose_article_url` picks among what a feed entry offers: the publisher's
link behind a news-search redirect, or the canonical page behind an AMP link."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "canonicalize",
    "choose_article_url",
    "decode_news_search_link",
    "host_of",
    "is_amp",
    "is_news_search_link",
]

#: Query parameters that only track the reader; they never change the article.
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|"
    r"twclid|ttclid|li_fat_id|_ga|_gl|_hsenc|_hsmi|mkt_tok|vero_id|oly_anon_id|oly_enc_id|"
    r"rb_clickid|s_kwcid|wt\.mc_id|wt_mc|at_medium|at_campaign|at_custom\d*|xtor|"
    r"ns_mchannel|ns_source|ns_campaign|ns_linkname|ns_fee|ref_src|ref_url|cmpid|ocid|"
    r"sr_share|smid|s_cid|__twitter_impression|amp)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Redirect hosts whose links carry the target URL in a query parameter.
_REDIRECT_PARAMS = {
    "news.google.com": ("url",),
    "www.google.com": ("url", "q"),
    "google.com": ("url", "q"),
    "www.bing.com": ("url",),
    "bing.com": ("url",),
    "l.facebook.com": ("u",),
    "lm.facebook.com": ("u",),
    "out.reddit.com": ("url",),
}
#: News-search hosts whose article links are opaque redirects to the publisher.
_NEWS_SEARCH_HOSTS = frozenset({"news.google.com"})
_NEWS_ARTICLE_PATH = re.compile(r"^/(?:rss/)?articles/([A-Za-z0-9_-]+)")
#: AMP viewer and cache URLs that embed the publisher's URL in their path.
_GOOGLE_AMP = re.compile(r"^/amp/(s/)?(.+)$")
_AMP_CACHE_PATH = re.compile(r"^/[cvi]/(s/)?(.+)$")


def canonicalize(url: str) -> str:
    """Normalise ``url`` for identity: lowercase scheme and host, no default port, no
    fragment, no user info, no tracking parameters, sorted query, no dot segments, no AMP
    suffix, redirect and AMP-cache wrappers removed.

    Returns ``""`` for what is not an http(s) URL."""
    return _canonicalize(url.strip(), depth=0)


def _canonicalize(url: str, depth: int) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    try:
        port = parts.port
    except ValueError:
        port = None  # a port that does not parse is dropped, not the whole URL
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    host = _normal_host(parts.hostname)
    if not host:
        return ""
    if depth < 3:
        unwrapped = _unwrap(host, parts.path, parts.query)
        if unwrapped:
            inner = _canonicalize(unwrapped, depth + 1)
            if inner:
                return inner
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%")) or "/"
    path = re.sub(r"/amp/?$", "/", path)
    path = re.sub(r"\.amp(\.html?)$", r"\1", path)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if host in _NEWS_SEARCH_HOSTS and _NEWS_ARTICLE_PATH.match(path):
        pairs = []  # oc=5, hl, gl, ceid: display settings, never the article
    query = urlencode(sorted((k, v) for k, v in pairs if not _TRACKING.match(k)))
    return urlunsplit((scheme, netloc, path, query, ""))


def _normal_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, so ``/a/./b/../c`` and ``/a/c`` are one article."""
    if "." not in path:
        return path
    out: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    trailing = "/" if path.endswith(("/.", "/..")) else ""
    return "/" + "/".join(out) + trailing


def _unwrap(host: str, path: str, query: str) -> str | None:
    """The URL a redirect, AMP viewer or AMP cache link stands for, if it says."""
    for param in _REDIRECT_PARAMS.get(host, ()):
        for key, value in parse_qsl(query):
            if key == param and value.startswith(("http://", "https://")):
                return value
    if host in ("www.google.com", "google.com"):
        m = _GOOGLE_AMP.match(path)
        if m:
            return ("https://" if m.group(1) else "http://") + m.group(2)
    if host.endswith(".cdn.ampproject.org"):
        m = _AMP_CACHE_PATH.match(path)
        if m:
            return ("https://" if m.group(1) else "http://") + m.group(2)
    if host in _NEWS_SEARCH_HOSTS:
        return decode_news_search_link(urlunsplit(("https", host, path, query, "")))
    return None


def is_news_search_link(url: str) -> bool:
    """True for a news-search article link (an opaque redirect to the publisher)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    return host in _NEWS_SEARCH_HOSTS and bool(_NEWS_ARTICLE_PATH.match(parts.path))


def decode_news_search_link(url: str) -> str | None:
    """The publisher URL inside a Google News article link, when the link still carries it.

    Older links encode it in the article id (base64 of a small protobuf); newer ones are
    opaque and return ``None``: then only the feed entry itself can tell (see
    :func:`choose_article_url`)."""
    try:
        m = _NEWS_ARTICLE_PATH.match(urlsplit(url).path)
    except ValueError:
        return None
    if not m:
        return None
    token = m.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Field 4 (tag 0x22), length-delimited, after the 0x08 0x13 header.
    if not raw.startswith(b"\x08\x13\x22"):
        return None
    length, pos = 0, 3
    for shift in range(0, 28, 7):
        if pos >= len(raw):
            return None
        byte = raw[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    target = raw[pos : pos + length]
    if len(target) != length:
        return None
    try:
        text = target.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.startswith(("http://", "https://")) else None


def is_amp(url: str) -> bool:
    """True for an AMP page: an ``amp.`` host, an ``/amp`` path segment, ``.amp.html``, or an
    ``amp`` query parameter."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    return (
        host.startswith("amp.")
        or bool(re.search(r"(^|/)amp(/|$)", parts.path))
        or bool(re.search(r"\.amp\.html?$", parts.path))
        or any(k.lower() == "amp" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    )


def _site(host: str) -> str:
    for prefix in ("amp.", "www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def choose_article_url(link: str, alternatives: Iterable[str]) -> str:
    """The best URL for an article among the entry's ``link`` and the other URLs its feed
    gives (``<guid isPermaLink>``, extra ``<link>`` elements, the description's anchors).

    A news-search redirect gives way to a publisher URL the entry carries (or the one encoded
    in the link); an AMP link gives way to a non-AMP URL of the same site. Otherwise
    ``link`` stands."""
    options = [a for a in (s.strip() for s in alternatives) if a.startswith(("http", "HTTP"))]
    if is_news_search_link(link):
        for candidate in options:
            if not is_news_search_link(candidate) and host_of(candidate) not in (
                "news.google.com",
                "www.google.com",
            ):
                return candidate
        return decode_news_search_link(link) or link
    if is_amp(link):
        site = _site(host_of(link))
        for candidate in options:
            if not is_amp(candidate) and _site(host_of(candidate)) == site:
                return candidate
    return link


def host_of(url: str) -> str:
    """The lowercase host of ``url`` (``""`` if it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
