from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from crawler.addresses import AddressGuard, is_public_address
from crawler.decoding import BoundedDecoder
from crawler.errors import BlockedURL, FetchError, HTTPStatusError, Timeout, TooLarge
from crawler.fetch import MAX_RETRY_AFTER, Fetcher, FetchSettings, Response, parse_retry_after
from crawler.politeness import RobotsCache
from crawler.records import Validators
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
