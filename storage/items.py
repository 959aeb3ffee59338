"""Items into the database: one row per distinct item, edits in place, every carrier noted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crawler.records import ArticleData
from storage.records import SaveOutcome, SaveReport, VerdictLike
from storage.schema import article_entities, article_sources, articles

__all__ = ["save_items"]


def save_items(
    conn: sa.Connection, items: Sequence[tuple[ArticleData, VerdictLike | None]], *, now: datetime
) -> SaveReport:
    """Store a batch within the caller's transaction. An item already stored (same key, or same GUID
    from the same source) is not stored again; a changed one is updated in place."""
    if not items:
        return SaveReport()
    known = _existing(conn, [a for a, _ in items])
    carried = _carriers(conn, [row["id"] for row in known.values()])
    outcomes: list[SaveOutcome] = []
    for article, verdict in items:
        row = known.get(article.key) or (
            known.get(f"guid:{article.source}:{article.guid}") if article.guid else None
        )
        if row is None:
            article_id = _insert(conn, article, verdict, now)
            row = {
                "id": article_id,
                "content_hash": article.content_hash,
                "source": article.source,
            }
            known[article.key] = row
            if article.guid:
                known[f"guid:{article.source}:{article.guid}"] = row
            carried.add((article_id, article.source))
            outcomes.append(SaveOutcome(article_id, "new"))
            continue
        article_id = row["id"]
        if (article_id, article.source) not in carried:
            conn.execute(
                article_sources.insert().values(
                    article_id=article_id,
                    source=article.source,
                    url=article.url,
                    first_seen_at=now,
                )
            )
            carried.add((article_id, article.source))
            outcomes.append(SaveOutcome(article_id, "also"))
        elif row["content_hash"] != article.content_hash and row["source"] == article.source:
            conn.execute(
                articles.update()
                .where(articles.c.id == article_id)
                .values(
                    title=article.title,
                    summary=article.summary,
                    text=article.text,
                    language=article.language,
                    content_hash=article.content_hash,
                    updated_at=now,
                    revisions=articles.c.revisions + 1,
                    **_verdict_values(verdict),
                )
            )
            _index_entities(conn, article_id, verdict, replace=True)
            row["content_hash"] = article.content_hash
            outcomes.append(SaveOutcome(article_id, "updated"))
        else:
            outcomes.append(SaveOutcome(article_id, "seen"))
    return SaveReport(tuple(outcomes))


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
        "verdict": verdict.to_dict(),
    }


def _index_entities(
    conn: sa.Connection, article_id: int, verdict: VerdictLike | None, *, replace: bool
) -> None:
    """Keep ``article_entities`` equal to the entities of the item's current verdict."""
    if replace:
        conn.execute(article_entities.delete().where(article_entities.c.article_id == article_id))
    if verdict is None:
        return
    found = {
        (str(e["kind"]), str(e["name"]))
        for e in verdict.to_dict().get("entities", ())
        if isinstance(e, dict) and e.get("kind") and e.get("name")
    }
    if found:
        conn.execute(
            article_entities.insert(),
            [{"article_id": article_id, "kind": k, "name": n} for k, n in sorted(found)],
        )


def _insert(conn: sa.Connection, a: ArticleData, verdict: VerdictLike | None, now: datetime) -> int:
    inserted = conn.execute(
        articles.insert()
        .returning(articles.c.id)
        .values(
            key=a.key,
            source=a.source,
            url=a.url,
            canonical_url=a.canonical_url,
            guid=a.guid,
            title=a.title,
            summary=a.summary,
            text=a.text,
            language=a.language,
            published_at=a.published,
            authors=list(a.authors),
            content_hash=a.content_hash,
            first_seen_at=now,
            updated_at=now,
            revisions=0,
            salvaged=a.salvaged,
            **_verdict_values(verdict),
        )
    )
    article_id = int(inserted.scalar_one())
    _index_entities(conn, article_id, verdict, replace=False)
    conn.execute(
        article_sources.insert().values(
            article_id=article_id, source=a.source, url=a.url, first_seen_at=now
        )
    )
    return article_id
