"""Reference documentation generated from the code, so that it stays true.

``python -m veye.docs`` rewrites the generated parts of ``docs/cli.md`` (every command and
option, from click) and ``docs/configuration.md`` (every config key, from the pydantic models
of :mod:`veye.config`); ``python -m veye.docs --check`` only says whether they are current.
The generated parts sit between ``<!-- BEGIN GENERATED: NAME -->`` and
``<!-- END GENERATED: NAME -->`` markers; the prose around them is written by hand.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from veye.cli import cli
from veye.config import Settings
from veye.units import format_duration, parse_duration, parse_size

cli.load_all()

__all__ = [
    "ConfigKey",
    "cli_reference",
    "command_sections",
    "config_keys",
    "config_reference",
    "main",
    "walk_commands",
]

#: Where the docs live: beside the package, in a source checkout.
DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "python -m veye.docs"


# -- the CLI ---------------------------------------------------------------------------------


def walk_commands(
    command: click.Command = cli, path: tuple[str, ...] = ("veye",)
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command``, groups and their subcommands included, in order."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk_commands(command.commands[name], (*path, name))


def _context(path: tuple[str, ...], command: click.Command) -> click.Context:
    """A context like the one click makes for ``path`` (help option names and all)."""
    ctx = click.Context(cli, info_name=path[0], **cli.context_settings)
    node: click.Command = cli
    for name in path[1:]:
        assert isinstance(node, click.Group)
        node = node.commands[name]
        ctx = click.Context(node, info_name=name, parent=ctx, **node.context_settings)
    return ctx


def _markdown(text: str) -> str:
    """Help text for a Markdown table cell: ``*``, ``<`` and ``|`` are literal."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"([*<|])", r"\\\1", parts[i])
    return "`".join(parts)


def _cell_code(text: str) -> str:
    """Code in a table cell: a ``|`` must be escaped even there."""
    return text.replace("|", "\\|")


def _help_paragraphs(command: click.Command) -> str:
    text = inspect.cleandoc(command.help or "").replace("\b\n", "")
    return "\n\n".join(_markdown(" ".join(p.split())) for p in text.split("\n\n") if p.strip())


def command_sections(path: tuple[str, ...], command: click.Command) -> str:
    """The Markdown section of one command: usage, help, arguments and options."""
    ctx = _context(path, command)
    title = " ".join(path)
    lines = [f"## `{title}`", ""]
    usage = " ".join([title, *command.collect_usage_pieces(ctx)])
    lines += ["```", f"Usage: {usage}", "```", ""]
    help_text = _help_paragraphs(command)
    if help_text:
        lines += [help_text, ""]
    if isinstance(command, click.Group) and command.commands:
        lines += ["| command | what it does |", "|---|---|"]
        for name in sorted(command.commands):
            sub = command.commands[name]
            lines.append(f"| `{title} {name}` | {_markdown(sub.get_short_help_str(200))} |")
        lines.append("")
    records = [
        (opts, _markdown(" ".join(help_.split())))
        for param in command.get_params(ctx)
        if isinstance(param, click.Option)
        for opts, help_ in [param.get_help_record(ctx) or (param.opts[0], "")]
    ]
    if records:
        lines += ["| option | meaning |", "|---|---|"]
        lines += [f"| `{_cell_code(opts)}` | {help_} |" for opts, help_ in records]
        lines.append("")
    return "\n".join(lines)


def cli_reference() -> str:
    """Every command, group and option of ``veye``, as Markdown."""
    return "\n".join(command_sections(path, cmd) for path, cmd in walk_commands()).rstrip()


# -- the config ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One key of ``config.yaml``."""

    #: Dotted path; ``[]`` marks the entries of a list: ``alerts.channels[].host``.
    path: str
    type: str
    default: str
    meaning: str
    #: For a member of a list of several kinds (channels): which one, e.g. ``type: email``.
    variant: str = ""


#: Meanings of keys whose model field has no ``#:`` comment.
_MEANINGS = {
    "storage": "Where the database is.",
    "crawl": "How sources are fetched.",
    "sources": "The outlets to watch, one entry each.",
    "alerts": "Alert channels, routes and delivery.",
    "clusters": "How copies and reports of one event are grouped into one story.",
    "crawl.user_agent": "Sent with every request: name veye and a way to reach you.",
    "crawl.per_host_concurrency": "Requests at once to one host.",
    "crawl.obey_robots": "Obey robots.txt for article pages (a configured feed is always fetched).",
    "sources[].name": "Unique; used on the command line and in the database.",
    "sources[].url": "The feed, listing page or sitemap.",
    "sources[].kind": "`feed` (RSS, Atom, RDF), `spider` (a listing page crawled with "
    "Scrapy) or `sitemap`.",
    "sources[].interval": "Time between polls.",
    "sources[].language": "A hint (`fr`, `ht`, `en`); detection decides.",
    "sources[].enabled": "`false` keeps the source in the config but never polls it.",
    "sources[].options": "Kind-specific settings (see Source options below).",
    "alerts.channels": "Where alerts go: email or webhook channels.",
    "alerts.routes": "Which stories go to which channels, and how.",
    "alerts.retry": "How long and how often a failed delivery is retried.",
    "alerts.retry.max_delay": "Longest delay between two attempts.",
    "alerts.routes[].channels": "Names of the channels the route sends to.",
    "alerts.routes[].mode": "`immediate`: one message per story; `digest`: one message per "
    "`digest_interval`.",
    "alerts.routes[].corroboration": "Outlets that must carry a story before the "
    "`corroboration` follow-up is owed.",
    "alerts.channels[].name": "Unique; used by routes and `veye alerts test NAME`.",
    "alerts.channels[].type": "`email` or `webhook`.",
    "alerts.channels[].enabled": "`false` keeps the channel but sends nothing (its secrets "
    "need not be set).",
    "alerts.channels[].host": "SMTP server.",
    "alerts.channels[].port": "SMTP port: 587 for `starttls`, 465 for `tls`.",
    "alerts.channels[].username": "SMTP login, if the server needs one.",
    "alerts.channels[].password": "SMTP password: write `${VEYE_SMTP_PASSWORD}`, never the "
    "password itself.",
    "alerts.channels[].password_file": "A file holding the SMTP password (relative to the "
    "config file).",
    "alerts.channels[].from": "Sender address.",
    "alerts.channels[].to": "Recipient addresses.",
    "alerts.channels[].timeout": "Deadline of one delivery.",
    "alerts.channels[].ca_file": "A CA bundle to trust (a private CA), relative to the "
    "config file.",
    "alerts.channels[].max_per_hour": "Messages per hour sent one by one; the rest wait for "
    "the hour's end and go as one digest.",
    "alerts.channels[].url": "Where alerts are POSTed (http or https).",
    "alerts.channels[].secret": "Shared secret that signs each request "
    "(`X-Veye-Signature`): write `${VEYE_WEBHOOK_SECRET}`.",
    "alerts.channels[].secret_file": "A file holding the secret (relative to the config file).",
    "alerts.channels[].verify_tls": "Check the server's certificate (keep on; use "
    "`ca_file` for a private CA).",
}


def _doc_comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment above each field of ``model`` (and of its bases)."""
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            m = re.match(r"^(\w+)\s*:", stripped)
            if m and pending:
                out[m.group(1)] = " ".join(pending)
            if not stripped.startswith("#"):
                pending = []
    return {k: re.sub(r"``([^`]+)``", r"`\1`", v) for k, v in out.items()}


def _validator_funcs(info: FieldInfo) -> set[Any]:
    return {getattr(m, "func", None) for m in info.metadata}


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return annotation, False


def _type_name(annotation: Any, info: FieldInfo | None = None) -> str:
    funcs = _validator_funcs(info) if info else set()
    if parse_duration in funcs:
        return "duration (`30s`, `15m`, `1h30m`, `2d`)"
    if parse_size in funcs:
        return "size (`512KB`, `15MB`)"
    annotation, optional = _strip_none(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        name = " \\| ".join(f"`{a}`" for a in get_args(annotation))
    elif origin is list:
        (item,) = get_args(annotation) or (Any,)
        name = "list of " + (
            "entries" if _models(item) else _type_name(item).replace("text", "texts")
        )
    elif origin is dict:
        name = "mapping"
    elif origin in (Union, types.UnionType):
        name = " or ".join(_type_name(a) for a in get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = "section"
    else:
        name = {bool: "`true` \\| `false`", int: "whole number", float: "number", str: "text"}.get(
            annotation, "path" if annotation is Path else getattr(annotation, "__name__", "value")
        )
    limits = []
    for m in info.metadata if info else ():
        if isinstance(m, annotated_types.Ge):
            limits.append(f"≥ {m.ge}")
        elif isinstance(m, annotated_types.Le):
            limits.append(f"≤ {m.le}")
        elif isinstance(m, annotated_types.MinLen) and m.min_length:
            limits.append(f"at least {m.min_length}")
    if limits:
        name += f" ({', '.join(limits)})"
    return name + (", optional" if optional else "")


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation (a model, or a union of them) holds."""
    annotation, _ = _strip_none(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for a in get_args(annotation) for m in _models(a)]
    if hasattr(annotation, "__metadata__"):  # Annotated[...]
        return _models(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "none"
    funcs = _validator_funcs(info)
    if parse_duration in funcs and isinstance(value, int | float):
        return f"`{format_duration(value)}`" if value >= 1 else f"`{round(value * 1000)}ms`"
    if parse_size in funcs and isinstance(value, int):
        return f"`{value // 10**6}MB`" if value % 10**6 == 0 else f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | dict) and not value:
        return "`[]`" if isinstance(value, list) else "`{}`"
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{value}`"


def config_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[ConfigKey]:
    """Every key a config may have, depth first, as the user writes it (aliases, not
    Python names); keys excluded from the file (``base_dir``) are left out."""
    keys: list[ConfigKey] = []
    comments = _doc_comments(model)
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key = info.alias or name
        path = f"{prefix}{key}"
        meaning = comments.get(name) or info.description or _MEANINGS.get(path, "")
        annotation = info.annotation
        listed = get_origin(_strip_none(annotation)[0]) is list
        inner = get_args(_strip_none(annotation)[0])[0] if listed else annotation
        models = _models(inner)
        keys.append(ConfigKey(path, _type_name(annotation, info), _default(info), meaning))
        child = f"{path}[]." if listed else f"{path}."
        if len(models) == 1:
            keys += config_keys(models[0], child)
        for variant in models if len(models) > 1 else ():
            tag = _discriminator(variant)
            keys += [
                ConfigKey(k.path, k.type, k.default, k.meaning, tag)
                for k in config_keys(variant, child)
            ]
    return keys


def _discriminator(model: type[BaseModel]) -> str:
    info = model.model_fields.get("type")
    if info is not None and get_origin(info.annotation) is Literal:
        return f"type: {get_args(info.annotation)[0]}"
    return model.__name__


def config_reference() -> str:
    """Every config key, one table per top-level section, as Markdown."""
    sections: dict[str, list[ConfigKey]] = {}
    for key in config_keys():
        sections.setdefault(key.path.split(".")[0].removesuffix("[]"), []).append(key)
    lines: list[str] = []
    for top, keys in sections.items():
        lines += [f"### `{top}`", ""]
        head, rest = keys[0], keys[1:]
        if head.meaning:
            lines += [head.meaning, ""]
        if not rest:
            lines += [f"Type: {head.type}. Default: {head.default or '-'}.", ""]
            continue
        by_variant: dict[str, list[ConfigKey]] = {}
        for k in rest:
            by_variant.setdefault(k.variant, []).append(k)
        for variant, group in by_variant.items():
            if variant:
                lines += [f"Entries with `{variant}`:", ""]
            lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
            lines += [f"| `{k.path}` | {k.type} | {k.default} | {k.meaning} |" for k in group]
            lines.append("")
    return "\n".join(lines).rstrip()


# -- writing ---------------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- BEGIN GENERATED: {name} ({REGENERATE}; do not edit by hand) -->",
        f"<!-- END GENERATED: {name} -->",
    )


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the generated block ``name`` holding ``body``."""
    begin, end = _markers(name)
    if begin not in text or end not in text:
        raise ValueError(f"no generated block {name!r}: add the lines\n{begin}\n{end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n\n{body}\n\n{end}{tail}"


def generated() -> dict[Path, tuple[str, str]]:
    """Each generated document: path -> (block name, body)."""
    return {
        DOCS / "cli.md": ("cli-reference", cli_reference()),
        DOCS / "configuration.md": ("config-reference", config_reference()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report stale docs (exit status 1)"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, (name, body) in generated().items():
        try:
            old = path.read_text(encoding="utf-8")
            new = replace_block(old, name, body)
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'regenerated'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
