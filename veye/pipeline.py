"""The one place that runs items through all three packages: classify, store, cluster, and
owe alerts, with everything after classification in one transaction."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from alerts.verdict import Verdict
from crawler.records import ArticleData
from storage import clusters, similarity
from storage.items import save_items
from storage.records import ClusterChange, PackedVerdict, SaveReport, VerdictLike
from storage.similarity import Signature
from storage.store import Store

__all__ = [
    "AlertPlanner",
    "Classifier",
    "Prepared",
    "PreparedBatch",
    "ProcessReport",
    "init_worker",
    "prepare",
    "process",
]


class Classifier(Protocol):
    """What the pipeline needs of the filter."""

    def classify(self, title: str, text: str, language: str | None = None) -> Verdict: ...


class AlertPlanner(Protocol):
    """What the pipeline needs of alert delivery: write the alerts a batch's cluster changes
    owe into the outbox, inside the caller's transaction. Returns how many were owed."""

    def enqueue(
        self, conn: sa.Connection, changes: Sequence[ClusterChange], *, now: datetime
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """What one batch did."""

    saved: SaveReport
    changes: tuple[ClusterChange, ...]
    #: Alerts written to the outbox.
    owed: int = 0

    @property
    def flagged(self) -> int:
        """Items that are new or changed and alerted."""
        return sum(
            1 for c in self.changes if c.kind in ("new", "joined", "updated") and c.became_alert
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """What is known of an item before the store sees it, worked out where CPU is spare (a
    worker process of the crawl): its verdict and its text's MinHash signature."""

    verdict: VerdictLike
    signature: Signature | None


#: The classifier and signature threshold of a worker process (see :func:`init_worker`).
_worker: tuple[Classifier, int] | None = None


def init_worker(classifier: Classifier, min_words: int) -> None:
    """Make :func:`prepare` usable in this (worker) process."""
    global _worker
    _worker = (classifier, min_words)


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """:class:`Prepared` of several items, in the form that crosses from a worker process at
    least cost: their verdicts packed (JSON written, entities listed: work taken off the
    process that stores), their signatures as one array (pickling 128-number arrays one by
    one cost a tenth of an item's whole processing)."""

    verdicts: tuple[PackedVerdict, ...]
    #: Which items have a signature (too short a text has none), and those signatures.
    signed: tuple[bool, ...]
    signatures: npt.NDArray[np.uint32]

    def unpack(self) -> list[Prepared]:
        rows = iter(self.signatures)
        return [
            Prepared(v, next(rows) if signed else None)
            for v, signed in zip(self.verdicts, self.signed, strict=True)
        ]


def prepare(articles: Sequence[ArticleData]) -> PreparedBatch:
    """What is known of each item before storing (its :class:`Prepared`), in a process set up
    by :func:`init_worker`."""
    if _worker is None:
        raise RuntimeError("prepare() runs in a process set up by init_worker()")
    classifier, min_words = _worker
    sigs = similarity.signatures([a.text or a.summary for a in articles], min_words=min_words)
    present = [s for s in sigs if s is not None]
    return PreparedBatch(
        tuple(PackedVerdict.of(classifier.classify(a.title, a.text, a.language)) for a in articles),
        tuple(s is not None for s in sigs),
        np.stack(present) if present else np.empty((0, similarity.NUM_PERM), np.uint32),
    )


def process(
    store: Store,
    classifier: Classifier,
    articles: Sequence[ArticleData],
    *,
    now: datetime,
    planner: AlertPlanner | None = None,
    clustering: clusters.ClusterParams | None = None,
    prepared: Sequence[Prepared | None] | None = None,
) -> ProcessReport:
    """Classify what is new or changed in ``articles``, store the batch, cluster it, and owe
    its alerts.

    Items the store already holds unchanged are not classified again: a re-poll of a busy feed
    costs a key lookup per item, not a filter run. Storing, clustering and owing alerts share
    one transaction, so a crash never leaves an alerted item without its alert. ``clustering``
    is ``Settings.clusters.params()`` (the defaults when not given). ``prepared`` (in the
    order of ``articles``, ``None`` where not worked out) saves classifying and signing
    those items here; it must come from the same classifier and clustering settings."""
    with _collector_paused():
        return _process(store, classifier, articles, now, planner, clustering, prepared)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the duration. A batch builds many small
    containers that live until it ends (band lists, rows, candidates): the collector would
    scan them over and over for the few cycles it may leave, a fifth of the time of a large
    batch. Those cycles are collected once it is back on. (Where several threads store at
    once, the first one in turns it back on.)"""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _process(
    store: Store,
    classifier: Classifier,
    articles: Sequence[ArticleData],
    now: datetime,
    planner: AlertPlanner | None,
    clustering: clusters.ClusterParams | None,
    prepared: Sequence[Prepared | None] | None,
) -> ProcessReport:
    ready = prepared if prepared is not None else [None] * len(articles)
    # A prepared verdict is used only if the item turns out new or changed (storage ignores
    # it otherwise): only the others need the lookup that saves classifying them.
    unchanged = store.unchanged_keys([a for a, p in zip(articles, ready, strict=True) if p is None])
    items = [
        (
            a,
            None
            if a.key in unchanged
            else p.verdict
            if p is not None
            else classifier.classify(a.title, a.text, a.language),
        )
        for a, p in zip(articles, ready, strict=True)
    ]
    signed = {i: p.signature for i, p in enumerate(ready) if p is not None}
    with store.transaction() as conn:
        saved = save_items(conn, items, now=now)
        changes = clusters.assign(
            conn, saved, items, now=now, settings=clustering, signed=signed or None
        )
        owed = planner.enqueue(conn, changes, now=now) if planner else 0
    return ProcessReport(saved, changes, owed)
