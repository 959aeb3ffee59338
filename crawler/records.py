"""Records that leave the crawler: what a source is, what it said, how the fetch went."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

SourceKind = Literal["feed", "spider", "sitemap"]


@dataclass(frozen=True, slots=True)
class Source:
    """One outlet to watch, as configured."""

    #: Unique name, used on the command line and in the database.
    name: str
    kind: SourceKind
    url: str
    #: Seconds between polls.
    interval: float = 900.0
    #: A hint (``fr``, ``ht``, ``en``); detection decides.
    language: str | None = None
    #: Kind-specific settings (selectors for spiders, ...).
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server told us last time, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class ArticleData:
    """One item as the source published it, normalised."""

    #: Name of the source that carried it.
    source: str
    #: The link as the source gave it (absolute).
    url: str
    #: ``url`` with tracking parameters, fragments and redirects removed.
    canonical_url: str
    #: The feed's own id for the entry, if it gave one.
    guid: str | None
    title: str
    #: The feed's summary or description, as plain text.
    summary: str
    #: The article's full text where known, else the summary.
    text: str
    #: Detected language (``fr``, ``ht``, ``en``, ...) or ``None``.
    language: str | None
    #: Publication time in UTC, if stated.
    published: datetime | None
    authors: tuple[str, ...] = ()
    #: True where the feed was malformed and this entry was salvaged from it.
    salvaged: bool = False
    # The two hashes below, worked out once: storage asks for them several times per item.
    # Not arguments, so ``dataclasses.replace`` never carries them over to a changed copy.
    _key: str | None = field(default=None, init=False, repr=False, compare=False)
    _content_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Stable identity: the canonical URL, or the source's GUID where there is no URL."""
        if self._key is None:
            basis = (
                f"url:{self.canonical_url}"
                if self.canonical_url
                else f"guid:{self.source}:{self.guid}"
            )
            object.__setattr__(self, "_key", hashlib.sha256(basis.encode()).hexdigest()[:32])
        assert self._key is not None
        return self._key

    @property
    def content_hash(self) -> str:
        """Changes when what a reader sees changes; blind to volatile fields like fetch times."""
        if self._content_hash is None:
            h = hashlib.sha256()
            for part in (self.title, self.summary, self.text):
                h.update(" ".join(part.split()).encode())
                h.update(b"\x1f")
            object.__setattr__(self, "_content_hash", h.hexdigest()[:32])
        assert self._content_hash is not None
        return self._content_hash


@dataclass(frozen=True, slots=True)
class FetchResult:
    """How one poll of one source went."""

    source: str
    #: The items found, or ``None`` when the server said "not modified".
    articles: tuple[ArticleData, ...] | None
    validators: Validators = Validators()
    #: HTTP status of the final response, or ``None`` when no response came.
    status: int | None = None
    #: Set when the poll failed; ``articles`` may still hold what could be salvaged.
    error: str | None = None
    #: Survivable problems (a malformed feed that still gave entries, ...).
    warnings: tuple[str, ...] = ()
    #: Where the content came from after redirects.
    final_url: str | None = None
    #: Seconds the server asked us to wait (``Retry-After``), if it did.
    retry_after: float | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.articles is None and self.error is None
