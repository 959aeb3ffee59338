"""The ``veye`` command."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from alerts.errors import AlertsError
from crawler.errors import CrawlError
from storage.errors import StorageError
from veye import __version__
from veye.app import App
from veye.errors import VeyeError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class VeyeGroup(click.Group):
    """Turns our errors into one line on stderr and an exit status; never a traceback for a
    user's mistake."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VeyeError as e:
            _fail(str(e), e.exit_code)
        except (StorageError, AlertsError, CrawlError) as e:
            _fail(str(e), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"veye: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=VeyeGroup, context_settings=CONTEXT)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="VEYE_CONFIG",
    help="Config file (default ./config.yaml, or $VEYE_CONFIG).",
)
@click.version_option(__version__, "--version", prog_name="veye")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """veye watches Haitian news and raises alerts on prison breaks and gang attacks."""
    app = App(config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)


#: Command modules (``veye/commands/<name>.py``), each exporting ``COMMANDS``.
COMMAND_MODULES = (
    "alerts",
    "classify",
    "clusters",
    "crawl",
    "db",
    "demo",
    "export",
    "init",
    "run",
    "search",
    "show",
    "sources",
    "status",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"veye.commands.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="veye")
