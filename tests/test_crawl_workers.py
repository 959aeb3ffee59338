"""A crawl of many feeds parses, extracts, classifies and signs in worker processes and stores
in batches: what it stores must be exactly what the one-process crawl stores."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alerts.classify import Filter
from alerts.verdict import Verdict
from bench.corpus import build
from crawler.collect import CollectOptions
from crawler.errors import CrawlError
from crawler.fetch import Fetcher, FetchSettings
from crawler.offload import Offload
from crawler.records import Source
from storage.schema import articles, clusters
from storage.store import Store
from tests.localserver import LocalServer, Route
from veye.crawl import CrawlSummary, crawl_once

FAST = FetchSettings(timeout=10, min_delay=0, per_host_concurrency=4)


class NoAlerts:
    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        return Verdict(alert=False)


@pytest.fixture(scope="module")
def flt() -> Filter:
    return Filter.load()


def serve_corpus(server: LocalServer, n_feeds: int, per_feed: int, **kw: Any) -> list[Source]:
    corpus = build(n_feeds, per_feed, base=server.base, **kw)
    for path, body in corpus.feeds.items():
        server.add(path, Route(body))
    for path, body in corpus.pages.items():
        server.add(path, Route(body, content_type="text/html; charset=utf-8"))
    return [Source(f"feed{i}", "feed", server.url(p)) for i, p in enumerate(corpus.feeds)]


def crawl(
    tmp_path: Path, name: str, flt: Filter, sources: list[Source], options: CollectOptions
) -> tuple[Store, CrawlSummary]:
    store = Store.open(f"sqlite:///{tmp_path}/{name}.db")
    # One source at a time: which item of a story comes first (and so starts its cluster)
    # is then the same in both crawls.
    summary = crawl_once(
        store,
        flt,
        sources,
        fetcher_factory=lambda: Fetcher(FAST),
        concurrency=1,
        options=options,
    )
    return store, summary


def contents(store: Store) -> dict[str, Any]:
    """What a crawl stored, without ids and times."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(articles)).mappings().all()
        by_cluster: dict[int, set[str]] = {}
        for r in rows:
            by_cluster.setdefault(r["cluster_id"], set()).add(r["key"])
        states = {
            c.id: (c.alert, c.categories, c.items, c.outlets)
            for c in conn.execute(sa.select(clusters))
        }
    fields = ("title", "summary", "text", "language", "alert", "categories", "verdict")
    return {
        "items": {r["key"]: tuple(r[f] for f in fields) for r in rows},
        "clusters": {frozenset(keys): states[cid] for cid, keys in by_cluster.items()},
    }


def outcomes(summary: CrawlSummary) -> list[tuple[Any, ...]]:
    return [(o.source, o.state, o.new, o.updated, o.seen, o.alerts) for o in summary.outcomes]


@pytest.mark.parametrize("full_text", [False, True])
def test_worker_processes_store_what_one_process_stores(
    server: LocalServer, tmp_path: Path, flt: Filter, full_text: bool
) -> None:
    sources = serve_corpus(server, 6, 12, summary_only=full_text)
    one = CollectOptions(full_text=full_text, parse_workers=0)
    many = CollectOptions(full_text=full_text, parse_workers=2, parse_pool_threshold=2)
    alone, alone_summary = crawl(tmp_path, "alone", flt, sources, one)
    pooled, pooled_summary = crawl(tmp_path, "pooled", flt, sources, many)
    try:
        assert outcomes(pooled_summary) == outcomes(alone_summary)
        assert pooled_summary.failed == 0
        assert contents(pooled) == contents(alone)
        assert sum(o.new for o in pooled_summary.outcomes) == pooled.count() > 0
        if full_text:  # the pages' text, not the feeds' summaries
            texts = [t[2] for t in contents(pooled)["items"].values()]
            assert all(len(t) > 600 for t in texts)
        # Polled again with nothing new: everything seen, nothing stored twice.
        again = crawl_once(
            pooled,
            flt,
            sources,
            fetcher_factory=lambda: Fetcher(FAST),
            options=many,
        )
        assert sum(o.new + o.updated for o in again.outcomes) == 0
        assert contents(pooled) == contents(alone)
    finally:
        alone.close()
        pooled.close()


class SlowOn:
    """No alerts; slow (in whichever worker process classifies it) for one title."""

    def __init__(self, title: str) -> None:
        self.title = title

    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        if title == self.title:
            time.sleep(1.0)
        return Verdict(alert=False)


def test_polls_are_stored_in_the_order_they_finished(server: LocalServer, tmp_path: Path) -> None:
    # The first feed's items take a worker a second; the second feed is fetched, parsed and
    # prepared by the other worker meanwhile. It must still be stored after the first.
    corpus = build(2, 3, base=server.base, duplicates=0.0, syndicated=0.0)
    for path, body in corpus.feeds.items():
        server.add(path, Route(body))
    sources = [Source(f"feed{i}", "feed", server.url(p)) for i, p in enumerate(corpus.feeds)]
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    options = CollectOptions(full_text=False, parse_workers=2, parse_pool_threshold=2)
    try:
        crawl_once(
            store,
            SlowOn(corpus.items[0].title),
            sources,
            fetcher_factory=lambda: Fetcher(FAST),
            concurrency=1,
            options=options,
        )
        with store.engine.connect() as conn:
            order = conn.execute(sa.select(articles.c.source).order_by(articles.c.id)).all()
        assert [r.source for r in order] == ["feed0"] * 3 + ["feed1"] * 3
    finally:
        store.close()


def test_a_worker_that_dies_fails_its_call_and_the_next_one_gets_a_new_worker() -> None:
    async def run(offload: Offload) -> None:
        with pytest.raises(CrawlError, match="stopped abruptly"):
            await offload.run(os._exit, 1)
        assert await offload.run(abs, -3) == 3
        assert await offload.run(os.getpid) != os.getpid()

    with Offload(1) as offload:
        assert offload.in_processes
        asyncio.run(run(offload))
    assert not offload.in_processes


def test_an_unchanged_repoll_of_many_feeds_ends(server: LocalServer, tmp_path: Path) -> None:
    # Every poll is stored at once (nothing to classify): the last one may be counted in
    # after every feed was fetched, and the crawl must still see that it is done.
    sources = serve_corpus(server, 12, 2)
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    options = CollectOptions(full_text=False, parse_workers=1, parse_pool_threshold=2)
    try:
        for _ in range(3):
            summary = crawl_once(
                store, NoAlerts(), sources, fetcher_factory=lambda: Fetcher(FAST), options=options
            )
            assert len(summary.outcomes) == 12
    finally:
        store.close()


def test_workers_end_when_the_crawl_process_is_killed(tmp_path: Path) -> None:
    script = (
        "import asyncio, os, sys\n"
        "from crawler.offload import Offload\n"
        "o = Offload(1).__enter__()\n"
        "print(asyncio.run(o.run(os.getpid)), flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ) as proc:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        assert _alive(worker)
        proc.kill()
        proc.wait()
    for _ in range(100):  # the kernel signals it at once; it may take a moment to go
        if not _alive(worker):
            break
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            return False
    return True


def _niceness() -> int:
    return os.nice(0)


def test_workers_yield_the_cpu_to_the_process_that_stores() -> None:
    from crawler.offload import WORKER_NICENESS

    here = os.nice(0)
    with Offload(1) as offload:
        theirs = asyncio.run(offload.run(_niceness))
    # Capped at 19, the lowest priority there is.
    assert theirs == min(here + WORKER_NICENESS, 19)
    assert os.nice(0) == here


def test_without_workers_calls_run_in_a_thread_of_this_process() -> None:
    with Offload(0) as offload:
        assert not offload.in_processes
        assert asyncio.run(offload.run(os.getpid)) == os.getpid()
