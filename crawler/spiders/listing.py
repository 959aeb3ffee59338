"""The listing-page spider: read an outlet's list of articles, follow each article link, and
extract the article with trafilatura. Driven by the source's options::

    kind: spider
    url: https://outlet.example/actualites/          # the start (listing) page
    options:
      article_links: "h2.entry-title a::attr(href)"  # CSS selector for article links
      next_page: "a.next::attr(href)"                # optional: the next listing page
      max_pages: 2                                   # listing pages read per crawl
      max_articles: 50                               # article pages per crawl
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse

from crawler.spiders.base import VeyeSpider
from crawler.spiders.options import link_selector

__all__ = ["ListingSpider"]


class ListingSpider(VeyeSpider):
    """Listing page(s) → article pages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requested = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.start_request(self.job.source.url, self.parse_listing)

    def parse_listing(self, response: Response, page: int = 1) -> Iterator[scrapy.Request]:
        self.saw(response)
        if not isinstance(response, TextResponse):
            self.report.notes.append(f"{response.url} is not a web page; no links read")
            return
        max_articles = int(self.job.option("max_articles", 50))
        found = 0
        for href in response.css(link_selector(self.job.option("article_links", ""))).getall():
            url = response.urljoin(href.strip())
            if not url.startswith(("http://", "https://")):
                continue
            found += 1
            if self.requested < max_articles and self.wants(url):
                self.requested += 1
                yield self.article_request(url)
        if not found and page == 1:
            self.report.notes.append(
                f"no article links matched {self.job.option('article_links', '')!r} on "
                f"{response.url}: check the selector"
            )
        next_css = self.job.option("next_page", None)
        if next_css and page < int(self.job.option("max_pages", 2)):
            nxt = response.css(link_selector(next_css)).get()
            if nxt:
                yield scrapy.Request(
                    response.urljoin(nxt.strip()),
                    callback=self.parse_listing,
                    errback=self.failed,
                    cb_kwargs={"page": page + 1},
                )
