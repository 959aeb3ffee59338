"""Where alerts go: email and webhook channels behind one small contract (:class:`Channel`)."""

from alerts.channels.base import (
    Channel,
    Message,
    OutgoingAlert,
    RefusedError,
    RetryLaterError,
    SendResult,
)

__all__ = [
    "Channel",
    "Message",
    "OutgoingAlert",
    "RefusedError",
    "RetryLaterError",
    "SendResult",
]
