"""Alerts by webhook: a signed JSON POST (schema in ``docs/webhooks.md``), or a Slack-compatible
``{"text": ...}`` body.

Headers (contract): ``X-Veye-Delivery`` (the same on every retry), ``X-Veye-Timestamp`` (Unix
seconds) and ``X-Veye-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``. Redirects
are not followed, every request has a deadline, and neither the secret nor the URL's path (which
often is a secret too) appears in an error."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from alerts.channels.base import (
    Message,
    OutgoingAlert,
    RefusedError,
    RetryLaterError,
    SendResult,
)
from alerts.channels.render import Templates, headline, one_line
from alerts.errors import AlertsError

__all__ = ["SCHEMA_VERSION", "WebhookChannel", "WebhookSettings", "body_of", "sign"]

#: The version of the JSON body, sent as ``"schema"``; bumped only for incompatible changes.
SCHEMA_VERSION = 1
#: Most of a response body kept for the delivery log.
_REPLY_BYTES = 64 * 1024
_REPLY_CHARS = 500


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where and how to POST alerts."""

    name: str
    url: str
    secret: str | None = field(default=None, repr=False)
    #: ``veye`` (the documented JSON schema) or ``slack`` (``{"text": ...}``).
    payload: Literal["veye", "slack"] = "veye"
    #: Seconds for the whole exchange.
    timeout: float = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    user_agent: str = "veye/0.1"


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Veye-Signature`` value: ``v1=`` and the hex HMAC-SHA256 of
    ``"<timestamp>.<raw body>"`` keyed with the channel's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _alert_body(alert: OutgoingAlert) -> dict[str, Any]:
    p = alert.payload
    out: dict[str, Any] = {
        "event": alert.event,
        "created_at": alert.created_at.astimezone(UTC).isoformat(),
        "headline": headline(p),
        "cluster": p.get("cluster"),
        "item": p.get("item"),
        "verdict": p.get("verdict"),
    }
    if alert.event == "alert.update" and p.get("update"):
        out["update"] = p["update"]
    return out


def body_of(message: Message) -> dict[str, Any]:
    """The ``veye`` JSON body of ``message`` (schema 1)."""
    head = {"schema": SCHEMA_VERSION, "event": message.event, "delivery_id": message.delivery_id}
    if message.is_digest:
        return {**head, "alerts": [_alert_body(a) for a in message.alerts]}
    alert = _alert_body(message.alerts[0])
    alert.pop("event")
    return {**head, **alert}


class WebhookChannel:
    """POSTs each message to one URL."""

    def __init__(
        self,
        settings: WebhookSettings,
        templates: Templates | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertsError(f"channel {settings.name}: url must be an http:// or https:// URL")
        self.settings = settings
        self._templates = templates
        self.clock = clock
        #: The URL as errors and logs show it: host only, path hidden.
        self.shown_url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" + (
            "/…" if parts.path.strip("/") or parts.query else "/"
        )
        verify: Any = True
        if not settings.verify_tls:
            verify = False
        elif settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout),
            verify=verify,
            transport=transport,
            headers={"User-Agent": settings.user_agent},
        )

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self._client.close()

    def body(self, message: Message) -> bytes:
        """The raw body sent for ``message`` (the bytes the signature covers)."""
        if self.settings.payload == "slack":
            try:
                if self._templates is None:
                    self._templates = Templates()
                text = self._templates.render("slack.txt", message).strip()
            except AlertsError as e:
                raise RefusedError(f"cannot render the message: {e}") from e
            data: dict[str, Any] = {"text": text}
        else:
            data = body_of(message)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    def headers(self, message: Message, body: bytes, timestamp: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Veye-Delivery": message.delivery_id,
            "X-Veye-Event": message.event,
            "X-Veye-Timestamp": str(timestamp),
        }
        if self.settings.secret:
            headers["X-Veye-Signature"] = sign(self.settings.secret, timestamp, body)
        return headers

    def send(self, message: Message) -> SendResult:
        body = self.body(message)
        now = self.clock()
        headers = self.headers(message, body, int(now.timestamp()))
        where = self.shown_url
        deadline = time.monotonic() + self.settings.timeout
        try:
            with self._client.stream(
                "POST", self.settings.url, content=body, headers=headers
            ) as response:
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) >= _REPLY_BYTES or time.monotonic() > deadline:
                        break
        except httpx.TimeoutException as e:
            raise RetryLaterError(
                f"{where}: no answer within {self.settings.timeout:g}s ({type(e).__name__})"
            ) from e
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise RefusedError(f"{where}: {self._redact(str(e))}") from e
        except httpx.HTTPError as e:
            raise RetryLaterError(
                f"{where}: connection failed ({type(e).__name__}: {self._redact(str(e))})"
            ) from e
        status = response.status_code
        reply = self._redact(one_line(raw.decode("utf-8", "replace"), limit=_REPLY_CHARS))
        answered = f"{where} answered HTTP {status}" + (f": {reply}" if reply else "")
        if 200 <= status < 300:
            return SendResult(status, reply)
        if 300 <= status < 400:
            target = response.headers.get("location", "")
            raise RefusedError(
                f"{answered}; redirects are not followed: put the final URL in the config"
                + (f" ({self._redact(one_line(target))})" if target else ""),
                status=status,
                reply=reply,
            )
        if status in (408, 425, 429) or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after"), now)
            raise RetryLaterError(answered, status=status, reply=reply, retry_after=retry_after)
        raise RefusedError(answered, status=status, reply=reply)

    def _redact(self, text: str) -> str:
        """``text`` without the secret or the URL's path and query (often a token too)."""
        secret = self.settings.secret
        if secret and len(secret) >= 4:  # shorter ones would blank out ordinary words
            text = text.replace(secret, "[secret]")
        url = self.settings.url
        parts = urlsplit(url)
        hidden = [url, url.rstrip("/")]
        if parts.query:
            hidden += [f"{parts.path}?{parts.query}", parts.query]
        if parts.path.strip("/"):
            hidden.append(parts.path)
        for h in hidden:
            if h:
                text = text.replace(h, self.shown_url if h.startswith("http") else "…")
        return text


def _retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
