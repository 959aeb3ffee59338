"""Search filters, ``veye show`` and ``veye export`` through the real command, on a store
filled by a real crawl of local feeds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import feed_bytes, run_veye, write_config
from tests.localserver import Route, serving


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crawled(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A config whose store (on each backend) holds three crawled feeds."""
    tmp = tmp_path_factory.mktemp("store")
    storage = {"url": "sqlite:///veye.db"}
    if request.param == "postgresql":
        storage = {"url": request.getfixturevalue("postgres_server").new_database()}
    with serving() as server:
        server.add("/rss", Route(feed_bytes("rss20.xml")))
        server.add("/atom", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))
        server.add("/rdf", Route(feed_bytes("rdf.xml"), content_type="application/rdf+xml"))
        config = write_config(tmp, [
            {"name": "rss", "url": server.url("/rss")},
            {"name": "atom", "url": server.url("/atom")},
            {"name": "rdf", "url": server.url("/rdf")},
        ], storage=storage)
        result = run_veye("crawl", "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    return config


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_entity_and_place_filters_take_aliases(crawled: Path) -> None:
    # "Viv Ansanm" is named in the Cabaret story only.
    by_gang = run_veye("search", "attack OR gangs", "--entity", "viv ansanm", "--format", "json",
                       config=crawled)
    assert by_gang.returncode == 0, by_gang.stderr
    assert [h["source"] for h in lines(by_gang.stdout)] == ["atom"]
    # Kabarè is the Creole name of Cabaret: the place filter resolves the alias.
    by_place = run_veye("search", "gang OR gangs OR bandi", "--place", "Kabarè", "--all-items",
                        "--format", "json", config=crawled)
    assert sorted(h["source"] for h in lines(by_place.stdout)) == ["atom", "rdf"]
    unknown = run_veye("search", "x", "--place", "Atlantis", config=crawled)
    assert unknown.returncode == 2
    assert "no place or prison called 'Atlantis'" in unknown.stderr


def test_show_prints_the_item_with_its_evidence(crawled: Path) -> None:
    (hit,) = lines(run_veye("search", "Mirebalais", "--format", "json", config=crawled).stdout)
    shown = run_veye("show", str(hit["id"]), config=crawled)
    assert shown.returncode == 0, shown.stderr
    assert "Évasion à la prison civile de Mirebalais" in shown.stdout
    assert "prison_break" in shown.stdout
    assert "Prison civile de Mirebalais, Centre" in shown.stdout
    assert "freed: at least 500" in shown.stdout
    as_json = lines(run_veye("show", str(hit["id"]), "--format", "json", config=crawled).stdout)
    assert as_json[0]["verdict"]["alert"] is True  # type: ignore[index]
    missing = run_veye("show", "99999", config=crawled)
    assert missing.returncode == 2 and "no stored item with id 99999" in missing.stderr


def test_export_items_as_json_lines_and_csv(crawled: Path) -> None:
    every = lines(run_veye("export", config=crawled).stdout)
    assert len(every) == 6  # 3 + 2 + 1 items
    flagged = lines(run_veye("export", "--alerted", config=crawled).stdout)
    assert {r["source"] for r in flagged} == {"rss", "atom", "rdf"}
    assert all(r["alert"] for r in flagged)
    english = run_veye("export", "--lang", "en", "--format", "csv", config=crawled)
    rows = list(csv.DictReader(io.StringIO(english.stdout)))
    assert {r["source"] for r in rows} == {"atom"}
    assert {"id", "title", "url", "places", "text"} <= set(rows[0])
    queried = lines(run_veye("export", "budget", config=crawled).stdout)
    assert [r["title"] for r in queried] == ["Le gouvernement présente le budget rectificatif"]


def test_export_clusters_and_geojson(crawled: Path, tmp_path: Path) -> None:
    stories = lines(run_veye("export", "--what", "clusters", "--alerted", config=crawled).stdout)
    assert stories and all(s["alert"] for s in stories)
    target = tmp_path / "events.geojson"
    result = run_veye("export", "--what", "geojson", "-o", str(target), config=crawled)
    assert result.returncode == 0, result.stderr
    collection = json.loads(target.read_text("utf-8"))
    assert collection["type"] == "FeatureCollection"
    places = {f["properties"]["place"] for f in collection["features"]}
    assert "Mirebalais" in places or "Prison civile de Mirebalais" in places
    for feature in collection["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 17.9 < lat < 20.2 and -74.6 < lon < -71.5  # inside Haiti


def test_export_alerts_of_an_empty_outbox_is_empty(crawled: Path) -> None:
    result = run_veye("export", "--what", "alerts", "--format", "csv", config=crawled)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("id,delivery_id,cluster_id")
