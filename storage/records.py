"""Records that leave storage, and the shape of what it is asked to store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class VerdictLike(Protocol):
    """What storage keeps of a filter verdict (the filter itself lives in ``alerts``)."""

    @property
    def alert(self) -> bool: ...
    @property
    def categories(self) -> Sequence[str]: ...
    @property
    def score(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...


class RawJSON(str):
    """A JSON document already written: stored as it is in a JSON column (see
    :func:`storage.db.connect`), not encoded again."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PackedVerdict:
    """A verdict in the form storage writes, worked out where CPU is spare (a crawl's worker
    processes): its JSON document written and its entities listed. It also crosses between
    processes at a fraction of the cost of the filter's nested records."""

    alert: bool
    categories: tuple[str, ...]
    score: float
    #: ``to_dict()`` of the verdict, as JSON.
    document: RawJSON
    #: ``(kind, name)`` of each entity found, sorted, without repeats.
    entities: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, verdict: VerdictLike) -> PackedVerdict:
        doc = verdict.to_dict()
        return cls(
            bool(verdict.alert),
            tuple(verdict.categories),
            float(verdict.score),
            RawJSON(json.dumps(doc)),
            entity_pairs(doc),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.document)
        return out


def entity_pairs(doc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``(kind, name)`` of each entity of a verdict's ``to_dict()``, sorted, without repeats."""
    found = {
        (str(e["kind"]), str(e["name"]))
        for e in doc.get("entities", ())
        if isinstance(e, dict) and e.get("kind") and e.get("name")
    }
    return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class SourceState:
    """What storage knows of a source: caching headers and health."""

    name: str
    kind: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_poll_at: datetime | None = None
    last_status: int | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    error_count: int = 0
    next_poll_at: datetime | None = None
    last_new_at: datetime | None = None
    items_total: int = 0
    #: The worker polling it now (until ``lease_until``), and the one that polled it last.
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_poll_by: str | None = None


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What became of one item handed to :meth:`Store.save`."""

    article_id: int
    #: ``new``, ``updated`` (content changed), ``seen`` (nothing changed) or ``also`` (the
    #: same item, newly carried by another source).
    status: str


@dataclass(frozen=True, slots=True)
class SaveReport:
    """What a batch did to the store, in the order the items were given."""

    outcomes: tuple[SaveOutcome, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True, slots=True)
class ClusterChange:
    """What storing an item did to its cluster: what alert delivery decides on."""

    cluster_id: int
    article_id: int
    #: ``new`` (the item started the cluster), ``joined`` (a new item joined it), ``outlet``
    #: (a known item was carried by one more outlet), ``updated`` (an item's content changed).
    kind: str
    #: The cluster's state after the change.
    alert: bool
    categories: tuple[str, ...]
    outlets: int
    #: Whether this change made the cluster alert (it did not before).
    became_alert: bool = False
    #: Distinct outlets before the change (equal to ``outlets`` when it added none).
    previous_outlets: int = 0
    #: Items in the cluster after the change.
    items: int = 1
    #: For ``new`` and ``joined``: ``start``, ``copy`` (near-duplicate text) or ``event``
    #: (same category, place and time window); empty for the other kinds.
    via: str = ""


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """One stored item."""

    id: int
    key: str
    source: str
    url: str
    title: str
    summary: str
    text: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    alert: bool
    categories: tuple[str, ...]
    score: float
    verdict: Mapping[str, Any] | None = field(default=None, hash=False)
    #: Every outlet that carried it (the first one included).
    outlets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A search result: the item and the matching passage."""

    article: StoredArticle
    #: A passage around the match, with matches wrapped in ``[`` and ``]``.
    snippet: str
    rank: float
    #: The item's cluster (``None`` for an item stored without clustering), its size and its
    #: distinct outlets; with results grouped by cluster, how many of its items matched.
    cluster_id: int | None = None
    cluster_items: int = 1
    cluster_outlets: int = 1
    matched: int = 1


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """One story or event as stored."""

    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    #: When its first report was published (else first seen).
    event_at: datetime | None
    alert: bool
    categories: tuple[str, ...]
    items: int
    outlets: int


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """An item of a cluster and how it got there."""

    article: StoredArticle
    #: ``start``, ``copy`` or ``event``.
    via: str
    #: Estimated Jaccard similarity to the item it copies (``copy`` only).
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class ClusterDetail:
    """A cluster with its items (oldest first) and every outlet that carried one."""

    cluster: ClusterInfo
    members: tuple[ClusterMember, ...]
    outlets: tuple[str, ...]
