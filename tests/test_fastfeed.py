"""The fast feed path gives exactly what feedparser gives, or declines.

For every body the fast path accepts, ``parse_feed`` must return the same ``ParsedFeed``
(every article field, version, title, warnings) as with ``fast=False``, which runs feedparser:
on feedparser's own test corpus, on the recorded feeds under tests/data, on the bench corpus,
and on targeted cases. Each reason to decline is checked against an accepted control."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import build
from crawler import fastfeed
from crawler.errors import ParseError
from crawler.feeds import ParsedFeed, parse_feed
from crawler.records import Source
from tests.conftest import DATA, SHARED

CORPUS = SHARED / "corpora" / "feedparser-tests"
SRC = Source("test", "feed", "https://site.example/feed", language="fr")
URL = "https://site.example/feed"

Outcome = ParsedFeed | tuple[str, str]


def outcome(body: bytes, headers: Mapping[str, str] | None, fast: bool, url: str = URL) -> Outcome:
    try:
        return parse_feed(SRC, body, url=url, headers=headers, fast=fast)
    except ParseError as e:
        return ("ParseError", str(e))


def same(body: bytes, headers: Mapping[str, str] | None = None, url: str = URL) -> bool:
    """Assert both paths agree on ``body``; whether the fast path took it."""
    fast, slow = outcome(body, headers, True, url), outcome(body, headers, False, url)
    assert fast == slow
    return fastfeed.parse(body, dict(headers or {})) is not None


def accepted(body: bytes, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """The feed, read by the fast path, checked against feedparser."""
    assert same(body, headers), "the fast path declined it"
    return parse_feed(SRC, body, url=URL, headers=headers)


def declined(body: bytes, headers: Mapping[str, str] | None = None) -> None:
    assert fastfeed.parse(body, dict(headers or {})) is None
    assert same(body, headers) is False


# -- corpora ------------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is absent ({CORPUS}); CI always has ../shared")
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


def served_headers(body: bytes) -> dict[str, str]:
    """The headers a corpus file asks to be served with (its ``Header:`` comments), as the
    crawler hands them over (lowercase names)."""
    headers = {"content-type": "application/xml"}
    for name, value in re.findall(rb"^Header:\s*([\w-]+):[ \t]*(.*?)\s*$", body[:2000], re.M):
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    return headers


def entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What ``parse_feed`` reads of an entry, to compare the parsers below the article level
    (where entries without text are dropped and would hide a difference)."""
    get = entry.get
    return {
        "link": get("link"),
        "links": [(x.get("href"), x.get("rel", "alternate")) for x in get("links") or ()],
        "id": get("id"),
        "title": get("title"),
        "summary": get("summary"),
        "description": get("description"),
        "content": [c.get("value") for c in get("content") or ()],
        "published": get("published_parsed"),
        # Asked only when present: feedparser warns when it falls back on another key.
        "updated": entry["updated_parsed"] if "updated_parsed" in entry else None,  # noqa: SIM401
        "created": get("created_parsed"),
        "authors": [a.get("name") for a in get("authors") or ()],
    }


def test_feedparser_corpus_reads_the_same_both_ways() -> None:
    files = corpus_files()
    taken = 0
    for path in files:
        body = path.read_bytes()
        for headers in (served_headers(body), None):
            raw = fastfeed.parse(body, dict(headers or {}))
            if raw is None:
                continue
            taken += 1
            slow = feedparser.parse(
                io.BytesIO(body),
                response_headers=dict(headers or {}),
                sanitize_html=False,
                resolve_relative_uris=False,
            )
            where = path.relative_to(CORPUS)
            assert [entry_fields(e) for e in raw.entries] == [
                entry_fields(e) for e in slow.entries
            ], where
            assert raw.version == (slow.get("version") or ""), where
            assert raw.title == slow.feed.get("title", ""), where
            bozo = slow.get("bozo_exception") if slow.get("bozo") else None
            assert type(raw.bozo_exception) is type(bozo), where
            assert same(body, headers), where
    # 2,107 files, each with and without its headers: the fast path takes 807 + 817 (the
    # rest are Atom 0.3, CDF, XHTML, xml:base, iTunes and GeoRSS tests, and broken XML).
    assert taken >= 1600, taken


def test_recorded_feeds_read_the_same_both_ways() -> None:
    bodies = {
        p.name: p.read_bytes().replace(b"{base}", b"https://site.example")
        for p in sorted(DATA.rglob("*"))
        if p.suffix in (".xml", ".rss", ".atom", ".html")
    }
    assert len(bodies) >= 8
    taken = {name for name, body in bodies.items() if same(body)}
    assert {"rss20.xml", "atom.xml", "rdf.xml", "summary-feed.xml"} <= taken
    assert "broken.xml" not in taken


def test_bench_corpus_reads_the_same_both_ways() -> None:
    corpus = build(20, 20)
    assert len(corpus.feeds) == 20  # RSS and Atom, alternately
    for path, body in corpus.feeds.items():
        assert same(body, url="http://127.0.0.1:0" + path), path


def test_without_feedparser_s_tables_every_feed_goes_to_feedparser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = (DATA / "feeds" / "rss20.xml").read_bytes().replace(b"{base}", b"https://site.example")
    source = Source("s", "feed", "https://site.example/feed")
    fast = parse_feed(source, body, url=source.url)
    assert fastfeed.parse(body, {}) is not None
    monkeypatch.setattr(fastfeed, "_AVAILABLE", False)
    assert fastfeed.parse(body, {}) is None
    assert parse_feed(source, body, url=source.url) == fast


def test_a_bug_in_the_fast_path_costs_speed_not_the_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (DATA / "feeds" / "rss20.xml").read_bytes().replace(b"{base}", b"https://site.example")
    source = Source("s", "feed", "https://site.example/feed")
    expected = parse_feed(source, body, url=source.url, fast=False)

    def broken(*_: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(fastfeed, "parse", broken)
    assert parse_feed(source, body, url=source.url) == expected


def test_the_switch_chooses_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = feedparser.parse

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", counting)
    body = (DATA / "feeds" / "rss20.xml").read_bytes()
    fast = parse_feed(SRC, body, url=URL)
    assert calls == []
    assert parse_feed(SRC, body, url=URL, fast=False) == fast
    assert calls == [1]


# -- declining ----------------------------------------------------------------------------

ITEM = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:media="http://search.yahoo.com/mrss/" xmlns:x="urn:example:extension"{decl}>
<channel><title>Nouvelles</title><link>https://site.example/</link>
<item{attrs}>
  <title>Attaque armée à Cabaret</title>
  <link>https://site.example/2024/03/cabaret</link>
  <guid isPermaLink="false">n-1</guid>
  <pubDate>Mon, 04 Mar 2024 10:15:00 -0500</pubDate>
  <description>Des bandits armés ont attaqué Cabaret ce lundi matin.</description>
  {extra}
</item></channel></rss>"""


def item(extra: str = "", attrs: str = "", decl: str = "") -> bytes:
    return ITEM.format(extra=extra, attrs=attrs, decl=decl).encode()


def test_the_template_item_is_taken() -> None:
    (a,) = accepted(item()).articles
    assert a.canonical_url == "https://site.example/2024/03/cabaret"
    assert a.published == datetime(2024, 3, 4, 15, 15, tzinfo=UTC)
    # Elements feedparser keeps apart from what veye reads do not stop the fast path.
    ordinary = (
        '<x:note>a note</x:note><x:rating value="5"/><category>Sécurité</category>'
        '<enclosure url="https://site.example/a.jpg" type="image/jpeg" length="1"/>'
        '<media:content url="https://site.example/b.jpg"><media:thumbnail url="t.jpg"/>'
        "</media:content><comments>https://site.example/c</comments><source "
        'url="https://wire.example/rss">Wire</source>'
    )
    accepted(item(ordinary))


BAD_BODIES = {
    "not well-formed": item().replace(b"</item>", b""),
    "a DOCTYPE": item().replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY a "b">]>\n<rss', 1),
    "a DOCTYPE without entities": item().replace(b"<rss", b"<!DOCTYPE rss>\n<rss", 1),
    "an HTML page": b"<!DOCTYPE html><html><body><p>Bienvenue</p></body></html>",
    "a sitemap": (DATA / "spiders" / "news-sitemap.xml").read_bytes(),
    "Atom 0.3": (
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title>'
        b"<entry><title>a title</title></entry></feed>"
    ),
    "an RSS 1.0 namespace on <rss>": item(decl=' xmlns:r="http://purl.org/rss/1.0/"'),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_unusual_documents_are_declined(body: bytes) -> None:
    declined(body)


BAD_ITEMS = {
    "xml:base": ("", ' xml:base="https://elsewhere.example/"', ""),
    "a bare base attribute": ("", ' base="https://elsewhere.example/"', ""),
    "CDF attributes on an item": ("", ' href="https://site.example/cdf"', ""),
    "markup inside a title": ("<title><b>gras</b></title>", "", ""),
    "base64 content": ('<content type="application/octet-stream">QUJD</content>', "", ""),
    "a mode attribute": ('<summary mode="escaped">a</summary>', "", ""),
    "content with src": ('<content src="https://site.example/x"/>', "", ""),
    "XHTML content": ('<content type="xhtml"><div>a</div></content>', "", ""),
    "media:title": ("<media:title>Titre média</media:title>", "", ""),
    "media:description in a group": (
        "<media:group><media:description>d</media:description></media:group>",
        "",
        "",
    ),
    "an iTunes summary": (
        "<itunes:summary>s</itunes:summary>",
        "",
        ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
    ),
    "a handled element inside an unknown one": ("<x:wrap><title>autre</title></x:wrap>", "", ""),
    "an unknown element landing on a key veye reads": ("<links>x</links>", "", ""),
    "an extension attribute named like href": ('<link x:href="https://a.example/"/>', "", ""),
    "a date in another format": ("<dc:date>2024-03-04</dc:date>", "", ""),
    "an empty date": ("<pubDate></pubDate>", "", ""),
    "a date that does not exist": ("<pubDate>Fri, 30 Feb 2024 10:00:00 GMT</pubDate>", "", ""),
    "a two-digit year": ("<pubDate>Mon, 04 Mar 24 10:15:00 GMT</pubDate>", "", ""),
    "an unknown zone name": ("<pubDate>Mon, 04 Mar 2024 10:15:00 CEST</pubDate>", "", ""),
    "a link given as url=": ('<link url="https://site.example/u"/>', "", ""),
    "one prefix, two namespaces": (
        '<x:a xmlns:x="urn:example:other">a</x:a>',
        "",
        "",
    ),
    # feedparser files the syndication namespace under "sy", then renames "sy" to "dc".
    "a known prefix on another known namespace": (
        '<s:updatePeriod xmlns:s="http://purl.org/rss/1.0/modules/syndication/">hourly'
        "</s:updatePeriod>",
        "",
        ' xmlns:sy="http://purl.org/dc/elements/1.1/"',
    ),
}


@pytest.mark.parametrize(("extra", "attrs", "decl"), BAD_ITEMS.values(), ids=BAD_ITEMS.keys())
def test_unusual_items_are_declined(extra: str, attrs: str, decl: str) -> None:
    declined(item(extra, attrs, decl))


def test_a_renamed_prefix_that_no_element_uses_is_harmless() -> None:
    accepted(item(decl=' xmlns:sy="http://purl.org/dc/elements/1.1/"'))


def test_channel_oddities_are_declined() -> None:
    accepted(
        item().replace(
            b"<channel>",
            b"<channel><image><title>Logo</title><url>l.png</url>"
            b"<link>https://site.example/</link></image>",
            1,
        )
    )
    # An unknown child of an image makes feedparser file the image's title as the feed's.
    declined(
        item().replace(b"<channel>", b"<channel><image><x:a>1</x:a><title>L</title></image>", 1)
    )
    declined(item().replace(b"<channel>", b'<channel lastmod="2024-03-04">', 1))
    itunes = item(decl=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"')
    declined(itunes.replace(b"<channel>", b"<channel><itunes:author>a</itunes:author>", 1))
    accepted(itunes)


def test_a_content_location_header_is_declined() -> None:
    declined(
        item(), {"content-type": "application/rss+xml", "content-location": "https://b.example/"}
    )


def test_entities_are_never_expanded_nor_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    levels = "".join(f'<!ENTITY e{n + 1} "{f"&e{n};" * 10}">' for n in range(9))
    laughs = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e0 "lol">{levels}]>'
        '<rss version="2.0"><channel><item><title>&e9;</title></item></channel></rss>'
    ).encode()
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY s SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><item><title>&s;</title></item></channel></rss>'
    ).encode()
    started = time.monotonic()
    assert fastfeed.parse(laughs, {}) is None
    assert fastfeed.parse(xxe, {}) is None
    # Without a DOCTYPE an entity reference is simply an error, never a lookup.
    assert fastfeed.parse(b"<rss><channel><title>&s;</title></channel></rss>", {}) is None
    assert time.monotonic() - started < 1


# -- tricky values ------------------------------------------------------------------------


def test_text_values() -> None:
    # CDATA, entities and character references, escaped markup in a title.
    content = "<p>Plus de <b>500</b> détenus &amp; gardiens ont fui la prison de Cabaret.</p>"
    title = b"Attaque &amp; Co &#233; &lt;b&gt;arm&#xE9;e&lt;/b&gt;"
    parsed = accepted(
        item(f"<content:encoded><![CDATA[{content}]]></content:encoded>").replace(
            b"Attaque arm\xc3\xa9e", title
        )
    )
    (a,) = parsed.articles
    assert a.title == "Attaque & Co é armée à Cabaret"
    assert a.text == "Plus de 500 détenus & gardiens ont fui la prison de Cabaret."
    assert a.summary.startswith("Des bandits")
    assert parsed.title == "Nouvelles"


def test_repairs_feedparser_makes_to_text() -> None:
    # A title that is UTF-8 read as Latin-1 is repaired, as feedparser repairs it.
    mojibake = "Évasion à Cabaret".encode().decode("latin-1")
    (a,) = accepted(
        item().replace("Attaque armée à Cabaret".encode(), mojibake.encode("utf-8"))
    ).articles
    assert a.title == "Évasion à Cabaret"
    # C1 controls (from numeric references) become the cp1252 characters they stand for.
    c1 = "".join(f"&#{n};" for n in range(0x80, 0xA0))
    (b,) = accepted(item().replace(b"ce lundi", f"&#147;ce lundi&#148; {c1}".encode())).articles
    assert "“ce lundi” €" in b.summary


def test_links() -> None:
    relative = accepted(item().replace(b"https://site.example/2024/03/cabaret", b"/2024/03/rel"))
    assert relative.articles[0].url == "https://site.example/2024/03/rel"
    slashes = accepted(item().replace(b"https://site.example/", b"https:////site.example/"))
    assert slashes.articles[0].url == "https://site.example/2024/03/cabaret"
    query = accepted(item().replace(b"/cabaret<", b"/cabaret?a=1&amp;b;=2&amp;c=3<"))
    assert query.articles[0].url == "https://site.example/2024/03/cabaret?a=1&b=2&c=3"


def test_guids() -> None:
    no_guid = accepted(item().replace(b'<guid isPermaLink="false">n-1</guid>', b""))
    assert no_guid.articles[0].guid is None
    guid_link = (
        item()
        .replace(b"<link>https://site.example/2024/03/cabaret</link>", b"")
        .replace(b'<guid isPermaLink="false">n-1</guid>', b"<guid>https://site.example/g/1</guid>")
    )
    (a,) = accepted(guid_link).articles
    assert a.url == a.guid == "https://site.example/g/1"
    opaque = item().replace(b"<link>https://site.example/2024/03/cabaret</link>", b"")
    (b,) = accepted(opaque).articles
    assert (b.url, b.canonical_url, b.guid) == ("n-1", "", "n-1")
    # A guid before the link: the link still wins.
    before = (
        item()
        .replace(b'<guid isPermaLink="false">n-1</guid>', b"")
        .replace(b"<item>", b"<item><guid>https://site.example/g/2</guid>", 1)
    )
    assert accepted(before).articles[0].url == "https://site.example/2024/03/cabaret"


@pytest.mark.parametrize(
    ("date", "utc"),
    [
        ("Mon, 04 Mar 2024 10:15:00 EST", (2024, 3, 4, 15, 15)),
        ("Mon, 04 Mar 2024 10:15:00 PDT", (2024, 3, 4, 17, 15)),
        ("Mon, 04 Mar 2024 10:15:00 +0530", (2024, 3, 4, 4, 45)),
        ("Mon, 04 Mar 2024 10:15:00 -03:00", (2024, 3, 4, 13, 15)),
        ("Monday, 4 March 2024 10:15 GMT", (2024, 3, 4, 10, 15)),
        ("4 Mar 2024 10:15:00 UT", (2024, 3, 4, 10, 15)),
        ("Sun, 03 Mar 2024 23:30:00 UTC", (2024, 3, 3, 23, 30)),
        ("Mon, 04 Mar 2024 10:15:00 Z", (2024, 3, 4, 10, 15)),
        ("Mon, 04 Mar 2024 10:15:00 A", (2024, 3, 4, 11, 15)),  # military zones, as feedparser
        ("2024-03-04T10:15:00Z", (2024, 3, 4, 10, 15)),
        ("2024-03-04T10:15:00.123+05:30", (2024, 3, 4, 4, 45)),
        ("2024-03-04T10:15-08:00", (2024, 3, 4, 18, 15)),
        ("2024-03-04t10:15:00z", (2024, 3, 4, 10, 15)),
    ],
)
def test_dates(date: str, utc: tuple[int, ...]) -> None:
    (a,) = accepted(item().replace(b"Mon, 04 Mar 2024 10:15:00 -0500", date.encode())).articles
    assert a.published == datetime(*utc, tzinfo=UTC)


def test_which_date_counts() -> None:
    later = "<dc:date>2024-03-05T00:00:00Z</dc:date>"
    (a,) = accepted(item(later)).articles
    assert a.published == datetime(2024, 3, 4, 15, 15, tzinfo=UTC)  # pubDate before dc:date
    (b,) = accepted(
        item(later).replace(b"<pubDate>Mon, 04 Mar 2024 10:15:00 -0500</pubDate>", b"")
    ).articles
    assert b.published == datetime(2024, 3, 5, tzinfo=UTC)


RFC822 = st.builds(
    "{}{:02d} {} {} {:02d}:{:02d}{} {}".format,
    st.sampled_from(["", "Mon, ", "Tue, ", "sat ", "Thursday, "]),
    st.integers(0, 40),
    st.sampled_from(["Jan", "feb", "MAR", "Sept", "Oct", "Dec", "Foo"]),
    st.integers(1890, 2100),
    st.integers(0, 25),
    st.integers(0, 61),
    st.sampled_from(["", ":00", ":59", ":60"]),
    st.sampled_from(
        [
            *("GMT", "ut", "Z", "EST", "edt", "PT", "met", "MEST", "m", "y", "UTC", "CET"),
            *("+0000", "-0500", "+05:30", "+1400", "-1200", "gmt+1"),
        ]
    ),
)
W3DTF = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}{}{}".format,
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["T", "t", " "]),
    st.integers(0, 25),
    st.integers(0, 61),
    st.sampled_from(["", ":00", ":30.5", ":60", ".5"]),
    st.sampled_from(["Z", "z", "+00:00", "-05:00", "+0530", "+14:00", ""]),
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(RFC822, W3DTF, st.text(max_size=40)))
def test_any_date_string_reads_the_same_both_ways(date: str) -> None:
    body = item().replace(b"Mon, 04 Mar 2024 10:15:00 -0500", date.encode("utf-8", "ignore"))
    same(body.replace(b"<pubDate>", b"<pubDate><![CDATA[").replace(b"</pubDate>", b"]]></pubDate>"))


def test_several_links_with_rel() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom">
    <title type="html">Desk &amp;amp; co</title>
    <entry><title>Gangs attack Cabaret</title><id>tag:desk.example,2024:1</id>
    <link rel="self" href="https://desk.example/api/1"/>
    <link rel="alternate" type="application/atom+xml" href="https://desk.example/1.atom"/>
    <link rel="related" href="https://other.example/story"/>
    <link rel="enclosure" href="https://desk.example/1.jpg"/>
    <link href="https://amp.desk.example/1/amp"/>
    <link rel="ALTERNATE" type="text/html" href="https://desk.example/1"/>
    <updated>2024-04-02T11:30:00-04:00</updated><published>2024-04-02T11:00:00+01:00</published>
    <summary>Armed gangs attacked the police station in Cabaret overnight.</summary>
    </entry></feed>"""
    parsed = accepted(atom)
    assert parsed.version == "atom10"
    assert parsed.title == "Desk &amp; co"
    (a,) = parsed.articles
    # The last alternate HTML link is the entry's link.
    assert a.url == "https://desk.example/1"
    assert a.published == datetime(2024, 4, 2, 10, 0, tzinfo=UTC)
    # An AMP link gives way to a non-AMP alternate of the same site.
    amp = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>
    <title>Gangs attack Cabaret</title><id>tag:desk.example,2024:2</id>
    <link rel="canonical" href="https://www.desk.example/2"/>
    <link href="https://amp.desk.example/2"/><summary>Armed gangs attacked.</summary>
    </entry></feed>"""
    (b,) = accepted(amp).articles
    assert b.canonical_url == "https://www.desk.example/2"


def test_authors() -> None:
    rss = accepted(
        item("<author>jo@example.org (Jo Doe)</author><dc:creator>Rédaction</dc:creator>")
    )
    assert rss.articles[0].authors == ("Jo Doe", "Rédaction")
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom" xmlns:gd="urn:example:gd"><title>t</title>
    <entry><title>Gangs attack Cabaret</title><id>tag:a,1</id>
    <author><name> Ann Lee </name><email>ann@example.org</email><gd:image src="a.png"/></author>
    <author><email>bob@example.org</email></author>
    <author><name>Cy</name><uri>https://cy.example/</uri></author>
    <content type="html">&lt;p&gt;Armed gangs attacked Cabaret.&lt;/p&gt;</content>
    </entry></feed>"""
    (a,) = accepted(atom).articles
    # feedparser fills the name-less second author from the first's "name (email)".
    assert a.authors == ("Ann Lee", "Ann Lee", "Cy")


def test_titles_and_summaries_as_feedparser_orders_them() -> None:
    two_titles = item().replace(b"<title>Attaque", b"<title></title><title>Attaque", 1)
    two_titles = two_titles.replace(
        b"</title>\n  <link>", b"</title><dc:title>Autre</dc:title>\n  <link>", 1
    )
    (a,) = accepted(two_titles).articles
    assert a.title == "Attaque armée à Cabaret"  # the first non-empty title holds
    # A second summary without content is read as content.
    (b,) = accepted(
        item("<summary>Un texte plus long que la description du flux, lu comme contenu.</summary>")
    ).articles
    assert b.text == "Un texte plus long que la description du flux, lu comme contenu."
    assert b.summary.startswith("Des bandits")


def test_rdf_and_encodings() -> None:
    rdf = (DATA / "feeds" / "rdf.xml").read_bytes()
    parsed = accepted(rdf)
    assert parsed.version == "rss10"
    assert parsed.articles[0].guid == "https://ansanm.example/atik/1"
    # Served as text/xml without a charset (US-ASCII by RFC 3023) and as text/html: decoded
    # by feedparser's own rules, with the bozo feedparser would report.
    utf8 = item()
    assert accepted(utf8, {"content-type": "text/xml"}).warnings == ()
    html = accepted(utf8, {"content-type": "text/html; charset=utf-8"})
    assert "salvaged" in html.warnings[0]
    assert all(a.salvaged for a in html.articles)
