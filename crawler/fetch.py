"""HTTP fetching with the limits every request needs: a total deadline, a cap on the
decoded body, bounded and checked redirects, conditional GET, and per-host concurrency."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from crawler.errors import BlockedURL, FetchError, HTTPStatusError, Timeout, TooLarge
from crawler.records import Validators
from crawler.urls import host_of

__all__ = ["FetchSettings", "Fetcher", "Response", "parse_retry_after"]

_REDIRECTS = {301, 302, 303, 307, 308}
#: Longest wait a server may impose through Retry-After; beyond it we poll on our schedule.
MAX_RETRY_AFTER = 6 * 3600.0


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
    """Fetches URLs under :class:`FetchSettings`; one per crawl, closed with :meth:`aclose`."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or FetchSettings()
        self._client = httpx.AsyncClient(
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=False,  # followed by hand, to check each hop
            verify=self.settings.verify_tls,
            transport=transport,
            timeout=httpx.Timeout(self.settings.timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._host_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.per_host_concurrency)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self, url: str, *, validators: Validators | None = None, accept: str = "*/*"
    ) -> Response:
        """GET ``url``; a 304 comes back as a :class:`Response` with status 304.

        Raises :class:`FetchError` (or a subclass) for anything else that is not a 2xx."""
        headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await self._follow(url, headers, started)
        except TimeoutError as e:
            raise Timeout(f"no complete answer within {self.settings.timeout:g}s") from e

    async def _follow(self, url: str, headers: dict[str, str], started: float) -> Response:
        for _hop in range(self.settings.max_redirects + 1):
            _check_url(url)
            async with self._host_slots[host_of(url)]:
                status, resp_headers, body = await self._one(url, headers)
            if status in _REDIRECTS and "location" in resp_headers:
                url = urljoin(url, resp_headers["location"])
                continue
            elapsed = time.monotonic() - started
            if status == 304 or 200 <= status < 300:
                return Response(url, status, resp_headers, body, elapsed)
            retry_after = (
                parse_retry_after(resp_headers.get("retry-after")) if status in (429, 503) else None
            )
            raise HTTPStatusError(
                f"HTTP {status} from {url}", status=status, retry_after=retry_after
            )
        raise FetchError(f"more than {self.settings.max_redirects} redirects")

    async def _one(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            async with self._client.stream("GET", url, headers=headers) as resp:
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status_code in _REDIRECTS or resp.status_code == 304:
                    return resp.status_code, resp_headers, b""
                chunks: list[bytes] = []
                size = 0
                # aiter_bytes yields *decoded* bytes, so the cap holds against compression bombs.
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.settings.max_bytes:
                        raise TooLarge(
                            f"body larger than {self.settings.max_bytes:,} bytes "
                            "after decompression",
                            status=resp.status_code,
                        )
                    chunks.append(chunk)
                return resp.status_code, resp_headers, b"".join(chunks)
        except httpx.DecodingError as e:
            raise FetchError(f"undecodable body: {e}") from e
        except httpx.TimeoutException as e:
            raise Timeout(f"timed out: {type(e).__name__}") from e
        except httpx.HTTPError as e:
            raise FetchError(f"{_describe(e)}") from e


def _check_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedURL(
            f"refusing to fetch {scheme or 'a relative'} URL {url!r}: "
            "only http and https are fetched"
        )


def _describe(e: httpx.HTTPError) -> str:
    if isinstance(e, httpx.ConnectError):
        return f"cannot connect: {e or 'connection refused'}"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"the server broke the protocol: {e}"
    return f"{type(e).__name__}: {e}"
