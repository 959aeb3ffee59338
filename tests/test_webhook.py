"""The webhook channel against a real receiver on 127.0.0.1: body schema, headers and
signature, every kind of answer, retries on the schedule (injected clock), redaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.channels.base import Message, RefusedError, RetryLaterError
from alerts.channels.render import sample_message
from alerts.channels.webhook import WebhookChannel, WebhookSettings, sign
from alerts.dispatch import Dispatcher, RetryPolicy
from alerts.routing import ChannelPolicy, Planner, Route
from storage import outbox
from storage.records import ClusterChange
from storage.store import Store
from tests.helpers_delivery import (
    NOW,
    Answer,
    Clock,
    Receiver,
    open_store,
    receiving,
    seed_cluster,
)

SECRET = "s3cret-for-tests"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path)
    yield s
    s.close()


_OPEN: list[WebhookChannel] = []


@pytest.fixture(autouse=True)
def _close_channels() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def channel(url: str, clock: Callable[[], dt.datetime] | None = None, **kw: Any) -> WebhookChannel:
    """A webhook channel, closed after the test."""
    settings = WebhookSettings(name="ops", url=url, secret=kw.pop("secret", SECRET), **kw)
    hook = WebhookChannel(settings, clock=clock or (lambda: dt.datetime.now(dt.UTC)))
    _OPEN.append(hook)
    return hook


def owe_one(store: Store) -> outbox.OutboxAlert:
    c, a = seed_cluster(store)
    planner = Planner([Route("r", frozenset({"prison_break"}), ("ops",))], [ChannelPolicy("ops")])
    change = ClusterChange(c, a, "new", True, ("prison_break",), 1, became_alert=True)
    with store.transaction() as conn:
        planner.enqueue(conn, [change], now=NOW)
        (row,) = outbox.list_alerts(conn)
    return row


def documented_verify() -> Callable[..., bool]:
    """The ``verify`` function from docs/webhooks.md, run as a reader would copy it."""
    text = DOCS.read_text("utf-8")
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in c]
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), scope)
    return scope["verify"]  # type: ignore[no-any-return]


def test_an_alert_arrives_signed_with_the_documented_schema(
    store: Store, receiver: Receiver
) -> None:
    row = owe_one(store)
    hook = channel(receiver.url)
    summary = Dispatcher(store.engine, {"ops": hook}, clock=Clock()).run_once()
    assert summary.sent == 1
    (got,) = receiver.received
    h = {k.lower(): v for k, v in got.headers.items()}
    assert h["x-veye-delivery"] == row.delivery_id
    assert h["x-veye-event"] == "alert.new"
    assert h["content-type"] == "application/json; charset=utf-8"
    assert h["x-veye-signature"] == sign(SECRET, h["x-veye-timestamp"], got.body)
    assert documented_verify()(SECRET, got.headers, got.body)
    body = got.json()
    assert body["schema"] == 1
    assert body["event"] == "alert.new"
    assert body["delivery_id"] == row.delivery_id
    assert (
        body["headline"] == "Prison break · Mirebalais (Centre) · Viv Ansanm · 500+ inmates freed"
    )
    assert set(body["cluster"]) >= {"id", "title", "categories", "outlets"}
    assert body["cluster"]["categories"] == ["prison_break"]
    assert body["cluster"]["outlets"][0]["source"] == "nouvelles"
    assert body["item"]["url"] == "https://nouvelles.example/evasion-mirebalais"
    assert {e["name"] for e in body["verdict"]["entities"]} >= {"Mirebalais", "Viv Ansanm"}
    assert body["verdict"]["figures"] == [{"kind": "freed", "value": 500, "at_least": True}]
    assert "evidence" in body["verdict"]
    with store.engine.connect() as conn:
        (attempt,) = outbox.attempts(conn, row.id)
    assert (attempt.status, attempt.reply) == (200, "ok")


def test_the_documented_check_refuses_forged_stale_or_unsigned_requests(
    receiver: Receiver,
) -> None:
    channel(receiver.url).send(sample_message("d-1"))
    (got,) = receiver.received
    verify = documented_verify()
    assert verify(SECRET, got.headers, got.body)
    assert not verify("another secret", got.headers, got.body)
    assert not verify(SECRET, got.headers, got.body.replace(b"Mirebalais", b"Mirbalais"))
    stale = {**got.headers, "X-Veye-Timestamp": str(int(got.headers["X-Veye-Timestamp"]) - 3600)}
    stale["X-Veye-Signature"] = sign(SECRET, stale["X-Veye-Timestamp"], got.body)
    assert not verify(SECRET, stale, got.body)
    unsigned = {k: v for k, v in got.headers.items() if k != "X-Veye-Signature"}
    assert not verify(SECRET, unsigned, got.body)
    # Without a secret no signature is sent.
    channel(receiver.url, secret=None).send(sample_message("d-2"))
    assert "X-Veye-Signature" not in receiver.received[-1].headers


def test_the_signature_is_stripes_scheme() -> None:
    body = b'{"a":1}'
    mac = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", 1700000000, body) == f"v1={mac}"


def test_retries_follow_the_schedule_with_the_same_delivery_id(
    store: Store, receiver: Receiver
) -> None:
    row = owe_one(store)
    receiver.answer(Answer(500, b"oops"), Answer(503, b"busy"))
    clock = Clock()
    d = Dispatcher(
        store.engine,
        {"ops": channel(receiver.url, clock)},
        clock=clock,
        policy=RetryPolicy(first_delay=30, jitter=0),
    )
    assert d.run_once().retrying == 1
    clock.advance(29)
    assert d.run_once().outcomes == ()
    clock.advance(1)
    assert d.run_once().retrying == 1
    clock.advance(60)
    assert d.run_once().sent == 1
    assert len(receiver.received) == 3
    assert {r.headers["X-Veye-Delivery"] for r in receiver.received} == {row.delivery_id}
    stamps = [int(r.headers["X-Veye-Timestamp"]) for r in receiver.received]
    assert stamps == [int(NOW.timestamp()) + s for s in (0, 30, 90)]
    for r in receiver.received:  # each attempt is signed for its own timestamp
        assert r.headers["X-Veye-Signature"] == sign(SECRET, r.headers["X-Veye-Timestamp"], r.body)
    with store.engine.connect() as conn:
        tries = outbox.attempts(conn, row.id)
    assert [(t.outcome, t.status) for t in tries] == [("retry", 500), ("retry", 503), ("sent", 200)]
    assert "oops" in (tries[0].error or "")


def test_429_honours_retry_after(store: Store, receiver: Receiver) -> None:
    row = owe_one(store)
    receiver.answer(Answer(429, b"slow down", {"Retry-After": "120"}))
    clock = Clock()
    Dispatcher(store.engine, {"ops": channel(receiver.url, clock)}, clock=clock).run_once()
    with store.engine.connect() as conn:
        after = outbox.get(conn, row.id)
    assert after
    assert after.state == "pending"
    assert after.next_attempt_at == NOW + dt.timedelta(seconds=120)


def test_retry_after_as_an_http_date() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "Mon, 04 Mar 2024 15:25:00 GMT"})

    hook = WebhookChannel(
        WebhookSettings("ops", "https://hooks.example.org/x"),
        transport=httpx.MockTransport(handler),
        clock=lambda: NOW,
    )
    _OPEN.append(hook)
    with pytest.raises(RetryLaterError) as err:
        hook.send(sample_message("d"))
    assert err.value.retry_after == 300.0


def test_other_4xx_fail_at_once_with_the_body(store: Store, receiver: Receiver) -> None:
    row = owe_one(store)
    receiver.answer(Answer(422, b'{"error": "unknown field cluster"}'))
    summary = Dispatcher(store.engine, {"ops": channel(receiver.url)}, clock=Clock()).run_once()
    assert summary.failed == 1
    with store.engine.connect() as conn:
        after = outbox.get(conn, row.id)
    assert after
    assert after.state == "failed"
    assert "HTTP 422" in (after.last_error or "")
    assert "unknown field cluster" in (after.last_error or "")
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(delay=1.5), "no answer within 0.3s"),
        (Answer(hang_up=True), "connection failed"),
        (Answer(502, b"bad gateway"), "HTTP 502"),
    ],
    ids=["slow", "hang-up", "502"],
)
def test_slow_closed_and_failing_servers_are_retried(
    receiver: Receiver, answer: Answer, expected: str
) -> None:
    receiver.answer(answer)
    with pytest.raises(RetryLaterError, match=re.escape(expected)):
        channel(receiver.url, timeout=0.3).send(sample_message("d"))


def test_a_closed_port_is_retried() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetryLaterError, match="connection failed"):
        channel(f"http://127.0.0.1:{port}/hook", timeout=1).send(sample_message("d"))


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer(Answer(301, b"", {"Location": "http://127.0.0.1:1/elsewhere"}))
    with pytest.raises(RefusedError, match="redirects are not followed"):
        channel(receiver.url).send(sample_message("d"))
    assert len(receiver.received) == 1


def test_secrets_never_appear_in_errors(receiver: Receiver) -> None:
    url = receiver.url + "/T0KEN-in-the-path?key=abc123"
    receiver.answer(Answer(403, f"bad signature for {SECRET} at /hook/T0KEN-in-the-path".encode()))
    with pytest.raises(RefusedError) as err:
        channel(url).send(sample_message("d"))
    text = str(err.value) + str(err.value.reply)
    assert SECRET not in text
    assert "T0KEN" not in text
    assert "abc123" not in text
    assert "HTTP 403" in text
    assert "127.0.0.1" in text
    assert SECRET not in repr(WebhookSettings("ops", url, secret=SECRET))


def test_a_slack_payload_is_text(receiver: Receiver) -> None:
    hook = channel(receiver.url, payload="slack")
    message = sample_message("d-slack")
    hostile = dict(message.alerts[0].payload)
    hostile["item"] = {**hostile["item"], "title": "<!channel> & <b>bold</b> | pipe"}
    msg = Message("d-slack", "alert.new", (message.alerts[0].__class__("alert.new", hostile, NOW),))
    hook.send(msg)
    body = receiver.received[-1].json()
    assert list(body) == ["text"]
    assert "*Prison break · Mirebalais (Centre) · Viv Ansanm · 500+ inmates freed*" in body["text"]
    assert "&lt;!channel&gt; &amp; &lt;b&gt;bold&lt;/b&gt; ¦ pipe" in body["text"]
    assert "<!channel>" not in body["text"]
    assert receiver.received[-1].headers["X-Veye-Delivery"] == "d-slack"
