"""``veye init``: a starter ``config.yaml`` for the real Haitian outlets."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from veye.config import DEFAULT_CONFIG, parse_settings
from veye.errors import UsageError
from veye.output import console

__all__ = ["COMMANDS", "starter_config"]

#: The packaged template; the repository's own ``config.yaml`` is checked against it.
TEMPLATE = "config_template.yaml"


def starter_config() -> str:
    """The text ``veye init`` writes."""
    return files("veye").joinpath(TEMPLATE).read_text(encoding="utf-8")


@click.command("init")
@click.argument(
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    required=False,
)
@click.option("--force", is_flag=True, help="Overwrite an existing config.yaml.")
def init(directory: Path, force: bool) -> None:
    """Write a starter config.yaml in DIRECTORY (default: here).

    It watches the Haitian outlets veye ships with, uses the shipped rules and gazetteer,
    keeps its database beside it, and has an email and a webhook channel switched off until
    you fill them in. It is commented, and docs/configuration.md explains every key."""
    target = directory / DEFAULT_CONFIG
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists; pass --force to overwrite it, or give another folder"
        )
    text = starter_config()
    sources = len(parse_settings(text, origin=TEMPLATE).sources)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror or e}") from e
    use = "" if directory.resolve() == Path.cwd().resolve() else f" --config {target}"
    out = console()
    out.print(
        f"Wrote {target}: {sources} Haitian outlets, the shipped rules and gazetteer, and two "
        "alert channels switched off until you fill them in."
    )
    out.print("Next:")
    for command, what in (
        ("crawl", "poll every source once now"),
        ("run", "watch them on their schedule (Ctrl-C stops)"),
        ("sources list", "each source's health"),
    ):
        out.print(f"  {f'veye{use} {command}':<{len(use) + 18}} {what}")
    out.print("To get alerts, fill in `alerts.channels` (see docs/configuration.md).")


COMMANDS = [init]
