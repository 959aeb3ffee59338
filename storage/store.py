"""The store: items deduplicated by key, per-source state, and read access."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crawler.records import ArticleData, FetchResult, Validators
from storage import db
from storage.items import save_items
from storage.records import SaveReport, SourceState, StoredArticle, VerdictLike
from storage.schema import article_sources, articles, runtime, sources

__all__ = ["Store"]

_SOURCE_FIELDS = [f.name for f in fields(SourceState)]
#: Held until commit by every writing batch on PostgreSQL (the key is arbitrary and fixed).
_INGEST_LOCK = sa.text("SELECT pg_advisory_xact_lock(7012604113)")


class Store:
    """Reads and writes the veye database. Safe to share within a thread; each method is one
    transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` and, unless told not to, bring the schema up to date."""
        engine = db.connect(url)
        if migrate:
            try:
                db.upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- sources ---------------------------------------------------------------------------

    def sync_sources(self, configured: Iterable[tuple[str, str, str]]) -> None:
        """Make sure each configured ``(name, kind, url)`` has a row; a changed URL forgets the
        caching headers of the old one."""
        with self.engine.begin() as conn:
            known = {
                r.name: r
                for r in conn.execute(sa.select(sources.c.name, sources.c.kind, sources.c.url))
            }
            for name, kind, url in configured:
                row = known.get(name)
                if row is None:
                    conn.execute(
                        sources.insert().values(
                            name=name, kind=kind, url=url, error_count=0, items_total=0
                        )
                    )
                elif row.url != url or row.kind != kind:
                    conn.execute(
                        sources.update()
                        .where(sources.c.name == name)
                        .values(kind=kind, url=url, etag=None, last_modified=None)
                    )

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        query = sa.select(sources).order_by(sources.c.name)
        if names is not None:
            query = query.where(sources.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            return [
                SourceState(
                    **{
                        k: _utc(v) if isinstance(v, datetime) else v
                        for k, v in row._mapping.items()
                        if k in _SOURCE_FIELDS
                    }
                )
                for row in conn.execute(query)
            ]

    def validators(self) -> dict[str, Validators]:
        with self.engine.connect() as conn:
            return {
                r.name: Validators(r.etag, r.last_modified)
                for r in conn.execute(
                    sa.select(sources.c.name, sources.c.etag, sources.c.last_modified)
                )
            }

    def claim_source(
        self,
        name: str,
        worker: str,
        *,
        now: datetime,
        until: datetime,
        due_by: datetime | None = None,
    ) -> bool:
        """Take (or keep) ``name`` for ``worker`` until ``until``, if it is due (its
        ``next_poll_at`` is at or before ``due_by``, default ``now``) and no other worker
        holds it. One conditional ``UPDATE``: of several workers asking at once exactly one
        gets it, and a dead worker's hold is free once ``lease_until`` has passed."""
        free = sa.or_(
            sources.c.lease_until.is_(None),
            sources.c.lease_until <= now,
            sources.c.lease_owner == worker,
        )
        due = sa.or_(sources.c.next_poll_at.is_(None), sources.c.next_poll_at <= (due_by or now))
        with self.engine.begin() as conn:
            got = conn.execute(
                sources.update()
                .where(sources.c.name == name, free, due)
                .values(lease_owner=worker, lease_until=until)
                .returning(sources.c.name)
            ).first()
        return got is not None

    def end_poll(self, name: str, worker: str, *, keep: bool) -> None:
        """After ``worker`` polled ``name``: note who polled it, and either keep holding it
        (it stays this worker's until the hold lapses) or give it back for others."""
        values: dict[str, Any] = {"last_poll_by": worker}
        if not keep:
            values.update(lease_owner=None, lease_until=None)
        with self.engine.begin() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.name == name, sources.c.lease_owner == worker)
                .values(**values)
            )

    def renew_sources(self, worker: str, *, until: datetime) -> list[str]:
        """Extend every hold of ``worker`` to ``until``; returns the sources it holds."""
        with self.engine.begin() as conn:
            return list(
                conn.execute(
                    sources.update()
                    .where(sources.c.lease_owner == worker)
                    .values(lease_until=until)
                    .returning(sources.c.name)
                ).scalars()
            )

    def release_sources(self, worker: str) -> None:
        """Give back every hold of ``worker``: it is stopping."""
        with self.engine.begin() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.lease_owner == worker)
                .values(lease_owner=None, lease_until=None)
            )

    def held_by(self, worker: str, *, now: datetime) -> list[str]:
        """The sources ``worker`` holds now."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(sources.c.name).where(
                        sources.c.lease_owner == worker, sources.c.lease_until > now
                    )
                ).scalars()
            )

    def clear_source_leases(self) -> None:
        """Free every source hold: for a sole daemon starting after a crash."""
        with self.engine.begin() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.lease_owner.is_not(None))
                .values(lease_owner=None, lease_until=None)
            )

    def record_poll(
        self,
        result: FetchResult,
        *,
        now: datetime,
        new_items: int = 0,
        next_poll_at: datetime | None = None,
    ) -> None:
        """Store how a poll went: caching headers on success, the error and its count on
        failure."""
        self.record_polls([(result, now, new_items, next_poll_at)])

    def record_polls(
        self, polls: Sequence[tuple[FetchResult, datetime, int, datetime | None]]
    ) -> None:
        """:meth:`record_poll` of each ``(result, now, new_items, next_poll_at)``, in one
        transaction (a crawl records a batch of polls at once)."""
        if not polls:
            return
        with self.engine.begin() as conn:
            for result, now, new_items, next_poll_at in polls:
                conn.execute(
                    sources.update()
                    .where(sources.c.name == result.source)
                    .values(**_poll_values(result, now, new_items, next_poll_at))
                )

    # -- items -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction for several steps (save, cluster, owe alerts): all or nothing.

        It takes the database's write lock first, so batches from threads or workers polling
        at once go one after another: each sees what the others stored (the same story from
        two outlets lands in one cluster, a shared key is an update, not a clash)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_INGEST_LOCK)
            elif conn.dialect.name == "sqlite":
                # A write statement makes pysqlite open the transaction and SQLite take its
                # write lock now, rather than at the first insert after the reads.
                conn.execute(runtime.update().where(sa.false()).values(key=runtime.c.key))
            yield conn

    def save(
        self, items: Sequence[tuple[ArticleData, VerdictLike | None]], *, now: datetime
    ) -> SaveReport:
        """Store a batch in its own transaction (see :func:`storage.items.save_items`)."""
        with self.transaction() as conn:
            return save_items(conn, items, now=now)

    def unchanged_keys(self, batch: Sequence[ArticleData]) -> set[str]:
        """Keys in ``batch`` already stored with the same content."""
        wanted = {a.key: a.content_hash for a in batch}
        keys = list(wanted)
        same: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                for r in conn.execute(
                    sa.select(articles.c.key, articles.c.content_hash).where(
                        articles.c.key.in_(keys[i : i + 500])
                    )
                ):
                    if wanted[r.key] == r.content_hash:
                        same.add(r.key)
        return same

    def stored_by(self, batch: Sequence[ArticleData]) -> dict[str, str]:
        """Key → the source that first stored it, for the items of ``batch`` already stored."""
        keys = list({a.key for a in batch})
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                query = sa.select(articles.c.key, articles.c.source).where(
                    articles.c.key.in_(keys[i : i + 500])
                )
                found.update((r.key, r.source) for r in conn.execute(query))
        return found

    def recent_keys(self, source: str, *, since: datetime, limit: int = 20_000) -> set[str]:
        """Keys of the items ``source`` carried since ``since`` (newest ``limit`` at most)."""
        query = (
            sa.select(articles.c.key)
            .join(article_sources, article_sources.c.article_id == articles.c.id)
            .where(article_sources.c.source == source, article_sources.c.first_seen_at >= since)
            .order_by(article_sources.c.first_seen_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def get(self, article_id: int) -> StoredArticle | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(articles).where(articles.c.id == article_id)).first()
            if row is None:
                return None
            outlets = tuple(
                conn.execute(
                    sa.select(article_sources.c.source)
                    .where(article_sources.c.article_id == article_id)
                    .order_by(article_sources.c.first_seen_at)
                ).scalars()
            )
        return to_stored(row._mapping, outlets)

    def cluster_of(self, article_id: int) -> int | None:
        """The cluster (story) an item belongs to."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(articles.c.cluster_id).where(articles.c.id == article_id)
            ).scalar()
        return None if value is None else int(value)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(articles)).scalar_one())

    # -- runtime bookkeeping ---------------------------------------------------------------

    def put_runtime(self, key: str, value: Any, *, now: datetime) -> None:
        with self.engine.begin() as conn:
            _upsert_runtime(conn, {"key": key, "value": value, "updated_at": now})

    def get_runtime(self, key: str) -> tuple[Any, datetime] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(runtime.c.value, runtime.c.updated_at).where(runtime.c.key == key)
            ).first()
        return None if row is None else (row.value, _utc(row.updated_at))

    def runtime_with_prefix(self, prefix: str) -> dict[str, tuple[Any, datetime]]:
        """Every runtime entry whose key starts with ``prefix`` (e.g. ``worker:``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runtime.c.key, runtime.c.value, runtime.c.updated_at).where(
                    runtime.c.key.startswith(prefix, autoescape=True)
                )
            )
            return {r.key: (r.value, _utc(r.updated_at)) for r in rows}

    def delete_runtime(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runtime.delete().where(runtime.c.key == key))

    def claim_lease(self, name: str, worker: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold the lease ``name`` (a job only one worker should run, such as operator
        messages) for ``worker``: granted when free, already ``worker``'s, or not renewed
        for ``ttl`` (its holder died). Renew it by claiming again."""
        key = f"lease:{name}"
        held_by_me = runtime.c.value["owner"].as_string() == worker
        with self.engine.begin() as conn:
            conn.execute(
                _insert_ignore(conn).values(key=key, value={"owner": worker}, updated_at=now)
            )
            got = conn.execute(
                runtime.update()
                .where(runtime.c.key == key, sa.or_(held_by_me, runtime.c.updated_at <= now - ttl))
                .values(value={"owner": worker}, updated_at=now)
                .returning(runtime.c.key)
            ).first()
        return got is not None


def _insert_ignore(conn: sa.Connection) -> Any:
    """``INSERT INTO runtime ... ON CONFLICT DO NOTHING`` in the connection's dialect."""
    return db.insert_for(conn, runtime).on_conflict_do_nothing(index_elements=["key"])


def _upsert_runtime(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Insert or replace one runtime entry in one statement: workers sharing a database may
    write the same key at once."""
    stmt = db.insert_for(conn, runtime).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
    )


def _poll_values(
    result: FetchResult, now: datetime, new_items: int, next_poll_at: datetime | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "last_poll_at": now,
        "last_status": result.status,
        "next_poll_at": next_poll_at,
    }
    if result.error is None:
        values.update(
            last_success_at=now,
            failing_since=None,
            error_count=0,
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
        )
        if new_items:
            values.update(last_new_at=now, items_total=sources.c.items_total + new_items)
    else:
        values.update(
            last_error=result.error,
            last_error_at=now,
            error_count=sources.c.error_count + 1,
            failing_since=sa.func.coalesce(sources.c.failing_since, now),
        )
    return values


def to_stored(row: Any, outlets: tuple[str, ...] = ()) -> StoredArticle:
    """A :class:`StoredArticle` from an ``articles`` row mapping."""
    return StoredArticle(
        id=row["id"],
        key=row["key"],
        source=row["source"],
        url=row["url"],
        title=row["title"],
        summary=row["summary"],
        # Stored empty when it is the summary (see storage.items).
        text=row["text"] or row["summary"],
        language=row["language"],
        published_at=_utc(row["published_at"]),
        first_seen_at=_utc(row["first_seen_at"]),
        alert=bool(row["alert"]),
        categories=tuple(row["categories"].split()),
        score=row["score"],
        verdict=row["verdict"],
        outlets=outlets or (row["source"],),
    )


def _utc(value: datetime | None) -> Any:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
