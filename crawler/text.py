"""Plain text from the bits of HTML that feeds carry."""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser

_TAG_HINT = re.compile(r"<[a-zA-Z/!]")
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
#: The footer WordPress (or its SEO plugin) appends to feed excerpts and content: a paragraph
#: of its own after the text, never the whole of it.
_FEED_FOOTER = re.compile(
    r"\n\s*(The\s+post\s[^\n]{1,400}?\sappeared\s+first\s+on\s[^\n]{1,200}|"
    r"L[’'`]article\s[^\n]{1,400}?\sest\s+apparu\s+en\s+premier\s+sur\s[^\n]{1,200})$",
    re.IGNORECASE,
)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, paragraphs kept as blank-line breaks.

    Scripts and styles are dropped; nothing of the markup survives, so the result is safe to
    show anywhere once escaped for that place."""
    if not fragment:
        return ""
    if not _TAG_HINT.search(fragment):
        return tidy(html.unescape(fragment))
    tree = HTMLParser(fragment)
    for node in tree.css("script, style, noscript, iframe"):
        node.decompose()
    for node in tree.css("p, br, div, li, h1, h2, h3, h4, h5, h6, blockquote, tr"):
        node.insert_after("\n\n" if node.tag != "br" else "\n")
    root = tree.body or tree.root
    return tidy(root.text(separator="") if root is not None else "")


def tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip the ends."""
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def without_feed_footer(text: str) -> str:
    """``text`` without WordPress's "The post … appeared first on …" footer. It names the
    item and its outlet once more: noise to a reader, to search and to the filter."""
    tail = text[-700:]
    if "first" not in tail and "premier" not in tail:
        return text
    return _FEED_FOOTER.sub("", text).rstrip()
