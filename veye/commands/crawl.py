"""``veye crawl``: one pass over the sources now."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from alerts.dispatch import DispatchSummary
from crawler.fetch import Fetcher
from veye.app import App
from veye.crawl import CrawlSummary, SourceOutcome, crawl_once
from veye.errors import UsageError
from veye.output import console, json_lines, table

#: Exit status when some sources failed and the others were stored.
EXIT_SOME_FAILED = 3
#: Seconds a crawl spends sending the alerts it owed before it returns.
DELIVERY_BUDGET = 60.0


@click.command("crawl")
@click.argument("names", nargs=-1, metavar="[SOURCE]...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Summary as a table, or one JSON object per source.",
)
@click.option(
    "--no-deliver",
    is_flag=True,
    help="Owe alerts in the outbox but do not send them now (the daemon or the next crawl will).",
)
@click.pass_obj
def crawl(app: App, names: tuple[str, ...], fmt: str, no_deliver: bool) -> None:
    """Poll all (or the named) sources once, store what is new, and send the alerts it owes.

    Alerts go out before the command returns (for at most a minute; what cannot be sent by
    then waits in the outbox, see `veye alerts list`).

    Exit status: 0 when every source answered, 3 when some failed (the others are stored),
    78 for a config error."""
    settings = app.settings
    sources = settings.active_sources()
    if names:
        known = {s.name: s for s in settings.sources}
        missing = [n for n in names if n not in known]
        if missing:
            raise UsageError(
                f"no source named {', '.join(missing)} in the config "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
        sources = [known[n].to_source() for n in names]
    out = console()
    err = console(stderr=True)
    show_progress = fmt == "table" and err.is_terminal
    with Progress(
        TextColumn("[bold]crawling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=len(sources))

        def advance(outcome: SourceOutcome) -> None:
            progress.update(task, advance=1, description=outcome.source)

        summary = crawl_once(
            app.store,
            app.filter,
            sources,
            fetcher_factory=lambda: Fetcher(settings.crawl.fetch_settings()),
            concurrency=settings.crawl.concurrency,
            on_result=advance,
            planner=app.planner,
            options=settings.crawl.collect_options(),
            clustering=settings.clusters.params(),
        )
    delivered = None if no_deliver else app.dispatcher.run_once(budget=DELIVERY_BUDGET)
    if fmt == "json":
        json_lines(
            {
                "source": o.source,
                "state": o.state,
                "new": o.new,
                "updated": o.updated,
                "seen": o.seen,
                "alerts": o.alerts,
                "error": o.error,
                "warnings": list(o.warnings),
            }
            for o in summary.outcomes
        )
    else:
        out.print(_summary_table(summary))
        _footer(out, summary)
    if delivered is not None and (delivered.outcomes or delivered.expired or delivered.pending):
        (err if fmt == "json" else out).print(_delivery_line(delivered))
    if summary.failed:
        sys.exit(EXIT_SOME_FAILED)


def _summary_table(summary: CrawlSummary) -> Table:
    rows = []
    for o in summary.outcomes:
        state = {
            "ok": "[green]ok[/]",
            "not modified": "[dim]not modified[/]",
            "error": "[red]error[/]",
        }[o.state]
        note = o.error or ("; ".join(o.warnings) if o.warnings else "")
        rows.append((o.source, state, o.new, o.updated, o.seen, o.alerts, note))
    rows.append(
        (
            "[bold]total[/]",
            "",
            summary.total("new"),
            summary.total("updated"),
            summary.total("seen"),
            summary.total("alerts"),
            "",
        )
    )
    return table(
        None,
        ["source", "state", "new", "updated", "seen", "alerts", "note"],
        rows,
        justify={"new": "right", "updated": "right", "seen": "right", "alerts": "right"},
    )


def _footer(out: Console, summary: CrawlSummary) -> None:
    n = len(summary.outcomes)
    if summary.failed:
        out.print(
            f"{summary.failed} of {n} sources failed; the others were stored. "
            "`veye sources list` shows each source's health."
        )
    else:
        out.print(
            f"{n} sources polled, {summary.total('new')} new items, "
            f"{summary.total('alerts')} flagged."
        )


def _delivery_line(d: DispatchSummary) -> str:
    parts = [f"{d.sent} sent"]
    if d.failed:
        parts.append(f"{d.failed} failed (`veye alerts list --failed`)")
    if d.pending:
        parts.append(f"{d.pending} waiting for a retry or a digest (`veye alerts list --pending`)")
    return "alerts: " + ", ".join(parts)


COMMANDS = [crawl]
