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


#: Each command and the module defining it (``veye/commands/<module>.py``, which exports
#: ``COMMANDS``). A module is imported when its command runs, so ``veye search`` does not pay
#: for the crawler, the daemon or the demo.
COMMAND_MODULES = {
    "alerts": "alerts",
    "classify": "classify",
    "clusters": "clusters",
    "crawl": "crawl",
    "db": "db",
    "demo": "demo",
    "export": "export",
    "init": "init",
    "rules": "classify",
    "run": "run",
    "search": "search",
    "show": "show",
    "sources": "sources",
    "status": "status",
}


class VeyeGroup(click.Group):
    """Turns our errors into one line on stderr and an exit status; never a traceback for a
    user's mistake. Loads each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            self._load(COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)

    def load_all(self) -> None:
        """Every command (for the generated reference and its checks)."""
        for module in sorted(set(COMMAND_MODULES.values())):
            self._load(module)

    def _load(self, module_name: str) -> None:
        module = importlib.import_module(f"veye.commands.{module_name}")
        for command in module.COMMANDS:
            if command.name not in self.commands:
                self.add_command(command)

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


def main() -> None:
    cli(prog_name="veye")
