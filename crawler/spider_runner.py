"""The child process of a spider crawl: ``python -m crawler.spider_runner``.

Reads one JSON job on stdin, runs the spider with Scrapy's politeness settings (robots.txt,
per-host delay, size and time caps), writes one JSON line per article on stdout and a final
summary (or error) line. See :mod:`crawler.spider_process` for the protocol."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from crawler.records import ArticleData
from crawler.spider_process import encode_article
from crawler.spiders.base import Report, SpiderJob
from crawler.spiders.options import check_listing_options, check_sitemap_options

__all__ = ["main", "scrapy_settings"]


def scrapy_settings(job: SpiderJob) -> dict[str, Any]:
    """Scrapy settings carrying the same limits as :class:`~crawler.fetch.FetchSettings`."""
    s = job.settings
    delay = float(s.get("min_delay", 1.0))
    limit = job.time_limit
    return {
        "USER_AGENT": str(s.get("user_agent", "veye")),
        "ROBOTSTXT_OBEY": bool(s.get("obey_robots", True)),
        # The per-host delay: fixed at min_delay at least, stretched by AutoThrottle when a
        # site slows down. Not randomised: randomising would go below the minimum.
        "DOWNLOAD_DELAY": delay,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "AUTOTHROTTLE_ENABLED": delay > 0,
        "AUTOTHROTTLE_START_DELAY": max(delay, 1.0),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "CONCURRENT_REQUESTS": 8,
        "CONCURRENT_REQUESTS_PER_DOMAIN": int(s.get("per_host_concurrency", 2)),
        "CONCURRENT_ITEMS": 4,
        "DOWNLOAD_MAXSIZE": int(s.get("max_bytes", 15_000_000)),
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": float(s.get("timeout", 20.0)),
        "REDIRECT_MAX_TIMES": int(s.get("max_redirects", 5)),
        "METAREFRESH_ENABLED": False,
        "RETRY_TIMES": 1,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        # Stop gracefully before the parent's hard limit, so the summary gets written.
        "CLOSESPIDER_TIMEOUT": max(1.0, limit - max(5.0, limit * 0.1)),
        # http and https only: no file://, ftp://, s3:// or data: from a hostile page.
        "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "s3": None, "data": None},
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "LOGSTATS_INTERVAL": 0,
        "STATS_DUMP": False,
    }


def _spider_class(
    kind: str,
) -> tuple[type[Any], Callable[[Mapping[str, Any]], str | None]]:
    if kind == "spider":
        from crawler.spiders.listing import ListingSpider

        return ListingSpider, check_listing_options
    if kind == "sitemap":
        from crawler.spiders.sitemap import NewsSitemapSpider

        return NewsSitemapSpider, check_sitemap_options
    raise ValueError(f"kind {kind!r} is not a spider kind (spider or sitemap)")


def run(job: SpiderJob, out: IO[str]) -> Report:
    """Crawl ``job`` to the end, writing articles to ``out`` as they come."""
    from scrapy.crawler import CrawlerProcess

    report = Report()
    spider_cls, check = _spider_class(job.source.kind)
    problem = check(dict(job.source.options))
    if problem:
        report.error = f"bad options for source {job.source.name!r}: {problem}"
        return report

    def emit(article: ArticleData) -> None:
        out.write(json.dumps({"type": "article", "article": encode_article(article)}) + "\n")
        out.flush()

    process = CrawlerProcess(settings=scrapy_settings(job), install_root_handler=True)
    process.crawl(spider_cls, job=job, report=report, emit=emit)
    process.start()
    return report


def main() -> int:
    # Results go to the real stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        job = SpiderJob.from_json(json.loads(sys.stdin.read()))
    except (ValueError, KeyError, TypeError) as e:
        out.write(json.dumps({"type": "error", "message": f"bad spider job: {e}"}) + "\n")
        out.flush()
        return 2
    try:
        report = run(job, out)
    except Exception as e:  # reported to the parent as one line; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        out.write(json.dumps({"type": "error", "message": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps(report.to_json()) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
