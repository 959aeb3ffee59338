"""Full-text search over stored items, with filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.errors import InvalidSearchQuery
from storage.fts import FTS_TABLE
from storage.records import SearchHit
from storage.schema import articles
from storage.store import to_stored

__all__ = ["SearchFilters", "search", "to_fts_query"]

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
    """Items matching ``query``, best first (title matches weigh most)."""
    f = filters or SearchFilters()
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    match = sa.text(f"{FTS_TABLE} MATCH :q").bindparams(q=to_fts_query(query))
    rank: sa.ColumnElement[float] = sa.literal_column(f"bm25({FTS_TABLE}, 10.0, 3.0, 1.0)")
    snippet: sa.ColumnElement[str] = sa.literal_column(f"snippet({FTS_TABLE}, -1, '[', ']', '…', 16)")
    stmt = (
        sa.select(articles, rank.label("rank"), snippet.label("snippet"))
        .select_from(fts.join(articles, articles.c.id == fts.c.rowid))
        .where(match)
    )
    when = sa.func.coalesce(articles.c.published_at, articles.c.first_seen_at)
    if f.since:
        stmt = stmt.where(when >= f.since)
    if f.until:
        stmt = stmt.where(when < f.until)
    if f.sources:
        stmt = stmt.where(articles.c.source.in_(f.sources))
    if f.category:
        stmt = stmt.where(articles.c.categories.like(f"% {f.category} %"))
    if f.language:
        stmt = stmt.where(articles.c.language == f.language)
    if f.alerted is not None:
        stmt = stmt.where(articles.c.alert.is_(f.alerted))
    stmt = stmt.order_by(sa.text("rank")).limit(f.limit).offset(f.offset)
    try:
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    except sa.exc.OperationalError as e:
        message = str(e.orig)
        if "fts5" in message or "syntax error" in message or "no such column" in message:
            raise InvalidSearchQuery(f"cannot search for {query!r}: {message}") from e
        raise
    return [SearchHit(to_stored(r._mapping), r.snippet, float(r.rank)) for r in rows]
