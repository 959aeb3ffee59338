"""The one place that runs an item through all three packages: classify, store, owe alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from alerts.verdict import Verdict
from crawler.records import ArticleData
from storage.records import SaveReport
from storage.store import Store

__all__ = ["Classifier", "process"]


class Classifier(Protocol):
    """What the pipeline needs of the filter."""

    def classify(self, title: str, text: str, language: str | None = None) -> Verdict: ...


def process(
    store: Store, classifier: Classifier, articles: Sequence[ArticleData], *, now: datetime
) -> SaveReport:
    """Classify what is new or changed in ``articles`` and store the batch.

    Items the store already holds unchanged are not classified again: a re-poll of a busy feed
    costs a key lookup per item, not a filter run."""
    unchanged = store.unchanged_keys(articles)
    items = [
        (a, None if a.key in unchanged else classifier.classify(a.title, a.text, a.language))
        for a in articles
    ]
    return store.save(items, now=now)
