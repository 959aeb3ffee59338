"""The docs stay true: every command and option is in docs/cli.md, every config key in
docs/configuration.md, and their generated parts are current.

These checks walk the click group and the pydantic models themselves (not through the
generator), so commands and keys added later are covered too."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

import click
from pydantic import BaseModel

from tests.conftest import REPO
from veye import docs
from veye.cli import cli
from veye.config import Settings

cli.load_all()
CLI_MD = REPO / "docs" / "cli.md"
CONFIG_MD = REPO / "docs" / "configuration.md"
FIX = "run `python -m veye.docs` to regenerate the reference, then review the diff"


def commands(
    command: click.Command, path: tuple[str, ...] = ("veye",)
) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))


def sections(markdown: str) -> dict[str, str]:
    """``## `veye ...` `` sections by command."""
    parts = re.split(r"^## `(veye[^`]*)`\s*$", markdown, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def undocumented_commands(markdown: str, root: click.Command) -> list[str]:
    """What of ``root``'s commands and options the Markdown does not mention."""
    found = sections(markdown)
    missing = []
    for name, command in commands(root):
        if name not in found:
            missing.append(f"command `{name}`")
            continue
        for param in command.params:
            if isinstance(param, click.Option):
                missing += [
                    f"`{name}` option {opt}"
                    for opt in (*param.opts, *param.secondary_opts)
                    if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", found[name])
                ]
    return missing


def model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key of ``model`` as written in YAML, recursively (``[]`` for list entries)."""
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        path = prefix + (info.alias or name)
        yield path
        annotation = info.annotation
        if get_origin(annotation) is list:
            (annotation,) = get_args(annotation)
            path += "[]"
        for sub in _models(annotation):
            yield from model_keys(sub, path + ".")


def _models(annotation: Any) -> list[type[BaseModel]]:
    if get_origin(annotation) in (Union, types.UnionType) or hasattr(annotation, "__metadata__"):
        return [m for a in get_args(annotation) for m in _models(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def test_every_command_and_option_is_in_cli_md() -> None:
    missing = undocumented_commands(CLI_MD.read_text(encoding="utf-8"), cli)
    assert not missing, f"docs/cli.md does not mention {', '.join(missing)}; {FIX}"


def test_every_config_key_is_in_configuration_md() -> None:
    text = CONFIG_MD.read_text(encoding="utf-8")
    keys = sorted(set(model_keys(Settings)))
    assert {"storage.url", "sources[].interval", "alerts.channels[].from"} <= set(keys)
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"docs/configuration.md does not mention {', '.join(missing)}; {FIX}"


def test_generated_reference_is_current() -> None:
    stale = [
        str(path.relative_to(REPO))
        for path, (name, body) in docs.generated().items()
        if docs.replace_block(path.read_text(encoding="utf-8"), name, body)
        != path.read_text(encoding="utf-8")
    ]
    assert not stale, f"{', '.join(stale)} out of date; {FIX}"


def test_the_check_notices_a_new_command_or_option() -> None:
    @click.group()
    def root() -> None: ...

    @root.command("watch")
    @click.option("--since")
    @click.option("--alerted/--not-alerted")
    def watch(since: str, alerted: bool) -> None: ...

    @root.command("quiet")
    def quiet() -> None: ...

    text = "## `veye`\n\n## `veye watch`\n\n`--since TEXT`, `--alerted / --not-alerted`\n"
    assert undocumented_commands(text, root) == ["command `veye quiet`"]
    assert undocumented_commands(text.replace("--not-alerted", ""), root)[0] == (
        "`veye watch` option --not-alerted"
    )
    # An option documented under another command does not count.
    moved = text.replace("--since TEXT", "") + "## `veye quiet`\n\n--since\n"
    assert undocumented_commands(moved, root) == ["`veye watch` option --since"]


def test_config_reference_renders_units_and_variants() -> None:
    keys = {(k.path, k.variant): k for k in docs.config_keys()}
    assert keys[("crawl.timeout", "")].default == "`20s`"
    assert keys[("crawl.max_bytes", "")].default == "`15MB`"
    assert keys[("sources[].name", "")].default == "required"
    assert "`email`" in keys[("alerts.channels[].type", "type: email")].type
    assert ("alerts.channels[].url", "type: webhook") in keys
    assert ("alerts.channels[].url", "type: email") not in keys
    unexplained = sorted({p for (p, _), k in keys.items() if not k.meaning})
    assert not unexplained, (
        f"config keys without a meaning: {', '.join(unexplained)}; write a `#:` comment above "
        "the field in veye/config.py, then run `python -m veye.docs`"
    )


def test_every_command_module_is_mapped_both_ways() -> None:
    """``veye.cli.COMMAND_MODULES`` names each command's module: a command a module adds is
    listed, and each listed command is what its module defines."""
    import importlib

    from veye.cli import COMMAND_MODULES

    defined = {
        command.name: module
        for module in set(COMMAND_MODULES.values())
        for command in importlib.import_module(f"veye.commands.{module}").COMMANDS
    }
    assert defined == COMMAND_MODULES
