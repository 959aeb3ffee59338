"""The HTTP client under :class:`crawler.fetch.Fetcher`, and everything of aiohttp's that
it must translate: the session, a URL as it goes on the wire, the proxies and trust store of
the environment, response headers, and aiohttp's errors as one line for a person.

aiohttp rather than httpx: per request it costs the crawling process about a tenth of the
CPU (0.15 ms against 1.1 ms, measured on article pages from a local server), and that CPU
bounds a full-text crawl, where the main process fetches every page while workers extract.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import yarl

from crawler.errors import FetchError
from crawler.urls import host_of

__all__ = ["Proxies", "describe_error", "open_session", "plain_headers", "request_url"]

#: Longest response header line accepted; h11 (under httpx) took 16 KiB of headers, and
#: aiohttp's default of 8 KiB per line refuses some sites' long Set-Cookie or CSP headers.
_MAX_HEADER_LINE = 16 * 1024


def open_session(user_agent: str, verify_tls: bool) -> aiohttp.ClientSession:
    """A session that sends only what :meth:`crawler.fetch.Fetcher.get` asks for, with no
    limit of its own but the connection count: the deadline, redirects and decoding are the
    fetcher's."""
    connector = aiohttp.TCPConnector(
        limit=64,
        limit_per_host=0,  # the fetcher's per-host slots are the limit
        keepalive_timeout=5.0,  # how long httpx kept an idle connection
        ssl=_tls_context() if verify_tls else False,
        # getaddrinfo, as the address guard resolves; not c-ares should aiodns be installed.
        resolver=aiohttp.ThreadedResolver(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
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
class Proxies:
    """The proxies of the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``; hosts
    in ``NO_PROXY`` go direct), read once per session as httpx read them once per client."""

    by_scheme: Mapping[str, tuple[yarl.URL, aiohttp.BasicAuth | None]] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Proxies:
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


def plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
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


def request_url(url: str) -> yarl.URL:
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


_DNS_FAILURES = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
)


def describe_error(e: aiohttp.ClientError, url: str) -> str:
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
