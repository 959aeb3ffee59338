"""Plain text from the bits of HTML that feeds carry."""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser

_TAG_HINT = re.compile(r"<[a-zA-Z/!]")
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


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
