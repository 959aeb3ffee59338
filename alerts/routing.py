"""Which channels are owed which alerts: routes from categories (and optionally places and
sources) to channels, per cluster, with follow-ups, digests and hourly caps.

An alert is owed per cluster, never per item: the change that makes a cluster alert owes
``alert.new``; outlets joining an alerted cluster owe at most an ``alert.update``, as the route's
``follow_up`` policy says, never a second ``alert.new``. A channel gets one ``alert.new`` per
cluster however many routes lead to it. Everything is written into the outbox inside the
caller's transaction (see :mod:`storage.outbox`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alerts.digest import (
    DEFAULT_TIMEZONE,
    QuietHours,
    after_quiet,
    digest_due,
    digest_key,
    hour_end,
)
from storage import outbox
from storage.records import ClusterChange

__all__ = ["DEFAULT_RETRY_DEADLINE", "ChannelPolicy", "FollowUp", "Planner", "Route"]

FollowUp = Literal["never", "corroboration", "every"]
Mode = Literal["immediate", "digest"]
#: Seconds an alert is retried before it is given up as failed.
DEFAULT_RETRY_DEADLINE = 24 * 3600.0
#: Entity kinds a route's ``places`` are matched against (by name or department).
_PLACE_KINDS = frozenset({"place", "prison"})


@dataclass(frozen=True, slots=True)
class Route:
    """Which clusters go to which channels, and how."""

    #: Shown in ``veye alerts list``; recorded on each alert it owes.
    name: str
    #: Categories that select a cluster; ``*`` selects any alerted cluster.
    categories: frozenset[str]
    channels: tuple[str, ...]
    #: If set, the lead item must name one of these places (or departments), case-blind.
    places: frozenset[str] = frozenset()
    #: If set, one of these sources must have carried the story.
    sources: frozenset[str] = frozenset()
    mode: Mode = "immediate"
    #: What new outlets joining an alerted cluster owe: nothing, one update once the outlet
    #: count reaches ``corroboration``, or an update for every new outlet.
    follow_up: FollowUp = "corroboration"
    corroboration: int = 3
    #: Seconds between digests (``mode: digest``).
    digest_interval: float = 3600.0
    #: No digest goes out in these local hours; they wait until the end.
    quiet_hours: QuietHours | None = None

    def selects(self, change: ClusterChange, payload: Mapping[str, Any]) -> bool:
        """Whether this route covers the cluster ``change`` is about."""
        if "*" not in self.categories and not self.categories.intersection(change.categories):
            return False
        if self.places:
            verdict = payload.get("verdict") or {}
            named = {
                str(v).casefold()
                for e in verdict.get("entities") or ()
                if e.get("kind") in _PLACE_KINDS
                for v in (e.get("name"), e.get("department"))
                if v
            }
            if not named.intersection(p.casefold() for p in self.places):
                return False
        if self.sources:
            carried = {o.get("source") for o in payload["cluster"].get("outlets") or ()}
            if not self.sources.intersection(s for s in carried if s):
                return False
        return True


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """What routing needs to know of a channel."""

    name: str
    #: Messages per clock hour that go out alone; the rest wait for the hour's end and go out
    #: together as a digest. ``None``: no cap.
    max_per_hour: int | None = None


class Planner:
    """Decides what a batch of cluster changes owes, and writes it into the outbox.

    Implements :class:`veye.pipeline.AlertPlanner`. Channels not given here (disabled ones)
    are never owed anything, whatever the routes say."""

    def __init__(
        self,
        routes: Sequence[Route],
        channels: Iterable[ChannelPolicy],
        *,
        timezone: str | ZoneInfo = DEFAULT_TIMEZONE,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.routes = tuple(routes)
        self.channels = {c.name: c for c in channels}
        self.tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.retry_deadline = retry_deadline
        self._new_id = new_id

    def enqueue(
        self, conn: sa.Connection, changes: Sequence[ClusterChange], *, now: datetime
    ) -> int:
        """Owe what ``changes`` call for, within the caller's transaction. Returns how many
        alerts were written."""
        now = now.astimezone(UTC)
        written = 0
        for change in changes:
            if not change.alert or not self.routes or not self.channels:
                continue
            if not change.became_alert and change.kind not in ("joined", "outlet"):
                continue
            payload = outbox.snapshot(conn, change.cluster_id, change.article_id)
            for route in self.routes:
                if not route.selects(change, payload):
                    continue
                for channel in route.channels:
                    if channel not in self.channels:
                        continue
                    owed = self._owe(conn, route, channel, change, payload, now)
                    if owed is not None:
                        written += outbox.enqueue(conn, [owed], now=now)
        return written

    def _owe(
        self,
        conn: sa.Connection,
        route: Route,
        channel: str,
        change: ClusterChange,
        payload: dict[str, Any],
        now: datetime,
    ) -> outbox.OwedAlert | None:
        if change.became_alert:
            event, occasion, body = "alert.new", "first", payload
        else:
            found = self._follow_up(conn, route, channel, change, payload)
            if found is None:
                return None
            occasion, body = found
            event = "alert.update"
        due, key = self._schedule(conn, route, channel, now)
        return outbox.OwedAlert(
            delivery_id=self._new_id(),
            cluster_id=change.cluster_id,
            article_id=change.article_id,
            route=route.name,
            channel=channel,
            event=event,
            occasion=occasion,
            payload=body,
            next_attempt_at=due,
            deadline_at=due + timedelta(seconds=self.retry_deadline),
            digest_key=key,
        )

    def _follow_up(
        self,
        conn: sa.Connection,
        route: Route,
        channel: str,
        change: ClusterChange,
        payload: dict[str, Any],
    ) -> tuple[str, dict[str, Any]] | None:
        """The occasion and payload of the update a new outlet owes, or ``None``."""
        if route.follow_up == "never":
            return None
        before = outbox.owed_to(conn, change.cluster_id, channel)
        first = next((a for a in before if a.event == "alert.new"), None)
        if first is None:
            # Updates follow an alert the channel was owed; never a stand-in for one.
            return None
        known = _outlets(before[-1].payload)
        now_carried = _outlets(payload)
        if len(now_carried) <= len(known):
            return None
        if route.follow_up == "corroboration":
            if len(now_carried) < route.corroboration or len(_outlets(first.payload)) >= (
                route.corroboration
            ):
                return None
            occasion = "corroborated"
        else:
            occasion = f"outlets:{len(now_carried)}"
        body = {
            **payload,
            "update": {
                "follows": first.delivery_id,
                "outlets_before": len(known),
                "new_outlets": [o for o in now_carried if o not in known],
            },
        }
        return occasion, body

    def _schedule(
        self, conn: sa.Connection, route: Route, channel: str, now: datetime
    ) -> tuple[datetime, str | None]:
        """When the alert is due, and the digest it joins (``None``: it goes out alone)."""
        if route.mode == "digest":
            due = digest_due(now, route.digest_interval, quiet=route.quiet_hours, tz=self.tz)
            return due, digest_key(due)
        cap = self.channels[channel].max_per_hour
        if cap is not None:
            end = hour_end(now)
            if outbox.immediate_count(conn, channel, end - timedelta(hours=1)) >= cap:
                due = after_quiet(end, route.quiet_hours, self.tz)
                return due, digest_key(due)
        return now, None


def _outlets(payload: Mapping[str, Any]) -> list[str]:
    return [str(o.get("source")) for o in payload.get("cluster", {}).get("outlets") or ()]
