"""The alert outbox: what is owed to which channel, each attempt to deliver it, and the state
changes the dispatcher makes (claim, sent, retry, failed).

Alerts are written inside the transaction that stores the cluster change owing them, so an
alert is never lost; a unique constraint on ``(cluster_id, channel, event, occasion)`` makes
owing the same alert twice impossible. Delivery is at-least-once: a row is claimed (``sending``,
with a lease in ``next_attempt_at``) before it is sent and marked ``sent`` only after the channel
took it, so a crash between the two sends it again, under the same delivery id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storage import db
from storage.schema import alerts, article_sources, articles, clusters, deliveries

__all__ = [
    "STATES",
    "Attempt",
    "OutboxAlert",
    "OwedAlert",
    "attempts",
    "claim_next",
    "count",
    "counts",
    "enqueue",
    "expire",
    "get",
    "immediate_count",
    "list_alerts",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "owed_to",
    "record_attempt",
    "recover",
    "release",
    "retry",
    "snapshot",
]

#: Every state an outbox row can be in.
STATES = ("pending", "sending", "sent", "failed")
#: Characters of an item's text kept in an alert's excerpt.
EXCERPT_CHARS = 400
_CLAIMABLE = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class OwedAlert:
    """An alert to write into the outbox."""

    delivery_id: str
    cluster_id: int
    article_id: int | None
    route: str
    channel: str
    #: ``alert.new`` or ``alert.update``.
    event: str
    #: Tells apart the follow-ups one cluster may owe a channel (``first``, ``outlets:4``).
    occasion: str
    payload: Mapping[str, Any] = field(hash=False)
    #: When it is first due: now, or a digest's due time.
    next_attempt_at: datetime
    #: After this it is given up as ``failed``.
    deadline_at: datetime
    #: The digest it is folded into (its due time), or ``None`` when it goes out alone.
    digest_key: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxAlert:
    """One row of the outbox."""

    id: int
    delivery_id: str
    cluster_id: int
    article_id: int | None
    route: str
    channel: str
    event: str
    occasion: str
    digest_key: str | None
    #: The id of the digest message carrying it, once claimed.
    batch_id: str | None
    payload: Mapping[str, Any] = field(hash=False)
    state: str
    attempts: int
    next_attempt_at: datetime
    deadline_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @property
    def message_id(self) -> str:
        """The id the message carrying this alert is sent with: its digest's, or its own."""
        return self.batch_id or self.delivery_id

    @property
    def title(self) -> str:
        """The cluster's title as it was when the alert was owed."""
        cluster = self.payload.get("cluster") or {}
        return str(cluster.get("title") or "")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt to deliver an alert."""

    alert_id: int
    #: 1 for the alert's first attempt ever.
    attempt: int
    delivery_id: str
    started_at: datetime
    #: Seconds the attempt took.
    duration: float
    #: ``sent``, ``retry`` or ``failed``.
    outcome: str
    status: int | None
    reply: str | None
    error: str | None


# -- owing -----------------------------------------------------------------------------------


def enqueue(conn: sa.Connection, owed: Sequence[OwedAlert], *, now: datetime) -> int:
    """Write ``owed`` into the outbox within the caller's transaction; an alert already owed
    (same cluster, channel, event and occasion) is skipped. Returns how many were written."""
    if not owed:
        return 0
    now = _as_utc(now)
    written = 0
    for a in owed:
        values = {
            "delivery_id": a.delivery_id,
            "cluster_id": a.cluster_id,
            "article_id": a.article_id,
            "route": a.route,
            "channel": a.channel,
            "event": a.event,
            "occasion": a.occasion,
            "digest_key": a.digest_key,
            "payload": dict(a.payload),
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": _as_utc(a.next_attempt_at),
            "deadline_at": _as_utc(a.deadline_at),
            "created_at": now,
        }
        written += _insert_ignoring_duplicates(conn, values)
    return written


def _insert_ignoring_duplicates(conn: sa.Connection, values: dict[str, Any]) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``: a duplicate must not abort the caller's
    transaction (PostgreSQL would, on a plain unique violation). Returns rows written."""
    conflict = ["cluster_id", "channel", "event", "occasion"]
    # Counted from RETURNING: a driver's rowcount for an upsert is not portable.
    insert = db.insert_for(conn, alerts)
    if insert is not None:
        stmt = insert.values(**values).on_conflict_do_nothing(index_elements=conflict)
        return len(conn.execute(stmt.returning(alerts.c.id)).all())
    known = conn.execute(
        sa.select(alerts.c.id).where(*[alerts.c[k] == values[k] for k in conflict])
    ).first()
    if known is not None:
        return 0
    conn.execute(alerts.insert().values(**values))
    return 1


def owed_to(conn: sa.Connection, cluster_id: int, channel: str) -> list[OutboxAlert]:
    """Every alert already owed to ``channel`` for the cluster, oldest first."""
    return _rows(
        conn,
        sa.select(alerts)
        .where(alerts.c.cluster_id == cluster_id, alerts.c.channel == channel)
        .order_by(alerts.c.id),
    )


def immediate_count(conn: sa.Connection, channel: str, since: datetime) -> int:
    """Alerts owed to ``channel`` since ``since`` that go out alone (not in a digest)."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(alerts)
            .where(
                alerts.c.channel == channel,
                alerts.c.digest_key.is_(None),
                alerts.c.created_at >= _as_utc(since),
            )
        ).scalar_one()
    )


def snapshot(conn: sa.Connection, cluster_id: int, article_id: int | None = None) -> dict[str, Any]:
    """The cluster, its lead item and the lead item's verdict, as an alert's payload.

    The lead item is ``article_id`` if it alerted, else the cluster's first alerted item, else
    ``article_id``: an update about a new outlet still reads as the story that alerted."""
    row = conn.execute(sa.select(clusters).where(clusters.c.id == cluster_id)).one()
    lead_id = conn.execute(
        sa.select(articles.c.id)
        .where(articles.c.cluster_id == cluster_id, articles.c.alert.is_(True))
        .order_by((articles.c.id == (article_id or 0)).desc(), articles.c.id)
        .limit(1)
    ).scalar()
    lead_id = lead_id or article_id
    item = (
        conn.execute(sa.select(articles).where(articles.c.id == lead_id)).first()
        if lead_id is not None
        else None
    )
    outlets: dict[str, dict[str, Any]] = {}
    for r in conn.execute(
        sa.select(article_sources.c.source, article_sources.c.url, article_sources.c.first_seen_at)
        .select_from(article_sources.join(articles, articles.c.id == article_sources.c.article_id))
        .where(articles.c.cluster_id == cluster_id)
        .order_by(article_sources.c.first_seen_at, article_sources.c.source)
    ):
        outlets.setdefault(
            r.source,
            {"source": r.source, "url": r.url, "first_seen_at": _iso(r.first_seen_at)},
        )
    payload: dict[str, Any] = {
        "cluster": {
            "id": row.id,
            "title": row.title,
            "categories": row.categories.split(),
            "outlets": list(outlets.values()),
            "items": row.items,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        },
        "item": None,
        "verdict": None,
    }
    if item is not None:
        payload["item"] = {
            "id": item.id,
            "source": item.source,
            "url": item.url,
            "title": item.title,
            "excerpt": excerpt(item.summary or item.text),
            "language": item.language,
            "published_at": _iso(item.published_at),
            "first_seen_at": _iso(item.first_seen_at),
        }
        payload["verdict"] = item.verdict
    return payload


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text``, whitespace folded, cut at a word with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + "…"


# -- delivering ------------------------------------------------------------------------------


def claim_next(
    conn: sa.Connection, channel: str, *, now: datetime, lease_until: datetime
) -> list[OutboxAlert]:
    """Claim the next due message for ``channel``: one alert, or every alert of one digest.

    Claimed rows turn ``sending`` with ``next_attempt_at`` set to the lease's end; a row whose
    lease ran out (its dispatcher died) is due again. The first statement is the write, so two
    dispatchers never claim the same row (on PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets
    them claim different rows at once). Returns ``[]`` when nothing is due."""
    now, lease_until = _as_utc(now), _as_utc(lease_until)
    due = sa.and_(
        alerts.c.channel == channel,
        alerts.c.state.in_(_CLAIMABLE),
        alerts.c.next_attempt_at <= now,
        alerts.c.deadline_at > now,
    )
    pick = sa.select(alerts.c.id).where(due).order_by(alerts.c.next_attempt_at, alerts.c.id)
    if conn.dialect.name == "postgresql":
        # Dispatchers of other workers pass over a row one of them is claiming, instead of
        # waiting for it and then finding it taken.
        pick = pick.with_for_update(skip_locked=True)
    first = pick.limit(1).scalar_subquery()
    leader = conn.execute(
        alerts.update()
        .where(alerts.c.id == first, due)
        .values(state="sending", next_attempt_at=lease_until)
        .returning(alerts.c.id, alerts.c.digest_key, alerts.c.batch_id, alerts.c.delivery_id)
    ).first()
    if leader is None:
        return []
    ids = [leader.id]
    if leader.digest_key is not None:
        if leader.batch_id is None:
            # First claim of this digest: freeze its members now. Rows owed later for the
            # same due time form a digest of their own, so none joins a message a receiver
            # may already have seen under this id.
            batch_id = leader.delivery_id
            members = sa.and_(alerts.c.batch_id.is_(None), alerts.c.digest_key == leader.digest_key)
        else:
            batch_id = leader.batch_id
            members = alerts.c.batch_id == batch_id
        conn.execute(alerts.update().where(alerts.c.id == leader.id).values(batch_id=batch_id))
        ids += conn.execute(
            alerts.update()
            .where(due, members, alerts.c.id != leader.id)
            .values(state="sending", next_attempt_at=lease_until, batch_id=batch_id)
            .returning(alerts.c.id)
        ).scalars()
    return _rows(conn, sa.select(alerts).where(alerts.c.id.in_(ids)).order_by(alerts.c.id))


def release(conn: sa.Connection, ids: Sequence[int], *, now: datetime) -> None:
    """Give back claimed rows that were not attempted: due again at once."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id.in_(list(ids)), alerts.c.state == "sending")
        .values(state="pending", next_attempt_at=_as_utc(now))
    )


def record_attempt(
    conn: sa.Connection,
    rows: Sequence[OutboxAlert],
    *,
    started_at: datetime,
    duration: float,
    outcome: str,
    status: int | None = None,
    reply: str | None = None,
    error: str | None = None,
) -> None:
    """Log one attempt at delivering ``rows`` (one message) in ``deliveries``."""
    ids = [r.id for r in rows]
    before: dict[int, int] = dict(
        conn.execute(
            sa.select(deliveries.c.alert_id, sa.func.count())
            .where(deliveries.c.alert_id.in_(ids))
            .group_by(deliveries.c.alert_id)
        ).all()
    )
    conn.execute(
        deliveries.insert(),
        [
            {
                "alert_id": r.id,
                "attempt": int(before.get(r.id, 0)) + 1,
                "delivery_id": r.message_id,
                "started_at": _as_utc(started_at),
                "duration": duration,
                "outcome": outcome,
                "status": status,
                "reply": reply,
                "error": error,
            }
            for r in rows
        ],
    )


def mark_sent(conn: sa.Connection, ids: Sequence[int], *, now: datetime) -> None:
    """The channel took the message: never send these again (unless asked to)."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id.in_(list(ids)))
        .values(state="sent", sent_at=_as_utc(now), attempts=alerts.c.attempts + 1, last_error=None)
    )


def mark_retry(
    conn: sa.Connection, ids: Sequence[int], *, next_attempt_at: datetime, error: str
) -> None:
    """The attempt failed in a way a later one may get past."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id.in_(list(ids)), alerts.c.state.in_(_CLAIMABLE))
        .values(
            state="pending",
            attempts=alerts.c.attempts + 1,
            next_attempt_at=_as_utc(next_attempt_at),
            last_error=error,
        )
    )


def mark_failed(conn: sa.Connection, ids: Sequence[int], *, error: str, attempted: bool) -> None:
    """Give up: a retry cannot help, or the deadline passed."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id.in_(list(ids)), alerts.c.state.in_(_CLAIMABLE))
        .values(
            state="failed",
            attempts=alerts.c.attempts + (1 if attempted else 0),
            last_error=error,
        )
    )


def expire(conn: sa.Connection, *, now: datetime, channels: Iterable[str] | None = None) -> int:
    """Fail what is still owed after its deadline. Returns how many rows gave up."""
    now = _as_utc(now)
    query = alerts.update().where(
        alerts.c.state.in_(_CLAIMABLE),
        alerts.c.deadline_at <= now,
        # A row being sent right now is left to its dispatcher.
        sa.or_(alerts.c.state == "pending", alerts.c.next_attempt_at <= now),
    )
    if channels is not None:
        query = query.where(alerts.c.channel.in_(list(channels)))
    result = conn.execute(
        query.values(
            state="failed",
            last_error=sa.func.coalesce(alerts.c.last_error + "; ", "")
            + "gave up: not delivered before its deadline",
        )
    )
    return int(result.rowcount or 0)


def recover(conn: sa.Connection, *, now: datetime) -> int:
    """Put every ``sending`` row back to pending, due now: run at start-up, when no other
    dispatcher is sending, for rows a crashed dispatcher left claimed."""
    result = conn.execute(
        alerts.update()
        .where(alerts.c.state == "sending")
        .values(state="pending", next_attempt_at=_as_utc(now))
    )
    return int(result.rowcount or 0)


# -- reading and operator actions ----------------------------------------------------------


def list_alerts(
    conn: sa.Connection,
    *,
    states: Sequence[str] | None = None,
    channel: str | None = None,
    limit: int | None = 100,
) -> list[OutboxAlert]:
    """Outbox rows, newest first."""
    query = sa.select(alerts).order_by(alerts.c.id.desc())
    if states:
        query = query.where(alerts.c.state.in_(list(states)))
    if channel:
        query = query.where(alerts.c.channel == channel)
    if limit is not None:
        query = query.limit(limit)
    return _rows(conn, query)


def get(conn: sa.Connection, alert_id: int) -> OutboxAlert | None:
    rows = _rows(conn, sa.select(alerts).where(alerts.c.id == alert_id))
    return rows[0] if rows else None


def attempts(conn: sa.Connection, alert_id: int) -> list[Attempt]:
    """Every attempt at delivering one alert, oldest first."""
    return [
        Attempt(
            alert_id=r.alert_id,
            attempt=r.attempt,
            delivery_id=r.delivery_id,
            started_at=_as_utc(r.started_at),
            duration=r.duration,
            outcome=r.outcome,
            status=r.status,
            reply=r.reply,
            error=r.error,
        )
        for r in conn.execute(
            sa.select(deliveries)
            .where(deliveries.c.alert_id == alert_id)
            .order_by(deliveries.c.attempt, deliveries.c.id)
        )
    ]


def retry(
    conn: sa.Connection,
    ids: Sequence[int] | None,
    *,
    now: datetime,
    deadline_at: datetime,
) -> list[int]:
    """Queue failed (or still pending) alerts again, due now with a new deadline and their
    backoff started afresh; ``ids=None`` retries every failed alert. Sent alerts are left
    alone. Returns the ids queued. The delivery id is kept: a receiver that saw an earlier
    attempt can still tell it is the same alert."""
    where = (
        alerts.c.state == "failed"
        if ids is None
        else sa.and_(alerts.c.id.in_(list(ids)), alerts.c.state.in_(("failed", "pending")))
    )
    return list(
        conn.execute(
            alerts.update()
            .where(where)
            .values(
                state="pending",
                attempts=0,
                next_attempt_at=_as_utc(now),
                deadline_at=_as_utc(deadline_at),
            )
            .returning(alerts.c.id)
        ).scalars()
    )


def count(
    conn: sa.Connection, *, states: Sequence[str], channels: Iterable[str] | None = None
) -> int:
    """Rows in ``states`` (for ``channels``, if given)."""
    query = sa.select(sa.func.count()).select_from(alerts).where(alerts.c.state.in_(list(states)))
    if channels is not None:
        query = query.where(alerts.c.channel.in_(list(channels)))
    return int(conn.execute(query).scalar_one())


def counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per state (every state present, zero where none)."""
    found: dict[str, int] = dict(
        conn.execute(sa.select(alerts.c.state, sa.func.count()).group_by(alerts.c.state)).all()
    )
    return {s: int(found.get(s, 0)) for s in STATES}


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[OutboxAlert]:
    return [
        OutboxAlert(
            id=r.id,
            delivery_id=r.delivery_id,
            cluster_id=r.cluster_id,
            article_id=r.article_id,
            route=r.route,
            channel=r.channel,
            event=r.event,
            occasion=r.occasion,
            digest_key=r.digest_key,
            batch_id=r.batch_id,
            payload=r.payload,
            state=r.state,
            attempts=r.attempts,
            next_attempt_at=_as_utc(r.next_attempt_at),
            deadline_at=_as_utc(r.deadline_at),
            last_error=r.last_error,
            created_at=_as_utc(r.created_at),
            sent_at=_as_utc(r.sent_at) if r.sent_at is not None else None,
        )
        for r in conn.execute(query)
    ]


def _as_utc(value: datetime) -> datetime:
    """Naive values (SQLite hands them back so) are UTC; aware ones are converted to it, so
    stored values compare correctly as text."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _as_utc(value).isoformat()
