"""One poll of many sources at once; each source's failure stays its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping

from crawler.errors import CrawlError, FetchError
from crawler.feeds import parse_feed
from crawler.fetch import Fetcher
from crawler.records import FetchResult, Source, Validators

__all__ = ["collect", "poll_feed"]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


async def poll_feed(
    fetcher: Fetcher, source: Source, validators: Validators | None = None
) -> FetchResult:
    """Fetch and parse one feed. Never raises for the source's own problems: they come back
    in ``FetchResult.error``."""
    started = time.monotonic()
    try:
        resp = await fetcher.get(source.url, validators=validators, accept=FEED_ACCEPT)
    except FetchError as e:
        return FetchResult(
            source.name,
            (),
            validators or Validators(),
            e.status,
            str(e),
            retry_after=e.retry_after,
            elapsed=time.monotonic() - started,
        )
    if resp.status == 304:
        return FetchResult(
            source.name,
            None,
            validators or Validators(),
            304,
            final_url=resp.url,
            elapsed=resp.elapsed,
        )
    try:
        # Parsing holds the GIL for a while; a thread keeps other fetches' sockets serviced.
        parsed = await asyncio.to_thread(
            parse_feed, source, resp.content, url=resp.url, headers=resp.headers
        )
    except CrawlError as e:
        return FetchResult(
            source.name,
            (),
            resp.validators,
            resp.status,
            str(e),
            final_url=resp.url,
            elapsed=time.monotonic() - started,
        )
    return FetchResult(
        source.name,
        parsed.articles,
        resp.validators,
        resp.status,
        warnings=parsed.warnings,
        final_url=resp.url,
        elapsed=time.monotonic() - started,
    )


async def collect(
    fetcher: Fetcher,
    sources: Iterable[Source],
    validators: Mapping[str, Validators] | None = None,
    *,
    concurrency: int = 16,
) -> AsyncIterator[FetchResult]:
    """Poll ``sources`` with at most ``concurrency`` in flight; yield results as they finish."""
    validators = validators or {}
    gate = asyncio.Semaphore(concurrency)

    async def one(source: Source) -> FetchResult:
        async with gate:
            try:
                return await poll_feed(fetcher, source, validators.get(source.name))
            except Exception as e:  # a bug in one source's handling must not end the crawl
                return FetchResult(
                    source.name, (), error=f"internal error: {type(e).__name__}: {e}"
                )

    tasks = [asyncio.ensure_future(one(s)) for s in sources]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for t in tasks:
            t.cancel()
