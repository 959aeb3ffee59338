"""The dispatcher: sends what the outbox owes, records every attempt, retries with backoff.

One pass (:meth:`Dispatcher.run_once`) claims each due message (one alert, or a digest),
hands it to its channel, and records the outcome:

- the channel took it → ``sent``;
- :class:`~alerts.errors.RetryableDeliveryError` (5xx, 429, timeouts, refused connections,
  SMTP 4xx) → ``pending`` again after an exponential backoff with jitter, or after the peer's
  ``Retry-After``; past the alert's deadline → ``failed``;
- :class:`~alerts.errors.PermanentDeliveryError` (other 4xx, SMTP 5xx) → ``failed`` at once.

Delivery is at-least-once: a row is marked ``sent`` only after the channel accepted it, so a
crash in between sends it again with the same delivery id. Channels are worked in parallel
threads and a channel stops for the pass at its first retryable failure, so one dead channel
never holds up another. Clock and random source are injected: tests never sleep."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.channels.base import Channel, Message, OutgoingAlert
from alerts.errors import DeliveryError, PermanentDeliveryError
from storage import outbox

__all__ = ["DispatchSummary", "Dispatcher", "MessageOutcome", "RetryPolicy"]

log = logging.getLogger("veye.alerts")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts."""

    #: Delay after the first failure, in seconds; doubled (``factor``) after each one.
    first_delay: float = 30.0
    max_delay: float = 3600.0
    factor: float = 2.0
    #: Share of each delay drawn at random, so failed alerts do not come back in lockstep.
    jitter: float = 0.5
    #: Seconds a claimed row stays ``sending`` before another dispatcher may take it over;
    #: longer than any channel's timeout.
    lease: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.first_delay * self.factor ** max(attempt - 1, 0), self.max_delay)
        return base * (1 - self.jitter) + base * self.jitter * rng.random()


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What became of one message in a pass."""

    channel: str
    delivery_id: str
    alert_ids: tuple[int, ...]
    #: ``sent``, ``retry`` or ``failed``.
    outcome: str
    status: int | None = None
    reply: str | None = None
    error: str | None = None
    #: When it will be tried again (``retry`` only).
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DispatchSummary:
    """What one pass did."""

    outcomes: tuple[MessageOutcome, ...] = ()
    #: Alerts given up because their deadline passed before they could be attempted.
    expired: int = 0
    #: Alerts still owed after the pass (waiting for a retry, a digest, or a channel).
    pending: int = 0

    def alerts(self, outcome: str) -> int:
        """Alerts whose message ended the pass as ``outcome``."""
        return sum(len(o.alert_ids) for o in self.outcomes if o.outcome == outcome)

    @property
    def sent(self) -> int:
        return self.alerts("sent")

    @property
    def retrying(self) -> int:
        return self.alerts("retry")

    @property
    def failed(self) -> int:
        return self.alerts("failed") + self.expired


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dispatcher:
    """Delivers the outbox of one database through a set of channels."""

    engine: Engine
    channels: Mapping[str, Channel]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = _utcnow
    rng: random.Random = field(default_factory=random.Random)
    #: Measures how long attempts take (and the pass budget); not used for schedules.
    monotonic: Callable[[], float] = time.monotonic
    #: Called after each message, from the channel's thread.
    on_outcome: Callable[[MessageOutcome], None] | None = None

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def recover(self) -> int:
        """Put rows a crashed dispatcher left ``sending`` back in line, due now. Call it at
        start-up; another dispatcher still sending them may then send them twice, with the
        same delivery id, which receivers are told to expect."""
        with self.engine.begin() as conn:
            n = outbox.recover(conn, now=self.clock())
        if n:
            log.info("%d alerts left in flight by an earlier run are due again", n)
        return n

    def run_once(
        self,
        now: datetime | None = None,
        *,
        budget: float | None = None,
        channels: Collection[str] | None = None,
    ) -> DispatchSummary:
        """Send every message due at ``now`` (default: the clock), within ``budget`` seconds
        if given (what is not started by then stays due). Never raises for a channel's
        failure: it is recorded and retried."""
        now = (now or self.clock()).astimezone(UTC)
        names = [n for n in self.channels if channels is None or n in channels]
        with self.engine.begin() as conn:
            # Any channel's: an alert for a channel since disabled or removed fails at its
            # deadline too, rather than waiting forever.
            expired = outbox.expire(conn, now=now)
        if expired:
            log.warning("%d alerts gave up: not delivered before their deadline", expired)
        started = self.monotonic()

        def work(name: str) -> list[MessageOutcome]:
            return self._drain(name, now, started, budget)

        if len(names) <= 1:
            results = [work(n) for n in names]
        else:
            with ThreadPoolExecutor(len(names), thread_name_prefix="veye-send") as pool:
                results = list(pool.map(work, names))
        with self.engine.connect() as conn:
            pending = outbox.count(conn, states=["pending", "sending"], channels=names)
        return DispatchSummary(
            tuple(o for r in results for o in r), expired=expired, pending=pending
        )

    def _drain(
        self, name: str, now: datetime, started: float, budget: float | None
    ) -> list[MessageOutcome]:
        """Send ``name``'s due messages until none is left, the budget is spent, or the channel
        fails in a way that says "later"."""
        channel = self.channels[name]
        done: list[MessageOutcome] = []
        while budget is None or self.monotonic() - started < budget:
            try:
                with self.engine.begin() as conn:
                    rows = outbox.claim_next(
                        conn, name, now=now, lease_until=now + timedelta(seconds=self.policy.lease)
                    )
            except sa.exc.SQLAlchemyError as e:
                log.error("%s: cannot read the outbox: %s", name, e)
                break
            if not rows:
                break
            outcome = self._attempt(channel, rows)
            done.append(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
            if outcome.outcome == "retry":
                break
        return done

    def _attempt(self, channel: Channel, rows: list[outbox.OutboxAlert]) -> MessageOutcome:
        message = Message.of(
            rows[0].message_id,
            tuple(OutgoingAlert(r.event, r.payload, r.created_at, r.id) for r in rows),
            digest=rows[0].digest_key is not None,
        )
        ids = tuple(r.id for r in rows)
        began_at = self.clock()
        t0 = self.monotonic()
        status: int | None = None
        reply: str | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            result = channel.send(message)
            outcome, status, reply = "sent", result.status, result.reply
        except PermanentDeliveryError as e:
            outcome, error = "failed", str(e)
            status, reply = getattr(e, "status", None), getattr(e, "reply", None)
        except DeliveryError as e:
            outcome, error, retry_after = "retry", str(e), e.retry_after
            status, reply = getattr(e, "status", None), getattr(e, "reply", None)
        except Exception as e:
            # A bug, not the peer's answer: keep the alert and say so loudly.
            log.exception("%s: unexpected error sending %s", channel.name, message.delivery_id)
            outcome, error = "retry", f"unexpected {type(e).__name__}: {e}"
        duration = self.monotonic() - t0
        ended = self.clock()
        next_at: datetime | None = None
        if outcome == "retry":
            attempt = max(r.attempts for r in rows) + 1
            delay = retry_after if retry_after is not None else self.policy.delay(attempt, self.rng)
            next_at = ended + timedelta(seconds=delay)
            deadline = min(r.deadline_at for r in rows)
            if next_at >= deadline:
                outcome = "failed"
                error = (
                    f"{error}; gave up after {attempt} attempts: the next one would fall "
                    "after the deadline"
                )
                next_at = None
        with self.engine.begin() as conn:
            outbox.record_attempt(
                conn,
                rows,
                started_at=began_at,
                duration=duration,
                outcome=outcome,
                status=status,
                reply=reply,
                error=error,
            )
            if outcome == "sent":
                outbox.mark_sent(conn, ids, now=ended)
            elif outcome == "retry" and next_at is not None:
                outbox.mark_retry(conn, ids, next_attempt_at=next_at, error=error or "")
            else:
                outbox.mark_failed(conn, ids, error=error or "", attempted=True)
        level = logging.INFO if outcome == "sent" else logging.WARNING
        log.log(
            level,
            "%s: %s %s (%d alert%s)%s",
            channel.name,
            message.delivery_id,
            outcome,
            len(ids),
            "" if len(ids) == 1 else "s",
            f": {error}" if error else "",
        )
        return MessageOutcome(
            channel.name, message.delivery_id, ids, outcome, status, reply, error, next_at
        )
