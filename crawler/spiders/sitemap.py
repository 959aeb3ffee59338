"""The news-sitemap spider: read an outlet's (news) sitemap, keep the recent entries, and
extract each article with trafilatura. The source's ``url`` is the sitemap itself, the
site's robots.txt (its ``Sitemap:`` lines are followed), or any page of the site (then its
robots.txt is read). Options::

    kind: sitemap
    url: https://outlet.example/news-sitemap.xml
    options:
      max_age_hours: 48     # entries older than this are skipped
      max_items: 50         # article pages per crawl
      max_sitemaps: 5       # child sitemaps followed from an index or robots.txt
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import scrapy
from protego import Protego
from scrapy.http import Response

from crawler.errors import ParseError
from crawler.politeness import robots_url
from crawler.sitemaps import Sitemap, parse_sitemap, recent_entries
from crawler.spiders.base import VeyeSpider

__all__ = ["NewsSitemapSpider"]

#: Index → sitemap → pages: deeper nesting is not followed.
MAX_DEPTH = 2


class NewsSitemapSpider(VeyeSpider):
    """(robots.txt →) sitemap index → news sitemap → article pages."""

    async def start(self) -> AsyncIterator[scrapy.Request]:
        url = self.job.source.url
        if urlsplit(url).path.endswith("/robots.txt"):
            yield self.start_request(url, self.parse_robots)
        else:
            yield self.start_request(url, self.parse_start)

    def parse_start(self, response: Response) -> Iterator[scrapy.Request]:
        self.saw(response)
        try:
            sitemap = parse_sitemap(response.body, max_bytes=self.max_bytes)
        except ParseError:
            # A home page, not a sitemap: the site's robots.txt names its sitemaps.
            yield scrapy.Request(
                robots_url(response.url), callback=self.parse_robots, errback=self.failed
            )
            return
        yield from self.follow(sitemap, depth=0)

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        self.saw(response)
        text = response.body.decode("utf-8", errors="replace")
        sitemaps = list(Protego.parse(text).sitemaps)
        if not sitemaps:
            self.report.error = (
                f"{response.url} names no sitemap (no `Sitemap:` line): set the source's url "
                "to the site's news sitemap"
            )
            return
        # News sitemaps first: they hold the recent articles.
        sitemaps.sort(key=lambda u: "news" not in u.lower())
        for url in sitemaps[: self.max_sitemaps]:
            yield self.sitemap_request(url, depth=0)

    def sitemap_request(self, url: str, depth: int) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_sitemap, errback=self.failed, cb_kwargs={"depth": depth}
        )

    def parse_sitemap(self, response: Response, depth: int) -> Iterator[scrapy.Request]:
        self.saw(response)
        try:
            sitemap = parse_sitemap(response.body, max_bytes=self.max_bytes)
        except ParseError as e:
            self.report.notes.append(f"{response.url}: {e}")
            return
        yield from self.follow(sitemap, depth)

    def follow(self, sitemap: Sitemap, depth: int) -> Iterator[scrapy.Request]:
        age = timedelta(hours=float(self.job.option("max_age_hours", 48)))
        if sitemap.is_index:
            if depth >= MAX_DEPTH:
                return
            children = recent_entries(
                sitemap, now=self.job.now, max_age=age, limit=len(sitemap.entries)
            )
            children.sort(key=lambda e: "news" not in e.url.lower())
            for child in children[: self.max_sitemaps]:
                yield self.sitemap_request(child.url, depth + 1)
            return
        limit = int(self.job.option("max_items", 50))
        for entry in recent_entries(sitemap, now=self.job.now, max_age=age, limit=limit):
            if self.wants(entry.url):
                yield self.article_request(entry.url, title=entry.title, published=entry.published)

    @property
    def max_sitemaps(self) -> int:
        return int(self.job.option("max_sitemaps", 5))

    @property
    def max_bytes(self) -> int:
        return int(self.job.settings.get("max_bytes", 15_000_000))
