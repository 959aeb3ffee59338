"""Checking sources: is each one reachable, is it the feed (or page, or sitemap) it should be,
and where has a feed that moved gone?

Feeds are found by autodiscovery: ``<link rel="alternate" type="application/rss+xml">`` (or
Atom) on the page the source URL now serves, and on the site's home page when the feed URL
is dead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from crawler.collect import FEED_ACCEPT
from crawler.errors import CrawlError, FetchError, HTTPStatusError, ParseError
from crawler.feeds import parse_feed
from crawler.fetch import Fetcher, Response
from crawler.politeness import robots_url
from crawler.records import Source
from crawler.sitemaps import parse_sitemap
from crawler.spiders.options import check_listing_options, link_selector
from crawler.text import tidy

__all__ = ["DiscoveredFeed", "SourceCheck", "check_source", "check_sources", "find_feed_links"]

_FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/rdf+xml": "rdf",
    "application/feed+json": "json",
}
#: Discovered feeds fetched to confirm they work, per source.
MAX_CONFIRMED = 3
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed a page advertises, and what fetching it showed."""

    url: str
    title: str = ""
    #: ``rss20``, ``atom10``, ... once fetched and parsed; else the advertised kind.
    feed_type: str = ""
    items: int | None = None
    error: str | None = None

    @property
    def works(self) -> bool:
        return self.error is None and self.items is not None


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """What checking one source found."""

    source: str
    kind: str
    url: str
    #: ``ok``, ``moved`` (dead or not a feed, but a working feed was found), ``broken``
    #: (it answered, but not with what the source needs) or ``unreachable`` (no answer).
    state: str
    status: int | None = None
    final_url: str | None = None
    #: ``rss20``, ``atom10``, ... for feeds; ``html`` or ``sitemap`` for spiders.
    content_type: str = ""
    items: int | None = None
    error: str | None = None
    discovered: tuple[DiscoveredFeed, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def find_feed_links(html: bytes | str, base_url: str) -> list[DiscoveredFeed]:
    """Feeds advertised by ``<link rel="alternate" type="application/rss+xml|atom+xml">`` on
    a page, as absolute URLs, in page order, without repeats."""
    try:
        tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    except Exception:  # a page the parser cannot take has no feed links for us
        return []
    base = base_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(base_url, str(base_node.attributes.get("href") or ""))
    found: list[DiscoveredFeed] = []
    seen: set[str] = set()
    for node in tree.css("link[rel][href]"):
        rels = str(node.attributes.get("rel") or "").lower().split()
        kind = _FEED_TYPES.get(str(node.attributes.get("type") or "").lower().split(";")[0])
        if "alternate" not in rels or kind is None:
            continue
        url = urljoin(base, str(node.attributes.get("href") or "").strip())
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        found.append(DiscoveredFeed(url, tidy(str(node.attributes.get("title") or "")), kind))
    return found


async def check_sources(
    fetcher: Fetcher, sources: Iterable[Source], *, concurrency: int = 8
) -> AsyncIterator[SourceCheck]:
    """Check ``sources`` at most ``concurrency`` at a time; yield results as they finish."""
    gate = asyncio.Semaphore(concurrency)

    async def one(source: Source) -> SourceCheck:
        async with gate:
            try:
                return await check_source(fetcher, source)
            except Exception as e:  # a bug in one check must not end the others
                return SourceCheck(
                    source.name,
                    source.kind,
                    source.url,
                    "broken",
                    error=f"internal error: {type(e).__name__}: {e}",
                )

    tasks = [asyncio.ensure_future(one(s)) for s in sources]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for t in tasks:
            t.cancel()


async def check_source(fetcher: Fetcher, source: Source) -> SourceCheck:
    """Fetch ``source`` as a crawl would and say what came back."""
    base = SourceCheck(source.name, source.kind, source.url, "ok")
    allow_private = bool(source.options.get("allow_private"))
    try:
        resp = await fetcher.get(
            source.url,
            accept=FEED_ACCEPT if source.kind != "spider" else PAGE_ACCEPT,
            allow_private=allow_private,
        )
    except HTTPStatusError as e:
        dead = replace(base, state="broken", status=e.status, error=str(e))
        if source.kind != "feed":
            return dead
        return await _look_for_feeds(fetcher, source, dead, pages=[_home(source.url)])
    except FetchError as e:
        return replace(base, state="unreachable", status=e.status, error=str(e))
    checked = replace(base, status=resp.status, final_url=resp.url)
    if source.kind == "spider":
        return await _check_listing(fetcher, source, checked, resp)
    if source.kind == "sitemap":
        return await _check_sitemap(fetcher, source, checked, resp)
    try:
        parsed = await asyncio.to_thread(
            parse_feed, source, resp.content, url=resp.url, headers=resp.headers
        )
    except ParseError as e:
        broken = replace(checked, state="broken", error=str(e))
        pages: list[str | Response] = [resp]
        if _home(resp.url) != resp.url:
            pages.append(_home(source.url))
        return await _look_for_feeds(fetcher, source, broken, pages=pages)
    note = "; ".join(parsed.warnings[:2])
    if resp.url != source.url:
        note = "; ".join(x for x in (f"redirected to {resp.url}", note) if x)
    return replace(checked, content_type=parsed.version, items=len(parsed.articles), note=note)


async def _check_listing(
    fetcher: Fetcher, source: Source, checked: SourceCheck, resp: Response
) -> SourceCheck:
    from parsel import Selector

    problem = check_listing_options(source.options)
    if problem:
        return replace(checked, state="broken", content_type="html", error=problem)
    text = resp.content.decode("utf-8", errors="replace")
    selector = link_selector(str(source.options["article_links"]))
    links = set(Selector(text=text, base_url=resp.url).css(selector).getall())
    feeds = await _confirm(fetcher, source, find_feed_links(resp.content, resp.url))
    checked = replace(checked, content_type="html", items=len(links), discovered=feeds)
    if not links:
        return replace(
            checked,
            state="broken",
            error=f"no links match {selector!r} on the start page: check options.article_links",
        )
    if any(f.works for f in feeds):
        return replace(checked, note="the site also has a feed: a feed source is lighter")
    return checked


async def _check_sitemap(
    fetcher: Fetcher, source: Source, checked: SourceCheck, resp: Response
) -> SourceCheck:
    try:
        sitemap = parse_sitemap(resp.content, max_bytes=fetcher.settings.max_bytes)
    except ParseError:
        pass
    else:
        kind = "sitemap index" if sitemap.is_index else "sitemap"
        return replace(checked, content_type=kind, items=len(sitemap.entries))
    # A robots.txt or a home page: the robots.txt should name the sitemaps.
    from protego import Protego

    robots = resp if resp.url.endswith("/robots.txt") else None
    if robots is None:
        try:
            robots = await fetcher.get(robots_url(resp.url), accept="text/plain", origin=resp.url)
        except FetchError as e:
            return replace(checked, state="broken", error=f"not a sitemap, and {e}")
    names = list(Protego.parse(robots.content.decode("utf-8", "replace")).sitemaps)
    if not names:
        return replace(
            checked,
            state="broken",
            error="not a sitemap, and the site's robots.txt names none: set url to the "
            "news sitemap",
        )
    return replace(
        checked,
        content_type="robots.txt",
        items=len(names),
        note="sitemaps named in robots.txt: " + ", ".join(names[:3]),
    )


async def _look_for_feeds(
    fetcher: Fetcher, source: Source, check: SourceCheck, *, pages: list[str | Response]
) -> SourceCheck:
    """``check`` with the feeds advertised on ``pages`` (fetched if given as URLs)."""
    found: list[DiscoveredFeed] = []
    notes: list[str] = []
    for page in pages:
        if isinstance(page, str):
            try:
                page = await fetcher.get(page, accept=PAGE_ACCEPT, robots=True, origin=source.url)
            except FetchError as e:
                notes.append(f"home page: {e}")
                continue
        found.extend(f for f in find_feed_links(page.content, page.url) if f not in found)
        if found:
            break
    feeds = await _confirm(fetcher, source, found)
    state = "moved" if any(f.works for f in feeds) else check.state
    if not feeds and not notes:
        notes.append("no feed advertised on the page or the site's home page")
    elif feeds:
        notes.append("feeds found: " + ", ".join(f.url for f in feeds))
    return replace(check, state=state, discovered=feeds, note="; ".join(notes))


async def _confirm(
    fetcher: Fetcher, source: Source, feeds: list[DiscoveredFeed]
) -> tuple[DiscoveredFeed, ...]:
    """Fetch and parse the first few discovered feeds, to say which work."""

    async def one(feed: DiscoveredFeed) -> DiscoveredFeed:
        try:
            resp = await fetcher.get(feed.url, accept=FEED_ACCEPT, origin=source.url)
            parsed = await asyncio.to_thread(
                parse_feed, source, resp.content, url=resp.url, headers=resp.headers
            )
        except CrawlError as e:
            return replace(feed, error=str(e))
        return replace(feed, feed_type=parsed.version or feed.feed_type, items=len(parsed.articles))

    confirmed = await asyncio.gather(*(one(f) for f in feeds[:MAX_CONFIRMED]))
    return (*confirmed, *feeds[MAX_CONFIRMED:])


def _home(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
