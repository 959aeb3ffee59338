"""Politeness and backoff: per-host delays, robots.txt, Retry-After and exponential backoff,
with injected clocks (no test here waits for real time to pass)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from alerts.verdict import Verdict
from crawler.collect import CollectOptions, poll_feed
from crawler.errors import RobotsDisallowed
from crawler.fetch import Fetcher, FetchSettings, Response
from crawler.politeness import HostPacer, RobotsCache
from crawler.records import FetchResult, Source
from storage.store import Store
from tests.conftest import feed_bytes
from tests.localserver import LocalServer, Route
from veye.crawl import MAX_BACKOFF, crawl_once, next_poll

FAST = FetchSettings(timeout=3, min_delay=0)
T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))


def get_all(urls: list[str], settings: FetchSettings, **kw: object) -> list[Response | Exception]:
    async def go() -> list[Response | Exception]:
        async with Fetcher(settings, **kw) as f:  # type: ignore[arg-type]
            out: list[Response | Exception] = []
            for url in urls:
                try:
                    out.append(await f.get(url, robots=True))
                except Exception as e:
                    out.append(e)
            return out

    return asyncio.run(go())


# -- per-host delay ----------------------------------------------------------------------


def test_the_pacer_spaces_starts_per_host_and_serves_in_order() -> None:
    t = FakeTime()
    pacer = HostPacer(clock=t.clock, sleep=t.sleep)

    async def go() -> None:
        await asyncio.gather(*(pacer.wait("a.example", 1.0) for _ in range(3)))
        await pacer.wait("b.example", 1.0)  # another host is not held up
        pacer.set_host_delay("c.example", 5.0)  # robots.txt Crawl-delay
        await pacer.wait("c.example", 1.0)
        await pacer.wait("c.example", 1.0)
        pacer.set_host_delay("d.example", 10_000)  # capped
        await pacer.wait("d.example", 0)
        await pacer.wait("d.example", 0)
        await pacer.wait("e.example", 0)  # no delay asked, none taken
        await pacer.wait("e.example", 0)

    asyncio.run(go())
    assert t.sleeps == [1.0, 2.0, 5.0, 60.0]


def test_every_fetch_to_a_host_goes_through_the_pacer(server: LocalServer) -> None:
    t = FakeTime()
    for n in range(3):
        server.add(f"/p{n}", Route(b"<html/>", content_type="text/html"))
    pacer = HostPacer(clock=t.clock, sleep=t.sleep)
    urls = [server.url(f"/p{n}") for n in range(3)]
    results = get_all(urls, replace(FAST, min_delay=1.0), robots=RobotsCache(), pacer=pacer)
    assert all(isinstance(r, Response) for r in results)
    # robots.txt, then three pages: each start one second after the previous one.
    assert t.sleeps == [1.0, 2.0, 3.0]


# -- robots.txt --------------------------------------------------------------------------

ROBOTS = (
    b"User-agent: *\nDisallow: /private/\n\nUser-agent: veye\nDisallow: /no-veye/\nCrawl-delay: 4\n"
)


def test_robots_txt_is_obeyed_for_pages_and_fetched_once_per_site(server: LocalServer) -> None:
    server.add("/robots.txt", Route(ROBOTS, content_type="text/plain"))
    for path in ("/ok", "/private/draft", "/no-veye/x", "/other"):
        server.add(path, Route(b"<html/>", content_type="text/html"))
    t = FakeTime()
    results = get_all(
        [server.url(p) for p in ("/ok", "/private/draft", "/no-veye/x", "/other")],
        FAST,
        robots=RobotsCache(),
        pacer=HostPacer(clock=t.clock, sleep=t.sleep),
    )
    ok, private, no_veye, other = results
    assert isinstance(ok, Response)
    assert isinstance(other, Response)
    # The most specific group (``veye``) applies, as robots.txt says.
    assert isinstance(no_veye, RobotsDisallowed)
    assert "robots.txt disallows" in str(no_veye)
    assert isinstance(private, Response)  # only the ``*`` group forbids /private/
    assert server.hits["/robots.txt"] == 1
    assert server.hits.get("/no-veye/x") is None
    # Three pages fetched; Crawl-delay: 4 stretches the 0 s minimum between their starts.
    assert t.sleeps == [4.0, 8.0]


def test_robots_group_star_applies_when_no_group_names_us(server: LocalServer) -> None:
    server.add(
        "/robots.txt", Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    )
    server.add("/private/x", Route(b"<html/>", content_type="text/html"))
    (result,) = get_all([server.url("/private/x")], FAST, robots=RobotsCache())
    assert isinstance(result, RobotsDisallowed)
    assert server.hits.get("/private/x") is None


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(404, True), (410, True), (403, True), (500, False), (503, False), (429, False)],
)
def test_a_missing_robots_txt_allows_and_an_unreadable_one_forbids(
    server: LocalServer, status: int, allowed: bool
) -> None:
    server.add("/robots.txt", Route(b"", status=status, content_type="text/plain"))
    server.add("/page", Route(b"<html/>", content_type="text/html"))
    (result,) = get_all([server.url("/page")], FAST, robots=RobotsCache())
    assert isinstance(result, Response) is allowed
    if not allowed:
        assert "robots.txt could not be read" in str(result)


def test_robots_rules_are_kept_for_their_ttl(server: LocalServer) -> None:
    server.add("/robots.txt", Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
    server.add("/page", Route(b"<html/>", content_type="text/html"))
    t = FakeTime()
    cache = RobotsCache(ttl=3600, clock=t.clock)
    get_all([server.url("/page")] * 2, FAST, robots=cache)
    t.now += 3599
    get_all([server.url("/page")], FAST, robots=cache)
    assert server.hits["/robots.txt"] == 1
    t.now += 2
    get_all([server.url("/page")], FAST, robots=cache)
    assert server.hits["/robots.txt"] == 2


def test_robots_can_be_turned_off_and_is_never_asked_about_the_feed(
    server: LocalServer,
) -> None:
    server.add("/robots.txt", Route(b"User-agent: *\nDisallow: /\n", content_type="text/plain"))
    server.add("/page", Route(b"<html/>", content_type="text/html"))
    (result,) = get_all(
        [server.url("/page")], replace(FAST, obey_robots=False), robots=RobotsCache()
    )
    assert isinstance(result, Response)
    # The configured feed is fetched because the user asked for it (docs/collection.md).
    url = server.add("/feed", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))

    async def go() -> FetchResult:
        async with Fetcher(FAST, robots=RobotsCache()) as f:
            return await poll_feed(
                f, Source("s", "feed", url), options=CollectOptions(full_text=False)
            )

    assert asyncio.run(go()).articles
    assert server.hits.get("/robots.txt") is None


# -- backoff and Retry-After -------------------------------------------------------------

SRC = Source("s", "feed", "https://outlet.example/feed", interval=900)


def failed(retry_after: float | None = None) -> FetchResult:
    return FetchResult("s", (), error="HTTP 503", status=503, retry_after=retry_after)


@pytest.mark.parametrize(
    ("errors_before", "delay"),
    [(0, 900), (1, 1800), (2, 3600), (3, 7200), (6, 57_600), (7, MAX_BACKOFF), (40, MAX_BACKOFF)],
)
def test_failures_back_off_exponentially_up_to_a_day(errors_before: int, delay: float) -> None:
    assert next_poll(SRC, failed(), errors_before, T0) == T0 + timedelta(seconds=delay)


def test_success_polls_on_the_interval_and_retry_after_is_never_cut_short() -> None:
    assert next_poll(SRC, FetchResult("s", ()), 5, T0) == T0 + timedelta(seconds=900)
    assert next_poll(SRC, failed(retry_after=7200), 0, T0) == T0 + timedelta(seconds=7200)
    # A short Retry-After does not shorten the backoff.
    assert next_poll(SRC, failed(retry_after=10), 3, T0) == T0 + timedelta(seconds=7200)


class NoAlerts:
    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        return Verdict(alert=False)


def test_the_crawl_records_retry_after_and_backoff_with_its_clock(
    server: LocalServer, tmp_path: Path
) -> None:
    url = server.add("/busy", Route(b"", status=429, headers={"Retry-After": "5400"}))
    source = Source("busy", "feed", url, interval=600)
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    now = [T0]
    try:
        for _ in range(3):
            crawl_once(
                store,
                NoAlerts(),
                [source],
                fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
                clock=lambda: now[0],
            )
            (state,) = store.source_states(["busy"])
            assert state.next_poll_at is not None
            now[0] = state.next_poll_at
        (state,) = store.source_states(["busy"])
        assert state.error_count == 3
        assert "HTTP 429" in (state.last_error or "")
        # 5400 s (Retry-After) twice; then the backoff (600 s × 2² = 2400 s) is shorter
        # than Retry-After, which still wins.
        assert state.next_poll_at == T0 + timedelta(seconds=3 * 5400)
        server.add("/busy", Route(b"", status=503, headers={"Retry-After": "soon"}))
        crawl_once(
            store,
            NoAlerts(),
            [source],
            fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
            clock=lambda: now[0],
        )
        (state,) = store.source_states(["busy"])
        assert state.next_poll_at == now[0] + timedelta(seconds=600 * 2**3)
    finally:
        store.close()


def test_the_daemon_leaves_a_source_alone_until_its_next_poll(
    server: LocalServer, tmp_path: Path
) -> None:
    from veye.app import App
    from veye.daemon import Daemon

    url = server.add("/busy", Route(b"", status=429, headers={"Retry-After": "3600"}))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": "sqlite:///veye.db"},
                "crawl": {"timeout": "3s", "min_delay": 0, "full_text": False},
                "sources": [{"name": "busy", "url": url, "interval": "10m"}],
            }
        )
    )
    app = App(config)
    now = [T0]
    daemon = Daemon(app, clock=lambda: now[0])
    # As ``veye run`` does at start: each configured source has its row.
    app.store.sync_sources([("busy", "feed", url)])
    try:
        daemon._poll("busy")
        assert server.hits["/busy"] == 1
        now[0] = T0 + timedelta(minutes=59)
        daemon._poll("busy")  # the server asked for an hour: not yet
        assert server.hits["/busy"] == 1
        now[0] = T0 + timedelta(minutes=61)
        daemon._poll("busy")
        assert server.hits["/busy"] == 2
    finally:
        app.close()


# -- errors per source -------------------------------------------------------------------


def test_a_broken_feed_keeps_its_entries_marked_salvaged_in_the_store(
    server: LocalServer, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from storage.schema import articles

    url = server.add("/broken", Route(feed_bytes("broken.xml")))
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    try:
        (outcome,) = crawl_once(
            store,
            NoAlerts(),
            [Source("casse", "feed", url)],
            fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
            options=CollectOptions(full_text=False),
        ).outcomes
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(articles.c.title, articles.c.salvaged)).all()
        (state,) = store.source_states(["casse"])
    finally:
        store.close()
    assert outcome.state == "ok"
    assert outcome.new == len(rows) >= 1
    assert any("malformed feed" in w and "salvaged" in w for w in outcome.warnings)
    assert ("Attaque armée à Solino", True) in [(t, bool(s)) for t, s in rows]
    assert all(s for _, s in rows)
    assert state.last_error is None  # a salvaged feed is a working source


def test_a_redirect_onto_another_sources_feed_is_reported_on_the_redirected_source(
    server: LocalServer, tmp_path: Path
) -> None:
    server.add("/feed", Route(feed_bytes("atom.xml"), content_type="application/atom+xml"))
    server.add("/old-feed", Route(status=301, headers={"Location": "/feed"}))
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    sources = [
        Source("old", "feed", server.url("/old-feed")),
        Source("new", "feed", server.url("/feed")),
    ]
    try:
        summary = crawl_once(
            store,
            NoAlerts(),
            sources,
            fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
            options=CollectOptions(full_text=False),
        )
        outcomes = {o.source: o for o in summary.outcomes}
        assert outcomes["new"].warnings == ()
        (note,) = outcomes["old"].warnings
        assert note == (
            f"redirected to {server.url('/feed')}, which source 'new' already polls: "
            "remove one of the two from the config"
        )
        # Polled alone later, the other source is still known from the database.
        (alone,) = crawl_once(
            store,
            NoAlerts(),
            sources[:1],
            fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
            options=CollectOptions(full_text=False),
        ).outcomes
        assert "'new' already polls" in alone.warnings[0]
    finally:
        store.close()
