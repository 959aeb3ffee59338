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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from crawler.records import ArticleData
from storage import events, signatures, similarity
from storage.db import insert_many_ids
from storage.records import (
    ClusterChange,
    ClusterDetail,
    ClusterInfo,
    ClusterMember,
    SaveReport,
    VerdictLike,
)
from storage.schema import article_sources, articles, clusters
from storage.similarity import MIN_WORDS, Signature
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

#: Marks an item whose signature was not given.
_UNSIGNED = object()


def assign(
    conn: sa.Connection,
    report: SaveReport,
    items: Items,
    *,
    now: datetime,
    settings: ClusterParams | None = None,
    signed: Mapping[int, Signature | None] | None = None,
) -> tuple[ClusterChange, ...]:
    """Put each new item in a cluster and bring the clusters' state up to date, within the
    caller's transaction. ``report`` and ``items`` are in the same order (those of
    :func:`storage.items.save_items`). Items are placed one after the other, so a copy later
    in the same batch finds the earlier one.

    The work is done per batch: signatures, candidate bands, the clusters they point to and
    the carriers of new items are read up front in a few queries; items are then placed in
    memory, and what changed is written at the end with one statement per table.
    ``signed`` holds signatures worked out already (:func:`similarity.signature` of the text
    with ``settings.min_words``), by position in ``items``."""
    params = settings or ClusterParams()
    # save_items stored the whole batch's new carriers already: until its turn comes, each
    # is left out of outlet counts, so every change reports the outlets it added itself.
    pending = {
        (o.article_id, a.source)
        for o, (a, _) in zip(report.outcomes, items, strict=True)
        if o.status == "also"
    }
    b = _Batch(conn, now, params, pending)
    fresh = [
        (o.article_id, a, v)
        for o, (a, v) in zip(report.outcomes, items, strict=True)
        if o.status == "new"
    ]
    known = signed or {}
    given = [known.get(i, _UNSIGNED) for i, o in enumerate(report.outcomes) if o.status == "new"]
    sigs = b.prepare(fresh, given)
    # An edit signs again as it is placed, so its new bands are unknown up front: with one in
    # the batch, no item is taken for alone.
    edits = any(o.status == "updated" for o in report.outcomes)
    alone = [False] * len(sigs) if edits else b.alone
    changes: list[ClusterChange] = []
    n = 0
    for outcome, (article, verdict) in zip(report.outcomes, items, strict=True):
        if outcome.status == "new":
            sig, bands = sigs[n]
            changes.append(
                _place(b, outcome.article_id, article, verdict, sig, bands, alone=alone[n])
            )
            n += 1
        elif outcome.status == "also":
            pending.discard((outcome.article_id, article.source))
            changes.append(_outlet(b, outcome.article_id))
        elif outcome.status == "updated":
            changes.append(_update(b, outcome.article_id, article, verdict))
    real = b.flush()
    return tuple(
        replace(c, cluster_id=real[c.cluster_id]) if c.cluster_id in real else c for c in changes
    )


@dataclass(slots=True)
class _State:
    """A cluster's row as the batch sees it (kept current in memory until :meth:`_Batch.flush`),
    with the ``(article_id, source)`` carriers of its items."""

    id: int
    alert: bool
    categories: str
    items: int
    outlets: int
    #: As stored: naive.
    event_at: datetime | None
    carriers: set[tuple[int, str]]
    dirty: bool = False


#: An in-batch signature: the signature, its band hashes and its (naive) time.
_Signed = tuple[Signature, list[int], datetime]


@dataclass(slots=True)
class _Batch:
    """What placing one batch's items shares, and the writes it owes."""

    conn: sa.Connection
    now: datetime
    params: ClusterParams
    #: ``(article_id, source)`` carriers stored by this batch and not yet placed.
    pending: set[tuple[int, str]]
    #: Clusters read or changed by this batch, by id.
    states: dict[int, _State] = field(default_factory=dict)
    #: Clusters of the items linked by this batch.
    linked: dict[int, int] = field(default_factory=dict)
    #: Stored items sharing a band with a new item (read up front): by band, and by id.
    db_bands: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    db_sigs: dict[int, signatures.Stored] = field(default_factory=dict)
    #: Signatures of this batch (new items, and edited ones), by item and by band.
    signed: dict[int, _Signed] = field(default_factory=dict)
    signed_bands: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    #: Carriers of this batch's new items.
    carriers: dict[int, set[tuple[int, str]]] = field(default_factory=dict)
    #: By position among the new items: True for one that shares no band with a stored item
    #: nor with another new item, so has no copy to look for and is no one's candidate.
    alone: list[bool] = field(default_factory=list)
    # Writes owed.
    new_sigs: list[tuple[int, Signature, Sequence[int], datetime]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    entities: events.Pending = field(default_factory=events.Pending)
    #: Clusters started by this batch, not written yet: their state, title and event time.
    #: Until :meth:`flush` they go by a provisional id (see :func:`_provisional`).
    created: list[tuple[_State, str, datetime]] = field(default_factory=list)

    def prepare(
        self,
        fresh: Sequence[tuple[int, ArticleData, VerdictLike | None]],
        given: Sequence[object],
    ) -> list[tuple[Signature | None, list[int]]]:
        """Sign the new items (those not ``given`` already) and read what placing them
        needs, in a few queries."""
        todo = [i for i, g in enumerate(given) if g is _UNSIGNED]
        computed = similarity.signatures(
            [fresh[i][1].text or fresh[i][1].summary for i in todo],
            min_words=self.params.min_words,
        )
        found = dict(zip(todo, computed, strict=True))
        sigs = [found[i] if i in found else cast(Signature | None, g) for i, g in enumerate(given)]
        signed = [s for s in sigs if s is not None]
        table = (
            similarity.band_hashes_many(np.stack(signed))
            if signed
            else np.zeros((0, similarity.BANDS), np.int64)
        )
        rows = iter(table.tolist())
        out = [(None, []) if sig is None else (sig, next(rows)) for sig in sigs]
        self.db_bands, self.db_sigs = signatures.fetch_bands(self.conn, table)
        lonely = iter(_alone(table, self.db_bands).tolist())
        self.alone = [sig is not None and next(lonely) for sig in sigs]
        # The clusters of the stored candidates are read when an item joins one (see
        # :meth:`state`): most candidates turn out too old or too different to join.
        if fresh:
            for r in self.conn.execute(_NEW_CARRIERS, {"ids": [aid for aid, _, _ in fresh]}):
                self.carriers.setdefault(r.article_id, set()).add((r.article_id, r.source))
        return out

    def _load(self, ids: Sequence[int]) -> None:
        """Read clusters (and their carriers) not read yet."""
        ids = [i for i in ids if i not in self.states]
        if not ids:
            return
        for row in self.conn.execute(_CLUSTERS, {"ids": ids}):
            self.states[row.id] = _State(
                row.id,
                bool(row.alert),
                row.categories,
                int(row.items),
                int(row.outlets),
                row.event_at,
                set(),
            )
        for r in self.conn.execute(_CARRIERS, {"ids": ids}):
            self.states[r.cluster_id].carriers.add((r.article_id, r.source))

    def state(self, cluster_id: int) -> _State:
        self._load([cluster_id])
        return self.states[cluster_id]

    def cluster_id(self, article_id: int) -> int | None:
        """The cluster of a stored item, links of this batch included."""
        if article_id in self.linked:
            return self.linked[article_id]
        found = self.conn.execute(_CLUSTER_OF, {"aid": article_id}).scalar_one()
        return None if found is None else int(found)

    def link(self, article_id: int, state: _State, via: str, score: float | None) -> None:
        self.linked[article_id] = state.id
        state.carriers |= self.carriers.get(article_id, set())
        self.links.append({"aid": article_id, "cid": state.id, "via": via, "sim": score})

    def sign(self, article_id: int, sig: Signature, bands: list[int], at: datetime) -> None:
        """Note an item's signature for later lookups in this batch."""
        self.signed[article_id] = (sig, bands, at.replace(tzinfo=None))
        signed_bands = self.signed_bands
        for key in enumerate(bands):
            signed_bands.setdefault(key, []).append(article_id)

    def copies(self, sig: Signature, bands: list[int], at: datetime) -> list[signatures.Copy]:
        """:func:`signatures.find_copies`, from what was read up front and this batch's own
        signatures."""
        keys = list(enumerate(bands))
        db_bands, signed = self.db_bands, self.signed
        # An item signed again in this batch is matched on its new signature only.
        seen = set().union(*(db_bands.get(key, ()) for key in keys)).difference(signed)
        for key in keys:
            for aid in self.signed_bands.get(key, ()):
                if signed[aid][1][key[0]] == key[1]:
                    seen.add(aid)
        if not seen:
            return []
        window = self.params.copy_window
        # Stored times compare as naive wall-clock values (as SQLite compares them).
        lo, hi = (at - window).replace(tzinfo=None), (at + window).replace(tzinfo=None)
        found: list[tuple[int, Signature, int | None]] = []
        for aid in sorted(seen, reverse=True):
            if aid in self.signed:
                other, _, when = self.signed[aid]
                cid = self.linked.get(aid)
            else:
                stored = self.db_sigs[aid]
                other, when = stored.sig, stored.at
                cid = self.linked.get(aid, stored.cluster_id)
            if lo <= when <= hi:
                found.append((aid, other, cid))
                if len(found) == signatures.CANDIDATE_LIMIT:
                    break
        if not found:
            return []
        same = np.count_nonzero(np.stack([o for _, o, _ in found]) == sig, axis=1)
        copies = [
            signatures.Copy(aid, cid, float(k) / len(sig))
            for (aid, _, cid), k in zip(found, same.tolist(), strict=True)
        ]
        return sorted(
            (c for c in copies if c.similarity >= self.params.similarity),
            key=lambda c: (-c.similarity, c.article_id),
        )

    def start(self, title: str, alert: bool, cats: Sequence[str], at: datetime) -> _State:
        """A new cluster, written by :meth:`flush` (its id is provisional until then)."""
        state = _State(
            _PROVISIONAL + len(self.created),
            alert,
            _spaced(sorted(set(cats))),
            1,
            1,
            at.replace(tzinfo=None),
            set(),
        )
        self.created.append((state, title, at))
        self.states[state.id] = state
        return state

    def flush(self) -> dict[int, int]:
        """Write what the batch owes: one executemany per table. Returns the real ids of the
        clusters it started, by provisional id."""
        real = self._create_started()
        signatures.save_signatures(self.conn, self.new_sigs)
        if self.new_sigs:
            signatures.merge_recent(self.conn)
        self.new_sigs = []
        if self.links:
            self.conn.execute(_LINK, self.links)
            self.links = []
        dirty = [s for s in self.states.values() if s.dirty]
        if dirty:
            self.conn.execute(
                _RESTATE,
                [
                    {
                        "cid": s.id,
                        "updated_at": self.now,
                        "alert": s.alert,
                        "categories": s.categories,
                        "items": s.items,
                        "outlets": s.outlets,
                    }
                    for s in dirty
                ],
            )
            for s in dirty:
                s.dirty = False
        self.entities.flush(self.conn)
        return real

    def _create_started(self) -> dict[int, int]:
        """Insert the clusters this batch started (one statement), in the state they have
        now, and put their real ids wherever the provisional ones went."""
        if not self.created:
            return {}
        rows = [
            {
                "created_at": self.now,
                "updated_at": self.now,
                "title": title,
                "alert": s.alert,
                "categories": s.categories,
                "items": s.items,
                "outlets": s.outlets,
                "event_at": at,
            }
            for s, title, at in self.created
        ]
        ids = insert_many_ids(self.conn, clusters, rows)
        real = {s.id: int(i) for (s, _, _), i in zip(self.created, ids, strict=True)}
        for s, _, _ in self.created:
            del self.states[s.id]
            s.id, s.dirty = real[s.id], False  # written as it stands
            self.states[s.id] = s
        self.created = []
        self.linked = {a: real.get(c, c) for a, c in self.linked.items()}
        for link in self.links:
            link["cid"] = real.get(link["cid"], link["cid"])
        pending = self.entities
        pending.by_key = {
            k: {real.get(c, c): at for c, at in found.items()}
            for k, found in pending.by_key.items()
        }
        pending.by_cluster = {real.get(c, c): keys for c, keys in pending.by_cluster.items()}
        return real


def _alone(
    table: npt.NDArray[np.int64], db_bands: Mapping[tuple[int, int], Sequence[int]]
) -> npt.NDArray[np.bool_]:
    """For each row of band hashes ``table``: True when none of its bands is shared with
    another row or found among the stored ``db_bands``. Most new stories are alone, and
    checking them all at once here spares each a lookup per band."""
    shared = np.zeros(len(table), dtype=bool)
    stored: dict[int, list[int]] = {}
    for band, h in db_bands:
        stored.setdefault(band, []).append(h)
    for band in range(table.shape[1] if len(table) else 0):
        column = table[:, band]
        _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
        if band in stored:
            shared |= np.isin(column, np.array(stored[band], dtype=np.int64))
    return ~shared


def _place(
    b: _Batch,
    article_id: int,
    article: ArticleData,
    verdict: VerdictLike | None,
    sig: Signature | None,
    bands: list[int],
    *,
    alone: bool = False,
) -> ClusterChange:
    """A new item: join the cluster of a copy, else of the same event, else start one.
    ``alone``: it shares no band with anything (see :func:`_alone`), so it has no copy."""
    conn, params = b.conn, b.params
    at = event_time(article.published, b.now)
    alert = bool(verdict and verdict.alert)
    cats = tuple(verdict.categories) if verdict else ()
    keys = (
        events.event_keys(verdict.to_dict(), params.generic_places) if verdict and alert else None
    )
    target: int | None = None
    via, score = "start", None
    # Copies first: shared text is stronger evidence than shared places.
    if sig is not None and not alone:
        best = next((c for c in b.copies(sig, bands, at) if c.cluster_id is not None), None)
        if best is not None:
            target, via, score = best.cluster_id, "copy", best.similarity
    if target is None and keys is not None:
        target = events.find_event(
            conn,
            keys,
            cats,
            at,
            window=params.window,
            require_gang=params.require_gang,
            pending=b.entities,
            current=b.states,
        )
        if target is not None:
            via = "event"
    if sig is not None:
        if not alone:  # no later item of the batch shares a band with it
            b.sign(article_id, sig, bands, at)
        b.new_sigs.append((article_id, sig, bands, at))

    if target is None:
        state = b.start(article.title, alert, cats, at)
        cluster_id = state.id
        b.link(article_id, state, "start", None)
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
        state = b.state(cluster_id)
        # Linked first, so the recount sees the item's outlet.
        b.link(article_id, state, via, score)
        change = _restate(b, state, article_id, "joined", alert, cats, added=1, via=via)
        event_at = _utc(state.event_at) or at
    if keys is not None:
        # A cluster started in this batch has no stored keys: no need to look.
        fresh = target is None or cluster_id >= _PROVISIONAL
        events.remember(conn, cluster_id, keys, event_at, fresh=fresh, pending=b.entities)
    return change


def _outlet(b: _Batch, article_id: int) -> ClusterChange:
    """A known item carried by one more outlet."""
    state = _cluster_of(b, article_id)
    return _restate(b, state, article_id, "outlet", False, ())


def _update(
    b: _Batch, article_id: int, article: ArticleData, verdict: VerdictLike | None
) -> ClusterChange:
    """An item's content changed: new signature, the cluster's verdict state refreshed. It
    stays in its cluster (an edit does not make a new story)."""
    state = _cluster_of(b, article_id)
    sig = similarity.signature(article.text or article.summary, min_words=b.params.min_words)
    if sig is not None:
        at = event_time(article.published, b.now)
        if any(a == article_id for a, *_ in b.new_sigs):
            # Its signature is still owed (new in this very batch): write it, to replace it.
            signatures.save_signatures(b.conn, b.new_sigs)
            b.new_sigs = []
        signatures.save_signature(b.conn, article_id, sig, at, replace=True)
        b.sign(article_id, sig, similarity.band_hashes(sig), at)
    alert = bool(verdict and verdict.alert)
    cats = tuple(verdict.categories) if verdict else ()
    if verdict is not None and alert:
        keys = events.event_keys(verdict.to_dict(), b.params.generic_places)
        events.remember(b.conn, state.id, keys, _utc(state.event_at) or b.now, pending=b.entities)
    return _restate(b, state, article_id, "updated", alert, cats)


def _restate(
    b: _Batch,
    state: _State,
    article_id: int,
    kind: str,
    alert: bool,
    cats: Iterable[str],
    *,
    added: int = 0,
    via: str = "",
) -> ClusterChange:
    """Fold an item's verdict into its cluster, recount its outlets, and say what changed."""
    was_alert = state.alert
    previous = state.outlets
    merged = sorted(set(state.categories.split()) | set(cats))
    # Distinct outlets of the cluster's items, leaving out carriers not yet placed.
    outlets = len({s for a, s in state.carriers if (a, s) not in b.pending})
    items = state.items + added
    state.alert = was_alert or alert
    state.categories = _spaced(merged)
    state.items = items
    state.outlets = outlets
    state.dirty = True
    return ClusterChange(
        state.id,
        article_id,
        kind,
        was_alert or alert,
        tuple(merged),
        outlets,
        became_alert=alert and not was_alert,
        previous_outlets=previous,
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


def _cluster_of(b: _Batch, article_id: int) -> _State:
    """The cluster of a stored item; an item stored before clustering (or through
    :meth:`Store.save`) gets a cluster of its own first."""
    cluster_id = b.cluster_id(article_id)
    if cluster_id is not None:
        # Remembered: a copy of this item later in the batch looks its cluster up here.
        b.linked[article_id] = cluster_id
        return b.state(cluster_id)
    item = b.conn.execute(_ITEM, {"aid": article_id}).one()
    at = _utc(item.published_at) or _utc(item.first_seen_at)
    cats = item.categories.split()
    cluster_id = _create(b.conn, item.title, bool(item.alert), cats, at, b.now)
    # Linked at once, so the cluster's carriers are read with it.
    b.conn.execute(_LINK, {"aid": article_id, "cid": cluster_id, "via": "start", "sim": None})
    b.linked[article_id] = cluster_id
    return b.state(cluster_id)


#: Provisional ids of clusters started in a batch: above any real id, in the order they were
#: started as real ids are (ties between clusters are broken by id), and within a 32-bit
#: integer, as lookups of the batch may name them in queries (which then find nothing). A
#: batch starting over 2**20 clusters would leave that range (a lookup on PostgreSQL would
#: then fail loudly); batches are hundreds of items.
_PROVISIONAL = (1 << 31) - (1 << 20)

# Statements built once: building a statement costs more than SQLite takes to run it.
_CREATE = clusters.insert().returning(clusters.c.id)
_CLUSTERS = sa.select(clusters).where(clusters.c.id.in_(sa.bindparam("ids", expanding=True)))
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
    sa.select(articles.c.cluster_id, article_sources.c.article_id, article_sources.c.source)
    .select_from(article_sources.join(articles, articles.c.id == article_sources.c.article_id))
    .where(articles.c.cluster_id.in_(sa.bindparam("ids", expanding=True)))
)
_NEW_CARRIERS = sa.select(article_sources.c.article_id, article_sources.c.source).where(
    article_sources.c.article_id.in_(sa.bindparam("ids", expanding=True))
)
_CLUSTER_OF = sa.select(articles.c.cluster_id).where(articles.c.id == sa.bindparam("aid"))
_ITEM = sa.select(
    articles.c.cluster_id,
    articles.c.title,
    articles.c.alert,
    articles.c.categories,
    articles.c.published_at,
    articles.c.first_seen_at,
).where(articles.c.id == sa.bindparam("aid"))


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
