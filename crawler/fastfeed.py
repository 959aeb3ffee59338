"""The fast path for ordinary feeds: lxml reads the fields veye keeps, exactly as feedparser
would, or declines.

feedparser runs Python code for every element of a feed, and that is most of what ingesting
a feed costs. :func:`parse` walks an lxml tree instead, reads only what
:func:`crawler.feeds.parse_feed` uses, and returns ``None`` ("not mine") for anything out of
the ordinary: XML that is not well-formed, a DOCTYPE, a format other than RSS 0.9x/2.0,
RSS 1.0 or Atom 1.0, ``xml:base``, XHTML or base64 content, a date it cannot read the way
feedparser does, or any element feedparser gives a meaning this module does not reproduce.
The caller then runs feedparser, as before.

Exactness is the contract: for a feed it accepts, every value is the one feedparser gives,
quirks included (the first non-empty title wins, a ``guid`` stands in for a missing link, a
second summary counts as content, text is repaired for UTF-8 read as Latin-1 and for cp1252
characters). ``tests/test_fastfeed.py`` holds it to that on feedparser's own test corpus.

The body is decoded by feedparser's own encoding detection, then parsed without a DTD: no
entity is expanded and nothing is fetched.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import feedparser.api
import feedparser.util
from lxml import etree

__all__ = ["RawFeed", "parse"]


@dataclass(frozen=True, slots=True)
class RawFeed:
    """What a feed says, before articles are built from it (from either parser)."""

    #: ``rss20``, ``atom10``, ``rss10``, ... as feedparser names it; ``""`` if unknown.
    version: str
    title: str
    #: One mapping per entry, keyed as feedparser keys its entries (``link``, ``links``,
    #: ``id``, ``title``, ``summary``, ``description``, ``content``, ``published_parsed``,
    #: ``updated_parsed``, ``created_parsed``, ``authors``).
    entries: tuple[Mapping[str, Any], ...]
    #: What feedparser reports as ``bozo_exception``; ``None`` for a clean feed.
    bozo_exception: Exception | None = None


class _NotMine(Exception):
    """Something in the feed that only feedparser reads right."""


# feedparser's own tables, read from it so that the two agree whatever its version. A
# feedparser without them (a release that moved them) turns the fast path off: every feed
# then goes to feedparser, slower but as right as ever.
try:
    _FP = feedparser.api.StrictFeedParser
    #: Namespace URI (lowercased) -> the prefix feedparser files its elements under.
    _PREFIXES: dict[str, str] = {uri.lower(): prefix for uri, prefix in _FP.namespaces.items()}
    #: Elements feedparser has a handler for (``dc_creator`` for ``dc:creator``). It files
    #: any other element under a key of its own name, which veye never reads.
    _HANDLED = frozenset(
        n.removeprefix("_start_").removeprefix("_end_")
        for n in dir(_FP)
        if n.startswith(("_start_", "_end_"))
    )
    _KEYMAP: dict[str, Any] = feedparser.util.FeedParserDict.keymap
    #: feedparser's encoding detection, so a body decodes exactly as it decodes it.
    from feedparser.encodings import convert_to_utf8

    _AVAILABLE = bool(_PREFIXES and _HANDLED and _KEYMAP)
except (AttributeError, TypeError, ImportError):
    _PREFIXES, _HANDLED, _KEYMAP, _AVAILABLE = {}, frozenset(), {}, False
#: Keys an unknown element must not land on: what veye reads, and the lists handlers extend.
_RESERVED = frozenset(
    {"title", "link", "links", "id", "summary", "subtitle", "content", "author", "authors"}
    | {"author_detail", "contributors", "tags", "source", "image", "textinput", "where"}
    | {"chapters", "psc_chapters", "cloud", "publisher_detail", "generator_detail"}
    | {"media_content", "media_thumbnail", "media_credit", "media_rating", "media_restriction"}
    | {"media_license", "media_player"}
)

#: Attributes whose value feedparser uses in a way that matters here.
_READ_ATTRS = frozenset(
    {"base", "xml:base", "rdf:about", "version", "lastmod", "href", "rel", "type", "url"}
    | {"uri", "ispermalink", "mode", "src"}
)
_TITLES = frozenset({"title", "dc:title"})
_AUTHORS = frozenset({"author", "dc:creator", "dc:author"})
_AUTHOR_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
_DATES = {
    **dict.fromkeys(("pubdate", "published", "issued", "dcterms:issued"), "published_parsed"),
    **dict.fromkeys(
        ("updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified"), "updated_parsed"
    ),
    **dict.fromkeys(("created", "dcterms:created"), "created_parsed"),
}
#: Entry elements whose handlers touch nothing veye reads: only their shape is checked.
_ENTRY_OTHER = frozenset(
    {"category", "dc:subject", "keywords", "rights", "dc:rights", "copyright"}
    | {"language", "dc:language", "expirationdate"}
)
_MEDIA_GROUPS = frozenset({"media:group", "media:content"})
_MEDIA_LEAVES = frozenset(
    {"media:thumbnail", "media:credit", "media:keywords", "media:category", "media:rating"}
    | {"media:restriction", "media:license"}
)
#: Feed-level elements whose handlers touch neither the feed's title nor its entries.
_FEED_OTHER = frozenset(
    {"link", "description", "language", "dc:language", "generator", "webmaster", "id"}
    | {"dc:publisher", "copyright", "rights", "dc:rights", "category", "dc:subject", "cloud"}
    | {"subtitle", "tagline", "expirationdate", *_DATES}
)
#: An image or text input and what it may hold (feedparser files other children elsewhere).
_IMAGES = {
    "image": frozenset({"title", "url", "link", "width", "height", "description"}),
    "textinput": frozenset({"title", "description", "name", "link"}),
}
_SHORT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
_ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"

_FIRST_TAG = re.compile(rb"<\w")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# Starts with a literal so that the scan is quick; a match in text only adds caution.
_XMLNS = re.compile(rb"""xmlns(?::([^\s=>/]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
#: feedparser's ``_urljoin`` with no base: extra slashes after the scheme go.
_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_BROKEN_REF = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


def _cp1252() -> dict[int, str]:
    table = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            continue
    return table


#: C1 controls that stand for cp1252 characters, mapped to them as feedparser does.
_CP1252 = _cp1252()

# Dates: the two formats feeds use, read as feedparser's w3dtf and rfc822 handlers read them.
_W3DTF = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})t(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(z|[+-]\d{2}:\d{2})",
    re.IGNORECASE | re.ASCII,
)
_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,? +)?(\d{1,2}) +([a-z]{3})[a-z]* +(\d{4}) +"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))? +([+-]\d{2}:?\d{2}|[a-z]+)",
    re.IGNORECASE | re.ASCII,
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
#: feedparser's zone names (hours from UTC), and UTC, which it reads as 0 for not knowing it.
_ZONES = {
    **dict.fromkeys(("ut", "gmt", "z", "utc"), 0),
    **{"adt": -3, "ast": -4, "at": -4, "edt": -4, "est": -5, "et": -5, "cdt": -5, "cst": -6},
    **{"ct": -6, "mdt": -6, "mst": -7, "mt": -7, "pdt": -7, "pst": -8, "pt": -8, "a": -1},
    **{"n": 1, "m": -12, "y": 12, "met": 1, "mest": 2},
}

_local = threading.local()


def parse(body: bytes, headers: Mapping[str, str]) -> RawFeed | None:
    """The feed in ``body``, or ``None`` where only feedparser can read it right.

    ``headers`` are the response headers, as feedparser is given them."""
    # Content-Location would become the base of every relative link.
    if not _AVAILABLE or not body or "content-location" in headers:
        return None
    result: dict[str, Any] = {}
    try:
        data = convert_to_utf8(dict(headers), body, result)
    except Exception:  # feedparser's own path reports it, as it always has
        return None
    if not result.get("encoding"):
        return None  # feedparser falls back on its loose parser
    first = _FIRST_TAG.search(data)
    if first is None or _DTD.search(data, 0, first.start()):
        return None
    try:
        root = etree.fromstring(data, _xml_parser())
        reader = _Reader(*_namespaces(data))
        version = reader.read(root)
    except (etree.LxmlError, _NotMine):
        return None
    return RawFeed(version, reader.title, tuple(reader.entries), result.get("bozo_exception"))


def _no_cdf(attrs: Mapping[str, str]) -> None:
    """Decline a channel or item with CDF attributes: feedparser reads ``lastmod`` as a date
    and ``href`` as a link."""
    if "lastmod" in attrs or "href" in attrs:
        raise _NotMine


def _xml_parser() -> Any:
    # A parser per thread: lxml parsers keep state while they parse.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,  # so that text around a comment reads as one, as in SAX
            remove_pis=True,
            collect_ids=False,
        )
    return parser


def _prefix_of(uri: str) -> str | None:
    low = uri.lower()
    if "backend.userland.com/rss" in low:
        return ""
    return _PREFIXES.get(low)


def _namespaces(data: bytes) -> tuple[frozenset[str], dict[str, str]]:
    """The document's namespace declarations, as feedparser's element names depend on them:
    the prefixes it would rename, and the prefix it files each unknown namespace under.

    A scan of the bytes, so it may see declarations that are not (in text); that only ever
    makes the fast path decline."""
    bound: dict[str, str] = {}
    unknown: dict[str, str] = {}
    renamed = set()
    for m in _XMLNS.finditer(data):
        prefix = (m[1] or b"").decode()
        uri = (m[2] if m[2] is not None else m[3]).decode()
        if "&" in uri:
            raise _NotMine
        # feedparser keeps the first or the last of two bindings depending on the order of
        # events: one binding per prefix, and per unknown namespace, leaves no doubt.
        if prefix and bound.setdefault(prefix, uri) != uri:
            raise _NotMine
        known = _prefix_of(uri)
        if known is None:
            if unknown.setdefault(uri, prefix) != prefix:
                raise _NotMine
        elif prefix and known != prefix:
            renamed.add(prefix)
    return frozenset(renamed), unknown


class _Reader:
    """One walk over the tree in document order, keeping the few bits of feedparser's state
    that decide the values veye reads."""

    def __init__(self, renamed: frozenset[str], unknown: Mapping[str, str]) -> None:
        self.renamed = renamed
        self.unknown = unknown
        self.names: dict[str, str] = {}
        self.title = ""
        self.entries: list[dict[str, Any]] = []
        # feedparser's title_depth: the first non-empty title holds until an entry, image,
        # text input or source starts (-1: none holds).
        self.title_depth = -1
        # feedparser's hasContent: once an entry has content, a second summary is a summary.
        self.has_content = False

    def read(self, root: Any) -> str:
        """Walk the document; its version."""
        name = self.name(root)
        attrs = self.attrs(root)
        versions = {v for p, uri in root.nsmap.items() if (v := _version_of(p, uri))}
        if name == "rss":
            if versions - {"atom10"}:
                raise _NotMine  # feedparser would keep the RSS 1.0 or 0.90 of the namespace
            v = attrs.get("version", "")
            for child in root:
                if self.name(child) == "channel":
                    self.channel(child)
                else:
                    self.other(child)
            return _RSS_VERSIONS.get(v) or ("rss20" if v.startswith("2.") else "rss")
        if name == "feed" and root.tag == _ATOM_FEED and versions == {"atom10"}:
            self.feed(root, 1, "entry")
            return "atom10"
        if name == "rdf:rdf" and versions in ({"rss10"}, {"rss090"}):
            for child in root:
                child_name = self.name(child)
                if child_name == "channel":
                    self.channel(child)
                elif child_name == "item":
                    self.entries.append(self.entry(child, 2))
                elif child_name in _IMAGES:
                    self.image(child, child_name, 2)
                else:
                    self.other(child)
            return versions.pop()
        raise _NotMine

    def channel(self, el: Any) -> None:
        _no_cdf(self.attrs(el))
        self.feed(el, 2, "item")

    def feed(self, el: Any, depth: int, entry_name: str) -> None:
        depth += 1
        for child in el:
            name = self.name(child)
            if name in _TITLES:
                value = self.title_of(child, depth)
                if value is not None:
                    self.title = value
            elif name == entry_name:
                self.entries.append(self.entry(child, depth))
            elif name in _IMAGES:
                self.image(child, name, depth)
            elif name in _AUTHORS or name == "managingeditor":
                self.parts(child, _AUTHOR_PARTS)
            elif name in _FEED_OTHER:
                self.parts(child)
            else:
                self.other(child)

    def entry(self, el: Any, depth: int) -> dict[str, Any]:
        attrs = self.attrs(el)
        _no_cdf(attrs)
        self.title_depth = -1
        entry: dict[str, Any] = {}
        about = attrs.get("rdf:about")
        if about:
            if "rdf" in self.renamed:
                raise _NotMine
            entry["id"] = about
        depth += 1
        for child in el:
            name = self.name(child)
            if name in _TITLES:
                value = self.title_of(child, depth)
                if value is not None:
                    entry["title"] = value
            elif name == "link":
                _link(entry, child, self.attrs(child))
            elif name in ("guid", "id"):
                _guid(entry, child, self.attrs(child))
            elif name in ("description", "dc:description", "summary"):
                self.summary(entry, child, name)
            elif name in ("content", "content:encoded"):
                self.content(entry, child, name)
            elif name in _DATES:
                self.attrs(child)
                entry[_DATES[name]] = _date(_value(_text(child)))
            elif name in _AUTHORS:
                self.author(entry, child)
            elif name == "source":
                self.parts(child)
                self.title_depth = -1
            elif name in _MEDIA_GROUPS:
                self.media(child)
            elif name == "enclosure":
                self.parts(child)
                _enclosure(entry, self.attrs(child))
            elif name in _ENTRY_OTHER or name in _MEDIA_LEAVES:
                self.parts(child)
            else:
                self.other(child)
        self.has_content = False
        if "summary" in entry:
            entry["description"] = entry["summary"]
        return entry

    def title_of(self, el: Any, depth: int) -> str | None:
        """A title's value, or ``None`` where an earlier title holds."""
        _check_type(self.attrs(el), "text/plain")
        value = _value(_text(el))
        held = -1 < self.title_depth <= depth
        if value:
            self.title_depth = depth
        return None if held else value

    def summary(self, entry: dict[str, Any], el: Any, name: str) -> None:
        if "summary" in entry and not self.has_content:
            self.content(entry, el, "content")  # feedparser reads a second summary as content
            return
        _check_type(self.attrs(el), "text/plain" if name == "summary" else "text/html")
        entry["summary"] = _value(_text(el))

    def content(self, entry: dict[str, Any], el: Any, name: str) -> None:
        attrs = self.attrs(el)
        if "src" in attrs:
            raise _NotMine
        _check_type(attrs, "text/html" if name == "content:encoded" else "text/plain")
        self.has_content = True
        value = _value(_text(el))
        entry.setdefault("content", []).append({"value": value})
        entry.setdefault("summary", value)

    def author(self, entry: dict[str, Any], el: Any) -> None:
        self.attrs(el)
        entry.setdefault("authors", []).append({})
        for child in el:
            name = self.name(child)
            self.attrs(child)
            if name in ("name", "email"):
                _save_author(entry, name, _text(child).strip())  # no repairs: not "text"
            elif name in ("uri", "url", "homepage"):
                _save_author(entry, "href", _value(_text(child), uri=True))
            else:
                self.other(child)
        entry["author"] = _value((el.text or "") + "".join(c.tail or "" for c in el))
        _sync_author(entry)

    def image(self, el: Any, name: str, depth: int) -> None:
        self.attrs(el)
        self.title_depth = -1
        for child in el:
            child_name = self.name(child)
            if child_name == "title":
                self.title_of(child, depth + 1)
            elif child_name in _IMAGES[name]:
                self.parts(child)
            else:
                raise _NotMine  # feedparser would file the rest, titles too, in the feed

    def media(self, el: Any) -> None:
        self.attrs(el)
        for child in el:
            name = self.name(child)
            if name in _MEDIA_GROUPS:
                self.media(child)
            elif name in _MEDIA_LEAVES:
                self.parts(child)
            else:
                self.other(child)

    def parts(self, el: Any, allowed: frozenset[str] = frozenset()) -> None:
        """Check an element whose value veye never reads: text, or (an author) ``allowed``
        text children and elements feedparser does not know."""
        self.attrs(el)
        if not allowed:
            _text(el)
            return
        for child in el:
            if self.name(child) in allowed:
                self.parts(child)
            else:
                self.other(child)

    def other(self, el: Any) -> None:
        """Accept an element feedparser has no handler for, nor for anything inside it."""
        for node in el.iter():
            key = self.name(node).replace(":", "_", 1)
            mapped = _KEYMAP.get(key, key)
            mapped = mapped[0] if isinstance(mapped, list) else mapped
            if key in _HANDLED or mapped in _RESERVED or mapped.endswith("_parsed"):
                raise _NotMine
            self.attrs(node)

    def name(self, el: Any) -> str:
        """The element's name as feedparser spells it (``dc:creator``, ``title``)."""
        tag = el.tag
        name = self.names.get(tag)
        if name is None:
            if not isinstance(tag, str):
                raise _NotMine
            if tag[0] == "{":
                uri, local = tag[1:].split("}", 1)
                prefix = _prefix_of(uri)
                if prefix is None:  # an unknown namespace: filed under its own prefix
                    prefix = self.unknown.get(uri)
                    if prefix is None:
                        raise _NotMine  # declared in a way the scan did not see
            else:
                prefix, local = "", tag
            prefix = prefix.lower()
            if prefix in self.renamed:
                raise _NotMine
            name = f"{prefix}:{local}".lower() if prefix else local.lower()
            self.names[tag] = name
        return name

    def attrs(self, el: Any) -> dict[str, str]:
        """The element's attributes as feedparser keys them (``rel`` and ``type`` values
        lowercased)."""
        found: dict[str, str] = {}
        for key, value in el.items():
            keys = [key.lower()]
            if key[0] == "{":
                uri, local = key[1:].split("}", 1)
                prefix = _prefix_of(uri)
                if prefix:
                    keys = [f"{prefix}:{local}".lower()]
                else:
                    # feedparser keys these by their bare name, and by their qualified name
                    # for an unknown namespace: neither may be a name it reads.
                    keys = [local.lower()]
                    if prefix is None:
                        keys.append(f"{self.unknown.get(uri, '')}:{local}".lower())
                    if any(k in _READ_ATTRS for k in keys):
                        raise _NotMine
            for k in keys:
                # xml:base (or a bare "base") changes how feedparser resolves every link.
                if k in found or k in ("base", "xml:base"):
                    raise _NotMine
                found[k] = value.lower() if k in ("rel", "type") else value
        return found


def _version_of(prefix: str | None, uri: str) -> str:
    """The version feedparser infers from a namespace declared on the root, if any."""
    low = uri.lower()
    if prefix is None and low == "http://my.netscape.com/rdf/simple/0.9/":
        return "rss090"
    if low == "http://purl.org/rss/1.0/":
        return "rss10"
    if low == "http://www.w3.org/2005/atom":
        return "atom10"
    return ""


def _text(el: Any) -> str:
    if len(el):
        raise _NotMine  # markup inside a text element: feedparser rebuilds it as XHTML
    return str(el.text or "")


def _value(text: str, uri: bool = False) -> str:
    """What feedparser makes of an element's text (its ``pop``): stripped, a link's extra
    slashes removed, UTF-8 read as Latin-1 repaired, cp1252 characters restored."""
    text = text.strip()
    if uri and ":///" in text:  # the only case where the fixer changes anything
        text = _URIFIXER.sub(r"\1\3", text)
    if not text.isascii():
        with contextlib.suppress(UnicodeError):
            text = text.encode("iso-8859-1").decode("utf-8")
        if _C1.search(text):
            text = text.translate(_CP1252)
    return text


def _content_type(value: str) -> str:
    value = value.lower()
    return _SHORT_TYPES.get(value, value)


def _check_type(attrs: Mapping[str, str], default: str) -> None:
    """Plain text or escaped HTML only: feedparser decodes other types as base64, and
    rebuilds XHTML."""
    if "mode" in attrs or _content_type(attrs.get("type", default)) not in (
        "text/plain",
        "text/html",
    ):
        raise _NotMine


def _link(entry: dict[str, Any], el: Any, attrs: dict[str, str]) -> None:
    if "url" in attrs or "uri" in attrs:
        raise _NotMine  # feedparser would take them for href
    attrs.setdefault("rel", "alternate")
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    text = _text(el)
    entry.setdefault("links", []).append(attrs)
    if "href" in attrs:  # Atom: the link is an attribute, and the alternate HTML page
        if ":///" in attrs["href"]:
            attrs["href"] = _URIFIXER.sub(r"\1\3", attrs["href"])
        if attrs["rel"] == "alternate" and _content_type(attrs["type"]) in (
            "text/html",
            "application/xhtml+xml",
        ):
            entry["link"] = attrs["href"]
        return
    # feedparser undoes "&b;" where a query's "&b=" lost its "=" to an entity lookalike.
    value = _value(text, uri=True)
    if "&" in value:
        value = _BROKEN_REF.sub(r"&\g<1>", value.replace("&amp;", "&"))
    entry["link"] = value
    if value:
        attrs["href"] = value


def _enclosure(entry: dict[str, Any], attrs: dict[str, str]) -> None:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href
    attrs["rel"] = "enclosure"
    entry.setdefault("links", []).append(attrs)


def _guid(entry: dict[str, Any], el: Any, attrs: Mapping[str, str]) -> None:
    is_link = attrs.get("ispermalink", "true") == "true"
    value = _value(_text(el), uri=is_link)
    entry["id"] = value
    if is_link:
        entry.setdefault("link", value)  # a permalink stands in for a missing link


def _save_author(entry: dict[str, Any], key: str, value: str) -> None:
    """feedparser's ``_save_author``."""
    entry.setdefault("author_detail", {})[key] = value
    _sync_author(entry)
    entry.setdefault("authors", [{}])[-1][key] = value


def _sync_author(entry: dict[str, Any]) -> None:
    """feedparser's ``_sync_author_detail``: the last author's name and email, from the
    ``author`` string where the author has neither yet ("jo@x.org (Jo)")."""
    detail = entry.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            entry["author"] = f"{name} ({email})"
        elif name or email:
            entry["author"] = name or email
        return
    author, email = entry.get("author"), None
    if not author:
        return
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        for junk in (email, "()", "<>", "&lt;&gt;"):
            author = author.replace(junk, "")
        author = author.strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        entry.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _date(value: str) -> time.struct_time:
    """``value`` as feedparser's ``_parse_date`` reads it, for the two common formats."""
    if m := _W3DTF.fullmatch(value):
        tz = m[7]
        sign = -1 if tz[0] == "-" else 1
        zone = (0, 0) if tz in ("z", "Z") else (sign * int(tz[1:3]), sign * int(tz[4:]))
        fields = (int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0))
    elif m := _RFC822.fullmatch(value):
        month, name = _MONTHS.get(m[2].lower()), m[7].lower()
        if month is None:
            raise _NotMine
        if name[0] in "+-":
            sign = -1 if name[0] == "-" else 1
            zone = (sign * int(name[1:3]), sign * int(name[-2:]))
        elif name in _ZONES:
            zone = (_ZONES[name], 0)
        else:
            raise _NotMine
        fields = (int(m[3]), month, int(m[1]), int(m[4]), int(m[5]), int(m[6] or 0))
    else:
        raise _NotMine
    try:
        stamp = datetime(*fields) - timedelta(hours=zone[0], minutes=zone[1])
        return stamp.utctimetuple()
    except (ValueError, OverflowError):
        raise _NotMine from None  # feedparser would try its other date handlers
