"""HTTP fetching with the limits every request needs, in one place used by every fetch:

- a ``User-Agent`` naming veye and a contact URL;
- robots.txt obeyed for pages (:mod:`crawler.politeness`), on request;
- at most ``per_host_concurrency`` requests at once per host, and request starts to one host
  spaced at least ``min_delay`` apart;
- a total deadline per fetch, redirects and body included;
- a cap on the *decoded* body, enforced while decompressing (:mod:`crawler.decoding`);
- redirects followed by hand, limited, http(s) only, and never from a public address onto a
  private one (:mod:`crawler.addresses`);
- TLS verified; conditional GET with ETag and Last-Modified.

The HTTP client is aiohttp, one session per :class:`Fetcher` (:mod:`crawler.session`).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

from crawler.addresses import AddressGuard, Resolver
from crawler.decoding import SUPPORTED_ENCODINGS, BoundedDecoder
from crawler.errors import (
    BlockedURL,
    FetchError,
    HTTPStatusError,
    RobotsDisallowed,
    Timeout,
    TooLarge,
)
from crawler.politeness import ROBOTS_MAX_BYTES, HostPacer, RobotsCache
from crawler.records import Validators
from crawler.session import Proxies, describe_error, open_session, plain_headers, request_url
from crawler.urls import host_of

__all__ = ["FetchSettings", "Fetcher", "Response", "parse_retry_after"]

_REDIRECTS = {301, 302, 303, 307, 308}
#: Longest wait a server may impose through Retry-After; beyond it we poll on our schedule.
MAX_RETRY_AFTER = 6 * 3600.0

#: robots.txt rules and per-host request times shared by every fetcher of the process: the
#: daemon's crawls (one per source, in several threads) are polite to a host together.
SHARED_ROBOTS = RobotsCache()
SHARED_PACER = HostPacer()


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits applied to every request."""

    user_agent: str = "veye/0.1 (+https://github.com/veye-news/veye)"
    #: Total seconds for one fetch, redirects and body included.
    timeout: float = 20.0
    #: Largest body accepted, counted after decompression.
    max_bytes: int = 15_000_000
    per_host_concurrency: int = 2
    max_redirects: int = 5
    verify_tls: bool = True
    #: Least seconds between the starts of two requests to the same host.
    min_delay: float = 1.0
    #: Obey robots.txt for the fetches that ask for it (pages; not the configured feeds).
    obey_robots: bool = True
    #: Seconds a site's robots.txt rules are kept before being fetched again.
    robots_ttl: float = 3600.0
    #: Hosts taken as public whatever they resolve to (split-horizon DNS; tests).
    public_hosts: frozenset[str] = frozenset()

    @property
    def agent_token(self) -> str:
        """The product token robots.txt rules are matched against (``veye``)."""
        head = self.user_agent.split("/", 1)[0].split()
        return head[0] if head else "veye"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response whose body passed the caps."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed: float

    @property
    def validators(self) -> Validators:
        return Validators(
            etag=self.headers.get("etag"), last_modified=self.headers.get("last-modified")
        )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), capped;
    ``None`` for garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


class Fetcher:
    """Fetches URLs under :class:`FetchSettings`; one per crawl pass (one event loop), closed
    with :meth:`aclose` (or used as ``async with``).

    ``resolver``, ``robots`` and ``pacer`` are seams for tests."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        resolver: Resolver | None = None,
        robots: RobotsCache | None = None,
        pacer: HostPacer | None = None,
    ) -> None:
        self.settings = settings or FetchSettings()
        # Made inside the running loop (aiohttp binds a session to it), on entry or first use.
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()
        self._closed = False
        self._host_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.per_host_concurrency)
        )
        self._pacer = pacer if pacer is not None else SHARED_PACER
        self._robots = robots if robots is not None else SHARED_ROBOTS
        self._guard = AddressGuard(resolver, self.settings.public_hosts)

    async def __aenter__(self) -> Fetcher:
        self._client()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._closed:
                raise RuntimeError("this Fetcher is closed")
            self._session = open_session(self.settings.user_agent, self.settings.verify_tls)
            self._proxies = Proxies.from_environment()
        return self._session

    async def get(
        self,
        url: str,
        *,
        validators: Validators | None = None,
        accept: str = "*/*",
        robots: bool = False,
        origin: str | None = None,
        allow_private: bool = False,
        max_bytes: int | None = None,
    ) -> Response:
        """GET ``url``; a 304 comes back as a :class:`Response` with status 304.

        ``robots``: obey the site's robots.txt (for pages; a configured feed is fetched
        because the user asked for it). ``origin``: where the URL came from (the feed that
        linked to it); without it the URL is the user's own choice and may be private, while
        its redirects may not lead from a public address to a private one.
        ``allow_private`` lifts that rule for a source that needs it.

        Raises :class:`FetchError` (or a subclass) for anything else that is not a 2xx."""
        headers = {"Accept": accept, "Accept-Encoding": SUPPORTED_ENCODINGS}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        limit = max_bytes or self.settings.max_bytes
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline: float | None = None
        came_from = origin or url
        for hop in range(self.settings.max_redirects + 1):
            _check_scheme(url)
            if (hop or origin) and not allow_private:
                await self._refuse_public_to_private(came_from, url)
            if robots and self.settings.obey_robots:
                # Before taking a slot: fetching robots.txt needs one on the same host.
                await self._check_robots(url)
            host = host_of(url)
            try:
                if deadline is None:
                    # Queueing for the host and the politeness delay are not the server's
                    # fault: the deadline starts with the first request.
                    async with self._host_slots[host]:
                        await self._pacer.wait(host, self.settings.min_delay)
                        deadline = loop.time() + self.settings.timeout
                        async with asyncio.timeout_at(deadline):
                            status, resp_headers, body = await self._one(url, headers, limit)
                else:
                    async with asyncio.timeout_at(deadline), self._host_slots[host]:
                        await self._pacer.wait(host, self.settings.min_delay)
                        status, resp_headers, body = await self._one(url, headers, limit)
            except TimeoutError as e:
                raise Timeout(f"no complete answer within {self.settings.timeout:g}s") from e
            if status in _REDIRECTS and "location" in resp_headers:
                url = urljoin(url, resp_headers["location"].strip())
                continue
            elapsed = time.monotonic() - started
            if status == 304 or 200 <= status < 300:
                return Response(url, status, resp_headers, body, elapsed)
            retry_after = (
                parse_retry_after(resp_headers.get("retry-after")) if status in (429, 503) else None
            )
            wait = f"; it asks us to wait {retry_after:g}s" if retry_after is not None else ""
            raise HTTPStatusError(
                f"HTTP {status} from {url}{wait}", status=status, retry_after=retry_after
            )
        raise FetchError(f"more than {self.settings.max_redirects} redirects")

    async def _refuse_public_to_private(self, came_from: str, url: str) -> None:
        if not await self._guard.is_public(host_of(came_from)):
            return  # the chain began on the user's own network: they chose it
        if not await self._guard.is_public(host_of(url)):
            raise BlockedURL(
                f"refusing {url}: it leads from a public address to a loopback, private or "
                "reserved one; if this source really lives on a private network, set "
                "`options: {allow_private: true}` on it"
            )

    async def _check_robots(self, url: str) -> None:
        agent = self.settings.agent_token
        rules = await self._robots.rules_for(url, self._load_robots)
        delay = rules.crawl_delay(agent)
        if delay:
            self._pacer.set_host_delay(host_of(url), delay)
        if not rules.allows(url, agent):
            why = rules.unavailable or "its robots.txt disallows it"
            raise RobotsDisallowed(f"not fetching {url}: {why}")

    async def _load_robots(self, robots_url: str) -> tuple[int, bytes]:
        resp = await self.get(
            robots_url,
            accept="text/plain, */*;q=0.5",
            origin=robots_url,
            max_bytes=ROBOTS_MAX_BYTES,
        )
        return resp.status, resp.content

    async def _one(
        self, url: str, headers: dict[str, str], limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        target = request_url(url)
        try:
            session = self._client()
            proxy, proxy_auth = self._proxies.for_url(target)
            async with session.get(
                target,
                headers=headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as resp:
                status = resp.status
                resp_headers = plain_headers(resp.headers)
                if status in _REDIRECTS or status == 304 or status >= 400:
                    return status, resp_headers, b""  # no body we would use
                declared = resp_headers.get("content-length", "")
                encoding = resp_headers.get("content-encoding")
                if declared.isdigit() and not encoding and int(declared) > limit:
                    raise TooLarge(f"body of {int(declared):,} bytes is larger than {limit:,}")
                decoder = BoundedDecoder(encoding, limit)
                body = bytearray()
                # Raw bytes (the session does not decompress), decoded here under the cap.
                async for chunk in resp.content.iter_any():
                    body += decoder.feed(chunk)
                body += decoder.finish()
                return status, resp_headers, bytes(body)
        except aiohttp.ServerTimeoutError as e:  # none is set; the deadline is ours
            raise Timeout(f"timed out: {e}") from e
        except aiohttp.ClientError as e:
            raise FetchError(describe_error(e, url)) from e
        except ValueError as e:  # a header aiohttp refuses to send (a stored ETag, say)
            raise FetchError(f"cannot send the request for {url}: {e}") from e


def _check_scheme(url: str) -> None:
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as e:
        raise BlockedURL(f"refusing to fetch malformed URL {url!r}: {e}") from e
    if scheme not in ("http", "https"):
        raise BlockedURL(
            f"refusing to fetch {scheme or 'a relative'} URL {url!r}: "
            "only http and https are fetched"
        )
