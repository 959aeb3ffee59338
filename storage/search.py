"""Full-text search over stored items, with filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.errors import InvalidSearchQuery
from storage.fts import FTS_TABLE, PG_CONFIG
from storage.records import SearchHit
from storage.schema import article_entities, article_sources, articles, clusters
from storage.store import to_stored

__all__ = ["SearchFilters", "apply_filters", "search", "to_fts_query", "to_tsquery_text"]

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


def to_tsquery_text(query: str) -> str:
    """The same query language as :func:`to_fts_query`, in PostgreSQL ``to_tsquery`` syntax:
    words are ``&``-ed, phrases become ``<->`` chains, ``prefix*`` becomes ``prefix:*``, and
    ``NOT`` (FTS5's "and not") becomes ``& !``."""
    out: list[str] = []

    def operand_expected() -> bool:
        return not out or out[-1] in ("(", "&", "|", "!")

    for token in _TOKEN.findall(query):
        if token in _OPERATORS:
            if token == "NOT":
                out.extend(["!"] if operand_expected() else ["&", "!"])
            elif operand_expected():
                raise InvalidSearchQuery(
                    f"cannot search for {query!r}: syntax error near {token} (it needs a word "
                    "on each side)"
                )
            else:
                out.append("&" if token == "AND" else "|")
            continue
        if token == ")":
            out.append(")")
            continue
        if not operand_expected():
            out.append("&")
        if token == "(":
            out.append("(")
            continue
        star = ":*" if token.endswith("*") and not token.startswith('"') else ""
        words = re.findall(r"[^\W_]+", token.strip('"').rstrip("*"))
        if not words:
            if out and out[-1] == "&":
                out.pop()
            continue
        quoted = [f"'{w}'" for w in words]
        quoted[-1] += star
        out.append(quoted[0] if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")")
    if out and out[-1] in ("&", "|", "!"):
        raise InvalidSearchQuery(
            f"cannot search for {query!r}: syntax error at the end (an operator needs a word "
            "after it)"
        )
    if not out:
        raise InvalidSearchQuery("empty search: type at least one word")
    return " ".join(out)


def search(engine: Engine, query: str, filters: SearchFilters | None = None) -> list[SearchHit]:
    """Items matching ``query``, best first (title matches weigh most). By default one hit per
    cluster: its best-ranked matching item, with the cluster's size and outlets; with
    ``filters.by_cluster`` false, every matching item."""
    f = filters or SearchFilters()
    index = _Index.for_dialect(engine.dialect.name, query)
    when = sa.func.coalesce(articles.c.published_at, articles.c.first_seen_at)
    matching = (
        sa.select(articles.c.id, articles.c.cluster_id, index.ranking(when).label("relevance"))
        .select_from(index.table.join(articles, articles.c.id == index.table.c.rowid))
        .where(index.match)
        # Every match is ranked: reading its dates and cluster from the covering index
        # instead of the row (text and all) makes a common word 2-3 times faster at 100k
        # items. SQLite's planner would take the row by its primary key without the hint.
        .with_hint(articles, "INDEXED BY ix_articles_search", dialect_name="sqlite")
    )
    matching = apply_filters(matching, f, when)
    try:
        with engine.connect() as conn:
            page = _page(conn, matching, f)
            ids = [p.id for p in page]
            rows = {
                r.id: r
                for r in conn.execute(
                    sa.select(
                        articles,
                        clusters.c["items"].label("cluster_items"),
                        clusters.c.outlets.label("cluster_outlets"),
                    )
                    .select_from(
                        articles.outerjoin(clusters, clusters.c.id == articles.c.cluster_id)
                    )
                    .where(articles.c.id.in_(ids))
                )
            }
            snippets = index.snippets(conn, ids)
            outlets = _outlets(conn, ids)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.DataError) as e:
        message = str(e.orig).strip().splitlines()[0]
        if "fts5" in message or "syntax error" in message or "no such column" in message:
            raise InvalidSearchQuery(f"cannot search for {query!r}: {message}") from e
        raise
    out = []
    for p in page:
        r = rows[p.id]
        carried = tuple(outlets.get(p.id, ()))
        out.append(
            SearchHit(
                to_stored(r._mapping, carried),
                snippets.get(p.id, ""),
                p.rank,
                cluster_id=r.cluster_id,
                cluster_items=int(r.cluster_items or 1),
                cluster_outlets=int(r.cluster_outlets or len(carried) or 1),
                matched=p.matched,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Ranked:
    id: int
    rank: float
    #: Matching items of its cluster (1 when listing every item).
    matched: int


def _page(conn: sa.Connection, matching: sa.Select[Any], f: SearchFilters) -> list[_Ranked]:
    """The page of hits asked for, best first. One per cluster is found among the best
    matches only (a few times the page), falling back to grouping every match when those
    hold too few clusters: the same page either way, without sorting and grouping thousands
    of matches for a common word."""
    ordered = matching.order_by(sa.literal_column("relevance"), articles.c.id)
    if not f.by_cluster:
        return [
            _Ranked(r.id, float(r.relevance), 1)
            for r in conn.execute(ordered.limit(f.limit).offset(f.offset))
        ]
    want = f.offset + f.limit
    pool = want * 4 + 50
    top = conn.execute(ordered.limit(pool + 1)).all()
    # Clusters in the order of their best match; an item without one is a group of its own
    # (negative ids never clash with cluster ids).
    groups: dict[int, tuple[int, float]] = {}
    for r in top:
        groups.setdefault(r.cluster_id if r.cluster_id is not None else -r.id, (r.id, r.relevance))
        if len(groups) == want:
            break
    if len(groups) < want and len(top) > pool:
        return _page_by_window(conn, matching, f)
    chosen = list(groups.items())[f.offset : want]
    counts: dict[int, int] = {}
    clustered = [g for g, _ in chosen if g > 0]
    if clustered:
        counted = (
            matching.with_only_columns(articles.c.cluster_id, sa.func.count())
            .where(articles.c.cluster_id.in_(clustered))
            .group_by(articles.c.cluster_id)
        )
        counts = {int(c): int(n) for c, n in conn.execute(counted)}
    return [_Ranked(i, float(rank), counts.get(g, 1)) for g, (i, rank) in chosen]


def _page_by_window(
    conn: sa.Connection, matching: sa.Select[Any], f: SearchFilters
) -> list[_Ranked]:
    """One hit per cluster by grouping every match in SQL."""
    hits = matching.subquery("hits")
    group = sa.func.coalesce(hits.c.cluster_id, -hits.c.id)
    ranked = sa.select(
        hits.c.id,
        hits.c.relevance,
        sa.func.row_number()
        .over(partition_by=group, order_by=(hits.c.relevance, hits.c.id))
        .label("place"),
        sa.func.count().over(partition_by=group).label("matched"),
    ).subquery("ranked")
    best = (
        sa.select(ranked.c.id, ranked.c.relevance, ranked.c.matched)
        .where(ranked.c.place == 1)
        .order_by(ranked.c.relevance, ranked.c.id)
        .limit(f.limit)
        .offset(f.offset)
    )
    return [_Ranked(r.id, float(r.relevance), int(r.matched)) for r in conn.execute(best)]


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


def _carries(names: tuple[str, ...], kinds: tuple[str, ...] = ()) -> sa.ColumnElement[bool]:
    query = sa.select(article_entities.c.article_id).where(
        article_entities.c.article_id == articles.c.id, article_entities.c.name.in_(names)
    )
    if kinds:
        query = query.where(article_entities.c.kind.in_(kinds))
    return sa.exists(query)


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


@dataclass(frozen=True)
class _Index:
    """One backend's full-text index: what matches, how it ranks (lower is better, as bm25),
    and the passage shown."""

    dialect: str
    table: sa.TableClause
    match: sa.ColumnElement[bool]
    tsquery: sa.ColumnElement[Any] | None = None

    @classmethod
    def for_dialect(cls, dialect: str, query: str) -> _Index:
        if dialect == "postgresql":
            table = sa.table(FTS_TABLE, sa.column("rowid"), sa.column("document"))
            tsquery = sa.func.to_tsquery(
                sa.literal_column(f"'{PG_CONFIG}'::regconfig"),
                sa.bindparam("q", to_tsquery_text(query), type_=sa.Text),
            )
            return cls(dialect, table, table.c.document.op("@@")(tsquery), tsquery)
        table = sa.table(FTS_TABLE, sa.column("rowid"))
        match = sa.text(f"{FTS_TABLE} MATCH :q").bindparams(q=to_fts_query(query))
        return cls(dialect, table, match)  # type: ignore[arg-type]

    def ranking(self, when: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
        """Relevance (title weighs most), boosted for recent items: today's match counts
        double, a week old one and a half, a months-old one about the same as plain
        relevance."""
        relevance: sa.ColumnElement[float]
        if self.tsquery is not None:
            # Weights are {D, C, B, A}: text 1, summary 3, title 10, as bm25's below.
            weights: sa.ColumnElement[Any] = sa.literal_column("'{0.0, 0.1, 0.3, 1.0}'::float4[]")
            relevance = -sa.func.ts_rank(weights, self.table.c.document, self.tsquery)
            age_days = sa.func.greatest(sa.extract("epoch", sa.func.now() - when) / 86400.0, 0.0)
        else:
            # bm25 is negative (lower is better), so the boost multiplies.
            relevance = sa.literal_column(f"bm25({FTS_TABLE}, 10.0, 3.0, 1.0)")
            age_days = sa.func.max(sa.func.julianday("now") - sa.func.julianday(when), 0.0)
        return relevance * (1.0 + 1.0 / (1.0 + age_days / 7.0))

    def snippets(self, conn: sa.Connection, ids: list[int]) -> dict[int, str]:
        """The matching passage of each hit, computed for the page shown only."""
        if not ids:
            return {}
        if self.tsquery is not None:
            body = sa.func.coalesce(sa.func.nullif(articles.c.text, ""), articles.c.summary)
            headline = sa.func.ts_headline(
                sa.literal_column(f"'{PG_CONFIG}'::regconfig"),
                sa.func.left(body, 20_000),
                self.tsquery,
                "StartSel=[, StopSel=], MaxWords=16, MinWords=6, ShortWord=1, "
                "MaxFragments=1, FragmentDelimiter=…",
            )
            stmt = sa.select(articles.c.id.label("rowid"), headline.label("snippet")).where(
                articles.c.id.in_(ids)
            )
        else:
            snippet: sa.ColumnElement[str] = sa.literal_column(
                f"snippet({FTS_TABLE}, -1, '[', ']', '…', 16)"
            )
            stmt = (
                sa.select(self.table.c.rowid, snippet.label("snippet"))
                .select_from(self.table)
                .where(self.match, self.table.c.rowid.in_(ids))
            )
        return {r.rowid: r.snippet for r in conn.execute(stmt)}
