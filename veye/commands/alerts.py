"""``veye alerts``: the outbox — what was owed, sent, is waiting or failed — and channel tests."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.markup import escape

from alerts.errors import DeliveryError, PermanentDeliveryError
from storage import outbox
from veye.app import App
from veye.errors import UsageError
from veye.output import console, json_lines, local_time, table

#: Seconds ``veye alerts retry`` spends sending before it returns.
RETRY_BUDGET = 60.0
_COLOUR = {"pending": "yellow", "sending": "cyan", "sent": "green", "failed": "red"}


@click.group("alerts")
def alerts_group() -> None:
    """List, inspect and retry alert deliveries; send a test alert to a channel."""


def _row(a: outbox.OutboxAlert) -> dict[str, Any]:
    return {
        "id": a.id,
        "state": a.state,
        "event": a.event,
        "channel": a.channel,
        "route": a.route,
        "cluster_id": a.cluster_id,
        "title": a.title,
        "delivery_id": a.message_id,
        "digest": a.digest_key,
        "attempts": a.attempts,
        "created_at": a.created_at,
        "next_attempt_at": a.next_attempt_at if a.state in ("pending", "sending") else None,
        "deadline_at": a.deadline_at,
        "sent_at": a.sent_at,
        "last_error": a.last_error,
    }


@alerts_group.command("list")
@click.option("--pending", is_flag=True, help="Only alerts still owed (waiting or being sent).")
@click.option("--failed", is_flag=True, help="Only alerts given up.")
@click.option("--sent", is_flag=True, help="Only alerts delivered.")
@click.option("--channel", help="Only alerts for this channel.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def list_alerts(
    app: App,
    pending: bool,
    failed: bool,
    sent: bool,
    channel: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Alerts in the outbox, newest first. Flags combine: --pending --failed shows both."""
    states = (["pending", "sending"] if pending else []) + (["failed"] if failed else [])
    states += ["sent"] if sent else []
    with app.store.engine.connect() as conn:
        found = outbox.list_alerts(conn, states=states or None, channel=channel, limit=limit)
    rows = [_row(a) for a in found]
    if fmt == "json":
        json_lines(rows)
        return
    out = console()
    if not rows:
        out.print("No alerts" + (f" ({', '.join(states)})" if states else "") + ".")
        return
    out.print(
        table(
            None,
            ["id", "state", "event", "channel", "title", "tries", "when", "last error"],
            (
                (
                    r["id"],
                    f"[{_COLOUR.get(r['state'], 'white')}]{r['state']}[/]",
                    r["event"],
                    escape(r["channel"]),
                    escape(r["title"][:80]),
                    r["attempts"],
                    _when(r),
                    escape((r["last_error"] or "")[:120]),
                )
                for r in rows
            ),
            justify={"id": "right", "tries": "right"},
        )
    )


def _when(r: dict[str, Any]) -> str:
    if r["state"] == "sent":
        return "sent " + local_time(r["sent_at"])
    if r["state"] == "failed":
        return "-"
    prefix = "digest " if r["digest"] else "next "
    return prefix + local_time(r["next_attempt_at"])


@alerts_group.command("show")
@click.argument("alert_id", type=int, metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def show(app: App, alert_id: int, fmt: str) -> None:
    """One alert: what it says, where it goes, and every attempt with the peer's answer."""
    with app.store.engine.connect() as conn:
        found = outbox.get(conn, alert_id)
        tries = outbox.attempts(conn, alert_id) if found else []
    if found is None:
        raise UsageError(f"no alert with id {alert_id} (see `veye alerts list`)")
    attempts: list[dict[str, Any]] = [
        {
            "attempt": t.attempt,
            "started_at": t.started_at,
            "duration": round(t.duration, 3),
            "outcome": t.outcome,
            "status": t.status,
            "reply": t.reply,
            "error": t.error,
            "delivery_id": t.delivery_id,
        }
        for t in tries
    ]
    if fmt == "json":
        json_lines([{**_row(found), "payload": found.payload, "attempts": attempts}])
        return
    out = console()
    r = _row(found)
    item = found.payload.get("item") or {}
    for label, value in (
        ("alert", f"{r['id']} ({r['event']})"),
        ("state", f"[{_COLOUR.get(r['state'], 'white')}]{r['state']}[/]"),
        ("title", escape(r["title"])),
        ("link", escape(str(item.get("url") or "-"))),
        ("cluster", r["cluster_id"]),
        ("channel", escape(r["channel"])),
        ("route", escape(r["route"])),
        ("delivery id", r["delivery_id"]),
        ("digest", escape(r["digest"] or "-")),
        ("owed at", local_time(r["created_at"])),
        ("next attempt", local_time(r["next_attempt_at"])),
        ("deadline", local_time(r["deadline_at"])),
        ("sent at", local_time(r["sent_at"])),
        ("last error", escape(r["last_error"] or "-")),
    ):
        out.print(f"[bold]{label:>12}[/]  {value}")
    if not attempts:
        out.print("\nNo attempt yet.")
        return
    out.print()
    out.print(
        table(
            "Attempts",
            ["#", "started", "took", "outcome", "status", "answer"],
            (
                (
                    a["attempt"],
                    a["started_at"].astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                    f"{a['duration']:.2f}s",
                    a["outcome"],
                    a["status"] if a["status"] is not None else "-",
                    escape(a["error"] or a["reply"] or ""),
                )
                for a in attempts
            ),
            justify={"#": "right", "took": "right"},
        )
    )


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--all-failed", is_flag=True, help="Retry every failed alert.")
@click.option("--no-deliver", is_flag=True, help="Queue them again but do not send now.")
@click.pass_obj
def retry(app: App, ids: tuple[int, ...], all_failed: bool, no_deliver: bool) -> None:
    """Queue failed alerts again (same delivery id, a fresh deadline) and send them now."""
    if not ids and not all_failed:
        raise UsageError("name alert ids to retry, or pass --all-failed")
    if ids and all_failed:
        raise UsageError("give alert ids or --all-failed, not both")
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=app.settings.alerts.retry.deadline)
    with app.store.engine.begin() as conn:
        if ids:
            unknown = [i for i in ids if outbox.get(conn, i) is None]
            if unknown:
                raise UsageError(
                    f"no alert with id {', '.join(map(str, unknown))} (see `veye alerts list`)"
                )
        queued = outbox.retry(conn, list(ids) if ids else None, now=now, deadline_at=deadline)
    out = console()
    skipped = sorted(set(ids) - set(queued))
    if skipped:
        out.print(f"Already sent, not queued: {', '.join(map(str, skipped))}")
    if not queued:
        out.print("Nothing to retry.")
        return
    out.print(f"Queued {len(queued)} alert{'s' if len(queued) != 1 else ''} again.")
    if no_deliver:
        return
    app.dispatcher.run_once(budget=RETRY_BUDGET)
    with app.store.engine.connect() as conn:
        after = [a for a in (outbox.get(conn, i) for i in sorted(queued)) if a is not None]
    for a in after:
        note = f": {escape(a.last_error)}" if a.last_error and a.state != "sent" else ""
        out.print(
            f"{a.id} {escape(a.channel)}: [{_COLOUR.get(a.state, 'white')}]{a.state}[/]{note}"
        )
    if any(a.state == "failed" for a in after):
        sys.exit(1)


@alerts_group.command("test")
@click.argument("channel")
@click.pass_obj
def test(app: App, channel: str) -> None:
    """Send a sample alert to CHANNEL now and report exactly what its server answered.

    Exit status: 0 when the server took it, 1 when it did not."""
    configured = {c.name: c for c in app.settings.alerts.channels}
    if channel not in configured:
        raise UsageError(
            f"no channel named {channel!r} (configured: {', '.join(configured) or 'none'})"
        )
    if not configured[channel].enabled:
        raise UsageError(f"channel {channel!r} is disabled (enabled: false in the config)")
    from alerts.channels.render import sample_message

    target = app.channels[channel]
    message = sample_message(str(uuid.uuid4()))
    out = console()
    try:
        result = target.send(message)
    except PermanentDeliveryError as e:
        out.print(f"{escape(channel)}: [red]refused[/] (a retry will not help): {escape(str(e))}")
        sys.exit(1)
    except DeliveryError as e:
        out.print(f"{escape(channel)}: [red]not delivered[/] (a retry may help): {escape(str(e))}")
        sys.exit(1)
    answer = f"{result.status} {result.reply}".strip() if result.status else result.reply
    out.print(
        f"{escape(channel)}: [green]accepted[/], delivery {message.delivery_id}; "
        f"the server answered: {escape(answer or '(nothing)')}"
    )


COMMANDS = [alerts_group]
