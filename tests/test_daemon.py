"""``veye run`` as a real child process: schedules, health, single instance, signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import feed_bytes, run_veye, write_config
from tests.localserver import LocalServer, Route

ITEM = """<item><title>{title}</title><link>https://live.example/{n}</link>
<guid>live-{n}</guid><description>{text}</description></item>"""


def live_feed(count: Callable[[], int]) -> Callable[[object], Route]:
    """A feed that grows: ``count()`` items now."""

    def route(_handler: object) -> Route:
        items = "".join(
            ITEM.format(n=i, title=f"Nouvelle {i}", text=f"Texte de la nouvelle numéro {i}.")
            for i in range(count())
        )
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>'
            f"{items}</channel></rss>"
        )
        return Route(body.encode(), etag=f'"n{count()}"')

    return route


def start_daemon(config: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("VEYE_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "veye", "--config", str(config), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count_items(db: Path, source: str | None = None) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            if source:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM articles WHERE source=?", (source,)
                    ).fetchone()[0]
                )
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def daemon_pid(db: Path) -> int | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT value FROM runtime WHERE key='daemon'").fetchone()
    except sqlite3.OperationalError:
        return None
    return json.loads(row[0]).get("pid") if row else None


@pytest.fixture
def daemon_setup(server: LocalServer, tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    state = {"n": 2}
    server.add("/live", live_feed(lambda: state["n"]))
    server.add("/static", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))
    server.add("/hung", Route(feed_bytes("rss20.xml"), delay=20))
    config = write_config(
        tmp_path,
        [
            {"name": "live", "url": server.url("/live"), "interval": "1s"},
            {"name": "static", "url": server.url("/static"), "interval": "1s"},
            {"name": "hung", "url": server.url("/hung"), "interval": "1s"},
        ],
        crawl={"timeout": "2s", "concurrency": 4, "min_delay": 0, "full_text": False},
    )
    return config, state


def test_the_daemon_polls_on_schedule_stays_single_and_stops_cleanly(
    daemon_setup: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    config, state = daemon_setup
    db = tmp_path / "veye.db"
    proc = start_daemon(config, "--log-format", "json")
    try:
        wait_for(lambda: count_items(db, "live") == 2, what="the first poll")
        wait_for(lambda: count_items(db, "static") == 2, what="the other source")
        # The hung source is cut off by its deadline without stalling the others.
        state["n"] = 5
        wait_for(lambda: count_items(db, "live") == 5, what="new items on a later cycle")

        # A second daemon on the same database is refused, clearly.
        second = run_veye("run", config=config, timeout=30)
        assert second.returncode == 75
        assert "already watching this database" in second.stderr

        # CLI commands keep working while the daemon writes (WAL readers).
        found = run_veye("search", "nouvelle", "--format", "json", config=config)
        assert found.returncode == 0 and len(found.stdout.splitlines()) == 5

        status = run_veye("status", "--format", "json", config=config)
        report = json.loads(status.stdout)
        assert report["daemon"]["alive"] is True
        states = {s["name"]: s["state"] for s in report["sources"]}
        assert states["live"] == "ok" and states["static"] == "ok"
        wait_for(
            lambda: (
                json.loads(run_veye("status", "--format", "json", config=config).stdout)["sources"][
                    2
                ]["state"]
                == "failing"
            ),
            what="the hung source to be marked failing",
        )
        assert status.returncode in (0, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert lines, err[-2000:]
    assert any("SIGTERM received" in x["message"] for x in lines)
    assert any("polled every 1s" in x["message"] for x in lines)  # the short-interval warning

    after = run_veye("status", "--format", "json", config=config)
    assert after.returncode == 1
    report = json.loads(after.stdout)
    assert report["daemon"]["alive"] is False
    assert "the daemon is not running" in report["attention"]


def test_after_sigkill_a_new_daemon_starts(
    daemon_setup: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    config, _ = daemon_setup
    db = tmp_path / "veye.db"
    first = start_daemon(config)
    try:
        wait_for(lambda: count_items(db, "live") == 2, what="the first poll")
    finally:
        first.kill()
        first.communicate(timeout=10)
    second = start_daemon(config)
    try:
        wait_for(lambda: daemon_pid(db) == second.pid, what="the new daemon's heartbeat")
        assert second.poll() is None
    finally:
        second.send_signal(signal.SIGINT)
        _, err = second.communicate(timeout=40)
    assert second.returncode == 0, err[-2000:]


def test_sighup_reloads_and_refuses_a_broken_config(
    daemon_setup: tuple[Path, dict[str, int]], tmp_path: Path, server: LocalServer
) -> None:
    config, _ = daemon_setup
    db = tmp_path / "veye.db"
    proc = start_daemon(config)
    try:
        wait_for(lambda: count_items(db, "static") == 2, what="the first poll")
        good = config.read_text()
        data = yaml.safe_load(good)
        data["sources"].append({"name": "broken", "url": "not a url"})
        config.write_text(yaml.safe_dump(data))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None
        server.add("/rdf", Route(feed_bytes("rdf.xml"), content_type="application/rdf+xml"))
        data["sources"][-1] = {"name": "added", "url": server.url("/rdf"), "interval": "1s"}
        config.write_text(yaml.safe_dump(data))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: count_items(db, "added") == 1, what="the source added by reload")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0
    assert "config reload refused" in err
    assert "sources[3].url" in err


def test_the_daemon_delivers_alerts_and_reruns_spiders(server: LocalServer, tmp_path: Path) -> None:
    """One daemon lifetime: a feed with a prison break is delivered to a webhook once, and a
    spider source runs again and again in fresh child processes."""
    from tests.helpers_delivery import receiving
    from tests.test_spiders import LISTING_OPTIONS, serve_site

    base = serve_site(server)
    server.add("/rss", Route(feed_bytes("rss20.xml")))
    secret = "daemon-test-secret-0123456789"
    config = write_config(
        tmp_path,
        [
            {"name": "rss", "url": server.url("/rss"), "interval": "1s"},
            {
                "name": "ndc",
                "kind": "spider",
                "url": f"{base}/actualites/",
                "interval": "1s",
                "options": LISTING_OPTIONS,
            },
        ],
        crawl={"timeout": "5s", "concurrency": 4, "min_delay": 0, "full_text": False},
        alerts={
            "channels": [{"name": "ops", "type": "webhook", "url": "RECEIVER", "secret": secret}],
            "routes": [{"categories": ["prison_break", "gang_attack"], "channels": ["ops"]}],
        },
    )
    with receiving() as receiver:
        config.write_text(config.read_text().replace("RECEIVER", receiver.url))
        proc = start_daemon(config)
        try:
            wait_for(
                lambda: server.hits.get("/actualites/", 0) >= 3,
                timeout=60,
                what="three spider runs",
            )
            wait_for(lambda: len(receiver.received) >= 1, what="the webhook delivery")
            time.sleep(2)  # later polls and dispatch passes must not send it again
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err[-2000:]
    events = [r.json() for r in receiver.received]
    assert {e["event"] for e in events} == {"alert.new"}
    clusters = [e["cluster"]["id"] for e in events]
    assert len(clusters) == len(set(clusters)), "a story was alerted twice"
    ids = [r.headers["X-Veye-Delivery"] for r in receiver.received]
    assert len(ids) == len(set(ids))
    titles = json.dumps(events, ensure_ascii=False)
    assert "Évasion à la prison civile de Mirebalais" in titles
    assert count_items(tmp_path / "veye.db", "ndc") == 3


def test_a_failing_source_raises_one_operator_alert(server: LocalServer, tmp_path: Path) -> None:
    from tests.helpers_delivery import receiving

    server.add("/down", Route(b"oops", status=503, content_type="text/plain"))
    server.add("/rss", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))
    config = write_config(
        tmp_path,
        [
            {"name": "down", "url": server.url("/down"), "interval": "1s"},
            {"name": "fine", "url": server.url("/rss"), "interval": "1s"},
        ],
        crawl={"timeout": "2s", "concurrency": 4, "min_delay": 0, "full_text": False},
        alerts={
            "channels": [
                {
                    "name": "ops",
                    "type": "webhook",
                    "url": "RECEIVER",
                    "secret": "operator-test-secret-0123456789",
                }
            ],
            "operator_channel": "ops",
        },
    )
    with receiving() as receiver:
        config.write_text(config.read_text().replace("RECEIVER", receiver.url))
        proc = start_daemon(config)
        try:
            wait_for(lambda: len(receiver.received) >= 1, timeout=40, what="the operator alert")
            time.sleep(11)  # at least one more check: the same state is not told twice
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err[-2000:]
    events = [r.json() for r in receiver.received]
    assert [e["event"] for e in events] == ["operator.source"]
    assert events[0]["cluster"]["title"] == "Source down is failing"
    assert events[0]["item"]["source"] == "down"
    assert "HTTP 503" in events[0]["item"]["excerpt"]
