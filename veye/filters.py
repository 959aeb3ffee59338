"""The filters shared by ``veye search`` and ``veye export``: one set of options, one meaning."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from storage.search import SearchFilters
from veye.app import App
from veye.errors import UsageError
from veye.units import parse_duration

F = TypeVar("F", bound=Callable[..., Any])


def parse_when(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``2024-03-01``, an ISO time, or an age like ``7d`` / ``24h`` (that long ago)."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    if re.fullmatch(r"\d+(\.\d+)?[smhdw]", value.strip()):
        return now - timedelta(seconds=parse_duration(value))
    try:
        when = datetime.fromisoformat(value)
    except ValueError as e:
        raise UsageError(
            f"{value!r} is not a date: write 2024-03-01, 2024-03-01T12:00 or an age like 7d or 24h"
        ) from e
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_OPTIONS = [
    click.option("--since", help="Only items from this date or age on (2024-03-01, 7d, 24h)."),
    click.option("--until", help="Only items before this date or age."),
    click.option("--source", "sources", multiple=True, help="Only this source (repeatable)."),
    click.option("--category", help="Only items the filter put in this category (prison_break)."),
    click.option(
        "--entity",
        "entities",
        multiple=True,
        help="Only items naming this gazetteer entity, by name or alias (Viv Ansanm, G9).",
    ),
    click.option(
        "--place", "places", multiple=True, help="Only items naming this place or prison."
    ),
    click.option("--lang", help="Only items in this language (fr, ht, en)."),
    click.option("--alerted/--not-alerted", default=None, help="Only items that did (not) alert."),
]


def filter_options(fn: F) -> F:
    """Add the shared filter options to a command."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def build_filters(
    app: App,
    *,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    category: str | None,
    entities: tuple[str, ...],
    places: tuple[str, ...],
    lang: str | None,
    alerted: bool | None,
    limit: int = 20,
    offset: int = 0,
    by_cluster: bool = True,
) -> SearchFilters:
    return SearchFilters(
        since=parse_when(since),
        until=parse_when(until),
        sources=sources,
        category=category,
        language=lang,
        alerted=alerted,
        limit=limit,
        offset=offset,
        by_cluster=by_cluster,
        entities=tuple(_resolve(app, e, None) for e in entities),
        places=tuple(_resolve(app, p, ("place", "prison")) for p in places),
    )


def _resolve(app: App, name: str, kinds: tuple[str, ...] | None) -> str:
    entity = app.filter.gazetteer.resolve(name, kinds)
    if entity is None:
        what = "place or prison" if kinds else "entity"
        raise UsageError(
            f"no {what} called {name!r} in the gazetteer; use a name or alias from "
            "alerts/data/haiti.yaml (e.g. Mirebalais, Viv Ansanm)"
        )
    return entity.name
