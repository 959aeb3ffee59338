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

The client is aiohttp, one session per :class:`Fetcher`: per request it costs the crawling
process about a tenth of the CPU httpx did, and that CPU bounds a full-text crawl (the main
process fetches every page while workers extract them).
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import functools
import os
import socket
import ssl
import time
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl

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
from crawler.urls import host_of

__all__ = ["FetchSettings", "Fetcher", "Response", "parse_retry_after"]

_REDIRECTS = {301, 302, 303, 307, 308}
#: Longest wait a server may impose through Retry-After; beyond it we poll on our schedule.
MAX_RETRY_AFTER = 6 * 3600.0

#: robots.txt rules and per-host request times shared by every fetcher of the process: the
#: daemon's crawls (one per source, in several threads) are polite to a host together.
SHARED_ROBOTS = RobotsCache()
SHARED_PACER = HostPacer()

#: Longest response header line accepted; h11 (under httpx) took 16 KiB of headers, and
#: aiohttp's default of 8 KiB per line refuses some sites' long Set-Cookie or CSP headers.
_MAX_HEADER_LINE = 16 * 1024


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
        self._proxies = _Proxies()
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
            self._session = _open_session(self.settings)
            self._proxies = _Proxies.from_environment()
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
        target = _request_url(url)
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
                resp_headers = _plain_headers(resp.headers)
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
            raise FetchError(_describe(e, url)) from e
        except ValueError as e:  # a header aiohttp refuses to send (a stored ETag, say)
            raise FetchError(f"cannot send the request for {url}: {e}") from e


def _open_session(settings: FetchSettings) -> aiohttp.ClientSession:
    """A session that sends only what :meth:`Fetcher.get` asks for, with no limit of its own
    but the connection count: the deadline, redirects and decoding are the fetcher's."""
    connector = aiohttp.TCPConnector(
        limit=64,
        limit_per_host=0,  # the fetcher's per-host slots are the limit
        keepalive_timeout=5.0,  # how long httpx kept an idle connection
        ssl=_tls_context() if settings.verify_tls else False,
        # getaddrinfo, as the address guard resolves; not c-ares should aiodns be installed.
        resolver=aiohttp.ThreadedResolver(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": settings.user_agent},
        auto_decompress=False,
        # Proxies come from _Proxies: aiohttp's trust_env would look them up again on every
        # request, through two thread hops (doubling the CPU per request), and would also
        # send ~/.netrc passwords to the hosts it names, which httpx did not.
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None),
        # Cookies a site sets are sent back to it within the pass, IP-address hosts included.
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        max_line_size=_MAX_HEADER_LINE,
        max_field_size=_MAX_HEADER_LINE,
    )


@dataclass(frozen=True, slots=True)
class _Proxies:
    """The proxies of the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``; hosts
    in ``NO_PROXY`` go direct), read once per session as httpx read them once per client."""

    by_scheme: Mapping[str, tuple[yarl.URL, aiohttp.BasicAuth | None]] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> _Proxies:
        found = urllib.request.getproxies()
        by_scheme = {}
        for scheme in ("http", "https"):
            value = found.get(scheme) or found.get("all")
            if not value:
                continue
            proxy = yarl.URL(value if "://" in value else f"http://{value}")
            auth = aiohttp.BasicAuth(proxy.user or "", proxy.password or "") if proxy.user else None
            by_scheme[scheme] = (proxy.with_user(None), auth)
        return cls(by_scheme)

    def for_url(self, url: yarl.URL) -> tuple[yarl.URL | None, aiohttp.BasicAuth | None]:
        """The proxy (and its credentials) to reach ``url`` through; ``None`` for none."""
        found = self.by_scheme.get(url.scheme)
        if found is None or urllib.request.proxy_bypass(url.raw_host or ""):
            return None, None
        return found


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Verifying TLS with the certificates httpx trusted: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
    when set, else certifi's bundle (the system's without certifi). Built once: loading a
    bundle costs milliseconds."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers with lowercase names; a repeated header's values joined with ``, ``
    (as httpx gave them). A value that is not UTF-8 is read as Latin-1."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        name = name.lower()
        if not value.isascii():
            # aiohttp keeps undecodable bytes as surrogates; they could not be re-encoded.
            raw = value.encode("utf-8", "surrogateescape")
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


# What is left unescaped in a URL's path and query, as httpx (and browsers, per the WHATWG
# URL standard) leave it: printable ASCII but for the characters listed; ``%`` stays, so
# existing escapes are sent exactly as written.
_PATH_SAFE = frozenset(chr(i) for i in range(0x21, 0x7F)) - set('"#<>?`{}')
_QUERY_SAFE = frozenset(chr(i) for i in range(0x21, 0x7F)) - set('"#<>')
_PATH_SAFE_CHARS = "".join(sorted(_PATH_SAFE))
_QUERY_SAFE_CHARS = "".join(sorted(_QUERY_SAFE))


def _request_url(url: str) -> yarl.URL:
    """``url`` as it goes on the wire, written as httpx wrote it: the host lowercased (IDNA
    for a non-ASCII name), ``.`` and ``..`` segments resolved, and in the path and query only
    spaces, non-ASCII and the few characters URLs may not carry percent-encoded. yarl's own
    quoting would also rewrite existing escapes (``%7E`` to ``~``, ``%zz`` to ``%25zz``), which
    some servers do not take for the same URL."""
    bad = next((c for c in url if c.isascii() and not c.isprintable()), None)
    if bad is not None:
        raise FetchError(f"invalid URL {url!r}: it contains the control character {bad!r}")
    try:
        parts = urlsplit(url)
        return yarl.URL.build(
            scheme=parts.scheme.lower(),
            authority=_authority(parts.scheme.lower(), parts.netloc),
            path=_quote(_remove_dot_segments(parts.path), _PATH_SAFE_CHARS, _PATH_SAFE),
            query_string=_quote(parts.query, _QUERY_SAFE_CHARS, _QUERY_SAFE),
            encoded=True,
        )
    except (ValueError, UnicodeError) as e:
        raise FetchError(f"invalid URL {url!r}: {e}") from e


@functools.lru_cache(maxsize=1024)
def _authority(scheme: str, netloc: str) -> str:
    """``netloc`` encoded by yarl: the host lowercased or IDNA-encoded, a default port
    dropped, user info escaped. Raises ValueError for a host or port that cannot be."""
    return yarl.URL(f"{scheme}://{netloc}").raw_authority


def _quote(text: str, safe_chars: str, safe: frozenset[str]) -> str:
    if not text.rstrip(safe_chars):  # the usual case: nothing to escape
        return text
    return "".join(
        c if c in safe else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in text
    )


def _remove_dot_segments(path: str) -> str:
    """``/a/./b/../c`` as ``/a/c`` (RFC 3986, 5.2.4)."""
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    out: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if out and out != [""]:
                out.pop()
            continue
        out.append(segment)
    return "/".join(out)


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


_DNS_FAILURES = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
)


def _describe(e: aiohttp.ClientError, url: str) -> str:
    """One line for an aiohttp error: what failed, and where."""
    host = host_of(url) or "the host"
    if isinstance(e, aiohttp.InvalidURL):
        why = f": {e.description}" if e.description else ""
        return f"invalid URL {url!r}{why}"
    if isinstance(e, aiohttp.ClientConnectorError):
        where = f"{e.host}:{e.port}"
        if isinstance(e, aiohttp.ClientConnectorDNSError) or _is_dns_failure(e.os_error):
            return (
                f"cannot connect: no address for {host} (offline, or the domain no longer exists)"
            )
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            return (
                f"cannot connect: the TLS certificate of {where} is not trusted "
                f"({_reason(e.certificate_error)})"
            )
        if isinstance(e, aiohttp.ClientSSLError):
            return f"cannot connect: the TLS handshake with {where} failed ({_reason(e.os_error)})"
        if isinstance(e, aiohttp.ClientProxyConnectionError):
            return f"cannot connect to the proxy {where}: {_reason(e.os_error)}"
        return f"cannot connect to {where}: {_reason(e.os_error)}"
    if isinstance(e, aiohttp.ClientHttpProxyError):
        return f"the proxy refused to reach {host}: HTTP {e.status} {e.message}".rstrip()
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return f"the server broke the protocol: {host} closed the connection without answering"
    if isinstance(e, aiohttp.ClientPayloadError):
        return (
            f"the server broke the protocol: the body from {host} was cut short or malformed "
            f"({_payload_reason(e)})"
        )
    if isinstance(e, aiohttp.ClientResponseError):
        return (
            f"the server broke the protocol: {host} sent an unreadable response "
            f"({_first_line(e.message)})"
        )
    if isinstance(e, aiohttp.ClientOSError):
        return f"the connection to {host} failed: {_reason(e)}"
    return f"{type(e).__name__} from {host}: {e}"


def _is_dns_failure(error: OSError) -> bool:
    return isinstance(error, socket.gaierror) or any(m in str(error).lower() for m in _DNS_FAILURES)


def _reason(error: BaseException) -> str:
    """The short reason inside an OS or TLS error (``connection refused``)."""
    if (
        isinstance(error, ConnectionRefusedError)
        or getattr(error, "errno", None) == errno.ECONNREFUSED
    ):
        return "connection refused"
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return str(error.verify_message)
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason).replace("_", " ").lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def _payload_reason(e: aiohttp.ClientPayloadError) -> str:
    # aiohttp wraps the parser's error ("Not enough data to satisfy content length header.")
    # in its own message; the inner one is the reason.
    inner = e.__cause__ or (e.args[1] if len(e.args) > 1 else None)
    message = getattr(inner, "message", None) or (str(inner) if inner else str(e))
    return _first_line(str(message)) or "incomplete body"


def _first_line(text: str) -> str:
    # llhttp's messages go on to draw the offending bytes over several lines.
    return text.strip().split("\n", 1)[0].strip().rstrip(":.")
