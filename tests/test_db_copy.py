"""``veye db copy --to URL``: a SQLite store moves to PostgreSQL whole, ids and all."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.copy import TABLES
from storage.store import Store
from tests.conftest import feed_bytes, run_veye, write_config
from tests.localserver import LocalServer, Route
from tests.postgres import PostgresServer
from tests.test_store import NOW, article

NOW_ALERTS = {
    "channels": [
        {
            "name": "ops",
            "type": "webhook",
            # Nothing listens there: the alerts stay owed, so the outbox has rows to copy.
            "url": "http://127.0.0.1:9/hook",
            "secret": "copy-test-secret-0123456789",
        }
    ],
    "routes": [{"categories": ["prison_break", "gang_attack"], "channels": ["ops"]}],
}


def table_rows(engine: sa.Engine, table: sa.Table) -> list[tuple[object, ...]]:
    """Every row, comparable across backends: SQLite gives naive UTC timestamps, PostgreSQL
    aware ones."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
    return [
        tuple(
            v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
            for v in r
        )
        for r in rows
    ]


def search_ids(config: Path) -> list[int]:
    done = run_veye("search", "prison", "--all-items", "--format", "json", config=config)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


@pytest.fixture
def sqlite_config(server: LocalServer, tmp_path: Path) -> Path:
    server.add("/rss", Route(feed_bytes("rss20.xml")))
    server.add("/atom", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))
    config = write_config(
        tmp_path,
        [
            {"name": "rss", "url": server.url("/rss")},
            {"name": "atom", "url": server.url("/atom")},
        ],
        alerts=NOW_ALERTS,
    )
    assert run_veye("crawl", config=config).returncode == 0
    return config


def test_a_sqlite_store_moves_to_postgresql_whole(
    sqlite_config: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    target = postgres_server.new_database(template=None)
    done = run_veye("db", "copy", "--to", target, config=sqlite_config)
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and "articles: " in done.stdout

    source = sa.create_engine(f"sqlite:///{tmp_path}/veye.db")
    copy = sa.create_engine(target)
    try:
        for table in TABLES:
            if table.name in ("runtime", "sources"):
                continue  # live state is left behind; compared below
            assert table_rows(copy, table) == table_rows(source, table), table.name
        # The few stories of this store have their bands in the recent table (not merged).
        for table in ("articles", "clusters", "alerts", "signatures", "signature_bands_recent"):
            with copy.connect() as conn:
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
        with source.connect() as a, copy.connect() as b:
            query = sa.text("SELECT name, etag, last_poll_at, items_total FROM sources ORDER BY 1")
            assert [r[0] for r in a.execute(query)] == [r[0] for r in b.execute(query)]
    finally:
        source.dispose()
        copy.dispose()

    # The copy searches like the original, through its own full-text index.
    pg_folder = tmp_path / "pg"
    pg_folder.mkdir()
    pg_config = pg_folder / "config.yaml"
    pg_config.write_text(sqlite_config.read_text().replace("sqlite:///veye.db", target), "utf-8")
    assert search_ids(pg_config) == search_ids(sqlite_config) != []

    # Ids continue after the copied ones.
    store = Store.open(target)
    try:
        highest = store.count()
        (outcome,) = store.save([(article(99), None)], now=NOW).outcomes
        assert outcome.status == "new" and outcome.article_id > highest
    finally:
        store.close()

    # A second copy into the same database is refused, and changes nothing.
    again = run_veye("db", "copy", "--to", target, config=sqlite_config)
    assert again.returncode == 1
    assert "already holds articles" in again.stderr and "empty database" in again.stderr


def test_an_unreachable_target_is_a_clear_error(sqlite_config: Path) -> None:
    done = run_veye(
        "db", "copy", "--to", "postgresql+psycopg://veye@127.0.0.1:9/none", config=sqlite_config
    )
    assert done.returncode == 1
    assert done.stderr.startswith("veye: error: ")
    assert "127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_db_upgrade_creates_and_then_keeps_a_postgresql_schema(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    target = postgres_server.new_database(template=None)
    config = write_config(tmp_path, [], storage={"url": target})
    first = run_veye("db", "upgrade", config=config)
    assert first.returncode == 0, first.stderr
    assert "upgraded to schema" in first.stdout
    again = run_veye("db", "upgrade", config=config)
    assert again.returncode == 0 and "already at schema" in again.stdout
    engine = sa.create_engine(target)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"articles", "articles_fts", "sources", "alerts", "alembic_version"} <= tables
