"""``veye search``: full-text search of stored items."""

from __future__ import annotations

import re
from typing import Any

import click

from storage.search import search
from veye.app import App
from veye.filters import build_filters, filter_options
from veye.output import console, csv_rows, json_lines, local_time, table

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


@click.command("search")
@click.argument("query")
@filter_options
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
    entities: tuple[str, ...],
    places: tuple[str, ...],
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
    filters = build_filters(
        app,
        since=since,
        until=until,
        sources=sources,
        category=category,
        entities=entities,
        places=places,
        lang=lang,
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
