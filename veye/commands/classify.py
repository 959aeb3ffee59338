"""``veye classify`` and ``veye rules explain``: the filter on texts you give it."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click

from veye.app import App
from veye.errors import UsageError
from veye.output import json_lines


@click.command("classify")
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-", required=False)
@click.pass_obj
def classify(app: App, file: TextIO) -> None:
    """Run the filter on JSON lines from FILE (or stdin).

    Each input line: {"id", "title", "text", optional "url", "language"}. Each output line:
    {"id", "alert", "categories", "score", "entities", "evidence", "figures"}. A line that is
    not valid JSON is reported on stderr with its number and skipped; the exit status is then 1.
    """
    flt = app.filter
    bad = 0
    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not a JSON object")
            title, text = str(item.get("title") or ""), str(item.get("text") or "")
        except ValueError as e:
            click.echo(f"veye: line {number}: skipped, not a JSON object: {e}", err=True)
            bad += 1
            continue
        verdict = flt.classify(title, text, item.get("language"))
        out: dict[str, Any] = {"id": item.get("id", number), **verdict.to_dict()}
        json_lines([out])
        sys.stdout.flush()
    if bad:
        sys.exit(1)


@click.group("rules")
def rules_group() -> None:
    """Inspect the filter's rules."""


@rules_group.command("explain")
@click.option("--title", default="", help="The item's title.")
@click.option("--text", "body", default=None, help="The item's text (default: stdin).")
@click.option("--id", "article_id", type=int, default=None, help="A stored item's id instead.")
@click.option("--lang", default=None, help="Language hint (fr, ht, en).")
@click.pass_obj
def explain(
    app: App, title: str, body: str | None, article_id: int | None, lang: str | None
) -> None:
    """Why a text (or a stored item) did or did not alert: the terms, entities, groups,
    vetoes and scores, category by category."""
    if article_id is not None:
        stored = app.store.get(article_id)
        if stored is None:
            raise UsageError(f"no stored item with id {article_id}")
        title, body, lang = stored.title, stored.text, lang or stored.language
    elif body is None:
        if sys.stdin.isatty():
            raise UsageError("give --text, --id, or pipe the text on stdin")
        body = sys.stdin.read()
    click.echo(app.filter.explain(title, body, lang))


COMMANDS = [classify, rules_group]
