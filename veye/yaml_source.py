"""YAML with memory of where each value was written, and ``${ENV}`` references filled in."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from veye.errors import ConfigError

Path = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class LoadedYaml:
    """Parsed YAML and the line of every key path in it."""

    data: Any
    lines: Mapping[Path, int]
    origin: str

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest written ancestor."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def where(self, path: Path) -> str:
        line = self.line_of(path)
        return f"{self.origin}, line {line}" if line else self.origin


def format_path(path: Path) -> str:
    """``("sources", 3, "interval")`` → ``sources[3].interval``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(text: str, origin: str) -> LoadedYaml:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{origin}, line {mark.line + 1}" if mark is not None else origin
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from e
    lines: dict[Path, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LoadedYaml(data, lines, origin)


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def expand_env(loaded: LoadedYaml, env: Mapping[str, str] | None = None) -> Any:
    """A copy of the data with ``${VAR}`` (or ``${VAR:-default}``) filled from ``env``.

    A missing variable stops with its name and where it was used. Mappings that say
    ``enabled: false`` are left as written, so a disabled channel needs no secrets."""
    environ = os.environ if env is None else env

    def fill(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            if value.get("enabled") is False:
                return value
            return {k: fill(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:

            def sub(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in environ:
                    return environ[name]
                if default is not None:
                    return default
                raise ConfigError(
                    f"{loaded.where(path)}: {format_path(path)}: environment variable {name} "
                    f"is not set; export {name}=... before starting veye, or disable this entry"
                )

            return _ENV_REF.sub(sub, value)
        return value

    return fill(loaded.data, ())
