"""The benchmark runner on a tiny corpus: it must keep working; its timings are not judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_bench_runs_end_to_end_on_a_tiny_corpus(tmp_path: Path) -> None:
    pytest.importorskip(
        "reader", reason="the peer (reader) is a bench-only dependency: pip install -e '.[bench]'"
    )
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--feeds",
            "3",
            "--items",
            "5",
            "--runs",
            "1",
            "--search-items",
            "300",
            "--growth",
            "15",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    ingest = results["ingest"]
    assert ingest["items"] == 15
    assert ingest["veye_stored"] == ingest["distinct_items"]  # dedup kept one per URL
    assert ingest["veye_not_modified_on_repoll"] == 3  # every feed answered 304
    assert ingest["veye_items_per_s"]["median"] > 0
    assert ingest["reader_items_per_s"]["median"] > 0
    assert results["search"]["items"] == 300
    full = results["full_text"]
    # Both full-text figures, each from a run in which every page was read as labelled.
    assert full["articles"] == full["selector_articles"] > 0
    assert full["veye_articles_per_s"]["median"] > 0
    assert full["veye_selector_articles_per_s"]["median"] > 0
    (growth,) = results["growth"]
    assert growth["items"] == 15
    assert 0 < growth["per_item_ms_spread"]["min"] <= growth["per_item_ms"]
    assert growth["reader_per_item_ms"] > 0
    assert "feed ingest" in result.stdout
