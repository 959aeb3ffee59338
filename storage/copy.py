"""Copying a whole store to another database: how a SQLite store moves to PostgreSQL
(``veye db copy --to URL``), or back.

The target is migrated to the same schema first and must hold no items yet. Rows keep their
ids, so links between tables, alert delivery ids and ``veye show ID`` stay the same; the
full-text index fills itself through the target's triggers. Everything is read in one
transaction (a consistent snapshot) and written in one: a failed copy leaves the target as
it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import db, fts
from storage.errors import DatabaseUnavailable, StorageError, TargetNotEmpty
from storage.schema import (
    alerts,
    article_entities,
    article_sources,
    articles,
    cluster_entities,
    clusters,
    deliveries,
    runtime,
    signature_bands,
    signature_bands_recent,
    signatures,
    sources,
)

__all__ = ["TABLES", "CopyReport", "copy_store"]

#: Every table, parents before children.
TABLES: tuple[sa.Table, ...] = (
    sources,
    clusters,
    articles,
    article_sources,
    article_entities,
    signatures,
    signature_bands,
    signature_bands_recent,
    cluster_entities,
    runtime,
    alerts,
    deliveries,
)
#: Runtime entries that describe the running daemon, not the data: not copied.
_LIVE_STATE = ("daemon", "worker:", "lease:", "job:")
#: Rows read and written at a time.
BATCH = 2000


@dataclass(frozen=True, slots=True)
class CopyReport:
    #: ``(table, rows copied)`` in copy order.
    tables: tuple[tuple[str, int], ...]

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def copy_store(
    source: Engine,
    target: Engine,
    *,
    on_table: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source`` into ``target`` (migrated here to the head schema).
    Raises :class:`TargetNotEmpty` if the target holds items or sources already."""
    if db.current_revision(source) != db.head_revision():
        raise StorageError(
            "the database to copy from is not at this version's schema: run `veye db upgrade` "
            "on it first"
        )
    db.upgrade(target)
    done: list[tuple[str, int]] = []
    try:
        with source.connect() as src, target.begin() as dst:
            src.begin()
            for table in (articles, sources, clusters):
                if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                    raise TargetNotEmpty(
                        f"the target database already holds {table.name}: copy into a new, "
                        "empty database"
                    )
            for table in TABLES:
                n = _copy_table(src, dst, table)
                done.append((table.name, n))
                if on_table is not None:
                    on_table(table.name, n)
            if dst.dialect.name == "postgresql":
                _advance_sequences(dst)
    except sa.exc.DBAPIError as e:
        raise DatabaseUnavailable(f"copy failed, nothing was written: {e.orig}") from e
    return CopyReport(tuple(done))


def _copy_table(src: sa.Connection, dst: sa.Connection, table: sa.Table) -> int:
    query = sa.select(table).order_by(*table.primary_key.columns)
    if table is runtime:
        query = query.where(
            sa.and_(*(sa.not_(runtime.c.key.startswith(p, autoescape=True)) for p in _LIVE_STATE))
        )
    if table is sources:
        # Holds belong to the workers of the old database.
        query = sa.select(
            *(c for c in sources.c if c.name not in ("lease_owner", "lease_until"))
        ).order_by(sources.c.name)
    copied = 0
    result = src.execution_options(yield_per=BATCH).execute(query)
    for rows in result.partitions():
        dst.execute(table.insert(), [dict(r._mapping) for r in rows])
        if table is articles:
            fts.index_new(dst, [r.id for r in rows])
        copied += len(rows)
    return copied


def _advance_sequences(dst: sa.Connection) -> None:
    """Rows came with their ids: move each id sequence past the largest, or the next insert
    would collide with a copied row."""
    for table in (clusters, articles, alerts, deliveries):
        dst.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
            )
        )
