"""The classify benchmark runs and its corpus is deterministic (the speed is not asserted:
CI machines vary; ``python -m bench.bench_classify`` reports it)."""

from __future__ import annotations

from bench.bench_classify import corpus, run


def test_corpus_is_deterministic_and_mixed() -> None:
    first = corpus(40)
    assert first == corpus(40)
    assert {i.language for i in first} == {"fr", "ht", "en"}
    assert {i.kind for i in first} >= {"news", "event"}
    assert all(2000 <= len(i.text) <= 6000 for i in first)


def test_run_reports_throughput() -> None:
    result = run(n_items=40)
    assert result["items"] == 40
    assert result["megabytes"] > 0.05
    assert result["mb_per_s"] > 0
    assert result["items_per_s"] > 0
    # Event items are written to alert; the filter should catch most of them.
    assert result["alerts"] >= result["event_items"] * 0.8
