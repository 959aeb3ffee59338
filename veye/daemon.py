"""``veye run``: every source on its own schedule, alert delivery, housekeeping; stops
cleanly on SIGTERM/SIGINT and reloads its config on SIGHUP."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from crawler.fetch import Fetcher
from crawler.records import Source
from veye import __version__, operator
from veye.app import App
from veye.config import Settings, load_settings
from veye.crawl import crawl_once
from veye.errors import ConfigError
from veye.health import HEARTBEAT, live_workers
from veye.lock import InstanceLock, lock_path_for

log = logging.getLogger("veye.daemon")

#: Seconds between outbox passes.
DISPATCH_EVERY = 5.0
#: Seconds between housekeeping passes (PRAGMA optimize, WAL checkpoint).
HOUSEKEEPING_EVERY = 3600.0
#: Longest wait for in-flight work after a stop signal.
STOP_GRACE = 30.0
#: Below this interval a source is polled as asked, with a warning: it is rude to outlets.
MIN_POLITE_INTERVAL = 60.0


def worker_id() -> str:
    """This process among the workers sharing a database: host, pid, and a few random
    characters, so a restarted worker reusing a pid is not taken for the dead one."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Daemon:
    """Schedules one job per source plus delivery, heartbeat and housekeeping jobs.

    On SQLite one daemon holds the database (a file lock). On a server database several
    daemons (workers) may share it: each source is polled by whichever worker claims it when
    it falls due, alerts are claimed row by row, and operator messages come from the one
    worker holding the ``operator`` lease."""

    def __init__(
        self,
        app: App,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeat: float = HEARTBEAT,
        dispatch_every: float = DISPATCH_EVERY,
    ) -> None:
        self.app = app
        self.clock = clock
        self.heartbeat_every = heartbeat
        self.dispatch_every = dispatch_every
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.started_at = clock()
        self.worker = worker_id()
        #: Whether other workers may share the database (a server database, not SQLite).
        self.shared = app.store.engine.dialect.name != "sqlite"
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self._signals = 0

    # -- signals ---------------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("%s received: finishing in-flight work", signal.Signals(signum).name)
        self.stopping.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested.set()

    # -- jobs ------------------------------------------------------------------------------

    def _poll(self, name: str) -> None:
        if self.stopping.is_set():
            return
        settings = self.app.settings
        source = next((s for s in settings.active_sources() if s.name == name), None)
        if source is None:
            return
        store = self.app.store
        now = self.clock()
        lease = timedelta(seconds=settings.crawl.source_lease)
        held = store.held_by(self.worker, now=now)
        share = self._share(len(settings.active_sources()))
        due_by = now
        if name not in held and len(held) >= share:
            # This worker has its share: leave the source to another worker, unless none
            # has polled it for a whole interval past its due time.
            due_by = now - timedelta(seconds=source.interval)
        if not store.claim_source(name, self.worker, now=now, until=now + lease, due_by=due_by):
            # Not due (backing off, the server asked us to wait, or polled this round), or
            # another worker holds it.
            return
        keep = False
        try:
            summary = crawl_once(
                store,
                self.app.filter,
                [source],
                fetcher_factory=lambda: Fetcher(settings.crawl.fetch_settings()),
                concurrency=1,
                planner=self.app.planner,
                clock=self.clock,
                options=settings.crawl.collect_options(),
                clustering=settings.clusters.params(),
            )
            # Keep the source while within this worker's share, so each worker polls its
            # own sources; beyond it, give it back for a worker that has fewer.
            keep = len(set(held) | {name}) <= share
        finally:
            store.end_poll(name, self.worker, keep=keep)
        for o in summary.outcomes:
            if o.error:
                log.warning("%s: %s", o.source, o.error, extra={"source": o.source})
            else:
                log.info(
                    "%s: %s, %d new, %d flagged",
                    o.source,
                    o.state,
                    o.new,
                    o.alerts,
                    extra={"source": o.source},
                )
        self._mark_job(f"source:{name}")

    def _share(self, sources: int) -> int:
        """How many sources this worker should hold: all of them alone (SQLite, or the only
        live worker), else an even split among the workers whose heartbeat is fresh."""
        if not self.shared:
            return sources
        live = set(live_workers(self.app.store, self.clock(), self.heartbeat_every))
        return -(-sources // len(live | {self.worker}))

    def _renew_leases(self) -> None:
        """Keep this worker's sources while it lives: a worker that dies stops renewing, and
        its sources are free for the others once ``crawl.source_lease`` has passed."""
        until = self.clock() + timedelta(seconds=self.app.settings.crawl.source_lease)
        self.app.store.renew_sources(self.worker, until=until)

    def _dispatch(self) -> None:
        if self.stopping.is_set():
            return
        self.app.dispatcher.run_once(self.clock())
        self._mark_job("dispatch")

    def _beat(self) -> None:
        beat = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "worker": self.worker,
            "version": __version__,
            "started_at": self.started_at.isoformat(),
            "sources": [s.name for s in self.app.settings.active_sources()],
        }
        now = self.clock()
        self.app.store.put_runtime("daemon", beat, now=now)
        if self.shared:
            self.app.store.put_runtime(f"worker:{self.worker}", beat, now=now)

    def _watch_sources(self) -> None:
        if self.stopping.is_set():
            return
        now = self.clock()
        ttl = timedelta(seconds=3 * self.heartbeat_every)
        if self.shared and not self.app.store.claim_lease(
            "operator", self.worker, now=now, ttl=ttl
        ):
            return  # another worker tells the operator
        operator.watch(self.app, now)

    def _housekeeping(self) -> None:
        store = self.app.store
        # Entries of workers killed without a clean stop; a live one beats every few seconds.
        forgotten = self.clock() - timedelta(days=1)
        for key, (_value, at) in store.runtime_with_prefix("worker:").items():
            if at < forgotten:
                store.delete_runtime(key)
        engine = store.engine
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA optimize")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self._mark_job("housekeeping")

    def _mark_job(self, job: str) -> None:
        self.app.store.put_runtime(f"job:{job}", {"ok": True}, now=self.clock())

    def _guard(self, name: str, fn: Callable[[], None]) -> Callable[[], None]:
        """A job's own failure is logged and the job runs again next time; it never stops
        the daemon."""

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception(
                    "job %s failed; it will run again on schedule", name, extra={"job": name}
                )

        return run

    # -- scheduling ------------------------------------------------------------------------

    def _schedule_sources(self, sources: list[Source]) -> None:
        for job in self.scheduler.get_jobs():
            if job.id.startswith("source:"):
                job.remove()
        for s in sources:
            if s.interval < MIN_POLITE_INTERVAL:
                log.warning(
                    "%s is polled every %gs; under a minute is hard on the outlet",
                    s.name,
                    s.interval,
                )
            self.scheduler.add_job(
                self._guard(f"source:{s.name}", functools.partial(self._poll, s.name)),
                IntervalTrigger(seconds=s.interval, jitter=min(s.interval * 0.1, 60)),
                id=f"source:{s.name}",
                name=s.name,
                next_run_time=datetime.now(UTC),
                # A suspended laptop catches up once: late runs within half an interval go
                # ahead, older ones are dropped and the next one waits its turn.
                misfire_grace_time=max(int(s.interval / 2), 1),
            )

    def _reload(self) -> None:
        self.reload_requested.clear()
        try:
            settings: Settings = load_settings(self.app.config_path)
            from veye.app import App

            probe = App(self.app.config_path, settings)
            probe.filter  # noqa: B018 - rules must compile before the old config is dropped
        except ConfigError as e:
            log.error("config reload refused, keeping the running config: %s", e)
            return
        self.app.replace_settings(settings)
        self.app.store.sync_sources((s.name, s.kind, s.url) for s in settings.active_sources())
        self._schedule_sources(settings.active_sources())
        log.info("config reloaded: %d sources", len(settings.active_sources()))

    def run(self) -> None:
        """Block until stopped. Raises :class:`AlreadyRunning` if another daemon holds the
        database."""
        settings = self.app.settings
        lock_path = lock_path_for(settings.database_url())
        lock = InstanceLock(lock_path) if lock_path else None
        if lock:
            lock.acquire()
        try:
            self._run(settings)
        finally:
            if lock:
                lock.release()

    def _run(self, settings: Settings) -> None:
        store = self.app.store
        _ = self.app.filter  # compile the rules before anything is scheduled
        sources = settings.active_sources()
        store.sync_sources((s.name, s.kind, s.url) for s in sources)
        self._beat()
        if not self.shared:
            # The only daemon on this database: what a crashed one left held is free now.
            # Alerts it left mid-send go out again under the same delivery id, and sources it
            # was polling are due, rather than when their leases run out. Workers sharing a
            # server database wait for the leases instead: the holder may be alive.
            store.clear_source_leases()
            recovered = self.app.dispatcher.recover()
            if recovered:
                log.info("resuming %d alerts left in flight by the last run", recovered)
        self._schedule_sources(sources)
        self.scheduler.add_job(
            self._guard("leases", self._renew_leases),
            IntervalTrigger(seconds=max(settings.crawl.source_lease / 3, 1.0)),
            id="leases",
        )
        self.scheduler.add_job(
            self._guard("heartbeat", self._beat),
            IntervalTrigger(seconds=self.heartbeat_every),
            id="heartbeat",
        )
        self.scheduler.add_job(
            self._guard("dispatch", self._dispatch),
            IntervalTrigger(seconds=self.dispatch_every),
            id="dispatch",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self._guard("operator", self._watch_sources),
            IntervalTrigger(seconds=self.heartbeat_every),
            id="operator",
        )
        self.scheduler.add_job(
            self._guard("housekeeping", self._housekeeping),
            IntervalTrigger(seconds=HOUSEKEEPING_EVERY),
            id="housekeeping",
        )
        log.info(
            "veye %s watching %d sources (worker %s%s)",
            __version__,
            len(sources),
            self.worker,
            ", sharing the database with any other workers" if self.shared else "",
        )
        self.scheduler.start()
        try:
            while not self.stopping.wait(0.5):
                if self.reload_requested.is_set():
                    self._reload()
        finally:
            self._stop()

    def _stop(self) -> None:
        started = time.monotonic()
        stopper = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True})
        stopper.start()
        stopper.join(STOP_GRACE)
        if stopper.is_alive():
            log.warning("in-flight work did not finish within %gs; exiting anyway", STOP_GRACE)
        self.app.store.release_sources(self.worker)
        if self.shared:
            # Other workers may still run: only this one's entry goes.
            self.app.store.delete_runtime(f"worker:{self.worker}")
        else:
            self.app.store.put_runtime(
                "daemon", {"pid": None, "stopped_at": self.clock().isoformat()}, now=self.clock()
            )
        log.info("stopped in %.1fs", time.monotonic() - started)
