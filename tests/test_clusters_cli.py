"""``veye search`` grouped by cluster and ``veye clusters``, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storage.store import Store
from tests.conftest import run_veye, write_config
from tests.test_clusters import load_all


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A database holding the clustering corpus, and each corpus item's cluster."""
    tmp = tmp_path_factory.mktemp("clusters-cli")
    path = write_config(tmp, [])
    store = Store.open(f"sqlite:///{tmp}/veye.db")
    try:
        clusters, _ = load_all(store)
    finally:
        store.close()
    return path, clusters


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_search_shows_one_row_per_story(config: tuple[Path, dict[str, int]]) -> None:
    path, clusters = config
    grouped = run_veye("search", "Mirebalais", "--format", "json", "--limit", "50", config=path)
    assert grouped.returncode == 0, grouped.stderr
    rows = lines(grouped.stdout)
    every = run_veye(
        "search", "Mirebalais", "--all-items", "--format", "json", "--limit", "50", config=path
    )
    assert every.returncode == 0, every.stderr
    items = lines(every.stdout)
    assert len(rows) == len({r["cluster"] for r in rows})  # one row per cluster
    assert len(items) > len(rows)
    assert {r["cluster"] for r in items} == {r["cluster"] for r in rows}
    prison = next(r for r in rows if r["cluster"] == clusters["A1"])
    assert (prison["cluster_items"], prison["cluster_outlets"]) == (6, 7)
    assert sum(1 for r in items if r["cluster"] == clusters["A1"]) > 1


def test_search_table_names_the_cluster(config: tuple[Path, dict[str, int]]) -> None:
    path, clusters = config
    result = run_veye("search", "prison", config=path)
    assert result.returncode == 0, result.stderr
    assert f"7 (#{clusters['A1']})" in result.stdout
    csv = run_veye("search", "prison", "--format", "csv", config=path)
    assert csv.stdout.splitlines()[0].endswith("cluster,cluster_items,cluster_outlets")


def test_clusters_show_lists_items_and_outlets(config: tuple[Path, dict[str, int]]) -> None:
    path, clusters = config
    result = run_veye("clusters", "show", str(clusters["A1"]), "--format", "json", config=path)
    assert result.returncode == 0, result.stderr
    (cluster,) = lines(result.stdout)
    assert cluster["id"] == clusters["A1"]
    assert cluster["alert"] is True
    assert (cluster["items"], cluster["outlets"]) == (6, 7)
    assert len(cluster["sources"]) == 7
    assert len(cluster["members"]) == 6
    assert [m["via"] for m in cluster["members"]].count("copy") == 2
    assert cluster["members"][0]["via"] == "start"
    assert cluster["members"][0]["outlets"] == ["ap", "newsaggregator"]

    table = run_veye("clusters", "show", str(clusters["A1"]), config=path)
    assert table.returncode == 0, table.stderr
    assert "6 items from 7 outlets" in table.stdout
    assert "same event" in table.stdout
    assert "copy (" in table.stdout


def test_clusters_list(config: tuple[Path, dict[str, int]]) -> None:
    path, _ = config
    result = run_veye("clusters", "list", "--alerted", "--format", "json", config=path)
    assert result.returncode == 0, result.stderr
    assert len(lines(result.stdout)) == 6
    everything = run_veye("clusters", "list", "--limit", "100", config=path)
    assert everything.returncode == 0
    assert "Gangs storm prison" in everything.stdout


def test_an_unknown_cluster_is_one_clear_line(config: tuple[Path, dict[str, int]]) -> None:
    path, _ = config
    result = run_veye("clusters", "show", "999999", config=path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "veye: error: no cluster 999999: `veye clusters list` or `veye search` shows the ids"
    )
    assert "Traceback" not in result.stderr
