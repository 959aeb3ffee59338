"""Items into the database: one row per distinct item, edits in place, every carrier noted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crawler.records import ArticleData
from storage import fts
from storage.db import insert_many_ids
from storage.records import PackedVerdict, SaveOutcome, SaveReport, VerdictLike, entity_pairs
from storage.schema import article_entities, article_sources, articles

__all__ = ["save_items"]


#: Built once: SQLAlchemy caches the compiled form of a statement object it has seen.
_INSERT_CARRIERS = article_sources.insert()
_INSERT_ENTITIES = article_entities.insert()
_DELETE_ENTITIES = article_entities.delete().where(
    article_entities.c.article_id == sa.bindparam("article_id")
)
_UPDATE_ARTICLE = (
    articles.update()
    .where(articles.c.id == sa.bindparam("article_id"))
    .values(revisions=articles.c.revisions + 1)
)


def save_items(
    conn: sa.Connection, items: Sequence[tuple[ArticleData, VerdictLike | None]], *, now: datetime
) -> SaveReport:
    """Store a batch within the caller's transaction. An item already stored (same key, or same
    GUID from the same source) is not stored again; a changed one is updated in place.

    New items go in with one multi-row insert, and their carriers and entities likewise: the
    cost per item is a few rows, not a few statements."""
    if not items:
        return SaveReport()
    known = _existing(conn, [a for a, _ in items])
    carried = _carriers(conn, [row["id"] for row in known.values() if row["id"] is not None])
    # First pass: decide each item's fate. New rows get their id after the bulk insert, so
    # within the batch they are referred to by their position in ``fresh``.
    fresh: list[dict[str, Any]] = []
    fresh_verdicts: list[VerdictLike | None] = []
    plan: list[tuple[str, dict[str, Any]]] = []
    carriers: list[tuple[dict[str, Any], ArticleData]] = []
    for article, verdict in items:
        row = known.get(article.key) or (
            known.get(f"guid:{article.source}:{article.guid}") if article.guid else None
        )
        if row is None:
            row = {
                "id": None,
                "fresh": len(fresh),
                "content_hash": article.content_hash,
                "source": article.source,
            }
            fresh.append(_row(article, verdict, now))
            fresh_verdicts.append(verdict)
            known[article.key] = row
            if article.guid:
                known[f"guid:{article.source}:{article.guid}"] = row
            carried.add((id(row), article.source))
            carriers.append((row, article))
            plan.append(("new", row))
            continue
        ident = row["id"] if row["id"] is not None else id(row)
        if (ident, article.source) not in carried:
            carried.add((ident, article.source))
            carriers.append((row, article))
            plan.append(("also", row))
        elif row["content_hash"] != article.content_hash and row["source"] == article.source:
            if row["id"] is None:  # an edit of an item new in this very batch: keep the last
                fresh[row["fresh"]] = _row(article, verdict, now)
                fresh_verdicts[row["fresh"]] = verdict
                plan.append(("seen", row))
            else:
                _update(conn, row["id"], article, verdict, now)
                plan.append(("updated", row))
            row["content_hash"] = article.content_hash
        else:
            plan.append(("seen", row))
    if fresh:
        ids = insert_many_ids(conn, articles, fresh)
        fts.index_new(conn, ids)
        for row in known.values():
            if row["id"] is None:
                row["id"] = ids[row["fresh"]]
        entity_rows = [
            e
            for article_id, v in zip(ids, fresh_verdicts, strict=True)
            for e in _entity_rows(article_id, v)
        ]
        if entity_rows:
            conn.execute(_INSERT_ENTITIES, entity_rows)
    if carriers:
        conn.execute(
            _INSERT_CARRIERS,
            [
                {"article_id": row["id"], "source": a.source, "url": a.url, "first_seen_at": now}
                for row, a in carriers
            ],
        )
    return SaveReport(tuple(SaveOutcome(row["id"], status) for status, row in plan))


def _row(a: ArticleData, verdict: VerdictLike | None, now: datetime) -> dict[str, Any]:
    return {
        "key": a.key,
        "source": a.source,
        "url": a.url,
        "canonical_url": a.canonical_url,
        "guid": a.guid,
        "title": a.title,
        "summary": a.summary,
        "text": _stored_text(a),
        "language": a.language,
        "published_at": a.published,
        "authors": list(a.authors),
        "content_hash": a.content_hash,
        "first_seen_at": now,
        "updated_at": now,
        "revisions": 0,
        "salvaged": a.salvaged,
        **_verdict_values(verdict),
    }


def _stored_text(a: ArticleData) -> str:
    """The text column: empty when the text is the summary (a feed that carries the whole
    story in its description), so it is neither stored nor indexed twice.
    :func:`storage.store.to_stored` gives such a row its text back."""
    return "" if a.text == a.summary else a.text


def _update(
    conn: sa.Connection,
    article_id: int,
    a: ArticleData,
    verdict: VerdictLike | None,
    now: datetime,
) -> None:
    conn.execute(
        _UPDATE_ARTICLE,
        {
            "article_id": article_id,
            "title": a.title,
            "summary": a.summary,
            "text": _stored_text(a),
            "language": a.language,
            "content_hash": a.content_hash,
            "updated_at": now,
            **_verdict_values(verdict),
        },
    )
    conn.execute(_DELETE_ENTITIES, {"article_id": article_id})
    rows = _entity_rows(article_id, verdict)
    if rows:
        conn.execute(_INSERT_ENTITIES, rows)


def _entity_rows(article_id: int, verdict: VerdictLike | None) -> list[dict[str, Any]]:
    """Rows of ``article_entities`` for the entities of an item's verdict."""
    if verdict is None:
        return []
    pairs = (
        verdict.entities if isinstance(verdict, PackedVerdict) else entity_pairs(verdict.to_dict())
    )
    return [{"article_id": article_id, "kind": k, "name": n} for k, n in pairs]


def _existing(conn: sa.Connection, batch: list[ArticleData]) -> dict[str, dict[str, Any]]:
    """Rows already stored for the batch, by key and by ``guid:source:guid``."""
    found: dict[str, dict[str, Any]] = {}
    cols = (
        articles.c.id,
        articles.c.key,
        articles.c.content_hash,
        articles.c.source,
        articles.c.guid,
    )
    keys = list({a.key for a in batch})
    for i in range(0, len(keys), 500):
        for r in conn.execute(sa.select(*cols).where(articles.c.key.in_(keys[i : i + 500]))):
            row = dict(r._mapping)
            found[r.key] = row
            if r.guid:
                found[f"guid:{r.source}:{r.guid}"] = row
    guids = {(a.source, a.guid) for a in batch if a.guid and a.key not in found}
    for source in {s for s, _ in guids}:
        wanted = [g for s, g in guids if s == source]
        for i in range(0, len(wanted), 500):
            for r in conn.execute(
                sa.select(*cols).where(
                    articles.c.source == source, articles.c.guid.in_(wanted[i : i + 500])
                )
            ):
                found[f"guid:{r.source}:{r.guid}"] = dict(r._mapping)
    return found


def _carriers(conn: sa.Connection, ids: list[int]) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for i in range(0, len(ids), 500):
        out.update(
            (r.article_id, r.source)
            for r in conn.execute(
                sa.select(article_sources.c.article_id, article_sources.c.source).where(
                    article_sources.c.article_id.in_(ids[i : i + 500])
                )
            )
        )
    return out


def _verdict_values(verdict: VerdictLike | None) -> dict[str, Any]:
    if verdict is None:
        return {"alert": False, "categories": "", "score": 0.0, "verdict": None}
    cats = " ".join(verdict.categories)
    return {
        "alert": verdict.alert,
        "categories": f" {cats} " if cats else "",
        "score": float(verdict.score),
        "verdict": verdict.document if isinstance(verdict, PackedVerdict) else verdict.to_dict(),
    }
