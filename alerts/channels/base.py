"""The contract every channel keeps: send a message, or fail saying whether a retry can help.

Retries, backoff and the delivery log live in :mod:`alerts.dispatch`, never in a channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from alerts.errors import PermanentDeliveryError, RetryableDeliveryError

__all__ = [
    "Channel",
    "Message",
    "OutgoingAlert",
    "RefusedError",
    "RetryLaterError",
    "SendResult",
]

#: The event of a message carrying several alerts.
DIGEST_EVENT = "alert.digest"


@dataclass(frozen=True, slots=True)
class OutgoingAlert:
    """One alert in a message."""

    #: ``alert.new`` or ``alert.update``.
    event: str
    #: The snapshot written when the alert was owed: ``cluster``, ``item``, ``verdict`` and,
    #: for updates, ``update``.
    payload: Mapping[str, Any] = field(hash=False)
    #: When it was owed.
    created_at: datetime
    #: Its outbox row, if it has one (a test message has none).
    alert_id: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What a channel is asked to send: one alert, or a digest of several."""

    #: The same on every attempt, so a receiver can drop a repeat.
    delivery_id: str
    #: ``alert.new``, ``alert.update``, or ``alert.digest`` for several alerts.
    event: str
    alerts: tuple[OutgoingAlert, ...]

    @classmethod
    def of(cls, delivery_id: str, alerts: tuple[OutgoingAlert, ...], *, digest: bool) -> Message:
        event = DIGEST_EVENT if digest else alerts[0].event
        return cls(delivery_id, event, alerts)

    @property
    def is_digest(self) -> bool:
        return self.event == DIGEST_EVENT


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the peer said when it took the message."""

    #: HTTP status or SMTP reply code.
    status: int | None
    #: The peer's answer: response body excerpt, or the SMTP reply text.
    reply: str


class Channel(Protocol):
    """Sends messages somewhere. ``send`` returns when the peer accepted the message, or
    raises :class:`~alerts.errors.RetryableDeliveryError` (a later attempt may get through) or
    :class:`~alerts.errors.PermanentDeliveryError` (no retry will help). Error messages never
    carry a secret."""

    @property
    def name(self) -> str: ...

    def send(self, message: Message) -> SendResult: ...

    def close(self) -> None: ...


class RetryLaterError(RetryableDeliveryError):
    """A retryable failure with what the peer answered, if it answered."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reply: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.reply = reply


class RefusedError(PermanentDeliveryError):
    """A permanent failure with what the peer answered, if it answered."""

    def __init__(self, message: str, *, status: int | None = None, reply: str | None = None):
        super().__init__(message)
        self.status = status
        self.reply = reply
