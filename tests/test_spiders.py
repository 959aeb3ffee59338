"""Spiders for outlets without a feed: the callbacks on canned responses, the sitemap reader,
and the real child-process path against a local site (robots.txt, known items, hangs and
crashes)."""

from __future__ import annotations

import asyncio
import gzip
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from scrapy.http import HtmlResponse, Request

from alerts.verdict import Verdict
from crawler.errors import ParseError
from crawler.fetch import Fetcher, FetchSettings
from crawler.politeness import RobotsCache
from crawler.records import ArticleData, FetchResult, Source
from crawler.sitemaps import parse_sitemap, recent_entries
from crawler.spider_process import decode_article, encode_article, run_spider
from crawler.spiders.base import Report, SpiderJob, key_for_url
from crawler.spiders.listing import ListingSpider
from crawler.spiders.sitemap import NewsSitemapSpider
from storage.store import Store
from tests.localserver import LocalServer, Route
from veye.crawl import crawl_once

DATA = Path(__file__).parent / "data" / "spiders"
FAST = FetchSettings(timeout=5, min_delay=0)
NOW = datetime.now(UTC).replace(microsecond=0)
HTML = "text/html; charset=utf-8"
SLUGS = {1: "commissariat-mirebalais", 2: "ecoles-cabaret", 3: "port-miragoane"}
LISTING_OPTIONS = {"article_links": "h2.entry-title a", "next_page": "a.next", "max_pages": 2}


def fill(name: str, base: str) -> bytes:
    text = (DATA / name).read_text("utf-8")
    return (
        text.replace("{base}", base)
        .replace("{recent}", (NOW - timedelta(hours=3)).isoformat())
        .replace("{old}", (NOW - timedelta(days=40)).isoformat())
        .encode()
    )


def serve_site(server: LocalServer) -> str:
    """A small outlet: two listing pages, three articles, a robots.txt that forbids
    /private/, and a sitemap index pointing at a news sitemap."""
    base = server.base
    server.add(
        "/", Route(b"<html><body><h1>Nouvelles du Centre</h1></body></html>", content_type=HTML)
    )
    server.add("/actualites/", Route(fill("listing-1.html", base), content_type=HTML))
    server.add("/actualites/page/2/", Route(fill("listing-2.html", base), content_type=HTML))
    server.add("/robots.txt", Route(fill("robots.txt", base), content_type="text/plain"))
    server.add(
        "/sitemaps/index.xml",
        Route(fill("sitemap-index.xml", base), content_type="application/xml"),
    )
    server.add(
        "/sitemaps/news.xml", Route(fill("news-sitemap.xml", base), content_type="application/xml")
    )
    for n, slug in SLUGS.items():
        server.add(
            f"/2024/03/{slug}", Route((DATA / f"article-{n}.html").read_bytes(), content_type=HTML)
        )
    server.add(
        "/private/brouillon", Route((DATA / "article-3.html").read_bytes(), content_type=HTML)
    )
    return base


def job(source: Source, known: frozenset[str] = frozenset()) -> SpiderJob:
    return SpiderJob(source, {"max_bytes": 1_000_000}, known, 60.0, NOW)


# -- callbacks on canned responses ---------------------------------------------------------


def test_the_listing_spider_follows_article_links_and_the_next_page() -> None:
    source = Source("ndc", "spider", "https://ndc.example/actualites/", options=LISTING_OPTIONS)
    known = frozenset({key_for_url("https://ndc.example/2024/03/ecoles-cabaret")})
    spider = ListingSpider(job=job(source, known), report=Report(), emit=lambda a: None)
    page = HtmlResponse(
        source.url,
        body=fill("listing-1.html", "https://ndc.example"),
        encoding="utf-8",
        request=Request(source.url, meta={"start": True}),
    )
    requests = list(spider.parse_listing(page))
    urls = [r.url for r in requests]
    assert urls == [
        "https://ndc.example/2024/03/commissariat-mirebalais?utm_source=home",
        "https://autre-site.example/article",  # dropped later by the offsite filter
        "https://ndc.example/private/brouillon",  # dropped later by robots.txt
        "https://ndc.example/actualites/page/2/",
    ]
    assert spider.report.known == 1  # the stored article is not fetched again
    assert spider.report.status == 200
    assert spider.allowed_domains == ["ndc.example"]
    # The last listing page allowed does not ask for another.
    assert not [r for r in spider.parse_listing(page, page=2) if "page/" in r.url]


def test_a_listing_with_no_matching_links_says_so() -> None:
    source = Source("ndc", "spider", "https://ndc.example/", options={"article_links": "h3 a"})
    spider = ListingSpider(job=job(source), report=Report(), emit=lambda a: None)
    page = HtmlResponse(source.url, body=b"<html><body><p>rien</p></body></html>")
    assert list(spider.parse_listing(page)) == []
    assert "no article links matched 'h3 a'" in spider.report.warnings()[0]


def test_an_article_page_becomes_an_item_with_text_date_and_author() -> None:
    emitted: list[ArticleData] = []
    source = Source("ndc", "spider", "https://ndc.example/", language="fr")
    spider = ListingSpider(job=job(source), report=Report(), emit=emitted.append)
    link = "https://ndc.example/2024/03/commissariat-mirebalais?utm_source=home"
    page = HtmlResponse(link, body=(DATA / "article-1.html").read_bytes(), encoding="utf-8")
    spider.parse_article(page, link=link, title="", published=None)
    (item,) = emitted
    assert item.title == "Attaque armée contre le commissariat de Mirebalais"
    assert item.canonical_url == "https://ndc.example/2024/03/commissariat-mirebalais"
    assert item.key == key_for_url(link)
    assert "trois morts et de plusieurs blessés" in item.text
    assert "Tous droits réservés" not in item.text  # boilerplate left out
    assert "Accueil" not in item.text
    assert item.published == datetime(2024, 3, 4, 15, 15, tzinfo=UTC)
    assert item.authors == ("Marie-Ange Joseph",)
    assert item.language == "fr"
    assert decode_article(encode_article(item)) == item


def test_the_sitemap_spider_keeps_recent_entries_and_prefers_news_sitemaps() -> None:
    source = Source("ndc", "sitemap", "https://ndc.example/sitemaps/index.xml")
    spider = NewsSitemapSpider(job=job(source), report=Report(), emit=lambda a: None)
    index = parse_sitemap(fill("sitemap-index.xml", "https://ndc.example"))
    assert [r.url for r in spider.follow(index, depth=0)] == [
        "https://ndc.example/sitemaps/news.xml"  # the other one is 40 days old
    ]
    news = parse_sitemap(fill("news-sitemap.xml", "https://ndc.example"))
    requests = list(spider.follow(news, depth=1))
    assert [r.url for r in requests] == [
        "https://ndc.example/2024/03/commissariat-mirebalais",
        "https://ndc.example/2024/03/ecoles-cabaret",
        "https://ndc.example/private/brouillon",
    ]
    assert requests[0].cb_kwargs["title"] == "Mirebalais : le commissariat attaqué"


# -- the sitemap reader --------------------------------------------------------------------


def test_sitemaps_are_read_plain_or_gzipped() -> None:
    body = fill("news-sitemap.xml", "https://ndc.example")
    for raw in (body, gzip.compress(body)):
        sitemap = parse_sitemap(raw)
        assert not sitemap.is_index
        assert len(sitemap.entries) == 4
        assert sitemap.entries[0].news
        assert sitemap.entries[0].published == NOW - timedelta(hours=3)
    recent = recent_entries(parse_sitemap(body), now=NOW, max_age=timedelta(days=2), limit=2)
    assert [e.url.rsplit("/", 1)[1] for e in recent] == [
        "commissariat-mirebalais",
        "ecoles-cabaret",
    ]


def test_a_sitemap_never_resolves_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY s SYSTEM "file://{secret}">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://ndc.example/&s;</loc></url><url><loc>https://ndc.example/a</loc></url>
</urlset>""".encode()
    sitemap = parse_sitemap(body)
    assert "TOP-SECRET" not in repr(sitemap)


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>accueil</body></html>", b"\x1f\x8bnot gzip", b"<rss/>"]
)
def test_what_is_not_a_sitemap_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_sitemap(body)


# -- the child process ---------------------------------------------------------------------


def spider(source: Source, **kw: object) -> FetchResult:
    return asyncio.run(run_spider(source, FAST, **kw))  # type: ignore[arg-type]


def test_a_listing_crawl_runs_in_its_own_process_and_obeys_robots(server: LocalServer) -> None:
    base = serve_site(server)
    source = Source("ndc", "spider", f"{base}/actualites/", options=LISTING_OPTIONS)
    known = {key_for_url(f"{base}/2024/03/port-miragoane")}
    result = spider(source, known_keys=known, time_limit=60)
    assert result.error is None, result.error
    assert result.status == 200
    titles = sorted(a.title for a in result.articles or ())
    assert titles == [
        "Attaque armée contre le commissariat de Mirebalais",
        "Les écoles de Cabaret rouvrent après trois semaines de fermeture",
    ]
    assert server.hits["/actualites/page/2/"] == 1
    assert "/private/brouillon" not in server.hits  # robots.txt: Disallow: /private/
    assert "/2024/03/port-miragoane" not in server.hits  # already stored
    assert server.hits["/2024/03/ecoles-cabaret"] == 1  # linked twice, fetched once
    assert any("disallowed by robots.txt" in w for w in result.warnings)
    ua = {h.get("User-Agent") for p, h in server.requests}
    assert ua == {FAST.user_agent}


def test_a_news_sitemap_crawl_finds_its_sitemaps_through_robots_txt(
    server: LocalServer,
) -> None:
    base = serve_site(server)
    result = spider(Source("ndc", "sitemap", f"{base}/"), time_limit=60, now=NOW)
    assert result.error is None, result.error
    assert sorted(a.title for a in result.articles or ()) == [
        "Cabaret : les écoles rouvrent",
        "Mirebalais : le commissariat attaqué",
    ]
    assert "/sitemaps/pages.xml" not in server.hits  # too old to read
    assert "/2023/01/archive-ancienne" not in server.hits


def test_bad_options_and_a_dead_start_page_are_reported(server: LocalServer) -> None:
    base = serve_site(server)
    bad = spider(
        Source("ndc", "spider", f"{base}/", options={"article_links": "h2[["}), time_limit=30
    )
    assert "not a valid CSS selector" in (bad.error or "")
    dead = spider(Source("ndc", "spider", f"{base}/gone/", options=LISTING_OPTIONS), time_limit=30)
    assert "the start page failed: HTTP 404" in (dead.error or "")
    assert dead.status == 404


#: A source the fake children below stand in for.
SITEMAP = Source("ndc", "sitemap", "https://ndc.example/news-sitemap.xml")


def fake_child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_hung_spider_is_killed_and_what_it_sent_is_kept() -> None:
    item = encode_article(
        ArticleData(
            "ndc",
            "https://ndc.example/a",
            "https://ndc.example/a",
            None,
            "Titre",
            "",
            "Texte",
            "fr",
            None,
        )
    )
    import json

    line = json.dumps({"type": "article", "article": item})
    code = f"import sys, time; print({line!r}, flush=True); time.sleep(60)"
    started = time.monotonic()
    result = spider(SITEMAP, time_limit=1.5, argv=fake_child(code))
    assert time.monotonic() - started < 10
    assert "did not finish within 1.5s and was stopped" in (result.error or "")
    assert [a.title for a in result.articles or ()] == ["Titre"]


def test_a_crashed_or_babbling_spider_is_reported() -> None:
    crash = (
        "import sys; sys.stderr.write('Traceback...\\nRuntimeError: reactor broke\\n'); sys.exit(3)"
    )
    result = spider(SITEMAP, argv=fake_child(crash))
    assert result.error == "the spider process failed (exit status 3): RuntimeError: reactor broke"
    babble = (
        'print(\'hello, not json\'); print(\'{"type": "summary", "status": 200, "warnings": []}\')'
    )
    result = spider(SITEMAP, argv=fake_child(babble))
    assert result.error is None
    assert any("unreadable line from the spider" in w for w in result.warnings)
    silent = spider(SITEMAP, argv=fake_child("pass"))
    assert silent.error == "the spider process ended without a summary"
    missing = spider(SITEMAP, argv=["/nonexistent/python"])
    assert "cannot start the spider process" in (missing.error or "")


class NoAlerts:
    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        return Verdict(alert=False)


def test_spider_sources_go_through_the_crawl_and_are_not_fetched_twice(
    server: LocalServer, tmp_path: Path
) -> None:
    base = serve_site(server)
    source = Source("ndc", "spider", f"{base}/actualites/", options=LISTING_OPTIONS)
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    try:
        for _ in range(2):
            summary = crawl_once(
                store,
                NoAlerts(),
                [source],
                fetcher_factory=lambda: Fetcher(FAST, robots=RobotsCache()),
            )
        (outcome,) = summary.outcomes
        assert outcome.state == "ok"
        assert store.count() == 3
        (state,) = store.source_states(["ndc"])
        assert state.items_total == 3
    finally:
        store.close()
    # The second crawl read the listings again but no article page.
    assert server.hits["/actualites/"] == 2
    assert server.hits["/2024/03/port-miragoane"] == 1


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"kind": "spider"}, "options.article_links is required"),
        ({"kind": "spider", "options": {"article_links": "a[["}}, "not a valid CSS selector"),
        ({"kind": "spider", "options": {"article_links": "a", "max_pages": 0}}, "max_pages"),
        ({"kind": "sitemap", "options": {"max_age_hours": "soon"}}, "max_age_hours"),
        ({"kind": "feed", "options": {"allow_private": "yes"}}, "allow_private"),
    ],
)
def test_spider_options_are_checked_when_the_config_loads(
    source: dict[str, object], problem: str
) -> None:
    from veye.config import parse_settings
    from veye.errors import ConfigError

    entry = {"name": "ndc", "url": "https://ndc.example/", **source}
    with pytest.raises(ConfigError, match=problem) as err:
        parse_settings(yaml.safe_dump({"sources": [entry]}))
    assert "line 2: sources[0]: options." in str(err.value)
