"""Feed bytes to ``ArticleData``: feedparser contained behind one function."""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from crawler import fastfeed
from crawler.errors import ParseError
from crawler.fastfeed import RawFeed
from crawler.language import detect_many
from crawler.records import ArticleData, Source
from crawler.text import html_to_text, tidy, without_feed_footer
from crawler.urls import canonicalize, choose_article_url, is_amp, is_news_search_link

__all__ = ["ParsedFeed", "parse_feed"]

#: bozo exceptions that leave the feed whole: feedparser fixed the encoding and went on.
_SURVIVABLE = (feedparser.CharacterEncodingOverride,)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed body held."""

    articles: tuple[ArticleData, ...]
    #: ``rss20``, ``atom10``, ``rss10``, ... as feedparser names it; ``""`` if unknown.
    version: str
    title: str
    warnings: tuple[str, ...]


def parse_feed(
    source: Source,
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    fast: bool = True,
) -> ParsedFeed:
    """Parse ``body`` as a feed fetched from ``url``.

    A malformed feed keeps the entries that parse (marked ``salvaged``); a body with no
    entries and an XML error raises :class:`ParseError`.

    An ordinary feed is read by :mod:`crawler.fastfeed`, which gives what feedparser would;
    anything else, or every feed with ``fast=False``, by feedparser."""
    response_headers = dict(headers or {})
    parsed = (_fast(body, response_headers) if fast else None) or _feedparser(
        body, response_headers
    )
    warnings: list[str] = []
    salvaged = False
    if parsed.bozo_exception is not None:
        exc = parsed.bozo_exception
        if not isinstance(exc, _SURVIVABLE):
            if not parsed.entries:
                raise ParseError(_describe_bozo(exc, body))
            salvaged = True
            warnings.append(
                f"malformed feed ({_short(exc)}); {len(parsed.entries)} entries salvaged"
            )
    elif not parsed.entries and not parsed.version:
        raise ParseError(_describe_bozo(None, body))
    articles = []
    for entry in parsed.entries:
        try:
            article = _article(source, entry, url, salvaged)
        except Exception as e:  # one bad entry must not lose the others
            warnings.append(f"entry skipped: {type(e).__name__}: {e}")
            continue
        if article is not None:
            articles.append(article)
    # One detection for the feed's items: a third cheaper than one per item.
    languages = detect_many(
        [f"{a.title}\n{a.text}" for a in articles], [source.language] * len(articles)
    )
    articles = [replace(a, language=lang) for a, lang in zip(articles, languages, strict=True)]
    return ParsedFeed(tuple(articles), parsed.version, tidy(parsed.title), tuple(warnings))


def _fast(body: bytes, headers: dict[str, str]) -> RawFeed | None:
    try:
        return fastfeed.parse(body, headers)
    except Exception:  # a bug in the fast path must cost speed, never a feed
        return None


def _feedparser(body: bytes, headers: dict[str, str]) -> RawFeed:
    try:
        parsed = feedparser.parse(
            # A stream, never bytes: feedparser tries to open bytes as a file name first.
            io.BytesIO(body),
            response_headers=headers,
            # We keep plain text only, so HTML is never shown: sanitising is wasted work.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # feedparser promises not to raise, but bugs in it must not kill a crawl
        raise ParseError(f"the feed parser failed: {type(e).__name__}: {e}") from e
    return RawFeed(
        str(parsed.get("version") or ""),
        str(parsed.get("feed", {}).get("title", "")),
        tuple(parsed.entries),
        parsed.get("bozo_exception") if parsed.get("bozo") else None,
    )


def _article(source: Source, entry: Any, base: str, salvaged: bool) -> ArticleData | None:
    link = str(entry.get("link") or "").strip()
    link = urljoin(base, link) if link else ""
    guid = str(entry.get("id") or "").strip() or None
    if link and (is_news_search_link(link) or is_amp(link)):
        link = choose_article_url(link, _alternatives(entry, base))
    canonical = canonicalize(link) if link else ""
    title = html_to_text(str(entry.get("title") or ""))
    summary = without_feed_footer(html_to_text(str(entry.get("summary") or "")))
    content = ""
    for part in entry.get("content") or ():
        value = without_feed_footer(html_to_text(str(part.get("value") or "")))
        if len(value) > len(content):
            content = value
    text = content if len(content) > len(summary) else summary
    if not (title or text):
        return None
    published = _when(entry)
    url = link or (guid or "")
    if not canonical and not guid:
        # No link and no id: the item is still news. It is known by what it says.
        guid = _content_id(title, text, published)
    authors = tuple(
        a for a in (str(x.get("name") or "").strip() for x in entry.get("authors") or ()) if a
    )
    return ArticleData(
        source=source.name,
        url=url,
        canonical_url=canonical,
        guid=guid,
        title=title,
        summary=summary,
        text=text,
        language=None,  # detected for the whole feed at once (parse_feed)
        published=published,
        authors=authors,
        salvaged=salvaged,
    )


def _content_id(title: str, text: str, published: datetime | None) -> str:
    basis = "\x1f".join((title, text[:2000], published.isoformat() if published else ""))
    return "content:" + hashlib.sha256(basis.encode()).hexdigest()[:24]


def _alternatives(entry: Any, base: str) -> list[str]:
    """Other URLs the entry gives for itself: extra links, a permalink GUID, and the anchors
    of its description (where news-search feeds put the publisher's link)."""
    found: list[str] = []
    for item in entry.get("links") or ():
        href = str(item.get("href") or "").strip()
        if href and item.get("rel", "alternate") in ("alternate", "canonical"):
            found.append(urljoin(base, href))
    guid = str(entry.get("id") or "").strip()
    if guid.startswith(("http://", "https://")):
        found.append(guid)
    for field in ("summary", "description"):
        found.extend(
            urljoin(base, html.unescape(h)) for h in _HREF.findall(str(entry.get(field) or ""))
        )
    return found


_HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _short(exc: object) -> str:
    text = " ".join(str(exc).split()) if exc is not None else "unknown error"
    return text[:200]


def _describe_bozo(exc: object, body: bytes) -> str:
    head = body.lstrip()[:200].lower()
    if not head:
        return "empty response: the server sent no feed"
    if head.startswith((b"<!doctype html", b"<html")):
        return (
            "an HTML page, not a feed: check the URL, or run `veye sources check` "
            "to look for the site's feed"
        )
    return f"not a readable feed: {_short(exc)}"
