"""The runner: builds the corpus, serves it, runs each task in a child process several times,
and reports medians with their spread, side by side with reader."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import CONTENT_SELECTOR, SHAPES, build
from bench.server import serve

HERE = Path(__file__).parent


def child(task: str, **args: Any) -> dict[str, Any]:
    """Run one task in a fresh process; adds its peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", task, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"bench task {task} failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    # The task reports its own peak (see worker.peak_rss_mb); the child's ru_maxrss is the
    # fallback (Linux reports KiB).
    result.setdefault("peak_rss_mb", usage.ru_maxrss / 1024)
    return result


def median_spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def repeat(runs: int, fn: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    return [fn(i) for i in range(runs)]


def ingest(
    n_feeds: int,
    per_feed: int,
    runs: int,
    workdir: Path,
    tag: str = "ingest",
    shape: str = SHAPES[0],
) -> dict[str, Any]:
    """Feed ingest and unchanged re-poll, veye vs reader, on the same served corpus (into
    fresh databases named after ``tag``)."""
    routes: dict[str, bytes] = {}
    with serve(routes) as base:
        corpus = build(n_feeds, per_feed, base=base, shape=shape)
        routes.update(dict(corpus.feeds.items()))
        routes.update(corpus.pages)
        feeds = [base + p for p in corpus.feeds]
        veye_first, veye_again, reader_first, reader_again = [], [], [], []
        for i in range(runs):
            vdb = workdir / f"veye-{tag}-{n_feeds}-{i}.db"
            rdb = workdir / f"reader-{tag}-{n_feeds}-{i}.db"
            veye_first.append(child("veye_crawl", db=str(vdb), feeds=feeds))
            veye_again.append(child("veye_crawl", db=str(vdb), feeds=feeds))
            reader_first.append(child("reader_crawl", db=str(rdb), feeds=feeds))
            reader_again.append(child("reader_crawl", db=str(rdb), feeds=feeds))
    items = n_feeds * per_feed
    v_rate = [items / r["seconds"] for r in veye_first]
    r_rate = [items / r["seconds"] for r in reader_first]
    return {
        "shape": shape,
        "feed_bytes": sum(len(b) for b in corpus.feeds.values()),
        "items": items,
        "distinct_items": corpus.distinct_urls,
        "veye_items_per_s": median_spread(v_rate),
        "reader_items_per_s": median_spread(r_rate),
        "ingest_ratio": statistics.median(v_rate) / statistics.median(r_rate),
        "veye_repoll_s": median_spread([r["seconds"] for r in veye_again]),
        "reader_repoll_s": median_spread([r["seconds"] for r in reader_again]),
        "repoll_ratio": statistics.median([r["seconds"] for r in veye_again])
        / statistics.median([r["seconds"] for r in reader_again]),
        "veye_peak_rss_mb": median_spread([r["peak_rss_mb"] for r in veye_first]),
        "veye_workers_peak_rss_mb": median_spread([r["workers_peak_rss_mb"] for r in veye_first]),
        "reader_peak_rss_mb": median_spread([r["peak_rss_mb"] for r in reader_first]),
        "veye_stored": veye_first[0]["items"],
        "veye_not_modified_on_repoll": veye_again[0]["not_modified"],
    }


def full_text(
    n_feeds: int, per_feed: int, runs: int, workdir: Path, shape: str = SHAPES[0]
) -> dict[str, Any]:
    """Summary-only feeds: every article page fetched, extracted, classified, clustered and
    stored (veye only: reader does not fetch pages). Twice: with the generic extractor
    (trafilatura), as for any outlet, and with the pages' layout known (the sources'
    ``content_selector`` configured), each run in turn so both see the same machine."""
    routes: dict[str, bytes] = {}
    with serve(routes) as base:
        corpus = build(n_feeds, per_feed, base=base, summary_only=True, shape=shape)
        routes.update(corpus.feeds)
        routes.update(corpus.pages)
        feeds = [base + p for p in corpus.feeds]
        generic, selected = [], []
        for i in range(runs):
            db = workdir / f"fulltext-{i}.db"
            generic.append(child("veye_crawl", db=str(db), feeds=feeds, full_text=True))
            db = workdir / f"fulltext-selector-{i}.db"
            selected.append(
                child(
                    "veye_crawl",
                    db=str(db),
                    feeds=feeds,
                    full_text=True,
                    content_selector=CONTENT_SELECTOR,
                )
            )
    missed = [w for r in selected for w in r.get("warnings", ()) if CONTENT_SELECTOR in w]
    if missed:  # the figure would be the generic extractor's under another name
        raise RuntimeError(f"the layout's selector missed pages: {missed[0]}")
    return {
        "articles": generic[0]["new"],
        "pages_served": len(corpus.pages),
        "veye_articles_per_s": median_spread([r["new"] / r["seconds"] for r in generic]),
        "veye_peak_rss_mb": median_spread([r["peak_rss_mb"] for r in generic]),
        "content_selector": CONTENT_SELECTOR,
        "selector_articles": selected[0]["new"],
        "veye_selector_articles_per_s": median_spread([r["new"] / r["seconds"] for r in selected]),
        "veye_selector_peak_rss_mb": median_spread([r["peak_rss_mb"] for r in selected]),
    }


def search(n: int, runs: int, workdir: Path) -> dict[str, Any]:
    vdb, rdb = workdir / f"search-veye-{n}.db", workdir / f"search-reader-{n}.db"
    v = [child("veye_search", db=str(vdb), n=n) for _ in range(runs)]
    r = [child("reader_search", db=str(rdb), n=n) for _ in range(runs)]
    return {
        "items": n,
        "veye_median_ms": median_spread([x["median_ms"] for x in v]),
        "veye_p95_ms": median_spread([x["p95_ms"] for x in v]),
        "reader_median_ms": median_spread([x["median_ms"] for x in r]),
        "reader_p95_ms": median_spread([x["p95_ms"] for x in r]),
        "veye_db_mb": v[0]["db_bytes"] / 1e6,
        "reader_db_mb": r[0]["db_bytes"] / 1e6,
        "veye_peak_rss_mb": median_spread([x["peak_rss_mb"] for x in v]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--feeds", type=int, default=200)
    p.add_argument("--items", type=int, default=50, help="items per feed")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--full-text-feeds",
        type=int,
        default=40,
        help="feeds for the full-text run (every item's page is fetched); 0 skips",
    )
    p.add_argument("--search-items", type=int, default=100_000)
    p.add_argument(
        "--growth",
        default="10000,30000,100000",
        help="corpus sizes for the growth series (comma-separated; '' to skip)",
    )
    p.add_argument(
        "--shape",
        choices=SHAPES,
        default=SHAPES[0],
        help="how the feeds are written (see bench/README.md); default %(default)s",
    )
    p.add_argument(
        "--other-shapes",
        action="store_true",
        help="also measure feed ingest on the other feed shapes, for comparison",
    )
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with tempfile.TemporaryDirectory(prefix="veye-bench-") as tmp:
        work = Path(tmp)
        results["ingest"] = ingest(args.feeds, args.items, args.runs, work, shape=args.shape)
        _print_ingest(results["ingest"])
        if args.other_shapes:
            results["ingest_other_shapes"] = []
            for shape in (s for s in SHAPES if s != args.shape):
                r = ingest(args.feeds, args.items, args.runs, work, tag=shape, shape=shape)
                results["ingest_other_shapes"].append(r)
                _print_ingest(r)
        if args.full_text_feeds:
            results["full_text"] = full_text(
                args.full_text_feeds, args.items, args.runs, work, shape=args.shape
            )
            _print_full_text(results["full_text"])
        if args.search_items:
            results["search"] = search(args.search_items, args.runs, work)
            _print_search(results["search"])
        growth = [int(x) for x in args.growth.split(",") if x.strip()]
        if growth:
            results["growth"] = []
            for n in growth:
                # Databases of their own: the ingest run's already hold its items. As many
                # runs as the other figures (each a fresh database), median and spread.
                r = ingest(
                    max(1, n // args.items),
                    args.items,
                    args.runs,
                    work,
                    tag=f"growth{n}",
                    shape=args.shape,
                )
                veye_ms = _per_item_ms(r["veye_items_per_s"])
                reader_ms = _per_item_ms(r["reader_items_per_s"])
                results["growth"].append(
                    {
                        "items": n,
                        "per_item_ms": veye_ms["median"],
                        "per_item_ms_spread": veye_ms,
                        "reader_per_item_ms": reader_ms["median"],
                        "reader_per_item_ms_spread": reader_ms,
                        "peak_rss_mb": r["veye_peak_rss_mb"]["median"],
                        "workers_peak_rss_mb": r["veye_workers_peak_rss_mb"]["median"],
                    }
                )
                print(
                    f"growth {n:>7} items: {_fmt_ms(veye_ms)} per item, reader "
                    f"{_fmt_ms(reader_ms)}; peak RSS "
                    f"{r['veye_peak_rss_mb']['median']:.0f} MB (each parse worker "
                    f"{r['veye_workers_peak_rss_mb']['median']:.0f} MB)",
                    flush=True,
                )
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


def _per_item_ms(rate: dict[str, float]) -> dict[str, float]:
    """Items per second as milliseconds per item (the slowest run is the largest)."""
    return {
        "median": 1000 / rate["median"],
        "min": 1000 / rate["max"],
        "max": 1000 / rate["min"],
    }


def _fmt_ms(d: dict[str, float]) -> str:
    return f"{d['median']:.3f} ms [{d['min']:.3f}–{d['max']:.3f}]"


def _fmt(d: dict[str, float], unit: str = "") -> str:
    return f"{d['median']:.1f}{unit} [{d['min']:.1f}–{d['max']:.1f}]"


def _print_ingest(r: dict[str, Any]) -> None:
    print(
        f"feed ingest, {r['items']} items ({r['shape']} feeds, "
        f"{r['feed_bytes'] / r['items'] / 1000:.1f} kB per item): "
        f"veye {_fmt(r['veye_items_per_s'])} items/s, "
        f"reader {_fmt(r['reader_items_per_s'])} items/s, ratio {r['ingest_ratio']:.2f}x"
    )
    print(
        f"re-poll unchanged: veye {_fmt(r['veye_repoll_s'], 's')}, reader "
        f"{_fmt(r['reader_repoll_s'], 's')}, ratio {r['repoll_ratio']:.2f} (lower is faster)"
    )
    print(
        f"peak RSS: veye {_fmt(r['veye_peak_rss_mb'], ' MB')} (each parse worker "
        f"{_fmt(r['veye_workers_peak_rss_mb'], ' MB')}, mostly shared), reader "
        f"{_fmt(r['reader_peak_rss_mb'], ' MB')}",
        flush=True,
    )


def _print_full_text(r: dict[str, Any]) -> None:
    print(
        f"full text, {r['articles']} articles, generic extractor (trafilatura): veye "
        f"{_fmt(r['veye_articles_per_s'])} articles/s, peak RSS "
        f"{_fmt(r['veye_peak_rss_mb'], ' MB')}",
        flush=True,
    )
    print(
        f"full text, {r['selector_articles']} articles, known layout "
        f"(content_selector {r['content_selector']!r}): veye "
        f"{_fmt(r['veye_selector_articles_per_s'])} articles/s, peak RSS "
        f"{_fmt(r['veye_selector_peak_rss_mb'], ' MB')}",
        flush=True,
    )


def _print_search(r: dict[str, Any]) -> None:
    print(
        f"search at {r['items']} items: veye median {_fmt(r['veye_median_ms'], ' ms')}, p95 "
        f"{_fmt(r['veye_p95_ms'], ' ms')}; reader median {_fmt(r['reader_median_ms'], ' ms')},"
        f" p95 {_fmt(r['reader_p95_ms'], ' ms')}; db {r['veye_db_mb']:.0f} MB vs "
        f"{r['reader_db_mb']:.0f} MB",
        flush=True,
    )
