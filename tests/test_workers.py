"""Several ``veye run`` workers sharing one PostgreSQL database: they split the sources, each
alert goes out once, and a killed worker's sources are taken over."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import feed_bytes, run_veye, write_config
from tests.helpers_delivery import receiving
from tests.localserver import LocalServer, Route
from tests.postgres import PostgresServer
from tests.test_daemon import start_daemon, wait_for

FEEDS = 6


def feed_of(name: str, count: dict[str, int]) -> Route:
    items = "".join(
        f"<item><title>{name} nouvelle {i}</title><link>https://{name}.example/{i}</link>"
        f"<guid>{name}-{i}</guid><description>Texte {i} de {name}.</description></item>"
        for i in range(count[name])
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}'
    return Route(f"{body}</channel></rss>".encode(), etag=f'"{name}-{count[name]}"')


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


def sources_table(engine: sa.Engine) -> dict[str, sa.Row[tuple[object, ...]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, lease_owner, last_poll_by, last_poll_at FROM sources")
        ).all()
    return {r.name: r for r in rows}


def items_per_source(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, count(*) FROM articles GROUP BY source"))
        return {r[0]: int(r[1]) for r in rows}


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    e = sa.create_engine(pg_url)
    yield e
    e.dispose()


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=40)
    return err


def test_two_workers_share_sources_send_once_and_take_over(
    server: LocalServer, tmp_path: Path, pg_url: str, engine: sa.Engine
) -> None:
    counts = {f"f{i}": 2 for i in range(FEEDS)}
    for name in counts:
        server.add(f"/{name}", lambda _h, name=name: feed_of(name, counts))  # type: ignore[misc]
    server.add("/alerting", Route(feed_bytes("rss20.xml")))
    sources: list[dict[str, object]] = [
        {"name": name, "url": server.url(f"/{name}"), "interval": "1s"} for name in counts
    ]
    sources.append({"name": "alerting", "url": server.url("/alerting"), "interval": "1s"})
    secret = "workers-test-secret-0123456789"
    config = write_config(
        tmp_path,
        sources,
        storage={"url": pg_url},
        crawl={
            "timeout": "5s",
            "concurrency": 4,
            "min_delay": 0,
            "full_text": False,
            "source_lease": "3s",
        },
        alerts={
            "channels": [{"name": "ops", "type": "webhook", "url": "RECEIVER", "secret": secret}],
            "routes": [{"categories": ["prison_break", "gang_attack"], "channels": ["ops"]}],
        },
    )
    with receiving() as receiver:
        config.write_text(config.read_text().replace("RECEIVER", receiver.url))
        first = start_daemon(config)
        second = start_daemon(config)
        try:
            names = set(counts) | {"alerting"}
            # Every source is polled, and the two workers split them between them.
            wait_for(
                lambda: set(items_per_source(engine)) == names,
                timeout=60,
                what="every source polled",
            )
            wait_for(
                lambda: len({r.lease_owner for r in sources_table(engine).values()} - {None}) == 2,
                timeout=60,
                what="both workers holding sources",
            )
            wait_for(lambda: len(receiver.received) >= 1, timeout=60, what="the webhook delivery")
            status = run_veye("status", "--format", "json", config=config)
            report = json.loads(status.stdout)
            assert report["daemon"]["alive"] is True
            assert len(report["daemon"]["workers"]) == 2

            # Kill the first worker outright: the second takes over its sources.
            held = {
                n
                for n, r in sources_table(engine).items()
                if r.lease_owner and f":{first.pid}:" in r.lease_owner
            }
            assert held, "the first worker held no source"
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
            killed_at = time.time()
            for name in counts:
                counts[name] = 4
            wait_for(
                lambda: all(n == 4 for s, n in items_per_source(engine).items() if s in counts),
                timeout=60,
                what="new items of every source, the killed worker's included",
            )
            # Sources whose feed did not change are taken over too, once their lease lapses.
            wait_for(
                lambda: all(
                    f":{second.pid}:" in (sources_table(engine)[name].last_poll_by or "")
                    for name in held
                ),
                timeout=60,
                what="the second worker polling every source the first one held",
            )
            assert time.time() - killed_at < 60
            listed = run_veye("sources", "list", "--format", "json", config=config)
            polled_by = {
                row["name"]: row["polled_by"] for row in map(json.loads, listed.stdout.splitlines())
            }
            assert all(f":{second.pid}:" in polled_by[name] for name in held)
            time.sleep(2)  # more dispatch passes: the alert must not go out again
        except BaseException:
            for proc in (first, second):
                if proc.poll() is None:
                    proc.kill()
                print(proc.communicate(timeout=10)[1][-3000:])
            raise
        finally:
            if first.returncode is None:
                first.kill()
                first.communicate(timeout=10)
            err = stop(second) if second.returncode is None else ""
    assert second.returncode == 0, err[-2000:]
    events = [r.json() for r in receiver.received]
    ids = [r.headers["X-Veye-Delivery"] for r in receiver.received]
    assert len(ids) == len(set(ids)), "an alert was delivered twice"
    clusters = [e["cluster"]["id"] for e in events if e["event"] == "alert.new"]
    assert len(clusters) == len(set(clusters)) >= 1
    # The clean stop gave back the second worker's holds.
    assert all(r.lease_owner is None for r in sources_table(engine).values())
