"""``veye run``: the daemon."""

from __future__ import annotations

import click

from veye import logs
from veye.app import App
from veye.daemon import Daemon


@click.command("run")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable lines, or one JSON object per line for log collectors.",
)
@click.pass_obj
def run(app: App, log_level: str, log_format: str) -> None:
    """Watch every source on its schedule and deliver alerts until stopped.

    SIGTERM or Ctrl-C stops cleanly (a second one forces exit); SIGHUP reloads the config
    (an invalid new config is refused and the old one kept). Only one `veye run` may watch a
    database at a time."""
    logs.setup(log_level, log_format, secrets=_secrets(app))
    daemon = Daemon(app)
    daemon.install_signals()
    daemon.run()


def _secrets(app: App) -> tuple[str, ...]:
    """Literal secrets from the config, so a log line can never carry them."""
    out: list[str] = []
    for channel in app.settings.alerts.channels:
        for key in ("password", "secret"):
            value = getattr(channel, key, None)
            if value:
                out.append(str(value))
    return tuple(out)


COMMANDS = [run]
