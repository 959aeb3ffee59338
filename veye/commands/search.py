"""``veye search``: full-text search of stored items."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from storage.search import SearchFilters, search
from veye.app import App
from veye.errors import UsageError
from veye.output import console, csv_rows, json_lines, local_time, table
from veye.units import parse_duration

_CSV_COLUMNS = [
    "id",
    "published",
    "source",
    "language",
    "categories",
    "alert",
    "title",
    "url",
    "snippet",
    "outlets",
    "cluster",
    "cluster_items",
    "cluster_outlets",
]


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


@click.command("search")
@click.argument("query")
@click.option("--since", help="Only items from this date or age on (2024-03-01, 7d, 24h).")
@click.option("--until", help="Only items before this date or age.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--category", help="Only items the filter put in this category, e.g. prison_break.")
@click.option("--lang", help="Only items in this language (fr, ht, en).")
@click.option("--alerted/--not-alerted", default=None, help="Only items that did (not) alert.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--all-items",
    is_flag=True,
    help="Every matching item; by default one row per story (cluster), with its outlets.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def search_command(
    app: App,
    query: str,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    category: str | None,
    lang: str | None,
    alerted: bool | None,
    limit: int,
    offset: int,
    all_items: bool,
    fmt: str,
) -> None:
    """Search stored items: words, "a phrase", prefix*, AND / OR / NOT.

    Accents do not matter: evasion finds évasion. Copies and reports of one event are one
    row, its best match, unless --all-items; `veye clusters show ID` lists them."""
    filters = SearchFilters(
        since=parse_when(since),
        until=parse_when(until),
        sources=sources,
        category=category,
        language=lang,
        alerted=alerted,
        limit=limit,
        offset=offset,
        by_cluster=not all_items,
    )
    hits = search(app.store.engine, query, filters)
    rows: list[dict[str, Any]] = [
        {
            "id": h.article.id,
            "published": h.article.published_at or h.article.first_seen_at,
            "source": h.article.source,
            "language": h.article.language,
            "categories": list(h.article.categories),
            "alert": h.article.alert,
            "score": h.article.score,
            "title": h.article.title,
            "url": h.article.url,
            "snippet": h.snippet,
            "outlets": list(h.article.outlets),
            "cluster": h.cluster_id,
            "cluster_items": h.cluster_items,
            "cluster_outlets": h.cluster_outlets,
        }
        for h in hits
    ]
    if fmt == "json":
        json_lines(rows)
        return
    if fmt == "csv":
        csv_rows(_CSV_COLUMNS, rows)
        return
    out = console()
    if not rows:
        out.print(f"No stored item matches {query!r}.")
        return
    out.print(
        table(
            None,
            ["id", "when", "source", "outlets", "lang", "flag", "title / snippet"],
            (
                (
                    r["id"],
                    local_time(r["published"]),
                    r["source"],
                    _outlets(r, grouped=not all_items),
                    r["language"] or "-",
                    ", ".join(r["categories"]) or "",
                    f"[bold]{_esc(r['title'])}[/]\n{_highlight(r['snippet'])}",
                )
                for r in rows
            ),
            justify={"outlets": "right"},
        )
    )


def _outlets(row: dict[str, Any], *, grouped: bool) -> str:
    """The story's outlet count, and its cluster id where it has more than one item."""
    count = row["cluster_outlets"] if grouped else len(row["outlets"])
    if row["cluster"] is not None and row["cluster_items"] > 1:
        return f"{count} (#{row['cluster']})"
    return str(count)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _highlight(snippet: str) -> str:
    """FTS marks matches with ``[`` ``]``; show them in colour."""
    escaped = _esc(snippet)
    return re.sub(r"\\\[([^\]]*)\]", r"[yellow]\1[/]", escaped)


COMMANDS = [search_command]
