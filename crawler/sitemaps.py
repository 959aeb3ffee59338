"""Sitemaps read safely: ``<urlset>`` (with Google News ``<news:news>`` fields) and
``<sitemapindex>``, plain or gzipped; never resolving entities, never touching the network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from crawler.decoding import BoundedDecoder
from crawler.errors import CrawlError, ParseError

__all__ = ["Sitemap", "SitemapEntry", "parse_sitemap", "recent_entries"]


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One ``<url>`` (or one child sitemap of an index)."""

    url: str
    #: ``<news:publication_date>``, else ``<lastmod>``, in UTC.
    published: datetime | None = None
    #: ``<news:title>``.
    title: str = ""
    #: True when the entry carried ``<news:news>``.
    news: bool = False


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap: pages, or (for an index) further sitemaps."""

    entries: tuple[SitemapEntry, ...]
    is_index: bool


def _parser() -> etree.XMLParser:
    # No entities, no DTD, no network, no huge trees: a sitemap is data from strangers.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def parse_sitemap(body: bytes, *, max_bytes: int = 50_000_000) -> Sitemap:
    """Parse a sitemap or sitemap index. Gzipped bodies are inflated under ``max_bytes``.

    Raises :class:`ParseError` for what is not a sitemap."""
    if body[:2] == b"\x1f\x8b":
        try:
            decoder = BoundedDecoder("gzip", max_bytes)
            body = decoder.feed(body) + decoder.finish()
        except CrawlError as e:
            raise ParseError(f"gzipped sitemap: {e}") from e
    try:
        root = etree.fromstring(body, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise ParseError(f"not a readable sitemap: {e}") from e
    if root is None:
        raise ParseError("not a readable sitemap: empty document")
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ParseError(f"not a sitemap: the document is <{kind}>")
    child = "url" if kind == "urlset" else "sitemap"
    entries = []
    for node in root.iterchildren("{*}" + child, child):
        loc = _text(node, "loc")
        if not loc.startswith(("http://", "https://")):
            continue
        news = node.find("{*}news")
        published = None
        title = ""
        if news is not None:
            published = _date(_text(news, "publication_date"))
            title = _text(news, "title")
        published = published or _date(_text(node, "lastmod"))
        entries.append(SitemapEntry(loc, published, title, news is not None))
    return Sitemap(tuple(entries), kind == "sitemapindex")


def recent_entries(
    sitemap: Sitemap, *, now: datetime, max_age: timedelta, limit: int
) -> list[SitemapEntry]:
    """The newest entries within ``max_age`` (undated ones after the dated, when a news
    sitemap gives no dates at all), at most ``limit``."""
    cutoff = now - max_age
    dated = sorted(
        (e for e in sitemap.entries if e.published is not None and e.published >= cutoff),
        key=lambda e: e.published or cutoff,
        reverse=True,
    )
    undated = [e for e in sitemap.entries if e.published is None]
    return (dated + undated)[: max(limit, 0)]


def _text(node: etree._Element, name: str) -> str:
    found = node.find("{*}" + name)
    if found is None:
        found = node.find(name)
    return " ".join((found.text or "").split()) if found is not None else ""


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
