"""The one place that runs items through all three packages: classify, store, cluster, and
owe alerts, with everything after classification in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from alerts.verdict import Verdict
from crawler.records import ArticleData
from storage import clusters
from storage.items import save_items
from storage.records import ClusterChange, SaveReport
from storage.store import Store

__all__ = ["AlertPlanner", "Classifier", "ProcessReport", "process"]


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


def process(
    store: Store,
    classifier: Classifier,
    articles: Sequence[ArticleData],
    *,
    now: datetime,
    planner: AlertPlanner | None = None,
    clustering: clusters.ClusterParams | None = None,
) -> ProcessReport:
    """Classify what is new or changed in ``articles``, store the batch, cluster it, and owe
    its alerts.

    Items the store already holds unchanged are not classified again: a re-poll of a busy feed
    costs a key lookup per item, not a filter run. Storing, clustering and owing alerts share
    one transaction, so a crash never leaves an alerted item without its alert. ``clustering``
    is ``Settings.clusters.params()`` (the defaults when not given)."""
    unchanged = store.unchanged_keys(articles)
    items = [
        (a, None if a.key in unchanged else classifier.classify(a.title, a.text, a.language))
        for a in articles
    ]
    with store.transaction() as conn:
        saved = save_items(conn, items, now=now)
        changes = clusters.assign(conn, saved, items, now=now, settings=clustering)
        owed = planner.enqueue(conn, changes, now=now) if planner else 0
    return ProcessReport(saved, changes, owed)
