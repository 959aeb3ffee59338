"""What ``veye demo`` runs on: invented outlets served from 127.0.0.1, an SMTP sink and a
webhook sink standing in for the user's mail and chat, and a config pointing veye at them.

::

    with demo_environment() as env:          # servers up, config written, temp dir made
        app = App(env.config_path)
        summary = crawl(app)                 # the same crawl_once as `veye crawl`
        delivery = deliver(app)              # one pass of the real dispatcher
        env.smtp.received, env.webhook.received
    # servers stopped, temp dir gone

Nothing here fakes a result: the sinks record only what arrived over a socket.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import re
import secrets
import shutil
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller
from markupsafe import Markup

from crawler.fetch import Fetcher
from storage.schema import clusters
from veye.app import App
from veye.crawl import CrawlSummary, SourceOutcome, crawl_once
from veye.errors import UsageError
from veye.units import parse_duration

__all__ = [
    "CATEGORIES",
    "DeliveryReport",
    "DemoEnvironment",
    "FlaggedStory",
    "ReceivedEmail",
    "ReceivedWebhook",
    "SampleItem",
    "SampleOutlet",
    "SampleSite",
    "SmtpSink",
    "WebhookSink",
    "crawl",
    "deliver",
    "demo_environment",
    "flagged_stories",
    "load_outlets",
    "sign",
    "verify_signature",
]

#: What the demo's route sends to both channels.
CATEGORIES = ("prison_break", "gang_attack")
#: Header carrying ``v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``.
SIGNATURE_HEADER = "X-Veye-Signature"
TIMESTAMP_HEADER = "X-Veye-Timestamp"
#: Seconds a signed request stays acceptable; older ones may be replays.
MAX_SIGNATURE_AGE = 300.0
#: Passes of the dispatcher before the demo stops waiting for the outbox to drain.
MAX_DISPATCH_PASSES = 10

_LOOPBACK = "127.0.0.1"


# -- sample data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleItem:
    """One invented news item as its outlet publishes it."""

    slug: str
    title: str
    section: str
    author: str
    summary: str
    #: Paragraphs of the article.
    paragraphs: tuple[str, ...]
    published: datetime
    #: Whether the feed carries the full text, or only the summary.
    full: bool
    url: str
    path: str

    @property
    def body_html(self) -> Markup:
        return Markup("\n").join(Markup("<p>{}</p>").format(p) for p in self.paragraphs)


@dataclass(frozen=True, slots=True)
class SampleOutlet:
    """One invented outlet: its feed, its pages' boilerplate and its items."""

    name: str
    title: str
    language: str
    #: ``rss`` (RSS 2.0) or ``atom``.
    format: str
    tagline: str
    site: Mapping[str, Any]
    home: str
    feed: str
    items: tuple[SampleItem, ...]

    @property
    def feed_type(self) -> str:
        return "application/atom+xml" if self.format == "atom" else "application/rss+xml"


def _data() -> Traversable:
    return files("veye").joinpath("demo_data")


def _read_yaml(node: Traversable) -> dict[str, Any]:
    data = yaml.safe_load(node.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{node.name}: not a mapping")
    return data


def _paragraphs(body: str) -> tuple[str, ...]:
    return tuple(" ".join(p.split()) for p in re.split(r"\n\s*\n", body.strip()) if p.strip())


def load_outlets(base: str, now: datetime) -> tuple[SampleOutlet, ...]:
    """The bundled outlets with their links under ``base`` and their dates before ``now``."""
    data = _data()
    wire = _read_yaml(data.joinpath("wire.yaml"))
    outlets = []
    nodes = sorted(data.joinpath("outlets").iterdir(), key=lambda n: n.name)
    for node in (n for n in nodes if n.name.endswith(".yaml")):
        raw = _read_yaml(node)
        name = str(raw["name"])
        home = f"{base}/{name}/"
        items = []
        for entry in raw["items"]:
            story = wire[entry["wire"]] if "wire" in entry else {}
            published = now - timedelta(seconds=parse_duration(str(entry["ago"])))
            path = f"/{name}/{published:%Y/%m}/{entry['slug']}/"
            items.append(
                SampleItem(
                    slug=str(entry["slug"]),
                    title=str(entry["title"]),
                    section=str(entry["section"]),
                    author=str(entry.get("author") or story.get("author") or raw["title"]),
                    summary=" ".join(str(entry.get("summary") or story["summary"]).split()),
                    paragraphs=_paragraphs(str(entry.get("body") or story["body"])),
                    published=published,
                    full=bool(entry.get("full", raw.get("full", True))),
                    url=base + path,
                    path=path,
                )
            )
        outlets.append(
            SampleOutlet(
                name=name,
                title=str(raw["title"]),
                language=str(raw["language"]),
                format=str(raw["format"]),
                tagline=str(raw["tagline"]),
                site=dict(raw["site"]),
                home=home,
                feed=f"{home}feed.xml",
                items=tuple(sorted(items, key=lambda i: i.published, reverse=True)),
            )
        )
    return tuple(outlets)


def _templates() -> jinja2.Environment:
    node = _data().joinpath("templates")
    sources = {t.name: t.read_text(encoding="utf-8") for t in node.iterdir() if t.is_file()}
    env = jinja2.Environment(
        loader=jinja2.DictLoader(sources),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = lambda d: format_datetime(d.astimezone(UTC), usegmt=True)
    env.filters["iso"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env.filters["day"] = lambda d: d.astimezone(UTC).strftime("%d/%m/%Y %H:%M")
    env.filters["slug"] = _slug
    return env


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def render_site(outlets: Sequence[SampleOutlet], now: datetime) -> dict[str, tuple[str, bytes]]:
    """Every page of the sample site: path -> (content type, body)."""
    env = _templates()
    pages: dict[str, tuple[str, bytes]] = {
        "/robots.txt": ("text/plain; charset=utf-8", b"User-agent: *\nAllow: /\n"),
    }
    for o in outlets:
        feed = env.get_template("atom.xml" if o.format == "atom" else "rss.xml")
        pages[f"/{o.name}/feed.xml"] = (
            f"{o.feed_type}; charset=utf-8",
            feed.render(outlet=o, items=o.items, now=now).encode(),
        )
        html = "text/html; charset=utf-8"
        pages[f"/{o.name}/"] = (
            html,
            env.get_template("home.html").render(outlet=o, items=o.items).encode(),
        )
        article = env.get_template("article.html")
        for item in o.items:
            related = [i for i in o.items if i is not item][:4]
            pages[item.path] = (html, article.render(outlet=o, item=item, related=related).encode())
    return pages


# -- servers ---------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__((_LOOPBACK, 0), handler)
        self.owner = owner


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """The demo's output is the story of the pipeline, not an access log."""

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Background:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread."""

    handler: type[_Quiet]

    def __init__(self) -> None:
        self._httpd: _Server | None = None
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{_LOOPBACK}:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._httpd = _Server(self.handler, self)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _SiteHandler(_Quiet):
    def do_GET(self) -> None:
        site: SampleSite = self.server.owner
        path = self.path.split("?", 1)[0]
        with site.lock:
            site.hits[path] += 1
        page = site.pages.get(path)
        if page is None:
            self.reply(404, "text/plain; charset=utf-8", b"not found\n")
        else:
            self.reply(200, *page)


class SampleSite(_Background):
    """Serves the bundled outlets' feeds, home pages and article pages."""

    handler = _SiteHandler

    def __init__(self, now: datetime) -> None:
        super().__init__()
        self.now = now
        self.outlets: tuple[SampleOutlet, ...] = ()
        self.pages: dict[str, tuple[str, bytes]] = {}
        #: Requests per path.
        self.hits: Counter[str] = Counter()

    def start(self) -> None:
        super().start()
        # Links are absolute, so the pages are rendered once the port is known.
        self.outlets = load_outlets(self.base, self.now)
        self.pages = render_site(self.outlets, self.now)

    def article_pages_fetched(self) -> int:
        """How many article pages veye asked for (to read the full text of an item)."""
        paths = {i.path for o in self.outlets for i in o.items}
        with self.lock:
            return sum(1 for p in self.hits if p in paths)


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    """One POST the webhook sink received."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    #: The signature matched the shared secret.
    verified: bool
    #: Why it did not, when it did not.
    problem: str | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-Veye-Signature`` for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = MAX_SIGNATURE_AGE,
) -> str | None:
    """``None`` when the request is signed with ``secret`` and recent, else what is wrong:
    the check docs/webhooks.md asks of a receiver of veye's webhooks."""
    lower = {k.lower(): v for k, v in headers.items()}
    given = lower.get(SIGNATURE_HEADER.lower())
    if not given:
        return f"no {SIGNATURE_HEADER} header"
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not timestamp.isdigit():
        return f"no usable {TIMESTAMP_HEADER} header"
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance:
        return f"signed {age:.0f}s ago: too old to trust (a replay?)"
    wanted = sign(secret, timestamp, body)
    # A header may carry several signatures (during a secret rotation): any may match.
    if any(hmac.compare_digest(part.strip(), wanted) for part in given.split(",")):
        return None
    return "signature does not match the shared secret"


class _HookHandler(_Quiet):
    def do_POST(self) -> None:
        sink: WebhookSink = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        problem = verify_signature(sink.secret, headers, body)
        with sink.lock:
            sink.received.append(
                ReceivedWebhook(self.path, headers, body, problem is None, problem)
            )
        if problem:
            self.reply(401, "text/plain; charset=utf-8", f"{problem}\n".encode())
        else:
            self.reply(200, "application/json", b'{"ok": true}')


class WebhookSink(_Background):
    """Receives webhooks, checks their signature, keeps them."""

    handler = _HookHandler

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.received: list[ReceivedWebhook] = []

    @property
    def url(self) -> str:
        return f"{self.base}/hook"


@dataclass(frozen=True, slots=True)
class ReceivedEmail:
    """One message the SMTP sink accepted."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage


class _Controller(Controller):
    """aiosmtpd's controller on a port the system picks: it needs the port to check the
    server is up, so it is read from the bound socket first."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it is sent."""

    def __init__(self) -> None:
        self.received: list[ReceivedEmail] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SMTP sink not started")
        return int(self._controller.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook for a message's content."""
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(
                ReceivedEmail(str(envelope.mail_from), tuple(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = _Controller(self, hostname=_LOOPBACK, port=0)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- the demo's run --------------------------------------------------------------------------


@dataclass
class DemoEnvironment:
    """Everything a demo run has set up."""

    workdir: Path
    config_path: Path
    site: SampleSite
    smtp: SmtpSink
    webhook: WebhookSink
    #: Whether ``workdir`` is removed at the end.
    temporary: bool
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


def demo_config(site: SampleSite, smtp: SmtpSink, webhook_url: str, secret_file: Path) -> str:
    """The config of a demo run, as YAML."""
    config = {
        "storage": {"url": "sqlite:///veye.db"},
        "crawl": {
            "user_agent": "veye-demo (+https://github.com/veye-news/veye)",
            "timeout": "10s",
            "per_host_concurrency": 4,
            # The pause between two requests to one host spares real outlets; every sample
            # outlet is on this one loopback host, where it would only slow the demo down.
            "min_delay": "10ms",
            "concurrency": 8,
            "full_text": True,
        },
        "sources": [
            {
                "name": o.name,
                "url": o.feed,
                "kind": "feed",
                "interval": "15m",
                "language": o.language,
            }
            for o in site.outlets
        ],
        "rules": "default",
        "gazetteer": "default",
        "alerts": {
            "channels": [
                {
                    "name": "desk",
                    "type": "email",
                    "host": _LOOPBACK,
                    "port": smtp.port,
                    # In clear, which veye allows only to a loopback server like this one.
                    "security": "none",
                    "from": "veye-demo@localhost",
                    "to": ["desk@localhost"],
                },
                {
                    "name": "ops",
                    "type": "webhook",
                    "url": webhook_url,
                    "secret_file": str(secret_file),
                },
            ],
            "routes": [
                {"categories": list(CATEGORIES), "channels": ["desk", "ops"], "mode": "immediate"}
            ],
        },
    }
    head = (
        "# Written by `veye demo`. The servers it names lived only while the demo ran; this\n"
        "# file and veye.db are kept to explore with `veye --config THIS_FILE search ...`.\n"
    )
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _workdir(keep: Path | None) -> tuple[Path, bool]:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="veye-demo-")), True
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(
            f"--keep {keep}: not an empty folder; give a new or empty one so nothing of "
            "yours is overwritten"
        )
    keep.mkdir(parents=True, exist_ok=True)
    return keep.resolve(), False


@contextmanager
def demo_environment(
    keep: Path | None = None, *, now: datetime | None = None
) -> Iterator[DemoEnvironment]:
    """Start the sample site and both sinks and write a config for them; on exit stop them
    and remove the working folder (unless it is ``keep``)."""
    now = now or datetime.now(UTC)
    workdir, temporary = _workdir(keep)
    try:
        with ExitStack() as stack:
            site = stack.enter_context(SampleSite(now))
            smtp = stack.enter_context(SmtpSink())
            webhook = stack.enter_context(WebhookSink(secrets.token_hex(32)))
            secret_file = workdir / "webhook-secret.txt"
            secret_file.write_text(webhook.secret + "\n", encoding="utf-8")
            secret_file.chmod(0o600)
            config_path = workdir / "config.yaml"
            config_path.write_text(
                demo_config(site, smtp, webhook.url, secret_file), encoding="utf-8"
            )
            yield DemoEnvironment(workdir, config_path, site, smtp, webhook, temporary, now)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def crawl(
    app: App,
    *,
    on_result: Callable[[SourceOutcome], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CrawlSummary:
    """One pass over the demo's sources through :func:`veye.crawl.crawl_once`, as
    ``veye crawl`` makes it: alerts are owed to the outbox as items are stored."""
    settings = app.settings
    return crawl_once(
        app.store,
        app.filter,
        settings.active_sources(),
        fetcher_factory=lambda: Fetcher(settings.crawl.fetch_settings()),
        concurrency=settings.crawl.concurrency,
        on_result=on_result,
        clock=clock,
        planner=app.planner,
        options=settings.crawl.collect_options(),
        clustering=settings.clusters.params(),
    )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What the delivery step did (counts of alerts)."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    #: Each failed or postponed message's error.
    errors: tuple[str, ...] = ()


def deliver(
    app: App, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> DeliveryReport:
    """One pass of the real dispatcher, as ``veye run`` makes them: everything due is sent."""
    summary = app.dispatcher.run_once(clock())
    errors = tuple(f"{o.channel}: {o.error}" for o in summary.outcomes if o.error)
    return DeliveryReport(summary.sent, summary.retrying, summary.failed, errors)


@dataclass(frozen=True, slots=True)
class FlaggedStory:
    """A cluster the filter flagged: one story, however many outlets carried it."""

    title: str
    categories: tuple[str, ...]
    items: int
    outlets: int


def flagged_stories(app: App) -> list[FlaggedStory]:
    """The flagged clusters, most widely carried first."""
    query = (
        sa.select(clusters.c.title, clusters.c.categories, clusters.c["items"], clusters.c.outlets)
        .where(clusters.c.alert.is_(True))
        .order_by(clusters.c.outlets.desc(), clusters.c.id)
    )
    with app.store.engine.connect() as conn:
        return [
            FlaggedStory(r.title, tuple(r.categories.split()), int(r[2]), int(r.outlets))
            for r in conn.execute(query)
        ]
