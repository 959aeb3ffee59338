"""One pass over the sources: fetch, run the pipeline, record each source's health."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawler.article import needs_full_text
from crawler.collect import CollectOptions, collect
from crawler.fetch import Fetcher
from crawler.records import ArticleData, FetchResult, Source
from storage.clusters import ClusterParams
from storage.store import Store
from veye.pipeline import AlertPlanner, Classifier, process

__all__ = ["CrawlSummary", "SourceOutcome", "crawl_once"]

#: Ceiling for the backoff of a failing source.
MAX_BACKOFF = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """How one source fared in a crawl."""

    source: str
    #: ``ok``, ``not modified`` or ``error``.
    state: str
    new: int = 0
    updated: int = 0
    seen: int = 0
    alerts: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    outcomes: tuple[SourceOutcome, ...]

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.state == "error")

    def total(self, field: str) -> int:
        return sum(int(getattr(o, field)) for o in self.outcomes)


def next_poll(source: Source, result: FetchResult, errors_before: int, now: datetime) -> datetime:
    """When to poll again: the source's interval, stretched exponentially while it fails and
    never sooner than the server's ``Retry-After``."""
    delay = source.interval
    if result.error is not None:
        delay = min(source.interval * 2 ** min(errors_before, 16), MAX_BACKOFF)
        delay = max(delay, source.interval)
    if result.retry_after:
        delay = max(delay, result.retry_after)
    return now + timedelta(seconds=delay)


def crawl_once(
    store: Store,
    classifier: Classifier,
    sources: Sequence[Source],
    *,
    fetcher_factory: Callable[[], Fetcher],
    concurrency: int = 16,
    on_result: Callable[[SourceOutcome], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    planner: AlertPlanner | None = None,
    options: CollectOptions | None = None,
    clustering: ClusterParams | None = None,
) -> CrawlSummary:
    """Poll every source once (feeds here, spiders and sitemaps in child processes) and
    store what is new. Never raises for a source's own failure: it is recorded and reported
    in the summary."""
    options = options or CollectOptions()
    store.sync_sources((s.name, s.kind, s.url) for s in sources)
    all_states = store.source_states()
    states = {s.name: s for s in all_states}
    validators = store.validators()
    by_name = {s.name: s for s in sources}
    # Every source the database knows, so a redirect onto another one's URL is noticed even
    # when only some sources are polled.
    polled_urls = {s.name: s.url for s in all_states} | {s.name: s.url for s in sources}
    outcomes: list[SourceOutcome] = []

    def wanted(batch: Sequence[ArticleData]) -> set[str]:
        # Only items not stored yet are worth an article page fetch.
        stored = store.stored_by(batch)
        return {a.key for a in batch if a.key not in stored}

    def handle(result: FetchResult) -> None:
        now = clock()
        source = by_name[result.source]
        items = result.articles
        kept_text = 0
        if items and options.full_text and source.kind == "feed":
            before = len(items)
            items = _keep_stored_text(store, items)
            kept_text = before - len(items)  # stored already: seen, not stored again
        processed = (
            process(store, classifier, items, now=now, planner=planner, clustering=clustering)
            if items
            else None
        )
        report = processed.saved if processed else None
        new = report.count("new") if report else 0
        errors_before = states[source.name].error_count if source.name in states else 0
        store.record_poll(
            result,
            now=now,
            new_items=new,
            next_poll_at=next_poll(source, result, errors_before, now),
        )
        outcome = SourceOutcome(
            source=result.source,
            state="error" if result.error else ("not modified" if result.not_modified else "ok"),
            new=new,
            updated=report.count("updated") if report else 0,
            seen=kept_text + ((report.count("seen") + report.count("also")) if report else 0),
            alerts=processed.flagged if processed else 0,
            error=result.error,
            warnings=result.warnings,
            elapsed=result.elapsed,
        )
        outcomes.append(outcome)
        if on_result:
            on_result(outcome)

    async def run() -> None:
        async with fetcher_factory() as fetcher:
            async for result in collect(
                fetcher,
                sources,
                validators,
                concurrency=concurrency,
                options=options,
                wanted=wanted,
                known_keys=lambda s: store.recent_keys(s.name, since=clock() - KNOWN_WINDOW),
                polled_urls=polled_urls,
            ):
                handle(result)

    asyncio.run(run())
    return CrawlSummary(tuple(sorted(outcomes, key=lambda o: o.source)))


def _keep_stored_text(store: Store, items: Sequence[ArticleData]) -> tuple[ArticleData, ...]:
    """``items`` without the summary-only ones this source already stored: the stored copy
    holds the article page's full text, which the feed's summary must not overwrite."""
    stored = store.stored_by([a for a in items if needs_full_text(a)])
    return tuple(a for a in items if stored.get(a.key) != a.source)


#: How far back a spider's already-stored items are remembered, so their pages are skipped.
KNOWN_WINDOW = timedelta(days=30)
