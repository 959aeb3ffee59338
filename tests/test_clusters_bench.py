"""The dedup benchmark runs, and on its generated corpus clusters equal stories. The real
sizes (10k to 100k items) are for ``python -m bench.bench_dedup``, not the test suite."""

from __future__ import annotations

from itertools import islice

from bench.bench_dedup import corpus, run


def test_the_corpus_is_deterministic_and_mixed() -> None:
    items = list(corpus(400))
    first = [(i.article.key, i.article.content_hash, i.story) for i in items]
    again = [(i.article.key, i.article.content_hash, i.story) for i in islice(corpus(800), 400)]
    assert first == again
    assert len(first) == 400
    keys = [k for k, _, _ in first]
    assert len(set(keys)) < len(keys)  # exact duplicates and edits reuse a link
    stories = [s for _, _, s in first]
    assert len(set(stories)) < len(set(keys))  # copies and rewrites: several items a story
    assert {i.article.language for i in items} == {"fr", "ht", "en"}
    assert any(i.verdict.alert for i in items)


def test_a_small_run_reports_figures_and_clusters_match_stories() -> None:
    result = run(600)
    assert result["items"] == 600
    assert result["stored"] < 600
    assert result["items_per_s"] > 0
    assert len(result["us_per_item_by_decile"]) == 10
    assert result["peak_rss_mb"] > 0
    assert result["clusters"] == result["stories"]
    assert result["pair_precision"] == 1.0
    assert result["pair_recall"] == 1.0
