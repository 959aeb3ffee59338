"""Reports of the same event in other words: matched by category, place and time.

Two alerting reports are one event when they share a category, their **main location** and
fall within the time window of the cluster's first report. An item's main location is the
place or prison it names first (the title comes first in the classified text), skipping
places too broad to tell events apart: the country, the departments and, by default, the
capital (see :data:`DEFAULT_GENERIC_PLACES`). A prison also stands for the town in its name
(``Prison civile de Mirebalais`` for Mirebalais), so "gangs storm Mirebalais prison" and
"500 inmates freed in Mirebalais" meet. A cluster remembers the main locations of its
alerting items (``cluster_entities``), and their gangs for the optional gang check.

A report that names its town only after another one (a Cabaret attack "days after
Mirebalais") is matched on Cabaret, not on Mirebalais: background mentions never merge.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storage.places import DEFAULT_GENERIC_PLACES
from storage.schema import cluster_entities, clusters
from storage.similarity import normalise

__all__ = [
    "DEFAULT_GENERIC_PLACES",
    "EventKeys",
    "Pending",
    "entity_key",
    "event_keys",
    "find_event",
    "remember",
]

#: Gazetteer ``type`` labels that are generic whatever their name (when a verdict has them).
_GENERIC_TYPES = frozenset({"country", "department", "region"})
_ARTICLE = re.compile(r"^(?:les|le|la|l) ")
#: "prison civile de X", "penitencier de X": the town after the first "de/du/des/d".
_PRISON_TOWN = re.compile(
    r"^(?:prison|penitencier|centre|maison|cellule)\b.*?\s(?:de la|de l|du|des|de|d)\s(.+)$"
)


def entity_key(kind: str, name: str) -> str:
    """``kind:name`` with the name normalised and any leading article dropped
    (``Les Cayes`` and ``Cayes`` are one key)."""
    return f"{kind}:{_ARTICLE.sub('', normalise(name))}"


@dataclass(frozen=True, slots=True)
class EventKeys:
    """What an alerting report is matched on."""

    #: Keys of its main location (a prison adds the town it is named after).
    anchor: frozenset[str]
    #: Keys of every gang it names.
    gangs: frozenset[str] = frozenset()


def event_keys(verdict: Mapping[str, Any], generic: Iterable[str]) -> EventKeys:
    """The keys of a verdict (``to_dict()`` form) with ``generic`` place names left out
    (compared normalised)."""
    broad = _broad(tuple(generic))
    located: list[tuple[int, set[str]]] = []
    gangs: set[str] = set()
    for n, e in enumerate(verdict.get("entities") or ()):
        kind, name = e.get("kind"), e.get("name")
        if not name or not isinstance(name, str):
            continue
        start = e.get("start")
        position = start if isinstance(start, int) else n
        if kind == "gang":
            gangs.add(entity_key("gang", name))
        elif kind == "prison":
            keys = {entity_key("prison", name)}
            town = _PRISON_TOWN.match(normalise(name))
            if town:
                keys.add(entity_key("place", town.group(1)))
            located.append((position, keys - broad))
        elif kind == "place" and not _is_generic(e, name, broad):
            located.append((position, {entity_key("place", name)}))
    located = [(p, k) for p, k in located if k]
    if not located:
        return EventKeys(frozenset(), frozenset(gangs))
    first = min(p for p, _ in located)
    anchor = set().union(*(k for p, k in located if p == first))
    return EventKeys(frozenset(anchor), frozenset(gangs))


@functools.lru_cache(maxsize=8)
def _broad(generic: tuple[str, ...]) -> frozenset[str]:
    return frozenset(entity_key("place", g) for g in generic)


def _is_generic(entity: Mapping[str, Any], name: str, broad: frozenset[str]) -> bool:
    if entity.get("type") in _GENERIC_TYPES:
        return True
    department = entity.get("department")
    # A place named like its department is the department itself.
    if isinstance(department, str) and normalise(department) == normalise(name):
        return True
    return entity_key("place", name) in broad


# Statements built once (building one costs more than running it); ``keys``/``ids`` expand.
_CANDIDATES = (
    sa.select(clusters.c.id, clusters.c.categories, clusters.c.event_at)
    .select_from(cluster_entities.join(clusters, clusters.c.id == cluster_entities.c.cluster_id))
    .where(
        cluster_entities.c.key.in_(sa.bindparam("keys", expanding=True)),
        cluster_entities.c.at.between(sa.bindparam("lo"), sa.bindparam("hi")),
        clusters.c.alert.is_(True),
    )
)
_GANGS = sa.select(cluster_entities.c.cluster_id, cluster_entities.c.key).where(
    cluster_entities.c.cluster_id.in_(sa.bindparam("ids", expanding=True)),
    cluster_entities.c.key.like("gang:%"),
)
_KNOWN = sa.select(cluster_entities.c.key).where(
    cluster_entities.c.cluster_id == sa.bindparam("cid"),
    cluster_entities.c.key.in_(sa.bindparam("keys", expanding=True)),
)
_INSERT = cluster_entities.insert()


@dataclass(slots=True)
class Pending:
    """Keys noted during a batch and not yet written (see :meth:`flush`): lookups later in the
    batch see them as if they were stored."""

    #: ``key -> {cluster_id: at}``.
    by_key: dict[str, dict[int, datetime]] = field(default_factory=dict)
    #: ``cluster_id -> keys``.
    by_cluster: dict[int, set[str]] = field(default_factory=dict)

    def add(self, cluster_id: int, key: str, at: datetime) -> None:
        self.by_key.setdefault(key, {})[cluster_id] = at
        self.by_cluster.setdefault(cluster_id, set()).add(key)

    def flush(self, conn: sa.Connection) -> None:
        """Write the pending keys (one executemany) and forget them."""
        rows = [
            {"cluster_id": cid, "key": key, "at": at}
            for key, found in self.by_key.items()
            for cid, at in found.items()
        ]
        if rows:
            conn.execute(_INSERT, rows)
        self.by_key.clear()
        self.by_cluster.clear()


class _Row:
    """A candidate cluster: what :func:`find_event` needs of it."""

    __slots__ = ("categories", "event_at", "id")

    def __init__(self, id: int, categories: str, event_at: datetime) -> None:
        self.id, self.categories, self.event_at = id, categories, event_at


def find_event(
    conn: sa.Connection,
    keys: EventKeys,
    categories: Sequence[str],
    at: datetime,
    *,
    window: timedelta,
    require_gang: bool = False,
    pending: Pending | None = None,
    current: Mapping[int, Any] | None = None,
) -> int | None:
    """The alerting cluster this report belongs to, if any: one sharing a category and a main
    location key, started within ``window`` of ``at`` (with ``require_gang``, also a gang
    when both name one). Several fit: the most shared keys, then the closest in time.

    Within a batch, ``pending`` holds keys not yet written and ``current`` the clusters'
    up-to-date rows (``categories``, ``event_at``) by id, overriding the stored ones."""
    if not keys.anchor or not categories:
        return None
    shared: dict[int, int] = {}
    found: dict[int, Any] = {}
    lo, hi = at - window, at + window
    params = {"keys": sorted(keys.anchor), "lo": lo, "hi": hi}
    for r in conn.execute(_CANDIDATES, params):
        shared[r.id] = shared.get(r.id, 0) + 1
        found[r.id] = r
    if pending is not None and pending.by_key:
        # Stored values compare as naive wall-clock strings: so do these.
        lo_n, hi_n = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
        for key in keys.anchor:
            for cid, when in pending.by_key.get(key, {}).items():
                if lo_n <= when.replace(tzinfo=None) <= hi_n:
                    shared[cid] = shared.get(cid, 0) + 1
                    found[cid] = None
    if current:
        for cid in found:
            row = current.get(cid)
            if row is not None:
                found[cid] = _Row(cid, row.categories, row.event_at)
    wanted = set(categories)
    fits = [r for r in found.values() if wanted & set(r.categories.split())]
    if require_gang and keys.gangs and fits:
        gangs = _gangs(conn, [r.id for r in fits])
        if pending is not None:
            for r in fits:
                extra = {k for k in pending.by_cluster.get(r.id, ()) if k.startswith("gang:")}
                if extra:
                    gangs.setdefault(r.id, set()).update(extra)
        fits = [r for r in fits if not gangs.get(r.id) or gangs[r.id] & keys.gangs]
    if not fits:
        return None
    best = min(
        fits,
        key=lambda r: (-shared[r.id], abs((_aware(r.event_at) - at).total_seconds()), r.id),
    )
    return int(best.id)


def _gangs(conn: sa.Connection, ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for r in conn.execute(_GANGS, {"ids": ids}):
        out.setdefault(r.cluster_id, set()).add(r.key)
    return out


def remember(
    conn: sa.Connection,
    cluster_id: int,
    keys: EventKeys,
    event_at: datetime,
    *,
    fresh: bool = False,
    pending: Pending | None = None,
) -> None:
    """Note an alerting item's keys on its cluster (stamped with the cluster's start);
    ``fresh``: the cluster was just created, so it has none yet. With ``pending``, the keys
    are added to it instead of written."""
    wanted = keys.anchor | keys.gangs
    if not wanted:
        return
    known: set[str] = set()
    if not fresh:
        known.update(conn.execute(_KNOWN, {"cid": cluster_id, "keys": sorted(wanted)}).scalars())
    if pending is not None:
        known.update(pending.by_cluster.get(cluster_id, ()))
    missing = sorted(wanted - known)
    if not missing:
        return
    if pending is not None:
        for k in missing:
            pending.add(cluster_id, k, event_at)
    else:
        conn.execute(
            _INSERT, [{"cluster_id": cluster_id, "key": k, "at": event_at} for k in missing]
        )


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
