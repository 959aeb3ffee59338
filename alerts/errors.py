"""Errors raised by the filter and by delivery.

::

    AlertsError
    ├── RulesError          a rule set that cannot be used (path names the bad key)
    ├── GazetteerError      a gazetteer file that cannot be read or is malformed
    └── DeliveryError       a channel refused or could not take a message
        ├── RetryableDeliveryError   5xx, timeouts, refused connections: try again later
        └── PermanentDeliveryError   4xx, bad address, auth refused: a retry will not help
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error raised by ``alerts``."""


class RulesError(AlertsError, ValueError):
    """A rule set that cannot be used."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        #: Where in the rules the problem is, e.g. ``rules.categories.prison_break.threshold``.
        self.path = path
        self.message = message


class GazetteerError(AlertsError, ValueError):
    """A gazetteer file that cannot be read or is malformed."""


class DeliveryError(AlertsError):
    """A channel refused or could not take a message."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        #: Seconds the peer asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class RetryableDeliveryError(DeliveryError):
    """A failure a later attempt may get past."""


class PermanentDeliveryError(DeliveryError):
    """A failure no retry will fix."""
