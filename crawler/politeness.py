"""Politeness towards the sites we read: a minimum delay between request starts per host, and
robots.txt rules fetched once per site and kept for a while.

Both are used by :class:`crawler.fetch.Fetcher`, so every fetch obeys them; the clock and the
sleep are injected so tests never wait for real."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from crawler.errors import FetchError

__all__ = ["HostPacer", "RobotsCache", "RobotsRules", "robots_url"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Longest Crawl-delay we honour; beyond it a site would never be read at all.
MAX_CRAWL_DELAY = 60.0
#: robots.txt files larger than this are not parsed (RFC 9309 asks for at least 500 KiB).
ROBOTS_MAX_BYTES = 512 * 1024


class HostPacer:
    """Spaces request starts to each host at least ``min_delay`` seconds apart (or the
    host's ``Crawl-delay``, whichever is longer).

    Each caller reserves the next free start time before it sleeps, so waiters are served in
    arrival order and never start together. Reservations are guarded by a lock, so one pacer
    can serve every crawl of the process, whatever thread or event loop it runs in."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}

    def set_host_delay(self, host: str, delay: float) -> None:
        """A longer delay for one host (its robots.txt ``Crawl-delay``), capped."""
        with self._lock:
            self._host_delay[host] = min(max(delay, 0.0), MAX_CRAWL_DELAY)

    def delay_for(self, host: str, min_delay: float) -> float:
        return max(min_delay, self._host_delay.get(host, 0.0))

    async def wait(self, host: str, min_delay: float) -> None:
        """Return when a request to ``host`` may start."""
        delay = self.delay_for(host, min_delay)
        if delay <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + delay
            if len(self._next) > 10_000:  # forget hosts whose slot has long passed
                self._next = {h: t for h, t in self._next.items() if t > now}
        if start > now:
            await self._sleep(start - now)


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """One site's robots.txt as we understood it."""

    #: ``None`` means no rules apply: everything is allowed.
    parsed: Protego | None
    #: When the rules should be fetched again (``clock()`` time).
    expires: float
    #: Set when the file could not be read and the whole site is off limits for now.
    unavailable: str | None = None

    def allows(self, url: str, agent: str) -> bool:
        if self.unavailable is not None:
            return False
        return self.parsed is None or bool(self.parsed.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float | None:
        if self.parsed is None:
            return None
        delay = self.parsed.crawl_delay(agent)
        return float(delay) if delay is not None else None


#: Loads a robots.txt: its status and body. Raises FetchError when no answer came.
RobotsLoader = Callable[[str], Awaitable[tuple[int, bytes]]]


def robots_url(url: str) -> str:
    """The robots.txt that governs ``url``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "/robots.txt", "", ""))


class RobotsCache:
    """robots.txt rules per site (scheme, host and port), kept ``ttl`` seconds.

    Following RFC 9309: a 4xx answer (no file) allows everything; a 5xx answer, a network
    error or a timeout means the site cannot be read for now, so nothing is fetched from it
    until the rules are tried again (after ``retry`` seconds)."""

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        retry: float = 600.0,
        clock: Clock = time.monotonic,
        max_sites: int = 2048,
    ) -> None:
        self.ttl = ttl
        self.retry = retry
        self._clock = clock
        self._max_sites = max_sites
        self._rules: OrderedDict[str, RobotsRules] = OrderedDict()
        self._guard = threading.Lock()
        # One load per site at a time within a loop (each crawl pass has its own loop).
        self._loading: dict[tuple[int, str], asyncio.Lock] = {}

    def cached(self, url: str) -> RobotsRules | None:
        key = robots_url(url)
        with self._guard:
            rules = self._rules.get(key)
            if rules is None or rules.expires <= self._clock():
                return None
            self._rules.move_to_end(key)
        return rules

    async def rules_for(self, url: str, load: RobotsLoader) -> RobotsRules:
        """The rules for ``url``'s site, loading them with ``load`` when unknown or stale."""
        rules = self.cached(url)
        if rules is not None:
            return rules
        key = robots_url(url)
        slot = (id(asyncio.get_running_loop()), key)
        lock = self._loading.setdefault(slot, asyncio.Lock())
        try:
            async with lock:
                rules = self.cached(url)
                if rules is None:
                    rules = await self._load(key, load)
                    with self._guard:
                        self._rules[key] = rules
                        while len(self._rules) > self._max_sites:
                            self._rules.popitem(last=False)
        finally:
            if not lock.locked():
                self._loading.pop(slot, None)
        return rules

    async def _load(self, key: str, load: RobotsLoader) -> RobotsRules:
        now = self._clock()
        try:
            status, body = await load(key)
        except FetchError as e:
            if e.status is not None and 400 <= e.status < 500 and e.status != 429:
                return RobotsRules(None, now + self.ttl)
            return RobotsRules(
                None, now + self.retry, unavailable=f"its robots.txt could not be read ({e})"
            )
        if not 200 <= status < 300:
            return RobotsRules(None, now + self.ttl)
        try:
            parsed = Protego.parse(body.decode("utf-8", errors="replace"))
        except Exception:  # a parser bug must not block a site: treat as no rules
            return RobotsRules(None, now + self.ttl)
        return RobotsRules(parsed, now + self.ttl)
