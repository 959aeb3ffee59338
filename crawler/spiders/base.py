"""What both spiders share: the job they were given, the report they fill, and the handling
of article pages and failures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.article import article_from_page
from crawler.records import ArticleData, Source
from crawler.urls import canonicalize, host_of

__all__ = ["Report", "SpiderJob", "VeyeSpider", "key_for_url"]


def key_for_url(url: str) -> str:
    """The key an item fetched from ``url`` will have (see ``ArticleData.key``), known
    before its page is fetched."""
    return hashlib.sha256(f"url:{canonicalize(url)}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SpiderJob:
    """What the parent asked for."""

    source: Source
    settings: Mapping[str, Any]
    known_keys: frozenset[str]
    time_limit: float
    now: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpiderJob:
        """Read the job object; raises ``ValueError``/``KeyError``/``TypeError`` when bad."""
        src = data["source"]
        source = Source(
            name=str(src["name"]),
            kind=src["kind"],
            url=str(src["url"]),
            language=src.get("language"),
            options=dict(src.get("options") or {}),
        )
        now = datetime.fromisoformat(data["now"]) if data.get("now") else datetime.now(UTC)
        return cls(
            source=source,
            settings=dict(data["settings"]),
            known_keys=frozenset(str(k) for k in data.get("known_keys") or ()),
            time_limit=float(data.get("time_limit") or 300.0),
            now=now if now.tzinfo else now.replace(tzinfo=UTC),
        )

    def option(self, name: str, default: Any) -> Any:
        return self.source.options.get(name, default)


@dataclass
class Report:
    """How the crawl went, sent to the parent as the summary line."""

    status: int | None = None
    final_url: str | None = None
    error: str | None = None
    items: int = 0
    pages: int = 0
    known: int = 0
    robots_blocked: int = 0
    no_text: int = 0
    failures: list[str] = field(default_factory=list)
    failed: int = 0
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = list(self.notes)
        if self.robots_blocked:
            out.append(f"{self.robots_blocked} pages not fetched: disallowed by robots.txt")
        if self.failed:
            out.append(f"{self.failed} pages failed (first: {self.failures[0]})")
        if self.no_text:
            out.append(f"{self.no_text} pages had no article text")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "summary",
            "status": self.status,
            "final_url": self.final_url,
            "error": self.error,
            "items": self.items,
            "pages": self.pages,
            "known": self.known,
            "warnings": self.warnings(),
        }


class VeyeSpider(scrapy.Spider):
    """Base of veye's spiders: confined to the source's site, reports into ``report``,
    hands each article to ``emit``."""

    def __init__(
        self,
        job: SpiderJob,
        report: Report,
        emit: Callable[[ArticleData], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(name=f"veye-{job.source.name}", **kwargs)
        self.job = job
        self.report = report
        self.emit = emit
        self._asked: set[str] = set()
        extra = job.option("allowed_domains", [])
        site = host_of(job.source.url)
        site = site[4:] if site.startswith("www.") else site
        # The offsite filter keeps the crawl (and its redirects) on the outlet's own site.
        self.allowed_domains = [site, *(str(d) for d in extra)]

    def wants(self, url: str) -> bool:
        """True for an article URL not fetched in this run nor stored already."""
        key = key_for_url(url)
        if not canonicalize(url) or key in self._asked:
            return False
        self._asked.add(key)
        if key in self.job.known_keys:
            self.report.known += 1
            return False
        return True

    def article_request(
        self, url: str, *, title: str = "", published: datetime | None = None
    ) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.failed,
            cb_kwargs={"link": url, "title": title, "published": published},
        )

    def start_request(self, url: str, callback: Callable[..., Any]) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.failed, meta={"start": True})

    def saw(self, response: Response) -> None:
        self.report.pages += 1
        request = getattr(response, "request", None)
        if request is not None and request.meta.get("start"):
            self.report.status = response.status
            self.report.final_url = response.url

    def parse_article(
        self, response: Response, link: str, title: str, published: datetime | None
    ) -> None:
        self.saw(response)
        if not isinstance(response, TextResponse):
            self.report.no_text += 1
            return
        article = article_from_page(
            self.job.source, link, response.text, title=title, published=published
        )
        if article is None:
            self.report.no_text += 1
            return
        self.report.items += 1
        self.emit(article)

    def failed(self, failure: Any) -> None:
        request = getattr(failure, "request", None)
        exc = failure.value
        if isinstance(exc, HttpError):
            message = f"HTTP {exc.response.status} from {exc.response.url}"
            status: int | None = exc.response.status
        else:
            message = failure.getErrorMessage() or type(exc).__name__
            status = None
        url = request.url if request is not None else "?"
        if isinstance(exc, IgnoreRequest) and "robots" in message.lower():
            self.report.robots_blocked += 1
            message = f"{url} is disallowed by its site's robots.txt"
        else:
            self.report.failed += 1
            if url not in message:
                message = f"{url}: {message}"
            self.report.failures.append(message)
        if request is not None and request.meta.get("start"):
            self.report.status = status
            self.report.error = f"the start page failed: {message}"
