"""Full article text: where a feed gives only a summary, fetch the article page politely and
extract its main text, date and author: through the source's ``content_selector`` where it
has one (:mod:`crawler.layouts`), else (or when the selector finds too little) with
trafilatura.

trafilatura is handed the HTML we fetched ourselves (through :class:`~crawler.fetch.Fetcher`,
so robots.txt, per-host delays and the byte cap apply); it never touches the network."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from crawler.errors import CrawlError, FetchError, RobotsDisallowed
from crawler.fetch import Fetcher, Response
from crawler.language import detect, detect_many
from crawler.layouts import CONTENT_SELECTOR, select_page
from crawler.offload import Offload
from crawler.records import ArticleData, Source
from crawler.text import tidy, without_feed_footer
from crawler.urls import canonicalize, is_news_search_link

__all__ = [
    "PageText",
    "Wanted",
    "add_full_text",
    "article_from_page",
    "extract_page",
    "needs_full_text",
]

#: Feed text shorter than this is taken for a summary.
SUMMARY_ONLY_LENGTH = 600
#: Longest article text kept; what follows is boilerplate or abuse.
MAX_TEXT = 200_000
#: Largest page handed to the extractor (its cost grows with the page).
MAX_PAGE_BYTES = 5_000_000
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
#: Article pages handed to the extractor in one call (fetched together, read together).
PAGE_BATCH = 8

#: Given the items that carry only a summary, the keys of those worth a page fetch (the
#: caller leaves out what it already stores).
Wanted = Callable[[Sequence[ArticleData]], Collection[str]]

_TRUNCATED = re.compile(
    r"(…|\.\.\.|\[…\]|\[\.\.\.\]|\(…\)|\(\.\.\.\)|lire la suite|lire plus|en savoir plus|"
    r"read more|continue reading|li plis|kontinye li)\W*$",
    re.IGNORECASE,
)


def needs_full_text(article: ArticleData) -> bool:
    """True when the item's text looks like a summary: short, or cut off with "…",
    "[...]", "Lire la suite" and the like."""
    # WordPress's footer says nothing of the length (feeds drop it; other paths may not).
    text = without_feed_footer(article.text.strip()).strip()
    return len(text) < SUMMARY_ONLY_LENGTH or bool(_TRUNCATED.search(text[-40:]))


def page_url(article: ArticleData) -> str | None:
    """The page to fetch for ``article``: its canonical URL, unless that is still a
    news-search redirect (whose pages are consent walls, not articles)."""
    url = article.canonical_url or canonicalize(article.url)
    if not url or is_news_search_link(url):
        return None
    return url


@dataclass(frozen=True, slots=True)
class PageText:
    """What the extractor found on an article page."""

    text: str
    title: str
    description: str
    published: datetime | None
    authors: tuple[str, ...]
    #: True when the source's content selector found the text (not the generic extractor).
    by_selector: bool = False


def extract_page(
    html: bytes | str, url: str, *, metadata: bool = True, selector: str | None = None
) -> PageText | None:
    """Main text, title, date and authors of an article page; ``None`` when the page has no
    main text. Never raises for a bad page. Without ``metadata`` only the text is looked for
    (a third less work; the text is the same): title, description, date and authors come
    back empty.

    With ``selector`` (a source's ``content_selector``) the text is that of the elements it
    selects, and the metadata that of the page's meta tags; where it selects too little
    (:data:`crawler.layouts.MIN_TEXT`) the generic extractor reads the page instead."""
    if selector:
        laid = select_page(html, selector, metadata=metadata)
        if laid is not None:
            return PageText(
                text=laid.text[:MAX_TEXT],
                title=laid.title,
                description=laid.description,
                published=laid.published,
                authors=laid.authors,
                by_selector=True,
            )
    import trafilatura  # heavy import, only for the crawls that need it

    try:
        doc: Any = trafilatura.bare_extraction(
            html,
            url=url,
            include_comments=False,
            favor_precision=True,
            with_metadata=metadata,
            include_tables=False,
            date_extraction_params={
                "extensive_search": False,
                "original_date": True,
                "outputformat": "%Y-%m-%dT%H:%M:%S%z",
            },
        )
    except Exception:  # the extractor must never end a crawl; a bad page is just no text
        return None
    if doc is None:
        return None
    text = tidy(str(getattr(doc, "text", "") or ""))[:MAX_TEXT]
    if not text:
        return None
    author = str(getattr(doc, "author", "") or "")
    return PageText(
        text=text,
        title=tidy(str(getattr(doc, "title", "") or "")),
        description=tidy(str(getattr(doc, "description", "") or "")),
        published=_parse_date(getattr(doc, "date", None)),
        authors=tuple(a.strip() for a in re.split(r";|\s+(?:and|et)\s+", author) if a.strip()),
    )


def _parse_date(value: object) -> datetime | None:
    if not value:
        return None
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            when = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return None


def merge_page(article: ArticleData, page: PageText, hint: str | None) -> ArticleData:
    """``article`` with the page's text where it is longer; the feed's summary is kept, and
    the feed's own date and authors win over the page's."""
    title, text = _chosen(article, page)
    return _merged(article, page, title, text, detect(f"{title}\n{text}", hint))


def _chosen(article: ArticleData, page: PageText) -> tuple[str, str]:
    """The merged item's title and text."""
    text = page.text if len(page.text) > len(article.text) else article.text
    return article.title or page.title, text


def _merged(
    article: ArticleData, page: PageText, title: str, text: str, language: str | None
) -> ArticleData:
    return replace(
        article,
        title=title,
        summary=article.summary or page.description,
        text=text,
        language=language,
        published=article.published or page.published,
        authors=article.authors or page.authors,
    )


def _read_page(
    article: ArticleData, html: bytes, url: str, hint: str | None, selector: str | None
) -> tuple[ArticleData | None, bool]:
    """``article`` merged with its page's text (``None`` when the page has none), and
    whether ``selector`` missed (so the generic extractor read the page)."""
    return _read_pages([(article, html, url)], hint, selector)[0]


def _read_pages(
    pages: Sequence[tuple[ArticleData, bytes, str]], hint: str | None, selector: str | None
) -> list[tuple[ArticleData | None, bool]]:
    """:func:`_read_page` of each ``(article, html, url)``, in one call to a worker process:
    extraction and language detection both cost CPU (the languages detected together)."""
    found: list[tuple[PageText | None, bool]] = []
    for article, html, url in pages:
        # The page's title, description, date and authors only fill what the feed left out.
        complete = bool(article.title and article.summary and article.published and article.authors)
        page = extract_page(html, url, metadata=not complete, selector=selector)
        found.append((page, bool(selector) and (page is None or not page.by_selector)))
    chosen = [
        _chosen(article, page) if page is not None else None
        for (article, _, _), (page, _) in zip(pages, found, strict=True)
    ]
    texts = [f"{title}\n{text}" for title, text in filter(None, chosen)]
    languages = iter(detect_many(texts, [hint] * len(texts)))
    out: list[tuple[ArticleData | None, bool]] = []
    for (article, _, _), (page, missed), picked in zip(pages, found, chosen, strict=True):
        if page is None or picked is None:
            out.append((None, missed))
            continue
        merged = _merged(article, page, *picked, next(languages))
        _ = merged.key, merged.content_hash  # hashed here, in the worker, sent with the item
        out.append((merged, missed))
    return out


def article_from_page(
    source: Source, url: str, html: bytes | str, *, title: str = "", published: datetime | None
) -> ArticleData | None:
    """An item built from an article page alone (spiders and sitemaps). ``title`` and
    ``published`` are what the listing or sitemap said, preferred over the page's."""
    page = extract_page(html, url, selector=_selector(source))
    if page is None:
        return None
    title = title or page.title
    canonical = canonicalize(url)
    return ArticleData(
        source=source.name,
        url=url,
        canonical_url=canonical,
        guid=None,
        title=title,
        summary=page.description,
        text=page.text,
        language=detect(f"{title}\n{page.text}", source.language),
        published=published or page.published,
        authors=page.authors,
    )


async def add_full_text(
    fetcher: Fetcher,
    source: Source,
    articles: Sequence[ArticleData],
    *,
    origin: str,
    wanted: Wanted | None = None,
    limit: int = 30,
    offload: Offload | None = None,
) -> tuple[tuple[ArticleData, ...], tuple[str, ...]]:
    """``articles`` with the full text of those that carry only a summary.

    Pages are fetched for at most ``limit`` items per call, only for the keys ``wanted``
    returns (all, without it), politely (robots.txt, per-host delay, byte cap). A page that
    fails leaves its item as the feed gave it; failures come back as warnings. ``offload``
    runs the extraction (a thread of this process without it). A source with a
    ``content_selector`` has its pages read through it, and a warning when it missed."""
    candidates = [a for a in articles if needs_full_text(a) and page_url(a)]
    if not candidates:
        return tuple(articles), ()
    keys = set(wanted(candidates)) if wanted is not None else {a.key for a in candidates}
    todo = [a for a in candidates if a.key in keys][: max(limit, 0)]
    if not todo:
        return tuple(articles), ()
    allow_private = bool(source.options.get("allow_private"))
    selector = _selector(source)
    offload = offload or Offload(0)
    missed = 0

    async def fetch(article: ArticleData) -> Response | FetchError:
        url = page_url(article)
        assert url is not None
        try:
            return await fetcher.get(
                url,
                accept=PAGE_ACCEPT,
                robots=True,
                origin=origin,
                allow_private=allow_private,
                max_bytes=min(fetcher.settings.max_bytes, MAX_PAGE_BYTES),
            )
        except FetchError as e:
            return e

    async def group(batch: list[ArticleData]) -> list[ArticleData | CrawlError]:
        nonlocal missed
        fetched = await asyncio.gather(*(fetch(a) for a in batch))
        pages = [(a, r) for a, r in zip(batch, fetched, strict=True) if isinstance(r, Response)]
        read: list[tuple[ArticleData | None, bool]] | CrawlError = []
        if pages:
            # Extraction holds the GIL for a while: off the event loop, other fetches go on.
            try:
                read = await offload.run(
                    _read_pages,
                    [(a, r.content, r.url) for a, r in pages],
                    source.language,
                    selector,
                )
            except CrawlError as e:
                read = e
        outcome: dict[str, ArticleData | CrawlError] = {}
        for i, (article, resp) in enumerate(pages):
            if isinstance(read, CrawlError):
                outcome[article.key] = read
                continue
            merged, miss = read[i]
            missed += miss
            outcome[article.key] = merged or CrawlError(f"no article text found on {resp.url}")
        return [
            r if isinstance(r, FetchError) else outcome[a.key]
            for a, r in zip(batch, fetched, strict=True)
        ]

    # Pages go to the extractor a few at a time: one call per page cost the main process
    # more in hand-offs to the worker processes than the extraction costs them.
    groups = [todo[i : i + PAGE_BATCH] for i in range(0, len(todo), PAGE_BATCH)]
    outcomes = [o for g in await asyncio.gather(*(group(g) for g in groups)) for o in g]
    done: dict[str, ArticleData] = {}
    failures: list[CrawlError] = []
    for article, outcome in zip(todo, outcomes, strict=True):
        if isinstance(outcome, ArticleData):
            done[article.key] = outcome
        else:
            failures.append(outcome)
    notes = _describe_failures(failures, len(todo))
    if missed:
        notes += (
            f"full text: {CONTENT_SELECTOR} {selector!r} found too little text on {missed} of "
            f"{len(todo)} article pages, which the generic extractor read instead (has the "
            "site's layout changed?)",
        )
    return tuple(done.get(a.key, a) for a in articles), notes


def _selector(source: Source) -> str | None:
    """The source's ``content_selector``, if it has one."""
    value = source.options.get(CONTENT_SELECTOR)
    return value.strip() or None if isinstance(value, str) else None


def _describe_failures(failures: list[CrawlError], tried: int) -> tuple[str, ...]:
    if not failures:
        return ()
    blocked = [f for f in failures if isinstance(f, RobotsDisallowed)]
    other = [f for f in failures if not isinstance(f, RobotsDisallowed)]
    notes = []
    if blocked:
        notes.append(
            f"full text: {len(blocked)} of {tried} article pages not fetched ({blocked[0]}); "
            "their feed summaries are kept"
        )
    if other:
        notes.append(
            f"full text: {len(other)} of {tried} article pages failed (first: {other[0]}); "
            "their feed summaries are kept"
        )
    return tuple(notes)
