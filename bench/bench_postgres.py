"""Feed ingest into PostgreSQL beside SQLite, in the same run and on the same corpus.

``python -m bench.bench_postgres --url postgresql+psycopg://veye@127.0.0.1/postgres`` takes a
server role allowed to create databases; each run crawls the bench corpus (200 feeds of 50
items by default, article fetching off, the real filter and clustering) into a new SQLite file
and a new PostgreSQL database, and prints items/s of each and their ratio (median of runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.corpus import build
from bench.server import serve


def crawl(url: str, feeds: list[str]) -> float:
    """Seconds for ``veye crawl`` of ``feeds`` into the database at ``url``."""
    from alerts.classify import Filter
    from crawler.collect import CollectOptions
    from crawler.fetch import Fetcher, FetchSettings
    from crawler.records import Source
    from storage.store import Store
    from veye.crawl import crawl_once

    store = Store.open(url)
    sources = [Source(f"feed{i}", "feed", u, interval=60) for i, u in enumerate(feeds)]
    # One host serves every feed: the per-host delay is off, as in bench.run.
    settings = FetchSettings(timeout=60, per_host_concurrency=16, min_delay=0)
    started = time.perf_counter()
    crawl_once(
        store,
        Filter.load(),
        sources,
        fetcher_factory=lambda: Fetcher(settings),
        concurrency=16,
        options=CollectOptions(full_text=False),
    )
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.bench_postgres", description=__doc__)
    p.add_argument("--url", required=True, help="a PostgreSQL URL whose role may create databases")
    p.add_argument("--feeds", type=int, default=200)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    rates: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    routes: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="veye-bench-pg-") as tmp, serve(routes) as base:
        corpus = build(args.feeds, args.items, base=base)
        routes.update(corpus.feeds)
        feeds = [base + path for path in corpus.feeds]
        items = len(feeds) * args.items
        for run in range(args.runs):
            name = f"veye_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            try:
                target = sa.make_url(args.url).set(database=name)
                for kind, url in (
                    ("sqlite", f"sqlite:///{Path(tmp) / f'run{run}.db'}"),
                    ("postgresql", target.render_as_string(hide_password=False)),
                ):
                    rates[kind].append(items / crawl(url, feeds))
                    print(f"run {run + 1}: {kind} {rates[kind][-1]:.0f} items/s", flush=True)
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()
    result = {k: statistics.median(v) for k, v in rates.items()}
    result["ratio"] = result["postgresql"] / result["sqlite"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
