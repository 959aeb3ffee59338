"""``veye export``: items, clusters, alerts or located events, for spreadsheets and notebooks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import click
from rich.progress import Progress, SpinnerColumn, TextColumn

from storage import outbox
from storage.export import Place, iter_clusters, iter_items, located_events
from veye.app import App
from veye.filters import build_filters, filter_options
from veye.output import console, csv_rows, json_lines, to_jsonable

#: How precisely a kind of place locates an event: a prison or neighbourhood says where it
#: happened; a department or the country does not say much.
_SPECIFICITY = {
    "neighbourhood": 1,
    "locality": 1,
    "commune": 2,
    "department": 4,
    "island": 5,
    "country": 5,
}

ITEM_COLUMNS = [
    "id",
    "cluster",
    "published",
    "first_seen",
    "source",
    "outlets",
    "language",
    "alert",
    "categories",
    "score",
    "title",
    "url",
    "places",
    "actors",
    "figures",
    "text",
]
CLUSTER_COLUMNS = [
    "id",
    "title",
    "alert",
    "categories",
    "items",
    "outlets",
    "created_at",
    "updated_at",
    "places",
    "actors",
]
ALERT_COLUMNS = [
    "id",
    "delivery_id",
    "cluster_id",
    "channel",
    "route",
    "event",
    "state",
    "attempts",
    "title",
    "created_at",
    "sent_at",
    "last_error",
]


@click.command("export")
@click.argument("query", required=False)
@click.option(
    "--what",
    type=click.Choice(["items", "clusters", "alerts", "geojson"]),
    default="items",
    show_default=True,
    help="Items; clusters (stories); alerts (the outbox); or alerted events as GeoJSON points.",
)
@filter_options
@click.option("--limit", type=click.IntRange(0), default=0, help="At most this many (0: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="One JSON object per line, or CSV with a header (lists joined with '; ').",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write here instead of stdout.",
)
@click.pass_obj
def export(
    app: App,
    /,
    query: str | None,
    what: str,
    limit: int,
    fmt: str,
    output: TextIO,
    **filter_args: Any,
) -> None:
    """Everything stored that matches the filters (and QUERY, if given), streamed out.

    `--what geojson` writes one FeatureCollection of the alerted stories, each placed at its
    most specific gazetteer place (a commune, neighbourhood or prison)."""
    filters = build_filters(app, limit=limit, by_cluster=False, **filter_args)
    engine = app.store.engine
    err = console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("exporting: {task.completed} rows"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("export")

        def counted(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for row in rows:
                progress.advance(task)
                yield row

        if what == "items":
            _write(fmt, ITEM_COLUMNS, counted(iter_items(engine, filters, query)), output)
        elif what == "clusters":
            _write(fmt, CLUSTER_COLUMNS, counted(iter_clusters(engine, filters)), output)
        elif what == "alerts":
            with engine.connect() as conn:
                found = outbox.list_alerts(conn, limit=limit or None)
            rows = (
                {**{c: getattr(a, c, None) for c in ALERT_COLUMNS}, "title": a.title} for a in found
            )
            _write(fmt, ALERT_COLUMNS, counted(rows), output)
        else:
            places = {
                e.name: Place(
                    e.name,
                    e.coordinates[0],
                    e.coordinates[1],
                    e.department,
                    _SPECIFICITY.get(e.type or "", 3) if e.kind == "place" else 0,
                )
                for e in app.filter.gazetteer.entities
                if e.coordinates is not None and e.kind in ("place", "prison")
            }
            collection = located_events(engine, filters, places)
            output.write(json.dumps(to_jsonable(collection), ensure_ascii=False, indent=1))
            output.write("\n")


def _write(fmt: str, columns: list[str], rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    if fmt == "csv":
        csv_rows(columns, rows, out)
    else:
        json_lines(rows, out)


COMMANDS = [export]
