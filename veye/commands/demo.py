"""``veye demo``: the whole pipeline, offline, on bundled sample news."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from veye.app import App
from veye.commands.search import search_command
from veye.crawl import CrawlSummary, SourceOutcome
from veye.demo import (
    CATEGORIES,
    DeliveryReport,
    DemoEnvironment,
    ReceivedEmail,
    ReceivedWebhook,
    crawl,
    deliver,
    demo_environment,
    flagged_stories,
)
from veye.output import console, table

#: What the search step looks for: the prison stories, flagged or not, in three languages.
SEARCH_EXAMPLE = "prison* OR prizon*"
STEPS = 5


@click.command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Keep the demo's config and database in DIR (new or empty) to explore afterwards.",
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Pause between steps (default: only when the output is a terminal).",
)
def demo(keep: Path | None, interactive: bool | None) -> None:
    """See veye do its whole job on sample news, offline, in a minute.

    Serves five invented outlets (French, Haitian Creole and English; RSS and Atom) from
    127.0.0.1, with a local SMTP server and webhook receiver standing in for your mail and
    chat. Crawls, filters, clusters and delivers through the same code as `veye crawl` and
    `veye run`, then shows the alerts as they arrived and a search. Your own config and
    database are never touched: everything lives in a temporary folder, removed at the end
    unless you give --keep DIR."""
    out = console()
    if interactive is None:
        interactive = out.is_terminal and sys.stdin.isatty()
    show = _Show(out, interactive)
    show.intro()
    with demo_environment(keep) as env:
        show.setup(env)
        app = App(env.config_path)
        try:
            problems = _run(show, env, app)
        finally:
            app.close()
    show.outro(env)
    if problems:
        click.echo(f"veye: error: the demo did not go through: {'; '.join(problems)}", err=True)
        sys.exit(1)


def _run(show: _Show, env: DemoEnvironment, app: App) -> list[str]:
    """The steps after the stage is set; what went wrong, if anything."""
    show.step(2, "Crawl: fetch, read, filter, store (what `veye crawl` does)")
    summary = show.crawl(app)
    pages = env.site.article_pages_fetched()
    show.say(
        f"{len(summary.outcomes)} feeds read; {pages} article pages fetched for the full text "
        "of items whose feed carries only a summary."
    )
    show.step(3, "What the filter flagged: one story per event, however many outlets")
    show.flagged(app)
    show.step(4, "Alerts: the outbox delivered by email and webhook (what `veye run` does)")
    report = deliver(app)
    show.delivery(report, env)
    show.step(5, "Search everything stored (what `veye search` does)")
    show.search(app, env)
    problems = []
    if summary.failed:
        problems.append(f"{summary.failed} sample feeds failed (see the crawl above)")
    if report.failed or report.retrying or not env.smtp.received:
        problems.append("alerts were not all delivered (see step 4)")
    if any(not h.verified for h in env.webhook.received):
        problems.append("a webhook failed its signature check")
    return problems


class _Show:
    """The demo's narration: steps, tables, pauses."""

    def __init__(self, out: Console, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive

    def say(self, text: str) -> None:
        self.out.print(text)

    def pause(self) -> None:
        if self.interactive:
            click.pause(click.style("Press any key for the next step...", dim=True))

    def step(self, number: int, title: str) -> None:
        if number > 1:
            self.pause()
        self.out.print()
        self.out.rule(f"[bold]{number}/{STEPS}  {escape(title)}", align="left")

    def intro(self) -> None:
        self.out.print(
            "[bold]veye demo[/]: the whole pipeline on invented sample news, offline. "
            "Everything runs on 127.0.0.1 and is removed at the end."
        )

    def setup(self, env: DemoEnvironment) -> None:
        self.step(1, "The stage: sample outlets, a mail server and a webhook receiver")
        outlets = env.site.outlets
        items = sum(len(o.items) for o in outlets)
        self.out.print(
            table(
                None,
                ["outlet", "lang", "feed", "items", "full text"],
                (
                    (
                        o.title,
                        o.language,
                        o.feed.removeprefix(env.site.base),
                        len(o.items),
                        f"{sum(i.full for i in o.items)} in feed",
                    )
                    for o in outlets
                ),
                justify={"items": "right"},
            )
        )
        self.out.print(
            f"{len(outlets)} outlets, {items} items: prison breaks, gang attacks and a "
            "kidnapping in Haiti, one agency story copied by other outlets, and noise (sport, "
            "politics, a jailbreak abroad, a ransomware gang...).\n"
            f"Sample site: {env.site.base}/\n"
            f"SMTP server (channel [bold]desk[/]): 127.0.0.1:{env.smtp.port}\n"
            f"Webhook receiver (channel [bold]ops[/], checks the signature): {env.webhook.url}\n"
            f"Config: {env.config_path}  (routes {', '.join(CATEGORIES)} to both channels)"
        )

    def crawl(self, app: App) -> CrawlSummary:
        with Progress(
            TextColumn("[bold]crawling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.out,
            disable=not self.out.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=len(app.settings.sources))

            def advance(o: SourceOutcome) -> None:
                progress.update(task, advance=1, description=o.source)
                state = "[red]error[/]" if o.state == "error" else o.state
                note = f": {escape(o.error)}" if o.error else ""
                progress.console.print(
                    f"  {o.source:<18} {state}{note}  {o.new} new, {o.alerts} flagged "
                    f"({o.elapsed:.1f}s)"
                )

            summary = crawl(app, on_result=advance)
        self.out.print(
            f"{summary.total('new')} items stored, {summary.total('alerts')} flagged by the "
            f"filter, {summary.failed} sources failed."
        )
        return summary

    def flagged(self, app: App) -> None:
        stories = flagged_stories(app)
        if not stories:
            self.out.print("[red]The filter flagged nothing.[/]")
            return
        self.out.print(
            table(
                None,
                ["story", "categories", "items", "outlets"],
                ((escape(s.title), ", ".join(s.categories), s.items, s.outlets) for s in stories),
                justify={"items": "right", "outlets": "right"},
            )
        )
        self.out.print(
            "Copies and other reports of the same event join one story, which owes one alert."
        )

    def delivery(self, report: DeliveryReport, env: DemoEnvironment) -> None:
        self.out.print(
            f"Dispatcher: {report.sent} alerts sent, {report.retrying} to retry, "
            f"{report.failed} failed."
        )
        for error in report.errors:
            self.out.print(f"  [red]{escape(error)}[/]")
        emails, hooks = list(env.smtp.received), list(env.webhook.received)
        self.out.print(
            f"Received: {len(emails)} emails by the SMTP server, {len(hooks)} webhooks by the "
            "receiver."
        )
        if emails:
            self._email(emails[0])
        if hooks:
            self._webhook(hooks[0])
        rest = [("email", _subject(m)) for m in emails[1:]] + [
            ("webhook", _headline(h) + ("  ✓" if h.verified else "  ✗")) for h in hooks[1:]
        ]
        if rest:
            self.out.print(
                table(
                    "Also received",
                    ["by", "what"],
                    ((by, escape(what)) for by, what in rest),
                )
            )

    def _email(self, mail: ReceivedEmail) -> None:
        m = mail.message
        body = m.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else "(no text part)"
        self.out.rule("email received by the SMTP server", align="left", style="dim")
        for key in ("From", "To", "Date", "Subject"):
            if m[key] is not None:
                self.out.print(f"[bold]{key}:[/] {escape(str(m[key]))}")
        self.out.print()
        self.out.print(escape(text.strip()))
        self.out.rule(style="dim")

    def _webhook(self, hook: ReceivedWebhook) -> None:
        self.out.rule("webhook received", align="left", style="dim")
        try:
            shown = compact_json(json.loads(hook.body), width=self.out.width)
        except ValueError:
            shown = hook.body.decode("utf-8", "replace")
        self.out.print(escape(shown))
        self.out.rule(style="dim")
        if hook.verified:
            self.out.print(
                "[green]signature verified ✓[/] (X-Veye-Signature matches the shared secret)"
            )
        else:
            self.out.print(f"[red]signature check failed ✗[/]: {escape(hook.problem or '')}")

    def search(self, app: App, env: DemoEnvironment) -> None:
        self.out.print(f'$ veye --config {env.config_path} search "{SEARCH_EXAMPLE}"')
        # The real command, run against the demo's database.
        with click.Context(search_command, info_name="search", obj=app) as ctx:
            ctx.invoke(search_command, query=SEARCH_EXAMPLE)
        self.out.print(
            "The flag column is the filter's verdict: not every prison in the news is a "
            "prison break."
        )

    def outro(self, env: DemoEnvironment) -> None:
        self.out.print()
        if env.temporary:
            self.out.print(
                f"Done. Servers stopped; {env.workdir} removed. Your own config and database "
                "were not touched."
            )
        else:
            self.out.print(
                f"Done. Servers stopped; config and database kept in {env.workdir}:\n"
                f"  veye --config {env.config_path} search Mirebalais\n"
                "(its sample servers are gone, so a crawl there fails: that is expected)"
            )
        self.out.print(
            "Next: `veye init` writes a config for the real Haitian outlets; "
            "docs/configuration.md explains every key."
        )


def compact_json(value: Any, *, width: int = 100, indent: int = 0, used: int = 0) -> str:
    """JSON indented by two, with any object or list that fits on the rest of its line kept
    on one line: readable, and short enough for a terminal. ``used``: columns already taken
    on the first line (by the key)."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or max(indent, used) + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        inner = [pad + compact_json(v, width=width, indent=indent + 2) for v in value]
    else:
        inner = []
        for k, v in value.items():
            key = json.dumps(str(k), ensure_ascii=False) + ": "
            nested = compact_json(v, width=width, indent=indent + 2, used=len(pad) + len(key))
            inner.append(pad + key + nested)
    open_, close = ("[", "]") if isinstance(value, list) else ("{", "}")
    return open_ + "\n" + ",\n".join(inner) + "\n" + " " * indent + close


def _subject(mail: ReceivedEmail) -> str:
    return str(mail.message["Subject"] or "(no subject)")


def _headline(hook: ReceivedWebhook) -> str:
    try:
        data = json.loads(hook.body)
    except ValueError:
        return "(not JSON)"
    if isinstance(data, dict):
        return str(data.get("headline") or data.get("event") or "(no headline)")
    return "(unexpected JSON)"


COMMANDS = [demo]
