"""``veye run``: poll each source when it is due, until told to stop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from crawler.fetch import Fetcher
from veye.app import App
from veye.crawl import crawl_once

log = logging.getLogger("veye.daemon")

#: Longest sleep between checks, so a stop or a newly due source is noticed promptly.
TICK = 5.0


class Daemon:
    """Polls due sources in passes; stops cleanly on SIGTERM or SIGINT."""

    def __init__(self, app: App, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.app = app
        self.clock = clock
        self.stopping = threading.Event()

    def install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                raise SystemExit(1)  # a second signal: stop now
            log.info("received %s, finishing the current pass", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def due(self) -> list[str]:
        now = self.clock()
        next_poll = {s.name: s.next_poll_at for s in self.app.store.source_states()}
        due = []
        for source in self.app.settings.active_sources():
            when = next_poll.get(source.name)
            if when is None or when <= now:
                due.append(source.name)
        return due

    def run(self) -> None:
        settings = self.app.settings
        store = self.app.store
        store.sync_sources((s.name, s.kind, s.url) for s in settings.active_sources())
        log.info("watching %d sources", len(settings.active_sources()))
        while not self.stopping.is_set():
            names = set(self.due())
            if names:
                sources = [s for s in settings.active_sources() if s.name in names]
                summary = crawl_once(
                    store,
                    self.app.filter,
                    sources,
                    fetcher_factory=lambda: Fetcher(settings.crawl.fetch_settings()),
                    concurrency=settings.crawl.concurrency,
                )
                for o in summary.outcomes:
                    if o.error:
                        log.warning("%s: %s", o.source, o.error)
                    elif o.new or o.alerts:
                        log.info("%s: %d new, %d flagged", o.source, o.new, o.alerts)
                store.put_runtime("heartbeat", {"pid": _pid()}, now=self.clock())
            self.stopping.wait(TICK)
        log.info("stopped")


def _pid() -> int:
    import os

    return os.getpid()
