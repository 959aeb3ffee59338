from __future__ import annotations

import asyncio
import gzip
import time
from datetime import UTC, datetime

import pytest

from crawler.errors import BlockedURL, FetchError, HTTPStatusError, Timeout, TooLarge
from crawler.fetch import MAX_RETRY_AFTER, Fetcher, FetchSettings, parse_retry_after
from crawler.records import Validators
from tests.localserver import LocalServer, Route


def fetch(url: str, settings: FetchSettings | None = None, validators: Validators | None = None):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings or FetchSettings(timeout=3)) as f:
            return await f.get(url, validators=validators)

    return asyncio.run(go())


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
    fetch(url, FetchSettings(user_agent="veye-test/1 (+https://example.org/contact)"))
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
        fetch(url, FetchSettings(timeout=1.0))
    assert time.monotonic() - started < 3


def test_the_byte_cap_counts_decoded_bytes(server: LocalServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB on the wire
    url = server.add("/bomb", Route(raw_gzip=bomb))
    with pytest.raises(TooLarge, match="after decompression"):
        fetch(url, FetchSettings(timeout=3, max_bytes=1_000_000))


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
