"""Terminal output: rich tables on a terminal, plain text when piped, JSON lines on request."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def console(stderr: bool = False) -> Console:
    """A console that colours only a terminal and honours ``NO_COLOR``."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
        soft_wrap=not stream.isatty(),
    )


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    return value


def json_lines(rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(to_jsonable(row), ensure_ascii=False) + "\n")


def csv_rows(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in to_jsonable(row).items()})


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    justify: Mapping[str, str] | None = None,
) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for col in columns:
        t.add_column(
            col,
            justify=(justify or {}).get(col, "left"),  # type: ignore[arg-type]
            overflow="fold",
        )
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def local_time(value: datetime | None) -> str:
    """A UTC time shown in the user's zone."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")
