"""Article pages of a known layout: the body read through a CSS selector configured for the
source (``options.content_selector``), with selectolax, in a fraction of a millisecond where
the generic extractor (trafilatura) takes several.

A selector that matches nothing, or too little text, gives ``None``: the caller then falls
back to the generic extractor, so a site's redesign costs time, not text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from crawler.text import tidy

__all__ = ["CONTENT_SELECTOR", "MIN_TEXT", "LayoutPage", "check_layout_options", "select_page"]

#: The source option naming the CSS selector of the article body.
CONTENT_SELECTOR = "content_selector"
#: Fewest characters of selected text taken for the article; less is a layout that changed
#: (or a page that is not an article), left to the generic extractor.
MIN_TEXT = 200

#: Elements whose text is never article text, even inside the selected body.
_DROP = "script, style, noscript, template, iframe, svg, form, button, nav, aside"
#: Elements that end a paragraph (a line of the text).
_BLOCKS = (
    "p, div, li, h1, h2, h3, h4, h5, h6, blockquote, pre, tr, section, article, figcaption, "
    "dd, dt, table, ul, ol"
)
_AUTHOR_SPLIT = re.compile(r";|,|\s+(?:and|et|ak)\s+|\s+&\s+")


@dataclass(frozen=True, slots=True)
class LayoutPage:
    """What a page of a known layout gave."""

    text: str
    title: str = ""
    description: str = ""
    published: datetime | None = None
    authors: tuple[str, ...] = ()


def check_layout_options(options: Mapping[str, Any]) -> str | None:
    """What is wrong with a source's ``content_selector`` option, in one line; ``None`` when
    it is absent or a valid CSS selector."""
    value = options.get(CONTENT_SELECTOR)
    if value is None:
        return None
    example = 'e.g. "div.entry-content"'
    if not isinstance(value, str) or not value.strip():
        return f"options.{CONTENT_SELECTOR} must be a CSS selector (text), {example}"
    if not _valid(value.strip()):
        return (
            f"options.{CONTENT_SELECTOR}: {value!r} is not a valid CSS selector "
            f"(a plain selector of the body element, {example})"
        )
    return None


@lru_cache(maxsize=256)
def _valid(selector: str) -> bool:
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except (SelectolaxError, ValueError, TypeError):
        return False
    return True


def select_page(html: bytes | str, selector: str, *, metadata: bool = True) -> LayoutPage | None:
    """The text of the elements ``selector`` matches (in page order, one inside another
    counted once), and, with ``metadata``, the title, description, date and authors of the
    page's meta tags. ``None`` when the selection holds less than :data:`MIN_TEXT`
    characters, the selector is not valid, or the page's encoding could not be read: the
    generic extractor is then the one to ask. Never raises for a bad page."""
    selector = selector.strip()
    if not selector or not _valid(selector):
        return None
    try:
        # ``encoding``: a <meta charset> in the first 1024 bytes is honoured (else UTF-8);
        # ``scripting``: a <noscript> in <head> does not push the meta tags into <body>.
        tree = LexborHTMLParser(html, encoding=True, scripting=True)
        text = _selected_text(tree, selector)
    except Exception:  # a bad page is just no text, as with the generic extractor
        return None
    # Text read in the wrong encoding: the generic extractor guesses encodings better.
    if len(text) < MIN_TEXT or "\ufffd" in text:
        return None
    if not metadata:
        return LayoutPage(text)
    return LayoutPage(
        text,
        title=_meta(tree, 'meta[property="og:title"]') or _title(tree),
        description=_meta(tree, 'meta[property="og:description"], meta[name="description"]'),
        published=_date(
            _meta(
                tree,
                'meta[property="article:published_time"], meta[itemprop="datePublished"], '
                'meta[name="date"], meta[name="pubdate"]',
            )
        ),
        authors=_authors(tree),
    )


def _selected_text(tree: LexborHTMLParser, selector: str) -> str:
    taken: set[int] = set()
    parts: list[str] = []
    for node in tree.css(selector):
        if _inside(node, taken):
            continue
        taken.add(node.mem_id)
        for junk in node.css(_DROP):
            junk.decompose()
        for block in node.css(_BLOCKS):
            block.insert_after("\n")
        for br in node.css("br"):
            br.insert_after("\n")
        parts.append(node.text(separator=""))
    # One paragraph a line, as the generic extractor gives it.
    lines = (line.strip() for line in tidy("\n".join(parts)).split("\n"))
    return "\n".join(line for line in lines if line)


def _inside(node: LexborNode, taken: set[int]) -> bool:
    """True when an ancestor of ``node`` was selected already (its text is in)."""
    if not taken:
        return False
    parent = node.parent
    while parent is not None:
        if parent.mem_id in taken:
            return True
        parent = parent.parent
    return False


def _meta(tree: LexborHTMLParser, selector: str) -> str:
    for node in tree.css(selector):
        content = tidy(str(node.attributes.get("content") or ""))
        if content:
            return content
    return ""


def _title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title")
    return tidy(node.text()) if node is not None else ""


def _authors(tree: LexborHTMLParser) -> tuple[str, ...]:
    names = _meta(tree, 'meta[name="author"]') or _meta(tree, 'meta[property="article:author"]')
    # article:author is often a profile URL, which names no one.
    if not names or "://" in names:
        return ()
    return tuple(a.strip() for a in _AUTHOR_SPLIT.split(names) if a.strip())


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
