from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.addresses import AddressGuard, is_public_address
from crawler.decoding import BoundedDecoder
from crawler.errors import BlockedURL, FetchError, HTTPStatusError, Timeout, TooLarge
from crawler.fetch import MAX_RETRY_AFTER, Fetcher, FetchSettings, Response, parse_retry_after
from crawler.politeness import RobotsCache
from crawler.records import Validators
from tests.helpers_delivery import make_certificate, server_context
from tests.localserver import LocalServer, Route


def fetch(
    url: str, settings: FetchSettings | None = None, validators: Validators | None = None, **kw: Any
) -> Response:
    async def go() -> Response:
        async with Fetcher(settings or FAST, robots=RobotsCache()) as f:
            return await f.get(url, validators=validators, **kw)

    return asyncio.run(go())


#: No politeness delay: every test server is one host.
FAST = FetchSettings(timeout=3, min_delay=0)


def test_conditional_get_sends_validators_and_takes_304(server: LocalServer) -> None:
    url = server.add(
        "/feed", Route(b"<rss/>", etag='"v1"', last_modified="Mon, 04 Mar 2024 10:00:00 GMT")
    )
    first = fetch(url)
    assert first.status == 200
    assert first.content == b"<rss/>"
    assert first.validators == Validators('"v1"', "Mon, 04 Mar 2024 10:00:00 GMT")
    second = fetch(url, validators=first.validators)
    assert second.status == 304
    assert second.content == b""
    assert server.requests[-1][1]["If-None-Match"] == '"v1"'


def test_user_agent_is_sent(server: LocalServer) -> None:
    url = server.add("/ua", Route(b"ok"))
    fetch(url, replace(FAST, user_agent="veye-test/1 (+https://example.org/contact)"))
    assert server.requests[-1][1]["User-Agent"] == "veye-test/1 (+https://example.org/contact)"


def test_server_errors_are_typed(server: LocalServer) -> None:
    url = server.add("/boom", Route(b"oops", status=500))
    with pytest.raises(HTTPStatusError, match="HTTP 500") as err:
        fetch(url)
    assert err.value.status == 500


def test_429_carries_retry_after(server: LocalServer) -> None:
    url = server.add("/slowdown", Route(b"", status=429, headers={"Retry-After": "120"}))
    with pytest.raises(HTTPStatusError) as err:
        fetch(url)
    assert err.value.retry_after == 120


def test_a_drip_feeding_server_is_cut_off_by_the_total_deadline(server: LocalServer) -> None:
    url = server.add("/drip", Route(b"x" * 200, drip=1, drip_pause=0.05))
    started = time.monotonic()
    with pytest.raises(Timeout):
        fetch(url, replace(FAST, timeout=1.0))
    assert time.monotonic() - started < 3


def test_the_byte_cap_counts_decoded_bytes(server: LocalServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB on the wire
    url = server.add("/bomb", Route(raw_gzip=bomb))
    with pytest.raises(TooLarge, match="after decompression"):
        fetch(url, replace(FAST, max_bytes=1_000_000))


def test_redirects_are_followed_then_limited(server: LocalServer) -> None:
    server.add("/old", Route(status=301, headers={"Location": "/new"}))
    server.add("/new", Route(b"moved here"))
    resp = fetch(server.url("/old"))
    assert resp.content == b"moved here"
    assert resp.url.endswith("/new")
    server.add("/loop", Route(status=302, headers={"Location": "/loop"}))
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch(server.url("/loop"))


def test_a_redirect_to_file_is_refused(server: LocalServer) -> None:
    url = server.add("/sneaky", Route(status=302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(BlockedURL, match="only http and https"):
        fetch(url)


def test_a_closed_port_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="cannot connect"):
        fetch("http://127.0.0.1:9/feed")


def test_odd_urls_are_requested_as_written_with_only_what_must_be_escaped(
    server: LocalServer,
) -> None:
    # Existing escapes are sent exactly as written (%7E is not turned into ~, nor %zz into
    # %25zz); spaces and non-ASCII are escaped as UTF-8; dot segments are resolved.
    wire = "/%C3%A9vasion%20%C3%A0/%7Euser/a|b[1]/%zz/x"
    server.add(wire, Route(b"found"))
    resp = fetch(server.url("/évasion à/%7Euser/a|b[1]/%zz/./y/../x?q=a b&r=%41&s=é#top"))
    assert resp.content == b"found"
    assert server.requests[-1][0] == wire + "?q=a%20b&r=%41&s=%C3%A9"


def test_only_the_headers_we_ask_for_are_sent(server: LocalServer) -> None:
    url = server.add("/h", Route(b"ok"))
    fetch(url, accept="application/rss+xml")
    assert server.requests[-1][1] == {
        "Host": server.base.removeprefix("http://"),
        "User-Agent": FAST.user_agent,
        "Accept": "application/rss+xml",
        "Accept-Encoding": "gzip, deflate",
    }


def test_repeated_response_headers_are_joined(server: LocalServer) -> None:
    url = server.add("/twice", Route(b"ok", headers={"Link": "<a>", "X-Seen": "1"}))
    assert fetch(url).headers["link"] == "<a>"
    assert fetch(url).headers["content-length"] == "2"


@contextmanager
def raw_server(answer: bytes, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[int]]]:
    """A server that reads each request's head, writes ``answer`` and closes the connection
    (whatever ``answer`` says about keep-alive). Yields its base URL and a count of the
    connections it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            connections[0] += 1
            try:
                if tls is not None:
                    conn = tls.wrap_socket(conn, server_side=True)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(65536)
                    if not data:
                        break
                    head += data
                if head:
                    conn.sendall(answer)
            except (OSError, ssl.SSLError):
                pass  # the client refused our certificate
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        listener.close()


def test_a_kept_alive_connection_the_server_closed_is_not_an_error() -> None:
    # The answer promises keep-alive, then the server closes: the next request must not
    # fail on the dead pooled connection.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with raw_server(ok) as (base, connections):

        async def go() -> list[bytes]:
            async with Fetcher(FAST, robots=RobotsCache()) as f:
                first = await f.get(base + "/a")
                await asyncio.sleep(0.05)  # the server's close arrives while idle
                return [first.content, (await f.get(base + "/b")).content]

        assert asyncio.run(go()) == [b"ok", b"ok"]
        assert connections[0] == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(b"", "closed the connection without answering", id="hang-up"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            "the body from 127.0.0.1 was cut short or malformed",
            id="truncated",
        ),
        pytest.param(b"SMTP ready\r\n\r\n", "sent an unreadable response", id="not-http"),
    ],
)
def test_a_server_breaking_the_protocol_is_one_readable_line(answer: bytes, message: str) -> None:
    with raw_server(answer) as (base, _), pytest.raises(FetchError) as err:
        fetch(base + "/x")
    text = str(err.value)
    assert text.startswith("the server broke the protocol: ")
    assert message in text
    assert "\n" not in text


def test_a_closed_port_names_the_address() -> None:
    with pytest.raises(FetchError, match=r"^cannot connect to 127\.0\.0\.1:9: connection refused$"):
        fetch("http://127.0.0.1:9/feed")


def test_an_untrusted_certificate_is_refused_unless_verification_is_off(tmp_path: Path) -> None:
    context = server_context(*make_certificate(tmp_path))
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure"
    with raw_server(ok, tls=context) as (base, _):
        port = base.rsplit(":", 1)[1]
        with pytest.raises(FetchError) as err:
            fetch(base + "/x")
        assert str(err.value) == (
            f"cannot connect: the TLS certificate of 127.0.0.1:{port} is not trusted "
            "(self-signed certificate)"
        )
        assert fetch(base + "/x", replace(FAST, verify_tls=False)).content == b"secure"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://exa\nmple.com/", "control character '\\n'"),
        ("http://example.com:99999/", "Port out of range"),
        ("http:///nohost", "invalid URL"),
    ],
)
def test_an_invalid_url_is_a_fetch_error_naming_it(url: str, message: str) -> None:
    with pytest.raises(FetchError, match="invalid URL") as err:
        fetch(url)
    assert message in str(err.value)


def test_proxies_come_from_the_environment(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # A proxy is asked for the absolute URL; this one is our test server.
    server.add("http://outlet.example/page", Route(b"via the proxy"))
    assert fetch("http://outlet.example/page").content == b"via the proxy"


def test_no_proxy_hosts_are_reached_directly(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/direct", Route(b"direct"))
    monkeypatch.setenv("HTTP_PROXY", "127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(
        FetchError, match=r"cannot connect to the proxy 127\.0\.0\.1:9: connection refused"
    ):
        fetch(url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert fetch(url).content == b"direct"


def test_a_closed_fetcher_refuses_to_fetch(server: LocalServer) -> None:
    url = server.add("/x", Route(b"ok"))

    async def go() -> None:
        f = Fetcher(FAST, robots=RobotsCache())
        assert (await f.get(url)).content == b"ok"  # the session opens on first use
        await f.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await f.get(url)

    asyncio.run(go())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("99999999", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("soon", None),
        ("", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


# -- decoding under the cap -------------------------------------------------------------


def gzip_stream(total: int, chunk: int = 1 << 20) -> bytes:
    """``total`` zero bytes gzipped without ever holding them: a compression bomb."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * chunk
    parts = [z.compress(zeros) for _ in range(total // chunk)]
    return b"".join([*parts, z.flush()])


def test_a_gzip_bomb_is_stopped_without_inflating_it(server: LocalServer) -> None:
    bomb = gzip_stream(100_000_000)  # 100 MB of zeros in ~100 KB
    assert len(bomb) < 1_000_000
    url = server.add("/bomb", Route(raw_gzip=bomb))
    cap = 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="after decompression"):
            fetch(url, replace(FAST, max_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One 64 KB network chunk of this bomb inflates to ~64 MB: a decoder that let a chunk
    # expand freely would show it here. Ours holds the cap, a chunk and a copy.
    assert peak < 8 * cap


def test_gzip_and_deflate_bodies_are_decoded(server: LocalServer) -> None:
    body = "Évasion à Mirebalais. ".encode() * 2000
    server.add("/gz", Route(raw_gzip=gzip.compress(body) + gzip.compress(body)))
    assert fetch(server.url("/gz")).content == body + body  # two gzip members
    server.add("/plain", Route(body, gzip=True))
    assert fetch(server.url("/plain")).content == body
    assert server.requests[-1][1]["Accept-Encoding"] == "gzip, deflate"


RSS = b"<rss/>" * 100


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        pytest.param("deflate", zlib.compress(RSS), id="deflate"),
        pytest.param("deflate", zlib.compress(RSS)[2:-4], id="raw-deflate-mislabelled"),
        pytest.param("gzip, gzip", gzip.compress(gzip.compress(RSS, mtime=0), mtime=0), id="twice"),
        pytest.param("identity", RSS, id="identity"),
        pytest.param("gzip", gzip.compress(RSS, mtime=0) + b"\0\0junk", id="trailing-junk"),
    ],
)
def test_bounded_decoder_undoes_each_encoding(encoding: str, data: bytes) -> None:
    decoder = BoundedDecoder(encoding, 10_000)
    out = b"".join(decoder.feed(data[i : i + 7]) for i in range(0, len(data), 7))
    assert out + decoder.finish() == RSS


def test_bounded_decoder_refuses_what_it_cannot_undo() -> None:
    with pytest.raises(FetchError, match="Content-Encoding 'br'"):
        BoundedDecoder("br", 100)
    with pytest.raises(FetchError, match="corrupt compressed data"):
        BoundedDecoder("gzip", 100).feed(b"this is not gzip at all")


# -- where redirects may lead ------------------------------------------------------------


def test_a_redirect_from_a_public_host_to_a_private_address_is_refused(
    server: LocalServer,
) -> None:
    # "localhost" stands for a public outlet; 127.0.0.1 for the private network behind us.
    port = server.base.rsplit(":", 1)[1]
    server.add("/secret", Route(b"internal admin page"))
    server.add("/feed", Route(status=302, headers={"Location": f"{server.base}/secret"}))
    public = replace(FAST, public_hosts=frozenset({"localhost"}))
    with pytest.raises(BlockedURL, match="from a public address to a loopback"):
        fetch(f"http://localhost:{port}/feed", public)
    assert server.hits.get("/secret") is None
    # The per-source opt-out lets it through; so does a chain that began on a private host.
    assert fetch(f"http://localhost:{port}/feed", public, allow_private=True).status == 200
    assert fetch(f"{server.base}/feed", public).content == b"internal admin page"


def test_a_link_from_a_public_feed_to_a_private_page_is_refused(server: LocalServer) -> None:
    url = server.add("/page", Route(b"<html/>"))
    public = replace(FAST, public_hosts=frozenset({"localhost"}))
    port = server.base.rsplit(":", 1)[1]
    with pytest.raises(BlockedURL):
        fetch(url, public, origin=f"http://localhost:{port}/feed")
    assert fetch(url, public, origin=server.url("/feed")).status == 200


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_address_classes(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_a_host_is_public_only_if_every_address_is() -> None:
    answers = {"outlet.example": ["93.184.216.34"], "rebind.example": ["93.184.216.34", "10.0.0.5"]}

    async def resolver(host: str) -> list[str]:
        return answers[host]

    async def go() -> tuple[bool, bool, bool]:
        guard = AddressGuard(resolver)
        return (
            await guard.is_public("outlet.example"),
            await guard.is_public("rebind.example"),
            await guard.is_public("10.0.0.1"),
        )

    assert asyncio.run(go()) == (True, False, False)
