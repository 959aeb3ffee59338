"""``veye sources``: the configured sources and their health."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from crawler.discover import SourceCheck, check_sources
from crawler.fetch import Fetcher
from veye.app import App
from veye.errors import UsageError
from veye.output import console, json_lines, local_time, table


@click.group("sources")
def sources_group() -> None:
    """List sources and their health; check that they work."""


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
                # The worker that polled it last (host:pid:tag): who is doing what, when
                # several workers share a database.
                "polled_by": st.last_poll_by if st else None,
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


#: Exit status when some sources do not work (the same as ``veye crawl``'s).
EXIT_SOME_FAILED = 3


@sources_group.command("check")
@click.argument("names", nargs=-1, metavar="[SOURCE]...")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def check_command(app: App, names: tuple[str, ...], fmt: str) -> None:
    """Fetch each enabled source (or the named ones) now: HTTP status, feed type, item
    count, and, for a dead feed URL or a web page, the feeds the site advertises.

    Stores nothing. Exit status: 0 when every source works, 3 when some do not (so also
    when none can be reached, e.g. without internet), 2 for an unknown source name."""
    settings = app.settings
    if names:
        known = {s.name: s for s in settings.sources}
        missing = [n for n in names if n not in known]
        if missing:
            raise UsageError(
                f"no source named {', '.join(missing)} in the config "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
        sources = [known[n].to_source() for n in names]
    else:
        sources = settings.active_sources()

    async def run() -> list[SourceCheck]:
        async with Fetcher(settings.crawl.fetch_settings()) as fetcher:
            return [c async for c in check_sources(fetcher, sources, concurrency=8)]

    order = {s.name: i for i, s in enumerate(sources)}
    checks = sorted(asyncio.run(run()), key=lambda c: order[c.source])
    if fmt == "json":
        json_lines(_check_row(c) for c in checks)
    else:
        out = console()
        out.print(
            table(
                None,
                ["source", "state", "HTTP", "type", "items", "note"],
                (
                    (
                        c.source,
                        f"[{_CHECK_COLOUR[c.state]}]{c.state}[/]",
                        c.status or "-",
                        c.content_type or "-",
                        "-" if c.items is None else c.items,
                        _check_note(c),
                    )
                    for c in checks
                ),
                justify={"items": "right", "HTTP": "right"},
            )
        )
        bad = [c for c in checks if not c.ok]
        if checks and all(c.state == "unreachable" for c in checks):
            out.print(
                "No source could be reached: check this machine's internet connection "
                "(or its proxy and DNS)."
            )
        elif bad:
            out.print(f"{len(bad)} of {len(checks)} sources need attention.")
        else:
            out.print(f"All {len(checks)} sources work.")
    if any(not c.ok for c in checks):
        sys.exit(EXIT_SOME_FAILED)


_CHECK_COLOUR = {"ok": "green", "moved": "yellow", "broken": "red", "unreachable": "red"}


def _check_row(c: SourceCheck) -> dict[str, Any]:
    return {
        "source": c.source,
        "kind": c.kind,
        "url": c.url,
        "state": c.state,
        "status": c.status,
        "final_url": c.final_url,
        "type": c.content_type or None,
        "items": c.items,
        "error": c.error,
        "note": c.note or None,
        "discovered": [
            {
                "url": f.url,
                "title": f.title or None,
                "type": f.feed_type or None,
                "items": f.items,
                "error": f.error,
            }
            for f in c.discovered
        ],
    }


def _check_note(c: SourceCheck) -> str:
    parts = [p for p in (c.error, c.note) if p]
    for f in c.discovered:
        if f.works:
            parts.append(f"feed found: {f.url} ({f.feed_type}, {f.items} items)")
    return "; ".join(dict.fromkeys(p for p in parts if not p.startswith("feeds found: ")))


COMMANDS = [sources_group]
