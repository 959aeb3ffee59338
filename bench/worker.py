"""One measured task, run in its own process so its peak memory is its own.

``python -m bench.worker TASK JSON_ARGS`` prints one JSON object: the task's figures."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUERIES = [
    "prison",
    "evasion",
    "Mirebalais",
    "gangs attaque",
    '"prison civile"',
    "Viv Ansanm",
    "police",
    "budget",
    "bandi",
    "inmates escaped",
]


def veye_crawl(
    db: str, feeds: list[str], full_text: bool = False, content_selector: str | None = None
) -> dict[str, Any]:
    """``veye crawl`` on the feeds, through the same function the CLI uses; with
    ``content_selector``, every source has it configured (the article pages' known layout)."""
    from alerts.classify import Filter
    from crawler.collect import CollectOptions
    from crawler.fetch import Fetcher, FetchSettings
    from crawler.records import Source
    from storage.store import Store
    from veye.crawl import crawl_once

    store = Store.open(f"sqlite:///{db}")
    flt = Filter.load()
    options = {"content_selector": content_selector} if content_selector else {}
    sources = [
        Source(f"feed{i}", "feed", url, interval=60, options=options) for i, url in enumerate(feeds)
    ]
    # Every feed is on one host (127.0.0.1) here, so the per-host politeness that spaces
    # requests to one outlet would serialise the whole corpus: it is off, as reader has none.
    settings = FetchSettings(timeout=60, per_host_concurrency=16, min_delay=0)
    collect = CollectOptions(full_text=full_text, full_text_limit=10_000)
    started = time.perf_counter()
    summary = crawl_once(
        store,
        flt,
        sources,
        fetcher_factory=lambda: Fetcher(settings),
        concurrency=16,
        options=collect,
    )
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        # The largest of the crawl's worker processes (feed parsing, page extraction), much
        # of it pages shared with this one (they are forked from it).
        "workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "new": summary.total("new"),
        "seen": summary.total("seen"),
        "failed": summary.failed,
        "items": store.count(),
        "not_modified": sum(1 for o in summary.outcomes if o.state == "not modified"),
        "warnings": sorted({w for o in summary.outcomes for w in o.warnings}),
    }


def reader_crawl(db: str, feeds: list[str], workers: int = 4) -> dict[str, Any]:
    from reader import make_reader

    r = make_reader(db)
    for url in feeds:
        r.add_feed(url, exist_ok=True)
    started = time.perf_counter()
    # scheduled=False: poll every feed now, as veye crawl does (reader would otherwise skip
    # feeds that are not yet due, and a re-poll would measure nothing).
    r.update_feeds(workers=workers, scheduled=False)
    elapsed = time.perf_counter() - started
    counts = r.get_entry_counts()
    r.close()
    return {"seconds": elapsed, "items": counts.total}


def veye_search(db: str, n: int) -> dict[str, Any]:
    from storage.search import SearchFilters, search
    from storage.store import Store

    store = Store.open(f"sqlite:///{db}")
    if store.count() < n:
        _fill_veye(store, n)
    return _time_queries(lambda q: search(store.engine, q, SearchFilters(limit=20)), db)


def reader_search(db: str, n: int) -> dict[str, Any]:
    from reader import make_reader

    r = make_reader(db)
    if r.get_entry_counts().total < n:
        _fill_reader(r, n)
    return _time_queries(lambda q: list(r.search_entries(q, limit=20)), db)


def _time_queries(run: Any, db: str) -> dict[str, Any]:
    for q in QUERIES:  # warm the page cache: both sides are measured warm
        run(q)
    samples = []
    for _ in range(5):
        for q in QUERIES:
            t = time.perf_counter()
            run(q)
            samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(len(samples) * 0.95) - 1],
        "db_bytes": sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*")),
    }


def _items(n: int) -> list[Any]:
    from bench.corpus import build

    per_feed = 100
    return build(
        max(1, n // per_feed), per_feed, base="http://bench.example", duplicates=0.0
    ).items[:n]


def _fill_veye(store: Any, n: int) -> None:
    from alerts.verdict import Verdict
    from crawler.records import ArticleData

    now = datetime.now(UTC)
    batch = []
    for it in _items(n):
        batch.append(
            (
                ArticleData(
                    f"feed{it.feed}",
                    it.url,
                    it.url,
                    it.guid,
                    it.title,
                    "",
                    it.text,
                    it.lang,
                    it.published,
                ),
                Verdict(alert=False),
            )
        )
        if len(batch) == 2000:
            store.save(batch, now=now)
            batch = []
    store.save(batch, now=now)


def _fill_reader(r: Any, n: int) -> None:
    r.add_feed("http://bench.example/feed", allow_invalid_url=True, exist_ok=True)
    for it in _items(n):
        r.add_entry(
            {
                "feed_url": "http://bench.example/feed",
                "id": it.url,
                "title": it.title,
                "summary": it.text,
                "link": it.url,
            },
            overwrite=True,
        )
    r.enable_search()
    r.update_search()


TASKS = {
    "veye_crawl": veye_crawl,
    "reader_crawl": reader_crawl,
    "veye_search": veye_search,
    "reader_search": reader_search,
}


def peak_rss_mb() -> float:
    """This process's peak RSS since it started running this program. ``ru_maxrss`` is not
    it: Linux carries over the peak of the process image before ``exec``, which was a copy
    of the runner, corpus included."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) / 1024


def main() -> None:
    task, args = sys.argv[1], json.loads(sys.argv[2])
    result = TASKS[task](**args)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
