"""Terminal output: rich tables on a terminal, plain text when piped, JSON lines on request."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text


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


def json_lines(rows: Iterable[Mapping[str, Any]], out: TextIO | None = None) -> None:
    """One JSON object per line, to ``out`` (default stdout)."""
    stream = out or sys.stdout
    for row in rows:
        stream.write(json.dumps(to_jsonable(row), ensure_ascii=False) + "\n")


def csv_rows(
    columns: Sequence[str], rows: Iterable[Mapping[str, Any]], out: TextIO | None = None
) -> None:
    """CSV with a header row, lists joined with ``; ``, to ``out`` (default stdout)."""
    writer = csv.DictWriter(out or sys.stdout, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in to_jsonable(row).items()})


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


#: Columns no wider than this (names, times, counts, states) are never wrapped.
_SHORT = 24
#: Width the main (text) column should get at least before short columns are wrapped too.
_MAIN_MIN = 20


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    justify: Mapping[str, str] | None = None,
) -> Table:
    """A table that reads well on a narrow terminal: no vertical rules, short columns kept
    whole (a source name or a time is never cut in two), the widest column (the text) given
    what is left, and rows of several lines set apart by a blank line."""
    body = [tuple("" if v is None else str(v) for v in row) for row in rows]
    widths = [
        max([_width(col), *(_width(row[i]) for row in body)]) for i, col in enumerate(columns)
    ]
    main = max(range(len(columns)), key=widths.__getitem__, default=-1)
    t = _FittingTable(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        show_lines=any("\n" in cell for row in body for cell in row),
        expand=False,
    )
    for i, col in enumerate(columns):
        align: Any = (justify or {}).get(col, "left")
        if i == main:
            t.add_column(col, justify=align, overflow="fold")
            t.main_min = _longest_word(body, i)
        elif widths[i] > _SHORT:
            # Wrapped, but never narrower than its longest word.
            longest = _longest_word(body, i)
            t.add_column(
                col,
                justify=align,
                overflow="fold",
                max_width=_SHORT,
                min_width=min(longest, _SHORT),
            )
        else:
            t.add_column(col, justify=align, no_wrap=True)
    for row in body:
        t.add_row(*row)
    return t


class _FittingTable(Table):
    """Keeps short columns whole while the table fits the width; on a terminal too narrow
    for that, lets every column wrap rather than run off the edge."""

    #: Width of the longest word of the main (widest) column.
    main_min = 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # The main column's own minimum (its longest word) may be a long URL; what matters
        # is whether it keeps _MAIN_MIN columns once the short ones are whole.
        least = self.__rich_measure__(console, options).minimum - self.main_min + _MAIN_MIN
        if least > options.max_width:
            for column in self.columns:
                column.no_wrap = False
                column.min_width = None
                column.overflow = "fold"
        yield from super().__rich_console__(console, options)


def _longest_word(body: Sequence[Sequence[str]], column: int) -> int:
    return max((_width(w) for row in body for w in row[column].split()), default=0)


def _width(cell: str) -> int:
    """Terminal width of the longest line of ``cell`` (rich markup left out)."""
    try:
        text = Text.from_markup(cell)
    except MarkupError:
        text = Text(cell)
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def local_time(value: datetime | None) -> str:
    """A UTC time shown in the user's zone."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")
