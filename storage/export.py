"""Everything stored, streamed out for spreadsheets and notebooks: items, clusters, and the
located alerted events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.schema import article_entities, article_sources, articles, clusters
from storage.search import SearchFilters, apply_filters, search
from storage.store import to_stored

__all__ = ["Place", "iter_clusters", "iter_items", "located_events"]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a place is, and how precisely its name locates an event (0 is most precise)."""

    name: str
    lat: float
    lon: float
    department: str | None
    specificity: int


#: Rows fetched per round trip while streaming.
PAGE = 1000


def iter_items(
    engine: Engine, filters: SearchFilters, query: str | None = None
) -> Iterator[dict[str, Any]]:
    """Items matching ``filters`` (and ``query`` if given), newest first without a query and
    best first with one, as plain dicts. ``filters.limit`` caps the count (0: no cap)."""
    if query:
        if not filters.limit:
            filters = replace(filters, limit=2**31 - 1)
        for hit in search(engine, query, filters):
            yield _item(hit.article, hit.cluster_id)
        return
    when = sa.func.coalesce(articles.c.published_at, articles.c.first_seen_at)
    stmt = apply_filters(sa.select(articles), filters).order_by(when.desc(), articles.c.id.desc())
    if filters.limit:
        stmt = stmt.limit(filters.limit)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=PAGE).execute(stmt)
        for part in result.partitions():
            rows = list(part)
            outlets = _outlets(conn, [r.id for r in rows])
            for r in rows:
                yield _item(to_stored(r._mapping, tuple(outlets.get(r.id, ()))), r.cluster_id)


def _item(a: Any, cluster_id: int | None) -> dict[str, Any]:
    verdict = a.verdict or {}
    return {
        "id": a.id,
        "cluster": cluster_id,
        "published": a.published_at,
        "first_seen": a.first_seen_at,
        "source": a.source,
        "outlets": list(a.outlets),
        "language": a.language,
        "alert": a.alert,
        "categories": list(a.categories),
        "score": a.score,
        "title": a.title,
        "url": a.url,
        "places": sorted(
            {e["name"] for e in verdict.get("entities", ()) if e.get("kind") in ("place", "prison")}
        ),
        "actors": sorted(
            {e["name"] for e in verdict.get("entities", ()) if e.get("kind") in ("gang", "person")}
        ),
        "figures": [
            f"{f['kind']}:{'>=' if f.get('at_least') else ''}{f['value']}"
            for f in verdict.get("figures", ())
        ],
        "text": a.text,
    }


def iter_clusters(engine: Engine, filters: SearchFilters) -> Iterator[dict[str, Any]]:
    """Clusters that hold at least one item matching ``filters``, newest first."""
    members = apply_filters(sa.select(articles.c.cluster_id), filters).where(
        articles.c.cluster_id.is_not(None)
    )
    stmt = (
        sa.select(clusters)
        .where(clusters.c.id.in_(members.scalar_subquery()))
        .order_by(clusters.c.updated_at.desc(), clusters.c.id.desc())
    )
    if filters.limit:
        stmt = stmt.limit(filters.limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        entities = _cluster_entities(conn, [r.id for r in rows])
        carriers = _cluster_outlets(conn, [r.id for r in rows])
    for r in rows:
        places, actors = entities.get(r.id, (set(), set()))
        yield {
            "id": r.id,
            "title": r.title,
            "alert": bool(r.alert),
            "categories": r.categories.split(),
            "items": r.items,
            "outlets": carriers.get(r.id, []),
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "places": sorted(places),
            "actors": sorted(actors),
        }


def located_events(
    engine: Engine, filters: SearchFilters, places: dict[str, Place]
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of alerted clusters, each placed at its most specific
    known place (lowest ``Place.specificity``: a prison before its commune, a commune before
    its department)."""
    features = []
    for c in iter_clusters(engine, replace(filters, alerted=True)):
        located = [places[p] for p in c["places"] if p in places]
        if not located:
            continue
        where = min(located, key=lambda p: (p.specificity, p.name))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [where.lon, where.lat]},
                "properties": {
                    "cluster": c["id"],
                    "title": c["title"],
                    "categories": c["categories"],
                    "place": where.name,
                    "department": where.department,
                    "outlets": len(c["outlets"]),
                    "items": c["items"],
                    "first_seen": c["created_at"].isoformat(),
                    "actors": c["actors"],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _outlets(conn: sa.Connection, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in range(0, len(ids), 500):
        for r in conn.execute(
            sa.select(article_sources.c.article_id, article_sources.c.source)
            .where(article_sources.c.article_id.in_(ids[i : i + 500]))
            .order_by(article_sources.c.first_seen_at)
        ):
            out.setdefault(r.article_id, []).append(r.source)
    return out


def _cluster_outlets(conn: sa.Connection, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in range(0, len(ids), 500):
        for r in conn.execute(
            sa.select(articles.c.cluster_id, article_sources.c.source)
            .select_from(
                article_sources.join(articles, articles.c.id == article_sources.c.article_id)
            )
            .where(articles.c.cluster_id.in_(ids[i : i + 500]))
            .order_by(article_sources.c.first_seen_at)
        ):
            lst = out.setdefault(r.cluster_id, [])
            if r.source not in lst:
                lst.append(r.source)
    return out


def _cluster_entities(conn: sa.Connection, ids: list[int]) -> dict[int, tuple[set[str], set[str]]]:
    out: dict[int, tuple[set[str], set[str]]] = {}
    for i in range(0, len(ids), 500):
        for r in conn.execute(
            sa.select(articles.c.cluster_id, article_entities.c.kind, article_entities.c.name)
            .select_from(
                article_entities.join(articles, articles.c.id == article_entities.c.article_id)
            )
            .where(articles.c.cluster_id.in_(ids[i : i + 500]))
        ):
            places, actors = out.setdefault(r.cluster_id, (set(), set()))
            if r.kind in ("place", "prison"):
                places.add(r.name)
            elif r.kind in ("gang", "person"):
                actors.add(r.name)
    return out
