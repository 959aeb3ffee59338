"""``veye show ID``: one stored item in full: text, verdict with its evidence, outlets, alerts."""

from __future__ import annotations

from typing import Any

import click

from storage import outbox
from veye.app import App
from veye.errors import UsageError
from veye.output import console, json_lines, local_time


@click.command("show")
@click.argument("article_id", type=int, metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def show(app: App, article_id: int, fmt: str) -> None:
    """One stored item in full (ids come from `veye search`): its text, why the filter did or
    did not flag it, every outlet that carried it, and the alerts owed for its story.

    For the whole story, `veye clusters show CLUSTER`."""
    store = app.store
    article = store.get(article_id)
    if article is None:
        raise UsageError(f"no stored item with id {article_id}; `veye search` lists ids")
    cluster_id = store.cluster_of(article_id)
    with store.engine.connect() as conn:
        owed = [a for a in outbox.list_alerts(conn, limit=None) if a.cluster_id == cluster_id]
    verdict: dict[str, Any] = dict(article.verdict or {})
    if fmt == "json":
        json_lines(
            [
                {
                    "id": article.id,
                    "cluster": cluster_id,
                    "source": article.source,
                    "outlets": list(article.outlets),
                    "url": article.url,
                    "title": article.title,
                    "published": article.published_at,
                    "first_seen": article.first_seen_at,
                    "language": article.language,
                    "summary": article.summary,
                    "text": article.text,
                    "verdict": verdict,
                    "alerts": [
                        {
                            "id": a.id,
                            "channel": a.channel,
                            "event": a.event,
                            "state": a.state,
                            "delivery_id": a.delivery_id,
                            "sent_at": a.sent_at,
                        }
                        for a in owed
                    ],
                }
            ]
        )
        return
    out = console()
    flag = ", ".join(article.categories) if article.alert else "not flagged"
    out.print(f"[bold]{_esc(article.title)}[/]")
    out.print(
        f"#{article.id} · {article.source} · {local_time(article.published_at)} · "
        f"{article.language or '?'} · story {cluster_id} · [bold]{flag}[/]"
    )
    out.print(article.url)
    if len(article.outlets) > 1:
        out.print(f"carried by {len(article.outlets)} outlets: {', '.join(article.outlets)}")
    out.print()
    out.print(_esc(article.text))
    out.print()
    out.print(f"[bold]verdict[/]: score {article.score:g}")
    for e in verdict.get("entities", ()):
        where = f", {e['department']}" if e.get("department") else ""
        out.print(f"  {e['kind']}: {_esc(e['name'])}{where} (as {_esc(e['surface'])!r})")
    for f in verdict.get("figures", ()):
        out.print(
            f"  {f['kind']}: {'at least ' if f.get('at_least') else ''}{f['value']} "
            f"({_esc(f['surface'])!r})"
        )
    for ev in verdict.get("evidence", ()):
        out.print(
            f"  {ev['category']}: {ev['weight']:+g} {_esc(ev['term'])!r} as "
            f"{_esc(ev['surface'])!r} at {ev['start']}-{ev['end']}"
        )
    for note in verdict.get("notes", ()):
        out.print(f"  note: {_esc(note)}")
    if owed:
        out.print()
        out.print("[bold]alerts[/]")
        for a in owed:
            out.print(
                f"  #{a.id} {a.event} → {a.channel}: {a.state}"
                + (f" at {local_time(a.sent_at)}" if a.sent_at else "")
            )


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


COMMANDS = [show]
