"""Known layouts: a source's ``content_selector`` reads the article body with selectolax; a
selector that misses leaves the page to the generic extractor; a bad one is a config error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerts.verdict import Verdict
from crawler.article import extract_page
from crawler.collect import CollectOptions
from crawler.fetch import Fetcher, FetchSettings
from crawler.layouts import MIN_TEXT, check_layout_options, select_page
from crawler.politeness import RobotsCache
from crawler.records import Source
from storage.schema import articles
from storage.store import Store
from tests.conftest import run_veye
from tests.localserver import LocalServer, Route
from veye.config import parse_settings
from veye.crawl import CrawlSummary, crawl_once
from veye.errors import ConfigError

URL = "https://juno.example/2024/03/evasion-prison-civile-mirebalais/"
SELECTOR = "div.entry-content"
PARAGRAPHS = [
    "Des dizaines de détenus se sont évadés dans la nuit de lundi à mardi de la prison "
    "civile de Mirebalais, après une attaque menée par des hommes lourdement armés.",
    "Selon plusieurs témoins, les assaillants ont ouvert le feu sur le poste de garde vers "
    "deux heures du matin avant de forcer le portail principal de l'établissement.",
    "La direction de l'administration pénitentiaire n'a pas encore communiqué de bilan. "
    "Des renforts de la police nationale ont été dépêchés sur place dans la matinée.",
    "Les habitants du quartier disent avoir entendu des tirs pendant plus d'une heure.",
]

#: A WordPress article page as such outlets serve it: meta tags in the head, a menu, a
#: share bar, a script and an inline "read also" box inside the body, a sidebar, a footer.
PAGE = f"""<!DOCTYPE html>
<html lang="fr-FR">
<head>
<meta charset="UTF-8">
<title>Évasion à la prison civile de Mirebalais - Juno Test</title>
<noscript><img height="1" width="1" src="https://pixel.example/tr?id=1"></noscript>
<meta property="og:title" content="Évasion à la prison civile de Mirebalais">
<meta property="og:description" content="Des dizaines de détenus se sont évadés.">
<meta property="article:published_time" content="2024-03-05T08:15:00+00:00">
<meta name="author" content="Marie-Ange Joseph">
<script type="application/ld+json">{{"@type": "NewsArticle"}}</script>
</head>
<body class="post-template-default single single-post">
<header id="masthead"><nav class="main-navigation"><ul>
<li><a href="/">Accueil</a></li><li><a href="/politique/">Politique</a></li>
<li><a href="/societe/">Société</a></li></ul></nav></header>
<div id="content" class="site-content"><main id="main">
<article id="post-4711" class="post type-post">
<header class="entry-header"><h1 class="entry-title">Évasion à la prison civile de
Mirebalais</h1><div class="entry-meta">Par <a href="/author/maj/">Marie-Ange Joseph</a>
· 5 mars 2024</div></header>
<div class="entry-content">
<p>{PARAGRAPHS[0]}</p>
<p>{PARAGRAPHS[1]}</p>
<script>window.ads = window.ads || []; ads.push("inline");</script>
<aside class="read-also"><strong>À lire aussi :</strong> <a href="/x/">Un autre article</a></aside>
<p>{PARAGRAPHS[2]}</p>
<p>{PARAGRAPHS[3].replace("pendant", "pendant<br>")}</p>
<div class="sharedaddy"><button>Partager sur Facebook</button></div>
</div>
<footer class="entry-footer"><span class="cat-links">Publié dans Société</span></footer>
</article></main>
<aside id="secondary" class="widget-area"><h2>Les plus lus</h2><ul>
<li><a href="/y/">Le prix du riz augmente encore</a></li></ul></aside></div>
<footer id="colophon"><p>© Juno Test. Tous droits réservés.</p></footer>
</body></html>"""


def test_the_selector_reads_the_body_of_a_known_layout_and_its_meta_tags() -> None:
    page = extract_page(PAGE.encode(), URL, selector=SELECTOR)
    assert page is not None and page.by_selector
    # One paragraph a line, in page order; nothing of the menu, script, inline box, share
    # bar, sidebar or footer.
    body = [*PARAGRAPHS[:3], PARAGRAPHS[3].replace("pendant", "pendant\n")]
    assert page.text.split("\n") == [line.strip() for line in "\n".join(body).split("\n")]
    for junk in ("Accueil", "ads.push", "À lire aussi", "Partager", "Les plus lus", "droits"):
        assert junk not in page.text
    assert page.title == "Évasion à la prison civile de Mirebalais"
    assert page.description == "Des dizaines de détenus se sont évadés."
    assert page.published == datetime(2024, 3, 5, 8, 15, tzinfo=UTC)
    assert page.authors == ("Marie-Ange Joseph",)
    # The generic extractor finds the same article paragraphs on this page.
    generic = extract_page(PAGE.encode(), URL)
    assert generic is not None and not generic.by_selector
    assert all(p[:60] in generic.text for p in PARAGRAPHS)
    # Without metadata, the same text and nothing else.
    bare = extract_page(PAGE.encode(), URL, selector=SELECTOR, metadata=False)
    assert bare is not None and bare.text == page.text
    assert (bare.title, bare.published, bare.authors) == ("", None, ())


def test_the_bench_layout_gives_the_generic_extractors_text() -> None:
    from bench.corpus import CONTENT_SELECTOR, build

    corpus = build(2, 6, base="http://b.example", summary_only=True)
    for path, html in corpus.pages.items():
        generic = extract_page(html, "http://b.example" + path)
        laid = extract_page(html, "http://b.example" + path, selector=CONTENT_SELECTOR)
        assert generic is not None and laid is not None and laid.by_selector
        assert laid.text == generic.text, path


@pytest.mark.parametrize(
    "selector",
    [
        "div.td-post-content",  # the site changed its theme: matches nothing
        "div.entry-meta",  # matches, but a line of byline, not an article
    ],
)
def test_a_selector_that_misses_falls_back_to_the_generic_extractor(selector: str) -> None:
    page = extract_page(PAGE.encode(), URL, selector=selector)
    generic = extract_page(PAGE.encode(), URL)
    assert page is not None and generic is not None
    assert not page.by_selector
    assert page == generic
    assert select_page(PAGE.encode(), selector) is None


def test_the_selection_is_read_in_the_pages_encoding_or_left_to_the_generic_extractor() -> None:
    declared = PAGE.replace('<meta charset="UTF-8">', '<meta charset="windows-1252">')
    page = select_page(declared.encode("cp1252"), SELECTOR)
    assert page is not None and PARAGRAPHS[0] in page.text
    # Undeclared and not UTF-8: lexbor would read replacement characters; trafilatura
    # guesses the encoding instead.
    undeclared = PAGE.replace('<meta charset="UTF-8">', "").encode("cp1252")
    assert select_page(undeclared, SELECTOR) is None
    fallback = extract_page(undeclared, URL, selector=SELECTOR)
    assert fallback is not None and not fallback.by_selector
    assert "évadés" in fallback.text


def test_nested_matches_count_once_and_short_pages_are_not_taken() -> None:
    page = select_page(PAGE.encode(), f"{SELECTOR}, {SELECTOR} p", metadata=False)
    alone = select_page(PAGE.encode(), SELECTOR, metadata=False)
    assert page is not None and page == alone
    tiny = f"<html><body><div class='entry-content'><p>{'x' * (MIN_TEXT - 1)}</p></div>"
    assert select_page(tiny, SELECTOR) is None
    assert select_page(tiny.replace("x", "xy"), SELECTOR) is not None
    assert select_page(b"\x00\xff garbage <<<", SELECTOR) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("div.entry-content[[", "is not a valid CSS selector"),
        ("p::text", "is not a valid CSS selector"),
        ("", "must be a CSS selector"),
        (["div.entry-content"], "must be a CSS selector"),
        (None, None),
        ("div.entry-content > p:not(.byline)", None),
    ],
)
def test_the_option_is_checked(value: object, problem: str | None) -> None:
    found = check_layout_options({"content_selector": value})
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_bad_selector_in_the_config_is_one_line_naming_the_source_and_line(
    tmp_path: Path,
) -> None:
    text = (
        "sources:\n"
        "  - name: juno7\n"
        "    url: https://www.juno7.ht/feed/\n"
        "    options:\n"
        '      content_selector: "div.entry-content[["\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert "line 2" in message and "sources[0]" in message
    assert "options.content_selector: 'div.entry-content[[' is not a valid CSS selector" in message
    good = parse_settings(text.replace("[[", ""), origin="config.yaml")
    assert good.sources[0].to_source().options["content_selector"] == SELECTOR
    # The real CLI: exit status 78, one line, no traceback.
    path = tmp_path / "config.yaml"
    path.write_text(text, "utf-8")
    result = run_veye("crawl", config=path)
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "options.content_selector" in result.stderr


class NoAlerts:
    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        return Verdict(alert=False)


def summary_feed(base: str, n: int) -> bytes:
    items = "".join(
        f"<item><title>Article {i}</title><link>{base}/a/{i}</link>"
        f"<description>Un court résumé {i} […]</description></item>"
        for i in range(n)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>J</title>'
        f"<link>{base}/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def crawl(
    tmp_path: Path, server: LocalServer, selector: str, n: int = 10
) -> tuple[CrawlSummary, dict[str, str]]:
    server.add("/feed", Route(summary_feed(server.base, n), etag=None))
    server.add("/robots.txt", Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
    for i in range(n):
        html = PAGE.replace(PARAGRAPHS[0], f"{PARAGRAPHS[0]} ({i})").encode()
        server.add(f"/a/{i}", Route(html, content_type="text/html; charset=utf-8"))
    source = Source("juno", "feed", f"{server.base}/feed", options={"content_selector": selector})
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    try:
        summary: CrawlSummary = crawl_once(
            store,
            NoAlerts(),
            [source],
            fetcher_factory=lambda: Fetcher(
                FetchSettings(timeout=5, min_delay=0), robots=RobotsCache()
            ),
            options=CollectOptions(),
        )
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(articles.c.url, articles.c.text)).all()
    finally:
        store.close()
    return summary, {str(url): str(text) for url, text in rows}


def test_a_source_with_a_selector_stores_the_selected_text(
    tmp_path: Path, server: LocalServer
) -> None:
    summary, texts = crawl(tmp_path, server, SELECTOR)
    assert summary.outcomes[0].warnings == ()
    assert len(texts) == 10
    for url, text in texts.items():
        i = url.rsplit("/", 1)[1]
        assert text.startswith(f"{PARAGRAPHS[0]} ({i})\n{PARAGRAPHS[1]}")
        assert "Partager" not in text


def test_a_selector_that_stopped_matching_is_warned_of_and_loses_no_text(
    tmp_path: Path, server: LocalServer
) -> None:
    summary, texts = crawl(tmp_path, server, "div.td-post-content")
    assert len(texts) == 10
    assert all(PARAGRAPHS[1] in text for text in texts.values())  # the generic extractor's
    (warning,) = summary.outcomes[0].warnings
    assert "content_selector 'div.td-post-content' found too little text on 10 of 10" in warning
