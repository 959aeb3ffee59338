"""``veye sources check``: reachability, feed type, item count, and feed autodiscovery for
dead feed URLs and home pages, through the real command against local servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crawler.discover import find_feed_links
from tests.conftest import feed_bytes, run_veye
from tests.localserver import LocalServer, Route, serving

PAGES = Path(__file__).parent / "data" / "pages"
SPIDERS = Path(__file__).parent / "data" / "spiders"
HTML = "text/html; charset=utf-8"


def test_feed_links_are_found_resolved_and_deduplicated() -> None:
    page = (PAGES / "home.html").read_text("utf-8").replace("{base}", "https://ndc.example")
    page = page.replace(
        "</head>",
        '<link rel="alternate" type="application/rss+xml" '
        'href="/nouveau-flux/"><link rel="alternate" hreflang="en" '
        'href="/en/"></head>',
    )
    feeds = find_feed_links(page, "https://ndc.example/accueil/")
    assert [(f.url, f.feed_type, f.title) for f in feeds] == [
        ("https://ndc.example/nouveau-flux/", "rss", "Nouvelles du Centre » Flux"),
        ("https://ndc.example/comments/atom.xml", "atom", "Commentaires"),
    ]
    based = (
        '<head><base href="https://cdn.example/site/"><link rel="alternate feed" '
        'type="application/atom+xml" href="atom.xml"></head>'
    )
    assert [f.url for f in find_feed_links(based, "https://ndc.example/")] == [
        "https://cdn.example/site/atom.xml"
    ]
    assert find_feed_links(b"\xff\xfe not html", "https://ndc.example/") == []


@pytest.fixture
def moved_site() -> Iterator[LocalServer]:
    """A second outlet whose feed moved: the old URL is dead, the home page advertises the
    new one."""
    with serving() as site:
        home = (PAGES / "home.html").read_text("utf-8").replace("{base}", site.base)
        site.add("/", Route(home.encode(), content_type=HTML))
        site.add(
            "/nouveau-flux/", Route(feed_bytes("atom.xml"), content_type="application/atom+xml")
        )
        site.add("/comments/atom.xml", Route(b"", status=404, content_type="text/plain"))
        yield site


def config_for(tmp_path: Path, sources: list[dict[str, object]]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": "sqlite:///veye.db"},
                "crawl": {"timeout": "3s", "min_delay": 0},
                "sources": sources,
            }
        )
    )
    return path


def test_check_reports_each_source_and_finds_a_moved_feed(
    server: LocalServer, moved_site: LocalServer, tmp_path: Path
) -> None:
    server.add("/feed", Route(feed_bytes("rss20.xml")))
    server.add("/down", Route(b"oops", status=500, content_type="text/plain"))
    server.add(
        "/", Route(b"<html><head><title>A</title></head><body></body></html>", content_type=HTML)
    )
    server.add("/listing", Route((SPIDERS / "listing-1.html").read_bytes(), content_type=HTML))
    config = config_for(
        tmp_path,
        [
            {"name": "good", "url": server.url("/feed")},
            {"name": "moved", "url": moved_site.url("/feed/")},
            {"name": "homepage", "url": moved_site.url("/")},
            {"name": "down", "url": server.url("/down")},
            {"name": "offline", "url": "http://127.0.0.1:9/feed"},
            {
                "name": "listing",
                "url": server.url("/listing"),
                "kind": "spider",
                "options": {"article_links": "h2.entry-title a"},
            },
        ],
    )
    result = run_veye("sources", "check", "--format", "json", config=config)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    rows = {r["source"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert list(rows) == ["good", "moved", "homepage", "down", "offline", "listing"]

    good = rows["good"]
    assert (good["state"], good["status"], good["type"], good["items"]) == ("ok", 200, "rss20", 3)

    moved = rows["moved"]
    assert moved["state"] == "moved"
    assert moved["status"] == 404
    new_feed = moved["discovered"][0]
    assert new_feed["url"] == moved_site.url("/nouveau-flux/")
    assert (new_feed["type"], new_feed["items"], new_feed["error"]) == ("atom10", 2, None)
    assert "HTTP 404" in moved["discovered"][1]["error"]

    homepage = rows["homepage"]
    assert homepage["state"] == "moved"
    assert "an HTML page, not a feed" in homepage["error"]
    assert homepage["discovered"][0]["url"] == moved_site.url("/nouveau-flux/")

    down = rows["down"]
    assert (down["state"], down["status"]) == ("broken", 500)
    assert "no feed advertised" in down["note"]

    assert rows["offline"]["state"] == "unreachable"
    assert "cannot connect" in rows["offline"]["error"]

    listing = rows["listing"]
    assert (listing["state"], listing["type"], listing["items"]) == ("ok", "html", 4)

    table = run_veye("sources", "check", "moved", "down", config=config)
    assert table.returncode == 3
    assert "feed found: " + moved_site.url("/nouveau-flux/") + " (atom10, 2 items)" in table.stdout
    assert "2 of 2 sources need attention." in table.stdout


def test_check_without_any_answer_is_one_readable_table(tmp_path: Path) -> None:
    config = config_for(
        tmp_path,
        [
            {"name": "alterpresse", "url": "http://127.0.0.1:9/spip.php?page=backend"},
            {"name": "lenouvelliste", "url": "http://127.0.0.1:9/feed"},
        ],
    )
    result = run_veye("sources", "check", config=config)
    assert result.returncode == 3
    assert result.stderr == ""
    assert result.stdout.count("unreachable") == 2
    assert "No source could be reached: check this machine's internet connection" in result.stdout


def test_check_names_an_unknown_source(tmp_path: Path) -> None:
    config = config_for(tmp_path, [{"name": "good", "url": "http://127.0.0.1:9/feed"}])
    result = run_veye("sources", "check", "nope", config=config)
    assert result.returncode == 2
    assert "no source named nope" in result.stderr
