"""One poll of many sources at once; each source's failure stays its own.

Feeds are fetched and parsed here (with full text for summary-only items); spiders and
sitemaps run through Scrapy in a child process each (:mod:`crawler.spider_process`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from crawler.article import Wanted, add_full_text
from crawler.errors import CrawlError, FetchError
from crawler.feeds import ParsedFeed, parse_feed
from crawler.fetch import Fetcher
from crawler.offload import Offload, default_workers
from crawler.records import FetchResult, Source, Validators
from crawler.spider_process import run_spider
from crawler.urls import canonicalize

__all__ = ["FEED_ACCEPT", "CollectOptions", "KnownKeys", "collect", "offload_for", "poll_feed"]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

#: The keys a source's items are already stored under (spiders skip those pages).
KnownKeys = Callable[[Source], Collection[str]]


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """What a poll does beyond fetching: full text, and the limits of spider runs."""

    #: Fetch the article page when a feed item carries only a summary.
    full_text: bool = True
    #: Most article pages fetched per source per poll.
    full_text_limit: int = 30
    #: Seconds a spider's child process may run before it is killed.
    spider_time_limit: float = 300.0
    #: Spider child processes run at once.
    spider_concurrency: int = 2
    #: Processes that parse feeds and extract article pages, so that the main process is
    #: left to store (0: a thread of the main process does it).
    parse_workers: int = field(default_factory=default_workers)
    #: Fewest feeds in one crawl for which those processes are started: for fewer, starting
    #: them costs more than it saves.
    parse_pool_threshold: int = 8


async def poll_feed(
    fetcher: Fetcher,
    source: Source,
    validators: Validators | None = None,
    *,
    options: CollectOptions | None = None,
    wanted: Wanted | None = None,
    offload: Offload | None = None,
) -> FetchResult:
    """Fetch and parse one feed, then fetch the full text of its summary-only items.
    ``offload`` runs the parsing and extraction (a thread of this process without it).

    Never raises for the source's own problems: they come back in ``FetchResult.error``."""
    options = options or CollectOptions()
    offload = offload or Offload(0)
    started = time.monotonic()
    try:
        # The feed URL is the user's explicit choice: robots.txt is not consulted for it
        # (see docs/collection.md); the article pages it links to are fetched politely.
        resp = await fetcher.get(
            source.url,
            validators=validators,
            accept=FEED_ACCEPT,
            allow_private=bool(source.options.get("allow_private")),
        )
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
        # Parsing holds the GIL for a while: off the event loop, other fetches go on.
        parsed = await offload.run(
            _parse, _portable(source), resp.content, resp.url, dict(resp.headers)
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
    articles = parsed.articles
    warnings = parsed.warnings
    if options.full_text and articles:
        articles, notes = await add_full_text(
            fetcher,
            source,
            articles,
            origin=resp.url,
            wanted=wanted,
            limit=options.full_text_limit,
            offload=offload,
        )
        warnings += notes
    return FetchResult(
        source.name,
        articles,
        resp.validators,
        resp.status,
        warnings=warnings,
        final_url=resp.url,
        elapsed=time.monotonic() - started,
    )


async def collect(
    fetcher: Fetcher,
    sources: Iterable[Source],
    validators: Mapping[str, Validators] | None = None,
    *,
    concurrency: int = 16,
    options: CollectOptions | None = None,
    wanted: Wanted | None = None,
    known_keys: KnownKeys | None = None,
    polled_urls: Mapping[str, str] | None = None,
    offload: Offload | None = None,
) -> AsyncIterator[FetchResult]:
    """Poll ``sources`` with at most ``concurrency`` in flight; yield results as they finish.

    ``wanted`` chooses the summary-only items worth a page fetch; ``known_keys`` gives the
    keys a spider need not fetch again; ``polled_urls`` (source name to URL, every
    configured source) lets a feed that redirects onto another source's URL be reported.
    ``offload`` parses feeds and extracts pages (the caller starts and stops it); without
    it, worker processes are started for the crawl when it has enough feeds
    (:func:`offload_for`)."""
    validators = validators or {}
    options = options or CollectOptions()
    gate = asyncio.Semaphore(concurrency)
    spider_gate = asyncio.Semaphore(options.spider_concurrency)
    others = {canonicalize(url): name for name, url in (polled_urls or {}).items()}
    sources = list(sources)
    # An offload given by the caller is the caller's to start and stop.
    owned = offload_for(sources, options) if offload is None else None
    offload = offload or owned

    async def poll(source: Source) -> FetchResult:
        if source.kind == "feed":
            return await poll_feed(
                fetcher,
                source,
                validators.get(source.name),
                options=options,
                wanted=wanted,
                offload=offload,
            )
        async with spider_gate:
            return await run_spider(
                source,
                fetcher.settings,
                known_keys(source) if known_keys else (),
                time_limit=options.spider_time_limit,
            )

    async def one(source: Source) -> FetchResult:
        async with gate:
            try:
                result = await poll(source)
            except Exception as e:  # a bug in one source's handling must not end the crawl
                return FetchResult(
                    source.name, (), error=f"internal error: {type(e).__name__}: {e}"
                )
        return _note_overlap(source, result, others)

    with owned or contextlib.nullcontext():
        # Only the polls still running are kept here (to be cancelled), and each finished one
        # only until it is handed over: its items then belong to whoever took them, so memory
        # stays flat however many sources. (``asyncio.as_completed`` would keep every task,
        # results and all, until the last one is taken.)
        running: set[asyncio.Future[FetchResult]] = set()
        finished: asyncio.Queue[asyncio.Future[FetchResult]] = asyncio.Queue()
        started = 0
        for s in sources:
            task = asyncio.ensure_future(one(s))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(finished.put_nowait)
            started += 1
        try:
            for _ in range(started):
                result = (await finished.get()).result()
                yield result
                del result
        finally:
            for t in list(running):
                t.cancel()


def offload_for(
    sources: Iterable[Source],
    options: CollectOptions,
    *,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[object, ...] = (),
) -> Offload:
    """Where a crawl of ``sources`` runs its CPU-bound steps: worker processes when it has
    at least ``options.parse_pool_threshold`` feeds, else a thread."""
    feeds = sum(1 for s in sources if s.kind == "feed")
    workers = options.parse_workers if feeds >= options.parse_pool_threshold else 0
    return Offload(workers, initializer=initializer, initargs=initargs)


def _parse(source: Source, body: bytes, url: str, headers: dict[str, str]) -> ParsedFeed:
    """:func:`parse_feed` with positional arguments (what :meth:`Offload.run` passes)."""
    parsed = parse_feed(source, body, url=url, headers=headers)
    for article in parsed.articles:
        _ = article.key, article.content_hash  # hashed here, in the worker, sent with the item
    return parsed


def _portable(source: Source) -> Source:
    """What parsing needs of ``source``, in a form that can be sent to a worker process (its
    options mapping cannot be, and parsing does not read it)."""
    return Source(
        source.name, source.kind, source.url, source.interval, source.language, options={}
    )


def _note_overlap(source: Source, result: FetchResult, others: Mapping[str, str]) -> FetchResult:
    """A warning when ``source`` was redirected onto a URL another source already polls."""
    if not result.final_url or result.final_url == source.url:
        return result
    other = others.get(canonicalize(result.final_url))
    if other is None or other == source.name:
        return result
    note = (
        f"redirected to {result.final_url}, which source {other!r} already polls: "
        "remove one of the two from the config"
    )
    return replace(result, warnings=(*result.warnings, note))
