"""Opening the database: engine settings (WAL, busy timeout) and migrations to the head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url

from storage import fts
from storage.errors import DatabaseUnavailable
from storage.records import RawJSON

__all__ = [
    "connect",
    "current_revision",
    "head_revision",
    "include_object",
    "insert_for",
    "insert_many_ids",
    "upgrade",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Seconds a writer waits for another writer's lock before giving up.
BUSY_TIMEOUT = 30.0


def connect(url: str) -> Engine:
    """An engine for ``url``. For SQLite, creates the parent folder and turns on WAL mode,
    a busy timeout and foreign keys on every connection; for PostgreSQL, sessions run in UTC
    and a connection dropped by the server is replaced before use."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as e:
        raise DatabaseUnavailable(f"not a database URL: {url!r} ({e})") from e
    kwargs: dict[str, Any] = {"json_serializer": _to_json}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT}
    elif parsed.get_backend_name() == "postgresql":
        # Naive timestamps (SQLite's, and copies from it) mean UTC on both backends.
        kwargs["connect_args"] = {"options": "-c timezone=UTC"}
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **kwargs)
    except ImportError as e:
        raise DatabaseUnavailable(
            f"cannot use database {parsed.render_as_string()}: {e}"
            + (" (install veye[postgres])" if parsed.get_backend_name() == "postgresql" else "")
        ) from e
    except sa.exc.ArgumentError as e:
        raise DatabaseUnavailable(f"cannot use database {parsed.render_as_string()}: {e}") from e
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        engine.dialect.statement_compiler = _SQLiteCompiler
    return engine


def _to_json(value: Any) -> str:
    """JSON columns' encoder: a document already written (:class:`RawJSON`) goes in as it is."""
    return value if isinstance(value, RawJSON) else json.dumps(value)


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering ``Select.with_hint(table, "INDEXED BY ix", "sqlite")``
    after the table (SQLAlchemy drops table hints on SQLite)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def insert_for(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` into ``table`` in the connection's dialect, with its ``ON CONFLICT``
    clauses (PostgreSQL's or SQLite's); ``None`` for a database without them."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return None


def insert_many_ids(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into ``table`` (its primary key ``id`` generated) and return their ids,
    in the order of ``rows``.

    SQLAlchemy can return ordered ids from one multi-row insert on PostgreSQL, but on SQLite
    it falls back to one statement per row for that. There the caller holds the write lock
    (``Store.transaction``), so the next ids are known: SQLite would itself give
    ``max(id) + 1, + 2, ...`` (the tables are not ``AUTOINCREMENT``), and the rows go in with
    those ids in one executemany."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in conn.execute(stmt, rows).scalars()]
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one()
    first = int(top or 0) + 1
    ids = list(range(first, first + len(rows)))
    conn.execute(table.insert(), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL makes NORMAL durable against application crashes; only a power cut can lose the
    # last commits, never corrupt the file.
    cur.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint every ~32 MB of WAL instead of every 4 MB: fewer, larger checkpoints keep
    # commits cheap as the file grows; the daemon's housekeeping truncates the WAL hourly.
    cur.execute("PRAGMA wal_autocheckpoint=8000")
    # A 64 MB page cache (SQLite's default is 2 MB): the band and key lookups of a batch hit
    # pages the last batches read. At most 64 MB per connection, and only as pages are used.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For schema comparison: the FTS index is managed by raw DDL, not by the models."""
    return not (type_ == "table" and name is not None and name.startswith(fts.FTS_TABLE))


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    script = ScriptDirectory(str(_MIGRATIONS))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> bool:
    """Bring the schema to the newest migration. Returns whether anything was run."""
    try:
        if current_revision(engine) == head_revision():
            return False
        command.upgrade(_alembic_config(engine), "head")
    except sa.exc.OperationalError as e:
        raise DatabaseUnavailable(f"cannot open or migrate the database: {e.orig}") from e
    except sa.exc.ProgrammingError as e:
        reason = str(e.orig).strip().splitlines()[0]
        if "permission denied" in reason or "must be owner" in reason:
            reason += (
                " (veye's role needs to own the database, or CREATE on its public schema; "
                "if it may not create extensions, an administrator runs `CREATE EXTENSION "
                "unaccent` in it once)"
            )
        raise DatabaseUnavailable(f"cannot migrate the database: {reason}") from e
    return True
