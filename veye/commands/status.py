"""``veye status``: is the daemon alive, how is each source, what is owed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from veye.app import App
from veye.health import check
from veye.output import console, json_lines, local_time, table


@click.command("status")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def status(app: App, fmt: str) -> None:
    """Daemon, sources and alerts at a glance.

    Exit status 0 when all is well, 1 when something needs attention (the daemon is not
    running, a source is failing or stale, an alert failed): usable from monitoring."""
    health = check(app.settings, app.store, datetime.now(UTC))
    attention = health.needs_attention
    if fmt == "json":
        json_lines(
            [
                {
                    "daemon": {
                        "alive": health.daemon_alive,
                        "heartbeat_at": health.heartbeat_at,
                        **health.daemon,
                    },
                    "sources": [
                        {
                            "name": s.name,
                            "state": s.state,
                            "last_success": s.record.last_success_at if s.record else None,
                            "last_error": s.record.last_error
                            if s.record and s.state == "failing"
                            else None,
                            "next_poll": s.record.next_poll_at if s.record else None,
                        }
                        for s in health.sources
                    ],
                    "alerts": {"pending": health.pending_alerts, "failed": health.failed_alerts},
                    "attention": attention,
                }
            ]
        )
    else:
        out = console()
        workers = health.daemon.get("workers")
        if health.daemon_alive and workers:
            out.print(
                f"daemon: [green]running[/] ({len(workers)} "
                f"{'worker' if len(workers) == 1 else 'workers'}: {', '.join(workers)}; "
                f"last heartbeat {local_time(health.heartbeat_at)})"
            )
        elif health.daemon_alive:
            out.print(
                f"daemon: [green]running[/] (pid {health.daemon.get('pid')}, "
                f"last heartbeat {local_time(health.heartbeat_at)})"
            )
        else:
            stopped = health.daemon.get("stopped_at")
            out.print("daemon: [red]not running[/]" + (f" (stopped {stopped})" if stopped else ""))
        colour = {
            "ok": "green",
            "failing": "red",
            "stale": "yellow",
            "never polled": "dim",
            "disabled": "dim",
        }
        out.print(
            table(
                None,
                ["source", "state", "last success", "next poll", "last error"],
                (
                    (
                        s.name,
                        f"[{colour[s.state]}]{s.state}[/]",
                        local_time(s.record.last_success_at if s.record else None),
                        local_time(s.record.next_poll_at if s.record else None),
                        (s.record.last_error or "") if s.record and s.state == "failing" else "",
                    )
                    for s in health.sources
                ),
            )
        )
        out.print(f"alerts: {health.pending_alerts} pending, {health.failed_alerts} failed")
        if attention:
            out.print("[bold]needs attention:[/] " + "; ".join(attention))
    if attention:
        sys.exit(1)


COMMANDS = [status]
