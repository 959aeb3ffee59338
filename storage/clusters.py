"""Clusters: one per story or event, so an alert is owed once, not once per outlet.

A new item joins an existing cluster when

1. its text is a near-duplicate of a stored item's (syndicated copies, the same wire story
   under another headline or boilerplate): MinHash signatures, candidates by an indexed
   lookup of LSH bands (:mod:`storage.signatures`), verified against
   ``ClusterParams.similarity`` and published within ``copy_window`` of each other; or
2. it alerts and reports the same event in other words: same category, same main location,
   within ``window`` of the cluster's first report (:mod:`storage.events`). Items that do
   not alert never join by entities, only as copies.

Otherwise it starts a cluster. Exact duplicates (same canonical URL, or same GUID from the
same source) never get here as new items: :func:`storage.items.save_items` stores them once.
Clusters never merge; an item stays in the cluster it first joined, edits included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crawler.records import ArticleData
from storage import events, signatures, similarity
from storage.records import (
    ClusterChange,
    ClusterDetail,
    ClusterInfo,
    ClusterMember,
    SaveReport,
    VerdictLike,
)
from storage.schema import article_sources, articles, clusters
from storage.similarity import MIN_WORDS
from storage.store import to_stored

__all__ = ["ClusterParams", "assign", "event_time", "get_cluster", "list_clusters"]


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """How items are grouped into clusters (``clusters:`` in the config)."""

    #: Reports of one event join a cluster within this much of its first report.
    window: timedelta = timedelta(hours=48)
    #: Estimated Jaccard similarity of word shingles from which a text is a copy.
    similarity: float = 0.6
    #: A copy joins only an item published within this much of it: a template reused a
    #: week later (a weekly toll, a communiqué) is news again.
    copy_window: timedelta = timedelta(days=7)
    #: Place names too broad to tell two events apart (compared without case or accents).
    generic_places: tuple[str, ...] = events.DEFAULT_GENERIC_PLACES
    #: Also require a shared gang when both reports name one.
    require_gang: bool = False
    #: Texts with fewer words get no signature (they join only as exact duplicates or by
    #: event).
    min_words: int = MIN_WORDS


Items = Sequence[tuple[ArticleData, VerdictLike | None]]


def assign(
    conn: sa.Connection,
    report: SaveReport,
    items: Items,
    *,
    now: datetime,
    settings: ClusterParams | None = None,
) -> tuple[ClusterChange, ...]:
    """Put each new item in a cluster and bring the clusters' state up to date, within the
    caller's transaction. ``report`` and ``items`` are in the same order (those of
    :func:`storage.items.save_items`). Items are placed one after the other, so a copy later
    in the same batch finds the earlier one."""
    params = settings or ClusterParams()
    # save_items stored the whole batch's new carriers already: until its turn comes, each
    # is left out of outlet counts, so every change reports the outlets it added itself.
    pending = {
        (o.article_id, a.source)
        for o, (a, _) in zip(report.outcomes, items, strict=True)
        if o.status == "also"
    }
    ctx = _Batch(conn, now, params, pending)
    changes: list[ClusterChange] = []
    for outcome, (article, verdict) in zip(report.outcomes, items, strict=True):
        if outcome.status == "new":
            changes.append(_place(ctx, outcome.article_id, article, verdict))
        elif outcome.status == "also":
            pending.discard((outcome.article_id, article.source))
            changes.append(_outlet(ctx, outcome.article_id))
        elif outcome.status == "updated":
            changes.append(_update(ctx, outcome.article_id, article, verdict))
    return tuple(changes)


@dataclass(slots=True)
class _Batch:
    """What placing one batch's items shares."""

    conn: sa.Connection
    now: datetime
    params: ClusterParams
    #: ``(article_id, source)`` carriers stored by this batch and not yet placed.
    pending: set[tuple[int, str]]


def _place(
    b: _Batch, article_id: int, article: ArticleData, verdict: VerdictLike | None
) -> ClusterChange:
    """A new item: join the cluster of a copy, else of the same event, else start one."""
    conn, params = b.conn, b.params
    at = event_time(article.published, b.now)
    alert = bool(verdict and verdict.alert)
    cats = tuple(verdict.categories) if verdict else ()
    keys = (
        events.event_keys(verdict.to_dict(), params.generic_places) if verdict and alert else None
    )
    sig = similarity.signature(article.text or article.summary, min_words=params.min_words)
    target: int | None = None
    via, score = "start", None
    # Copies first: shared text is stronger evidence than shared places.
    if sig is not None:
        copies = signatures.find_copies(
            conn, sig, threshold=params.similarity, at=at, window=params.copy_window
        )
        best = next((c for c in copies if c.cluster_id is not None), None)
        if best is not None:
            target, via, score = best.cluster_id, "copy", best.similarity
    if target is None and keys is not None:
        target = events.find_event(
            conn, keys, cats, at, window=params.window, require_gang=params.require_gang
        )
        if target is not None:
            via = "event"
    if sig is not None:
        signatures.save_signature(conn, article_id, sig, at)

    if target is None:
        cluster_id = _create(conn, article.title, alert, cats, at, b.now)
        _link(conn, article_id, cluster_id, "start", None)
        change = ClusterChange(
            cluster_id,
            article_id,
            "new",
            alert,
            tuple(sorted(set(cats))),
            # Its own outlet: other carriers in this batch come as their own changes.
            1,
            became_alert=alert,
            previous_outlets=0,
            items=1,
            via="start",
        )
        event_at = at
    else:
        cluster_id = target
        row = _cluster(conn, cluster_id)
        # Linked first, so the recount sees the item's outlet.
        _link(conn, article_id, cluster_id, via, score)
        change = _restate(b, row, article_id, "joined", alert, cats, added=1, via=via)
        event_at = _utc(row.event_at) or at
    if keys is not None:
        events.remember(conn, cluster_id, keys, event_at, fresh=target is None)
    return change


def _outlet(b: _Batch, article_id: int) -> ClusterChange:
    """A known item carried by one more outlet."""
    row = _cluster_of(b, article_id)
    return _restate(b, row, article_id, "outlet", False, ())


def _update(
    b: _Batch, article_id: int, article: ArticleData, verdict: VerdictLike | None
) -> ClusterChange:
    """An item's content changed: new signature, the cluster's verdict state refreshed. It
    stays in its cluster (an edit does not make a new story)."""
    row = _cluster_of(b, article_id)
    sig = similarity.signature(article.text or article.summary, min_words=b.params.min_words)
    if sig is not None:
        at = event_time(article.published, b.now)
        signatures.save_signature(b.conn, article_id, sig, at, replace=True)
    alert = bool(verdict and verdict.alert)
    cats = tuple(verdict.categories) if verdict else ()
    if verdict is not None and alert:
        keys = events.event_keys(verdict.to_dict(), b.params.generic_places)
        events.remember(b.conn, row.id, keys, _utc(row.event_at) or b.now)
    return _restate(b, row, article_id, "updated", alert, cats)


def _restate(
    b: _Batch,
    row: Any,
    article_id: int,
    kind: str,
    alert: bool,
    cats: Iterable[str],
    *,
    added: int = 0,
    via: str = "",
) -> ClusterChange:
    """Fold an item's verdict into its cluster, recount its outlets, and say what changed."""
    was_alert = bool(row.alert)
    merged = sorted(set(row.categories.split()) | set(cats))
    outlets = _count_outlets(b, row.id)
    items = int(row.items) + added
    b.conn.execute(
        _RESTATE,
        {
            "cid": row.id,
            "updated_at": b.now,
            "alert": was_alert or alert,
            "categories": _spaced(merged),
            "items": items,
            "outlets": outlets,
        },
    )
    return ClusterChange(
        row.id,
        article_id,
        kind,
        was_alert or alert,
        tuple(merged),
        outlets,
        became_alert=alert and not was_alert,
        previous_outlets=int(row.outlets),
        items=items,
        via=via,
    )


def _create(
    conn: sa.Connection,
    title: str,
    alert: bool,
    cats: Iterable[str],
    at: datetime,
    now: datetime,
) -> int:
    values = {
        "created_at": now,
        "updated_at": now,
        "title": title,
        "alert": alert,
        "categories": _spaced(sorted(set(cats))),
        "items": 1,
        "outlets": 1,
        "event_at": at,
    }
    return int(conn.execute(_CREATE, values).scalar_one())


def _link(
    conn: sa.Connection, article_id: int, cluster_id: int, via: str, score: float | None
) -> None:
    conn.execute(_LINK, {"aid": article_id, "cid": cluster_id, "via": via, "sim": score})


def _cluster(conn: sa.Connection, cluster_id: int) -> Any:
    return conn.execute(_CLUSTER, {"cid": cluster_id}).one()


def _cluster_of(b: _Batch, article_id: int) -> Any:
    """The cluster row of a stored item; an item stored before clustering (or through
    :meth:`Store.save`) gets a cluster of its own first."""
    item = b.conn.execute(
        sa.select(
            articles.c.cluster_id,
            articles.c.title,
            articles.c.alert,
            articles.c.categories,
            articles.c.published_at,
            articles.c.first_seen_at,
        ).where(articles.c.id == article_id)
    ).one()
    if item.cluster_id is not None:
        return _cluster(b.conn, item.cluster_id)
    at = _utc(item.published_at) or _utc(item.first_seen_at)
    cats = item.categories.split()
    cluster_id = _create(b.conn, item.title, bool(item.alert), cats, at, b.now)
    _link(b.conn, article_id, cluster_id, "start", None)
    return _cluster(b.conn, cluster_id)


def _count_outlets(b: _Batch, cluster_id: int) -> int:
    """Distinct outlets of a cluster's items, leaving out carriers not yet placed."""
    rows = b.conn.execute(_CARRIERS, {"cid": cluster_id})
    return len({r.source for r in rows if (r.article_id, r.source) not in b.pending})


# Statements built once: building a statement costs more than SQLite takes to run it.
_CREATE = clusters.insert().returning(clusters.c.id)
_CLUSTER = sa.select(clusters).where(clusters.c.id == sa.bindparam("cid"))
_RESTATE = clusters.update().where(clusters.c.id == sa.bindparam("cid"))
_LINK = (
    articles.update()
    .where(articles.c.id == sa.bindparam("aid"))
    .values(
        cluster_id=sa.bindparam("cid"),
        cluster_via=sa.bindparam("via"),
        cluster_similarity=sa.bindparam("sim"),
    )
)
_CARRIERS = (
    sa.select(article_sources.c.article_id, article_sources.c.source)
    .select_from(article_sources.join(articles, articles.c.id == article_sources.c.article_id))
    .where(articles.c.cluster_id == sa.bindparam("cid"))
)


def event_time(published: datetime | None, now: datetime) -> datetime:
    """When an item happened for matching: its publication time (UTC), else ``now``; never
    later than ``now``, since a feed's clock running ahead must not open a future window."""
    if published is None:
        return now
    when: datetime = _utc(published)
    return min(when, now)


def _spaced(cats: Sequence[str]) -> str:
    """Categories as stored: space-delimited with a space at each end (``LIKE '% c %'``)."""
    return f" {' '.join(cats)} " if cats else ""


def _utc(value: datetime | None) -> Any:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- reading ---------------------------------------------------------------------------------


def _info(row: Any) -> ClusterInfo:
    return ClusterInfo(
        id=row.id,
        title=row.title,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        event_at=_utc(row.event_at),
        alert=bool(row.alert),
        categories=tuple(row.categories.split()),
        items=int(row.items),
        outlets=int(row.outlets),
    )


def get_cluster(conn: sa.Connection, cluster_id: int) -> ClusterDetail | None:
    """A cluster with its items, oldest first, and the outlets that carried them."""
    row = conn.execute(sa.select(clusters).where(clusters.c.id == cluster_id)).first()
    if row is None:
        return None
    carriers: dict[int, list[str]] = {}
    order: list[str] = []
    for r in conn.execute(
        sa.select(article_sources.c.article_id, article_sources.c.source)
        .select_from(article_sources.join(articles, articles.c.id == article_sources.c.article_id))
        .where(articles.c.cluster_id == cluster_id)
        .order_by(article_sources.c.first_seen_at, article_sources.c.article_id)
    ):
        carriers.setdefault(r.article_id, []).append(r.source)
        if r.source not in order:
            order.append(r.source)
    members = tuple(
        ClusterMember(
            to_stored(r._mapping, tuple(carriers.get(r.id, ()))),
            r.cluster_via or "start",
            r.cluster_similarity,
        )
        for r in conn.execute(
            sa.select(articles)
            .where(articles.c.cluster_id == cluster_id)
            .order_by(articles.c.first_seen_at, articles.c.id)
        )
    )
    return ClusterDetail(_info(row), members, tuple(order))


def list_clusters(
    conn: sa.Connection,
    *,
    alerted: bool | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[ClusterInfo]:
    """Clusters most recently changed first."""
    stmt = sa.select(clusters).order_by(clusters.c.updated_at.desc(), clusters.c.id.desc())
    if alerted is not None:
        stmt = stmt.where(clusters.c.alert.is_(alerted))
    if since is not None:
        stmt = stmt.where(clusters.c.updated_at >= since)
    return [_info(r) for r in conn.execute(stmt.limit(limit))]
