"""Whether veye is healthy: the daemon's heartbeat, each source's record, the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage import outbox
from storage.records import SourceState
from storage.store import Store
from veye.config import Settings
from veye.lock import InstanceLock, lock_path_for

#: Seconds between the daemon's heartbeats; it is called dead after three missed.
HEARTBEAT = 10.0

#: A source that has produced nothing new for this many of its intervals (and at least a
#: day) is called stale: its feed may have moved or died quietly.
STALE_INTERVALS = 96
STALE_FLOOR = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    #: ``ok``, ``failing``, ``stale``, ``never polled`` or ``disabled``.
    state: str
    record: SourceState | None


@dataclass(frozen=True, slots=True)
class Health:
    daemon_alive: bool
    daemon: dict[str, Any]
    heartbeat_at: datetime | None
    sources: tuple[SourceHealth, ...]
    pending_alerts: int
    failed_alerts: int

    @property
    def needs_attention(self) -> list[str]:
        """What an operator should look at; empty when all is well."""
        out = []
        if not self.daemon_alive:
            out.append("the daemon is not running")
        for s in self.sources:
            if s.state in ("failing", "stale"):
                out.append(f"source {s.name} is {s.state}")
        if self.failed_alerts:
            out.append(f"{self.failed_alerts} alerts failed to deliver")
        return out


def stale_after(interval: float) -> timedelta:
    return max(timedelta(seconds=interval * STALE_INTERVALS), STALE_FLOOR)


def live_workers(store: Store, now: datetime, heartbeat: float = HEARTBEAT) -> dict[str, datetime]:
    """Workers sharing a server database whose heartbeat is fresh (under three missed), by
    id, with their last beat."""
    fresh = timedelta(seconds=3 * heartbeat)
    return {
        key.removeprefix("worker:"): at
        for key, (_value, at) in store.runtime_with_prefix("worker:").items()
        if now - at < fresh
    }


def check(settings: Settings, store: Store, now: datetime) -> Health:
    beat = store.get_runtime("daemon")
    info: dict[str, Any] = dict(beat[0]) if beat and isinstance(beat[0], dict) else {}
    beat_at = beat[1] if beat else None
    fresh = timedelta(seconds=3 * HEARTBEAT)
    lock_path = lock_path_for(settings.database_url())
    if lock_path is None:
        # A server database: workers beat under their own keys; alive while any one does.
        workers = live_workers(store, now)
        info["workers"] = sorted(workers)
        alive = bool(workers)
        if workers:
            beat_at = max(workers.values())
    else:
        held = InstanceLock(lock_path).is_held_elsewhere()
        alive = bool(held and info.get("pid") and beat_at is not None and now - beat_at < fresh)
    store.sync_sources((s.name, s.kind, s.url) for s in settings.sources)
    records = {r.name: r for r in store.source_states()}
    sources = []
    for s in settings.sources:
        rec = records.get(s.name)
        if not s.enabled:
            state = "disabled"
        elif rec is None or rec.last_poll_at is None:
            state = "never polled"
        elif rec.failing_since is not None:
            state = "failing"
        elif (rec.last_new_at or rec.last_success_at or now) < now - stale_after(s.interval):
            state = "stale"
        else:
            state = "ok"
        sources.append(SourceHealth(s.name, state, rec))
    pending, failed = _outbox_counts(store)
    return Health(alive, info, beat_at, tuple(sources), pending, failed)


def _outbox_counts(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        counts = outbox.counts(conn)
    return int(counts.get("pending", 0)), int(counts.get("failed", 0))
