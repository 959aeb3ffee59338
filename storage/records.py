"""Records that leave storage, and the shape of what it is asked to store."""

from __future__ import annotations

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
