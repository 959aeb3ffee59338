"""``veye sources``: the configured sources and their health."""

from __future__ import annotations

from typing import Any

import click

from veye.app import App
from veye.output import console, json_lines, local_time, table


@click.group("sources")
def sources_group() -> None:
    """List sources and their health."""


@sources_group.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def list_sources(app: App, fmt: str) -> None:
    """Each configured source with its last success, last error and next poll."""
    settings = app.settings
    store = app.store
    store.sync_sources((s.name, s.kind, s.url) for s in settings.sources)
    states = {s.name: s for s in store.source_states()}
    rows: list[dict[str, Any]] = []
    for s in settings.sources:
        st = states.get(s.name)
        failing = bool(st and st.failing_since)
        health = (
            "disabled"
            if not s.enabled
            else "failing"
            if failing
            else "ok"
            if st and st.last_success_at
            else "never polled"
        )
        rows.append(
            {
                "name": s.name,
                "kind": s.kind,
                "url": s.url,
                "health": health,
                "last_success": st.last_success_at if st else None,
                "last_error": st.last_error if st and failing else None,
                "failing_since": st.failing_since if st else None,
                "errors": st.error_count if st else 0,
                "next_poll": st.next_poll_at if st else None,
                "items": st.items_total if st else 0,
            }
        )
    if fmt == "json":
        json_lines(rows)
        return
    colour = {"ok": "green", "failing": "red", "never polled": "dim", "disabled": "dim"}
    console().print(
        table(
            None,
            ["source", "kind", "health", "items", "last success", "next poll", "last error"],
            (
                (
                    r["name"],
                    r["kind"],
                    f"[{colour[r['health']]}]{r['health']}[/]",
                    r["items"],
                    local_time(r["last_success"]),
                    local_time(r["next_poll"]),
                    (
                        f"{r['last_error']} (since {local_time(r['failing_since'])}, "
                        f"{r['errors']} in a row)"
                    )
                    if r["last_error"]
                    else "",
                )
                for r in rows
            ),
            justify={"items": "right"},
        )
    )


COMMANDS = [sources_group]
