"""``veye clusters``: stories and events, each with the items and outlets that carried it."""

from __future__ import annotations

from typing import Any

import click

from storage.clusters import get_cluster, list_clusters
from storage.records import ClusterInfo
from veye.app import App
from veye.errors import UsageError
from veye.filters import parse_when
from veye.output import console, json_lines, local_time, table

_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@click.group("clusters")
def clusters_group() -> None:
    """Stories and events: copies and reports of one event are one cluster, one alert."""


def _cluster_row(c: ClusterInfo) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "event_at": c.event_at,
        "alert": c.alert,
        "categories": list(c.categories),
        "items": c.items,
        "outlets": c.outlets,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


@clusters_group.command("show")
@click.argument("cluster_id", metavar="ID", type=int)
@_FORMAT
@click.pass_obj
def show_cluster(app: App, cluster_id: int, fmt: str) -> None:
    """One cluster: its items, oldest first, how each joined, and every outlet.

    ID is the number `veye search` and `veye clusters list` show."""
    with app.store.engine.connect() as conn:
        detail = get_cluster(conn, cluster_id)
    if detail is None:
        raise UsageError(
            f"no cluster {cluster_id}: `veye clusters list` or `veye search` shows the ids"
        )
    members: list[dict[str, Any]] = [
        {
            "id": m.article.id,
            "published": m.article.published_at or m.article.first_seen_at,
            "source": m.article.source,
            "outlets": list(m.article.outlets),
            "language": m.article.language,
            "alert": m.article.alert,
            "categories": list(m.article.categories),
            "via": m.via,
            "similarity": m.similarity,
            "title": m.article.title,
            "url": m.article.url,
        }
        for m in detail.members
    ]
    if fmt == "json":
        json_lines(
            [{**_cluster_row(detail.cluster), "sources": list(detail.outlets), "members": members}]
        )
        return
    c = detail.cluster
    out = console()
    flag = f"[red]alert[/] ({', '.join(c.categories)})" if c.alert else "no alert"
    out.print(f"[bold]Cluster {c.id}[/]: {_esc(c.title)}")
    out.print(
        f"{flag}; {c.items} item{'s' if c.items != 1 else ''} from {c.outlets} "
        f"outlet{'s' if c.outlets != 1 else ''}; first report {local_time(c.event_at)}"
    )
    out.print(f"Outlets: {', '.join(detail.outlets)}")
    out.print(
        table(
            None,
            ["id", "when", "outlets", "lang", "joined", "title / link"],
            (
                (
                    m["id"],
                    local_time(m["published"]),
                    ", ".join(m["outlets"]),
                    m["language"] or "-",
                    _joined(m["via"], m["similarity"]),
                    f"[bold]{_esc(m['title'])}[/]\n{_esc(m['url'])}",
                )
                for m in members
            ),
        )
    )


@clusters_group.command("list")
@click.option("--alerted/--not-alerted", default=None, help="Only clusters that did (not) alert.")
@click.option("--since", help="Only clusters changed since this date or age (2024-03-01, 7d).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@_FORMAT
@click.pass_obj
def list_command(app: App, alerted: bool | None, since: str | None, limit: int, fmt: str) -> None:
    """Clusters, most recently changed first."""
    with app.store.engine.connect() as conn:
        found = list_clusters(conn, alerted=alerted, since=parse_when(since), limit=limit)
    rows = [_cluster_row(c) for c in found]
    if fmt == "json":
        json_lines(rows)
        return
    out = console()
    if not rows:
        out.print("No cluster yet.")
        return
    out.print(
        table(
            None,
            ["id", "first report", "items", "outlets", "flag", "title"],
            (
                (
                    r["id"],
                    local_time(r["event_at"]),
                    r["items"],
                    r["outlets"],
                    ", ".join(r["categories"]) if r["alert"] else "",
                    _esc(r["title"]),
                )
                for r in rows
            ),
            justify={"items": "right", "outlets": "right"},
        )
    )


def _joined(via: str, similarity: float | None) -> str:
    if via == "copy" and similarity is not None:
        return f"copy ({similarity:.0%})"
    return {"start": "first", "event": "same event"}.get(via, via)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


COMMANDS = [clusters_group]
