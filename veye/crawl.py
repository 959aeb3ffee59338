"""One pass over the sources: fetch, run the pipeline, record each source's health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawler.article import needs_full_text
from crawler.collect import CollectOptions, collect, offload_for
from crawler.errors import CrawlError
from crawler.fetch import Fetcher
from crawler.records import ArticleData, FetchResult, Source
from storage.clusters import ClusterParams
from storage.records import SaveReport
from storage.store import Store
from veye.pipeline import (
    AlertPlanner,
    Classifier,
    Prepared,
    ProcessReport,
    init_worker,
    prepare,
    process,
)

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
    params = clustering or ClusterParams()
    # Worker processes parse, extract, classify and sign when the crawl has many feeds: the
    # main process is then left to store.
    offload = offload_for(
        sources, options, initializer=init_worker, initargs=(classifier, params.min_words)
    )
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

    def handle(batch: Sequence[_Ready]) -> None:
        """Store the items of several polls in one transaction, then record each poll."""
        now = clock()
        parts: list[tuple[FetchResult, int, int]] = []  # result, items, kept_text
        articles: list[ArticleData] = []
        ready: list[Prepared | None] = []
        for result, prepared in batch:
            items: Sequence[ArticleData] = result.articles or ()
            prep: Sequence[Prepared | None] = prepared or [None] * len(items)
            kept_text = 0
            if items and options.full_text and by_name[result.source].kind == "feed":
                keep = _keep_stored_text(store, items)
                prep = [p for p, k in zip(prep, keep, strict=True) if k]
                items = [a for a, k in zip(items, keep, strict=True) if k]
                kept_text = len(keep) - len(items)  # stored already: seen, not stored again
            parts.append((result, len(items), kept_text))
            articles.extend(items)
            ready.extend(prep)
        processed = (
            process(
                store,
                classifier,
                articles,
                now=now,
                planner=planner,
                clustering=params,
                prepared=ready if any(p is not None for p in ready) else None,
            )
            if articles
            else None
        )
        at = changed_at = 0
        reports: list[tuple[FetchResult, ProcessReport | None, int]] = []
        for result, n, kept_text in parts:
            report: ProcessReport | None = None
            if processed is not None and n:
                saved = SaveReport(processed.saved.outcomes[at : at + n])
                # One cluster change per new, newly carried or updated item, in order.
                k = sum(1 for o in saved.outcomes if o.status in ("new", "also", "updated"))
                report = ProcessReport(saved, processed.changes[changed_at : changed_at + k])
                at, changed_at = at + n, changed_at + k
            reports.append((result, report, kept_text))
        # One transaction for the batch's polls, as for its items.
        store.record_polls(
            [
                (
                    result,
                    now,
                    report.saved.count("new") if report else 0,
                    next_poll(by_name[result.source], result, errors_before(result), now),
                )
                for result, report, _ in reports
            ]
        )
        for result, report, kept_text in reports:
            record(result, report, kept_text)

    def errors_before(result: FetchResult) -> int:
        state = states.get(result.source)
        return state.error_count if state else 0

    def record(result: FetchResult, processed: ProcessReport | None, kept_text: int) -> None:
        """Report a poll whose items and health are stored."""
        report = processed.saved if processed else None
        new = report.count("new") if report else 0
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

    async def prepared(result: FetchResult) -> _Ready:
        """``result`` with its new or changed items classified and signed by the worker
        processes, when there are any (else the store's transaction does it)."""
        items = result.articles
        if not items or not offload.in_processes:
            return result, None
        unchanged = store.unchanged_keys(items)
        todo = [i for i, a in enumerate(items) if a.key not in unchanged]
        if not todo:
            return result, None
        try:
            done = (await offload.run(prepare, [items[i] for i in todo])).unpack()
        except CrawlError:  # a worker died: the items are classified here instead
            return result, None
        out: list[Prepared | None] = [None] * len(items)
        for i, p in zip(todo, done, strict=True):
            out[i] = p
        return result, out

    async def run() -> None:
        # Polls are stored in batches: one transaction for many items costs less per item
        # than one per feed. A batch is stored once it holds BATCH_ITEMS items, once every
        # poll is in, or BATCH_WAIT after its first poll came in, whichever is first.
        waiting: list[_Ready] = []
        wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        #: Polls handed to ``one`` and not yet waiting (nor failed).
        inflight = 0
        failures: list[Exception] = []
        finished = False
        loop = asyncio.get_running_loop()
        deadline = 0.0

        # Polls are stored in the order they finished, whichever worker prepares its items
        # first: a story's first copy (which starts its cluster) then does not depend on
        # which worker was warm. ``ahead`` holds those prepared before their turn.
        ahead: dict[int, _Ready | None] = {}
        turn = 0

        async def one(seq: int, result: FetchResult) -> None:
            nonlocal deadline, inflight, turn
            ready: _Ready | None = None
            try:
                ready = await prepared(result)
            except Exception as e:  # the store failed: the crawl stops, as it would below
                failures.append(e)
            finally:
                ahead[seq] = ready
                while turn in ahead:
                    if (next_ready := ahead.pop(turn)) is not None:
                        if not waiting:
                            deadline = loop.time() + BATCH_WAIT
                        waiting.append(next_ready)
                    turn += 1
                    # Counted off before the wake-up, so the loop below sees it done.
                    inflight -= 1
                wake.set()

        async def produce(fetcher: Fetcher) -> None:
            nonlocal finished, inflight
            produced = 0
            try:
                async for result in collect(
                    fetcher,
                    sources,
                    validators,
                    concurrency=concurrency,
                    options=options,
                    wanted=wanted,
                    known_keys=lambda s: store.recent_keys(s.name, since=clock() - KNOWN_WINDOW),
                    polled_urls=polled_urls,
                    offload=offload,
                ):
                    inflight += 1
                    task = asyncio.create_task(one(produced, result))
                    produced += 1
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                finished = True
                wake.set()

        with offload:
            async with fetcher_factory() as fetcher:
                producer = asyncio.create_task(produce(fetcher))
                try:
                    while True:
                        if failures:
                            raise failures[0]
                        done = finished and not inflight
                        if not waiting and done:
                            break
                        items = sum(len(r.articles or ()) for r, _ in waiting)
                        if waiting and (done or items >= BATCH_ITEMS or loop.time() >= deadline):
                            batch, waiting[:] = list(waiting), []
                            handle(batch)
                            continue
                        wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                wake.wait(), timeout=deadline - loop.time() if waiting else None
                            )
                    await producer  # its errors, if any
                finally:
                    producer.cancel()
                    for task in list(tasks):
                        task.cancel()

    asyncio.run(run())
    return CrawlSummary(tuple(sorted(outcomes, key=lambda o: o.source)))


def _keep_stored_text(store: Store, items: Sequence[ArticleData]) -> list[bool]:
    """Which of ``items`` to store: not the summary-only ones this source already stored, as
    the stored copy holds the article page's full text, which the summary must not
    overwrite."""
    stored = store.stored_by([a for a in items if needs_full_text(a)])
    return [stored.get(a.key) != a.source for a in items]


#: A poll's result with what the worker processes worked out of its items (if they did).
_Ready = tuple[FetchResult, list[Prepared | None] | None]

#: Items stored in one transaction, at most (a batch may exceed it by one poll's items).
BATCH_ITEMS = 500
#: Seconds a poll waits at most for others to share its transaction.
BATCH_WAIT = 0.5


#: How far back a spider's already-stored items are remembered, so their pages are skipped.
KNOWN_WINDOW = timedelta(days=30)
