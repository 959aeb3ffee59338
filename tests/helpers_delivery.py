"""Shared by the delivery tests: a real webhook receiver and real SMTP servers on 127.0.0.1,
a self-signed certificate, a settable clock, and an outbox seeded with stored clusters."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storage.schema import article_sources, articles, clusters
from storage.store import Store

UTC = dt.UTC
NOW = dt.datetime(2024, 3, 4, 15, 20, tzinfo=UTC)

#: A verdict as ``articles.verdict`` stores it.
PRISON_VERDICT: dict[str, Any] = {
    "alert": True,
    "categories": ["prison_break"],
    "score": 3.5,
    "entities": [
        {"kind": "prison", "name": "Prison civile de Mirebalais", "department": "Centre"},
        {"kind": "place", "name": "Mirebalais", "department": "Centre"},
        {"kind": "gang", "name": "Viv Ansanm", "department": None},
    ],
    "evidence": [{"category": "prison_break", "term": "évasion", "surface": "Évasion"}],
    "figures": [{"kind": "freed", "value": 500, "at_least": True}],
}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


# -- outbox seeding -------------------------------------------------------------------------


def open_store(tmp_path: Path, name: str = "veye.db") -> Store:
    return Store.open(f"sqlite:///{tmp_path / name}")


def seed_cluster(
    store: Store,
    *,
    title: str = "Évasion à la prison civile de Mirebalais",
    outlets: Sequence[str] = ("nouvelles",),
    verdict: dict[str, Any] | None = None,
    url: str = "https://nouvelles.example/evasion-mirebalais",
    summary: str = "Plus de 500 détenus se sont évadés de la prison civile de Mirebalais.",
    now: dt.datetime = NOW,
) -> tuple[int, int]:
    """A stored cluster with one alerted item carried by ``outlets``: ``(cluster, article)``."""
    verdict = PRISON_VERDICT if verdict is None else verdict
    cats = " ".join(verdict.get("categories", ()))
    with store.transaction() as conn:
        cluster_id = int(
            conn.execute(
                clusters.insert()
                .returning(clusters.c.id)
                .values(
                    created_at=now,
                    updated_at=now,
                    title=title,
                    alert=bool(verdict.get("alert")),
                    categories=f" {cats} ",
                    items=1,
                    outlets=len(outlets),
                )
            ).scalar_one()
        )
        article_id = int(
            conn.execute(
                articles.insert()
                .returning(articles.c.id)
                .values(
                    key=f"k{cluster_id}-{abs(hash(url)) % 10**8}",
                    source=outlets[0],
                    url=url,
                    canonical_url=url,
                    guid=None,
                    title=title,
                    summary=summary,
                    text=summary,
                    language="fr",
                    published_at=now,
                    authors=[],
                    content_hash="h",
                    first_seen_at=now,
                    updated_at=now,
                    revisions=0,
                    salvaged=False,
                    alert=bool(verdict.get("alert")),
                    categories=f" {cats} ",
                    score=float(verdict.get("score", 0)),
                    verdict=verdict,
                    cluster_id=cluster_id,
                )
            ).scalar_one()
        )
        for i, outlet in enumerate(outlets):
            conn.execute(
                article_sources.insert().values(
                    article_id=article_id,
                    source=outlet,
                    url=url.replace("nouvelles.example", f"{outlet}.example"),
                    first_seen_at=now + dt.timedelta(seconds=i),
                )
            )
    return cluster_id, article_id


def add_outlet(store: Store, article_id: int, outlet: str, now: dt.datetime = NOW) -> int:
    """One more outlet carries the item; returns the cluster's outlet count."""
    with store.transaction() as conn:
        conn.execute(
            article_sources.insert().values(
                article_id=article_id,
                source=outlet,
                url=f"https://{outlet}.example/story",
                first_seen_at=now,
            )
        )
        cluster_id = conn.execute(
            sa.select(articles.c.cluster_id).where(articles.c.id == article_id)
        ).scalar_one()
        n = conn.execute(
            sa.select(sa.func.count(sa.distinct(article_sources.c.source)))
            .select_from(
                article_sources.join(articles, articles.c.id == article_sources.c.article_id)
            )
            .where(articles.c.cluster_id == cluster_id)
        ).scalar_one()
        conn.execute(clusters.update().where(clusters.c.id == cluster_id).values(outlets=n))
    return int(n)


# -- a webhook receiver ---------------------------------------------------------------------


@dataclass
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering.
    delay: float = 0.0
    #: Close the connection without answering.
    hang_up: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: What the receiver answered (0: it hung up).
    status: int = 200

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers from a script (then ``default``), records
    every request it read in full."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.default = Answer()
        self.received: list[Received] = []
        self.on_receive: Callable[[Received], None] | None = None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                with receiver._lock:
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                    got = Received(
                        self.path,
                        dict(self.headers.items()),
                        body,
                        0 if answer.hang_up else answer.status,
                    )
                    receiver.received.append(got)
                if receiver.on_receive is not None:
                    receiver.on_receive(got)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    self.connection.close()
                    return
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


@contextmanager
def receiving() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


# -- SMTP servers ---------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        #: SMTP reply to DATA, e.g. ``"451 4.3.0 try later"``; ``None`` accepts.
        self.reply: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 2.0.0 Ok: queued as TEST"

    def parsed(self, i: int = -1) -> EmailMessage:
        msg = email.message_from_bytes(self.messages[i][2], policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
    auth_require_tls: bool = True,
) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1: ``(mailbox, port)``."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if auth is not None:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            ok = (
                data is not None
                and data.login.decode() == auth[0]
                and data.password.decode() == auth[1]
            )
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_require_tls=auth_require_tls)
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=implicit_tls,
        server_hostname="127.0.0.1",
        **kwargs,
    )
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's controller needs one up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: ``(cert.pem, key.pem)``. The
    certificate is its own CA, so a client can trust it with ``ca_file``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veye test")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx
