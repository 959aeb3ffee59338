"""Full-text search over stored items, with filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.errors import InvalidSearchQuery
from storage.fts import FTS_TABLE
from storage.records import SearchHit
from storage.schema import article_entities, article_sources, articles, clusters
from storage.store import to_stored

__all__ = ["SearchFilters", "apply_filters", "search", "to_fts_query"]

_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')
_OPERATORS = {"AND", "OR", "NOT"}
_BAREWORD = re.compile(r"^[\w\x80-\U0010ffff]+\*?$")


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrictions on a search, all optional."""

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    category: str | None = None
    language: str | None = None
    alerted: bool | None = None
    limit: int = 20
    offset: int = 0
    #: One hit per cluster (its best-ranked item); false lists every matching item.
    by_cluster: bool = True
    #: Canonical gazetteer names; an item must carry at least one of each tuple given.
    entities: tuple[str, ...] = ()
    #: Canonical place (or prison) names.
    places: tuple[str, ...] = ()


def to_fts_query(query: str) -> str:
    """Turn what a user types into FTS5 syntax: phrases, ``prefix*``, ``AND``/``OR``/``NOT``
    and parentheses pass through; words FTS5 would choke on (``Port-au-Prince``, ``G-9``,
    ``l'évasion``) become phrases."""
    out: list[str] = []
    for token in _TOKEN.findall(query):
        if token.startswith('"'):
            body = token.strip('"')
            if body.strip():
                out.append(f'"{body}"')
        elif token in ("(", ")") or token in _OPERATORS or _BAREWORD.match(token):
            out.append(token)
        else:
            star = "*" if token.endswith("*") else ""
            body = token.rstrip("*").replace('"', "")
            words = re.findall(r"[\w\x80-\U0010ffff]+", body)
            if words:
                out.append(f'"{" ".join(words)}"{star}')
    if not out:
        raise InvalidSearchQuery("empty search: type at least one word")
    return " ".join(out)


def search(engine: Engine, query: str, filters: SearchFilters | None = None) -> list[SearchHit]:
    """Items matching ``query``, best first (title matches weigh most). By default one hit per
    cluster: its best-ranked matching item, with the cluster's size and outlets; with
    ``filters.by_cluster`` false, every matching item."""
    f = filters or SearchFilters()
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    match = sa.text(f"{FTS_TABLE} MATCH :q").bindparams(q=to_fts_query(query))
    when = sa.func.coalesce(articles.c.published_at, articles.c.first_seen_at)
    matching = (
        sa.select(articles.c.id, articles.c.cluster_id, _ranking(when).label("rank"))
        .select_from(fts.join(articles, articles.c.id == fts.c.rowid))
        .where(match)
    )
    matching = apply_filters(matching, f, when)
    hits = matching.subquery("hits")
    if f.by_cluster:
        # An item stored without a cluster is a group of its own (negative ids never clash).
        group = sa.func.coalesce(hits.c.cluster_id, -hits.c.id)
        ranked = sa.select(
            hits.c.id,
            hits.c.rank,
            sa.func.row_number()
            .over(partition_by=group, order_by=(hits.c.rank, hits.c.id))
            .label("place"),
            sa.func.count().over(partition_by=group).label("matched"),
        ).subquery("ranked")
        best = (
            sa.select(ranked.c.id, ranked.c.rank, ranked.c.matched)
            .where(ranked.c.place == 1)
            .subquery("best")
        )
    else:
        best = sa.select(hits.c.id, hits.c.rank, sa.literal(1).label("matched")).subquery("best")
    stmt = (
        sa.select(
            articles,
            best.c.rank,
            best.c.matched,
            clusters.c["items"].label("cluster_items"),
            clusters.c.outlets.label("cluster_outlets"),
        )
        .select_from(
            best.join(articles, articles.c.id == best.c.id).outerjoin(
                clusters, clusters.c.id == articles.c.cluster_id
            )
        )
        .order_by(best.c.rank, best.c.id)
        .limit(f.limit)
        .offset(f.offset)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
            ids = [r.id for r in rows]
            snippets = _snippets(conn, fts, match, ids)
            outlets = _outlets(conn, ids)
    except sa.exc.OperationalError as e:
        message = str(e.orig)
        if "fts5" in message or "syntax error" in message or "no such column" in message:
            raise InvalidSearchQuery(f"cannot search for {query!r}: {message}") from e
        raise
    out = []
    for r in rows:
        carried = tuple(outlets.get(r.id, ()))
        out.append(
            SearchHit(
                to_stored(r._mapping, carried),
                snippets.get(r.id, ""),
                float(r.rank),
                cluster_id=r.cluster_id,
                cluster_items=int(r.cluster_items or 1),
                cluster_outlets=int(r.cluster_outlets or len(carried) or 1),
                matched=int(r.matched),
            )
        )
    return out


def apply_filters(
    stmt: sa.Select[Any], f: SearchFilters, when: sa.ColumnElement[datetime] | None = None
) -> sa.Select[Any]:
    """``stmt`` (a select over ``articles``) restricted by every filter that is set."""
    matching = stmt
    when = (
        when
        if when is not None
        else sa.func.coalesce(articles.c.published_at, articles.c.first_seen_at)
    )
    if f.since:
        matching = matching.where(when >= f.since)
    if f.until:
        matching = matching.where(when < f.until)
    if f.sources:
        matching = matching.where(articles.c.source.in_(f.sources))
    if f.category:
        matching = matching.where(articles.c.categories.like(f"% {f.category} %"))
    if f.language:
        matching = matching.where(articles.c.language == f.language)
    if f.alerted is not None:
        matching = matching.where(articles.c.alert.is_(f.alerted))
    if f.entities:
        matching = matching.where(_carries(f.entities))
    if f.places:
        matching = matching.where(_carries(f.places, kinds=("place", "prison")))
    return matching


def _ranking(when: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
    """bm25 (title weighs most), boosted for recent items: today's match counts double, a week
    old one and a half, a months-old one about the same as plain bm25. bm25 is negative (lower
    is better), so the boost multiplies."""
    bm25: sa.ColumnElement[float] = sa.literal_column(f"bm25({FTS_TABLE}, 10.0, 3.0, 1.0)")
    age_days = sa.func.max(sa.func.julianday("now") - sa.func.julianday(when), 0.0)
    return bm25 * (1.0 + 1.0 / (1.0 + age_days / 7.0))


def _carries(names: tuple[str, ...], kinds: tuple[str, ...] = ()) -> sa.ColumnElement[bool]:
    query = sa.select(article_entities.c.article_id).where(
        article_entities.c.article_id == articles.c.id, article_entities.c.name.in_(names)
    )
    if kinds:
        query = query.where(article_entities.c.kind.in_(kinds))
    return sa.exists(query)


def _snippets(
    conn: sa.Connection, fts: sa.TableClause, match: sa.TextClause, ids: list[int]
) -> dict[int, str]:
    """The matching passage of each hit, computed for the page shown only."""
    if not ids:
        return {}
    snippet: sa.ColumnElement[str] = sa.literal_column(
        f"snippet({FTS_TABLE}, -1, '[', ']', '…', 16)"
    )
    return {
        r.rowid: r.snippet
        for r in conn.execute(
            sa.select(fts.c.rowid, snippet.label("snippet"))
            .select_from(fts)
            .where(match, fts.c.rowid.in_(ids))
        )
    }


def _outlets(conn: sa.Connection, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if ids:
        for r in conn.execute(
            sa.select(article_sources.c.article_id, article_sources.c.source)
            .where(article_sources.c.article_id.in_(ids))
            .order_by(article_sources.c.first_seen_at, article_sources.c.source)
        ):
            out.setdefault(r.article_id, []).append(r.source)
    return out
