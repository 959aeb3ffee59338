"""The spine end to end, through the real ``veye`` command in a child process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import feed_bytes, run_veye, write_config
from tests.localserver import LocalServer, Route


def serve_outlets(server: LocalServer) -> list[dict[str, object]]:
    server.add("/rss", Route(feed_bytes("rss20.xml"), etag='"rss-1"'))
    server.add(
        "/atom",
        Route(
            feed_bytes("atom.xml"),
            content_type="application/atom+xml",
            last_modified="Tue, 02 Apr 2024 12:00:00 GMT",
        ),
    )
    server.add("/rdf", Route(feed_bytes("rdf.xml"), content_type="application/rdf+xml"))
    server.add("/broken", Route(feed_bytes("broken.xml")))
    server.add("/down", Route(b"internal error", status=500, content_type="text/plain"))
    server.add("/slow", Route(feed_bytes("rss20.xml"), delay=6))
    return [
        {"name": "rss", "url": server.url("/rss"), "language": "fr"},
        {"name": "atom", "url": server.url("/atom")},
        {"name": "rdf", "url": server.url("/rdf")},
        {"name": "broken", "url": server.url("/broken")},
        {"name": "down", "url": server.url("/down")},
        {"name": "slow", "url": server.url("/slow")},
    ]


def crawl_json(config: Path) -> tuple[int, dict[str, dict[str, object]]]:
    result = run_veye("crawl", "--format", "json", config=config)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    return result.returncode, {r["source"]: r for r in rows}


def test_crawl_stores_every_good_feed_and_reports_each_failure(
    server: LocalServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, serve_outlets(server))
    code, rows = crawl_json(config)
    assert code == 3  # some sources failed; the others were stored
    assert rows["rss"]["state"] == "ok" and rows["rss"]["new"] == 3
    assert rows["atom"]["new"] == 2 and rows["rdf"]["new"] == 1
    assert rows["broken"]["state"] == "ok" and rows["broken"]["new"] >= 1
    assert any("malformed feed" in w for w in rows["broken"]["warnings"])  # type: ignore[union-attr]
    assert rows["down"]["state"] == "error" and "HTTP 500" in str(rows["down"]["error"])
    assert rows["slow"]["state"] == "error" and "within 3s" in str(rows["slow"]["error"])
    # The filter ran: the Mirebalais prison break and the Cabaret attacks are flagged.
    assert rows["rss"]["alerts"] == 1
    assert (tmp_path / "veye.db").exists()

    # Polled again: conditional GET answers 304, nothing is stored twice.
    code, again = crawl_json(config)
    assert again["rss"]["state"] == "not modified"
    assert again["atom"]["state"] == "not modified"
    assert again["rdf"]["new"] == 0 and again["rdf"]["seen"] == 1

    found = run_veye("search", "evasion", "--format", "json", config=config)
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert [h["source"] for h in hits] == ["rss"]
    assert hits[0]["title"].startswith("Évasion à la prison civile de Mirebalais")
    assert hits[0]["url"].startswith("https://nouvelles.example/2024/03/evasion-mirebalais")
    assert "prison_break" in hits[0]["categories"]

    kabare = run_veye("search", "Kabarè", "--format", "json", config=config)
    assert [json.loads(x)["source"] for x in kabare.stdout.splitlines()] == ["rdf"]


def test_crawl_prints_a_summary_table(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_outlets(server)[:1] + serve_outlets(server)[4:5])
    result = run_veye("crawl", config=config)
    assert result.returncode == 3
    assert "rss" in result.stdout and "down" in result.stdout
    assert "HTTP 500" in result.stdout
    assert "1 of 2 sources failed" in result.stdout


def test_crawl_a_named_source_only(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_outlets(server))
    result = run_veye("crawl", "rss", "--format", "json", config=config)
    assert result.returncode == 0
    assert [json.loads(x)["source"] for x in result.stdout.splitlines()] == ["rss"]
    unknown = run_veye("crawl", "nope", config=config)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("veye: error: no source named nope")


def test_a_bad_config_is_one_line_naming_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("sources:\n  - name: a\n    url: https://a.example/feed\n    interval: soon\n")
    result = run_veye("crawl", config=path)
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert "sources[0].interval" in result.stderr and "line 4" in result.stderr


def test_search_syntax_error_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    result = run_veye("search", "prison AND", config=config)
    assert result.returncode == 1
    assert result.stderr.startswith("veye: error: cannot search for 'prison AND'")
    assert "Traceback" not in result.stderr


def test_offline_crawl_of_the_shipped_sources_is_a_table_not_a_crash(tmp_path: Path) -> None:
    """No internet here: every real outlet fails, each with its own readable error."""
    repo = Path(__file__).resolve().parents[1]
    text = (
        (repo / "config.yaml")
        .read_text("utf-8")
        .replace("sqlite:///veye.db", f"sqlite:///{tmp_path}/veye.db")
        .replace("timeout: 20s", "timeout: 2s")
    )
    config = tmp_path / "config.yaml"
    config.write_text(text, "utf-8")
    result = run_veye("crawl", "--format", "json", config=config, timeout=120)
    assert result.returncode == 3
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) >= 15
    assert all(r["state"] == "error" and r["error"] for r in rows)
    assert "Traceback" not in result.stderr


def test_version_and_help() -> None:
    assert run_veye("--version").stdout.startswith("veye, version")
    helped = run_veye("--help")
    for command in ("crawl", "search", "run", "db"):
        assert command in helped.stdout


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    first = run_veye("db", "upgrade", config=config)
    assert first.returncode == 0 and "upgraded to schema" in first.stdout
    second = run_veye("db", "upgrade", config=config)
    assert "already at schema" in second.stdout
