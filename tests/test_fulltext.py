"""Full article text for summary-only feeds: pages fetched politely, text extracted, the
feed's summary kept, and nothing fetched or overwritten twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alerts.verdict import Verdict
from crawler.article import _read_page, extract_page, merge_page, needs_full_text
from crawler.collect import CollectOptions
from crawler.fetch import Fetcher, FetchSettings
from crawler.politeness import RobotsCache
from crawler.records import ArticleData, Source
from storage.schema import articles
from storage.store import Store, to_stored
from tests.localserver import LocalServer, Route
from veye.crawl import CrawlSummary, crawl_once

PAGES = Path(__file__).parent / "data" / "pages"
#: The article pages are the spider tests' outlet, shared rather than copied.
ARTICLES = Path(__file__).parent / "data" / "spiders"
FAST = FetchSettings(timeout=5, min_delay=0)
HTML = "text/html; charset=utf-8"


def item(text: str) -> ArticleData:
    return ArticleData(
        "s", "https://x.example/a", "https://x.example/a", None, "Titre", text, text, "fr", None
    )


@pytest.mark.parametrize(
    ("text", "summary_only"),
    [
        ("Un court résumé.", True),
        ("", True),
        ("Un long texte. " * 60, False),
        ("Un long texte. " * 60 + "Lire la suite", True),
        ("Un long texte. " * 60 + " […]", True),
        ("Un long texte. " * 60 + " [...]", True),
        ("Un long texte. " * 60 + "…", True),
        ("Yon long tèks. " * 60 + "Li plis", True),
        ("A long text. " * 60 + "Continue reading →", True),
        # WordPress's footer says nothing of length: the cut before it does.
        ("Un extrait coupé […]\nThe post Un titre appeared first on Le Site.", True),
        ("Un long texte. " * 60 + "\nThe post Un titre appeared first on Le Site.", False),
    ],
)
def test_summary_only_items_are_recognised(text: str, summary_only: bool) -> None:
    assert needs_full_text(item(text)) is summary_only


def test_the_extractor_finds_text_date_and_author_and_skips_boilerplate() -> None:
    page = extract_page((ARTICLES / "article-2.html").read_bytes(), "https://ndc.example/a")
    assert page is not None
    assert "Les parents, encore inquiets" in page.text
    assert "Tous droits réservés" not in page.text
    assert "À lire aussi" not in page.text
    assert page.published == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    assert page.authors == ("Jean-Robert Pierre",)
    assert extract_page(b"", "https://ndc.example/a") is None
    assert extract_page(b"\x00\xff garbage <<<", "https://ndc.example/a") is None


def test_without_metadata_the_extractor_finds_the_same_text() -> None:
    for path in sorted(ARTICLES.glob("*.html")):
        full = extract_page(path.read_bytes(), "https://ndc.example/a")
        bare = extract_page(path.read_bytes(), "https://ndc.example/a", metadata=False)
        assert (bare is None) == (full is None), path.name
        if full is not None and bare is not None:
            assert bare.text == full.text, path.name
            assert (bare.title, bare.published, bare.authors) == ("", None, ())


def test_an_item_the_feed_describes_fully_is_merged_as_with_the_page_metadata() -> None:
    html = (ARTICLES / "article-2.html").read_bytes()
    when = datetime(2024, 3, 1, tzinfo=UTC)
    complete = replace(item("Un résumé."), authors=("Rédaction",), published=when)
    page = extract_page(html, "https://ndc.example/a")
    assert page is not None
    assert _read_page(complete, html, "https://ndc.example/a", "fr", None)[0] == merge_page(
        complete, page, "fr"
    )
    # Without a date, the page's is used.
    undated = replace(complete, published=None)
    merged = _read_page(undated, html, "https://ndc.example/a", "fr", None)[0]
    assert merged is not None
    assert merged.published == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


class NoAlerts:
    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        return Verdict(alert=False)


def serve(server: LocalServer) -> str:
    base = server.base
    feed = (PAGES / "summary-feed.xml").read_text("utf-8").replace("{base}", base)
    server.add("/feed", Route(feed.encode(), etag=None))
    server.add(
        "/robots.txt", Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    )
    server.add(
        "/2024/03/commissariat-mirebalais",
        Route((ARTICLES / "article-1.html").read_bytes(), content_type=HTML),
    )
    server.add(
        "/2024/03/ecoles-cabaret",
        Route((ARTICLES / "article-2.html").read_bytes(), content_type=HTML),
    )
    server.add(
        "/private/brouillon", Route((ARTICLES / "article-3.html").read_bytes(), content_type=HTML)
    )
    return f"{base}/feed"


def crawl(
    store: Store,
    source: Source,
    settings: FetchSettings = FAST,
    options: CollectOptions | None = None,
) -> CrawlSummary:
    return crawl_once(
        store,
        NoAlerts(),
        [source],
        fetcher_factory=lambda: Fetcher(settings, robots=RobotsCache()),
        options=options or CollectOptions(),
    )


def stored(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        # The text as the store reads it back (stored empty when it is the summary).
        return {
            r.guid: {**r._mapping, "text": to_stored(r._mapping).text}
            for r in conn.execute(sa.select(articles))
        }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(f"sqlite:///{tmp_path}/v.db")
    yield s  # type: ignore[misc]
    s.close()


def test_a_summary_only_feed_is_stored_with_each_articles_full_text(
    server: LocalServer, store: Store
) -> None:
    source = Source("ndc", "feed", serve(server), language="fr")
    (outcome,) = crawl(store, source).outcomes
    assert outcome.state == "ok"
    assert outcome.new == 3
    rows = stored(store)
    first = rows["ndc-2001"]
    # The text is the page's article, not the feed's summary, which is kept as it was.
    assert "trois morts et de plusieurs blessés" in first["text"]
    assert "Tous droits réservés" not in first["text"]
    assert first["summary"].startswith("Des hommes lourdement armés ont attaqué")
    # WordPress's "The post … appeared first on …" footer is left out.
    assert first["summary"].endswith("Mirebalais […]")
    assert "appeared first" not in first["summary"]
    assert first["language"] == "fr"
    # The feed gave no date or author for it: the page's are used.
    assert first["published_at"].replace(tzinfo=UTC) == datetime(2024, 3, 4, 15, 15, tzinfo=UTC)
    assert first["authors"] == ["Marie-Ange Joseph"]
    assert first["canonical_url"] == f"{server.base}/2024/03/commissariat-mirebalais"
    second = rows["ndc-2002"]
    assert "Les parents, encore inquiets" in second["text"]
    assert second["summary"].endswith("Lire la suite")
    # robots.txt forbids /private/: the item keeps its summary, and the crawl says why.
    third = rows["ndc-2003"]
    assert third["text"] == "Un court résumé…"
    assert "/private/brouillon" not in server.hits
    assert any("robots.txt disallows it" in w for w in outcome.warnings)
    assert server.hits["/robots.txt"] == 1

    # Polled again: no page is fetched again, and the feed's summaries overwrite nothing.
    (again,) = crawl(store, source).outcomes
    assert again.new == 0
    assert again.updated == 0
    assert again.seen == 3
    assert server.hits["/2024/03/commissariat-mirebalais"] == 1
    assert server.hits["/2024/03/ecoles-cabaret"] == 1
    assert stored(store)["ndc-2001"]["text"] == first["text"]


def test_full_text_can_be_turned_off_and_is_limited_per_poll(
    server: LocalServer, store: Store, tmp_path: Path
) -> None:
    source = Source("ndc", "feed", serve(server))
    crawl(store, source, options=CollectOptions(full_text=False))
    assert stored(store)["ndc-2001"]["text"].startswith("Des hommes lourdement armés")
    assert not [p for p in server.hits if p.startswith("/2024/")]

    fresh = Store.open(f"sqlite:///{tmp_path}/other.db")
    try:
        crawl(fresh, source, options=CollectOptions(full_text_limit=1))
    finally:
        fresh.close()
    assert [p for p in server.hits if p.startswith("/2024/")] == [
        "/2024/03/commissariat-mirebalais"
    ]


def test_article_links_from_a_public_feed_to_private_addresses_are_not_followed(
    server: LocalServer, store: Store
) -> None:
    serve(server)
    # The feed's own host counts as public; its links point at 127.0.0.1.
    port = server.base.rsplit(":", 1)[1]
    source = Source("ndc", "feed", f"http://localhost:{port}/feed")
    settings = replace(FAST, public_hosts=frozenset({"localhost"}))
    (outcome,) = crawl(store, source, settings).outcomes
    assert outcome.new == 3
    assert not [p for p in server.hits if p.startswith(("/2024/", "/private/"))]
    assert any("from a public address to a loopback" in w for w in outcome.warnings)
    assert stored(store)["ndc-2001"]["text"].startswith("Des hommes lourdement armés")
