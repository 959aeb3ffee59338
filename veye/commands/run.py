"""``veye run``: the daemon."""

from __future__ import annotations

import logging

import click

from veye.app import App
from veye.daemon import Daemon


@click.command("run")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.pass_obj
def run(app: App, log_level: str) -> None:
    """Watch every source on its schedule until stopped (SIGTERM or Ctrl-C)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    daemon = Daemon(app)
    daemon.install_signals()
    daemon.run()


COMMANDS = [run]
