from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.errors import ParseError
from crawler.feeds import parse_feed
from crawler.records import Source
from tests.conftest import feed_bytes

SRC = Source("test", "feed", "https://nouvelles.example/feed", language="fr")


def test_rss20_entries_become_articles() -> None:
    parsed = parse_feed(SRC, feed_bytes("rss20.xml"), url="https://nouvelles.example/feed")
    assert parsed.version == "rss20"
    assert len(parsed.articles) == 3
    first = parsed.articles[0]
    assert first.title.startswith("Évasion à la prison civile de Mirebalais")
    assert first.canonical_url == "https://nouvelles.example/2024/03/evasion-mirebalais"
    assert first.guid == "nouvelles-1001"
    assert first.published == datetime(2024, 3, 4, 15, 15, tzinfo=UTC)
    assert first.authors == ("Rédaction",)
    assert first.language == "fr"
    # The longer content:encoded wins over the description; markup and scripts are gone.
    assert "Plus de 500 détenus" in first.text
    assert "alert(1)" not in first.text
    assert "<" not in first.text
    assert first.summary.startswith("Des bandits armés ont attaqué")
    assert not first.salvaged
    assert parsed.warnings == ()


def test_atom_entries_become_articles() -> None:
    parsed = parse_feed(SRC, feed_bytes("atom.xml"), url="https://desk.example/feed")
    assert parsed.version == "atom10"
    a = parsed.articles[0]
    assert a.canonical_url == "https://desk.example/2024/04/02/cabaret-attack/"
    assert a.guid == "tag:desk.example,2024:cabaret-attack"
    assert a.published == datetime(2024, 4, 2, 11, 0, tzinfo=UTC)
    assert a.language == "en"
    assert "Viv Ansanm" in a.text


def test_rdf_in_latin1_is_decoded_and_creole_detected() -> None:
    parsed = parse_feed(SRC, feed_bytes("rdf.xml"), url="https://ansanm.example/rss")
    assert parsed.version == "rss10"
    (a,) = parsed.articles
    assert a.title == "Bandi yo atake komin Kabarè, plizyè moun mouri"
    assert a.language == "ht"


def test_a_broken_feed_keeps_what_parses_and_says_so() -> None:
    parsed = parse_feed(SRC, feed_bytes("broken.xml"), url="https://casse.example/feed")
    assert next(a.title for a in parsed.articles) == "Attaque armée à Solino"
    assert all(a.salvaged for a in parsed.articles)
    assert any("malformed feed" in w for w in parsed.warnings)


def test_an_html_page_is_a_clear_error() -> None:
    with pytest.raises(ParseError, match="an HTML page, not a feed"):
        parse_feed(SRC, feed_bytes("html-page.html"), url="https://casse.example/")


def test_an_empty_body_is_a_clear_error() -> None:
    with pytest.raises(ParseError, match="empty response"):
        parse_feed(SRC, b"", url="https://casse.example/feed")


def test_keys_are_stable_and_hashes_follow_content() -> None:
    a = parse_feed(SRC, feed_bytes("rss20.xml"), url="https://nouvelles.example/feed").articles
    b = parse_feed(SRC, feed_bytes("rss20.xml"), url="https://nouvelles.example/feed").articles
    assert [x.key for x in a] == [x.key for x in b]
    assert len({x.key for x in a}) == 3
    changed = feed_bytes("rss20.xml").replace(b"budget rectificatif", b"budget initial")
    c = parse_feed(SRC, changed, url="https://nouvelles.example/feed").articles
    assert c[1].key == a[1].key
    assert c[1].content_hash != a[1].content_hash
    assert c[0].content_hash == a[0].content_hash


NEWS_SEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>"Haiti prison" - Google News</title>
<item>
  <title>Gangs attack prison in Haiti - The Haitian Times</title>
  <link>https://news.google.com/rss/articles/CBMiopaqueAU_yqL1?oc=5</link>
  <guid isPermaLink="false">CBMiopaqueAU_yqL1</guid>
  <description>&lt;a href="https://haitiantimes.com/2024/03/04/prison-attack/?utm_source=gn"
    target="_blank"&gt;Gangs attack prison in Haiti&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font
    color="#6f6f6f"&gt;The Haitian Times&lt;/font&gt;</description>
  <source url="https://haitiantimes.com">The Haitian Times</source>
</item>
<item>
  <title>Évasion à Mirebalais - Le Nouvelliste</title>
  <link>https://news.google.com/rss/articles/CBMiopaqueAU_yqL2?oc=5</link>
  <description>&lt;a href="https://news.google.com/rss/articles/CBMiopaqueAU_yqL2?oc=5"&gt;Évasion
    à Mirebalais&lt;/a&gt;</description>
  <source url="https://lenouvelliste.com">Le Nouvelliste</source>
</item>
<item>
  <title>Cabaret : une attaque - AMP</title>
  <link>https://amp.nouvelles.example/2024/03/cabaret</link>
  <guid isPermaLink="true">https://www.nouvelles.example/2024/03/cabaret</guid>
  <description>Une attaque à Cabaret.</description>
</item>
<item>
  <title>Un flash sans lien</title>
  <description>Des tirs entendus à Solino ce matin.</description>
</item>
</channel></rss>
""".encode()


def test_news_search_and_amp_links_are_resolved_to_the_publishers_page() -> None:
    parsed = parse_feed(SRC, NEWS_SEARCH, url="https://news.google.com/rss/search?q=x")
    wire, opaque, amp, bare = parsed.articles
    assert wire.canonical_url == "https://haitiantimes.com/2024/03/04/prison-attack/"
    assert wire.url.startswith("https://haitiantimes.com/")
    # No publisher URL in the entry: the search link, without its display parameters.
    assert opaque.canonical_url == "https://news.google.com/rss/articles/CBMiopaqueAU_yqL2"
    assert amp.canonical_url == "https://www.nouvelles.example/2024/03/cabaret"
    # An entry with neither link nor id is kept, known by its content.
    assert bare.canonical_url == ""
    assert bare.guid is not None
    assert bare.guid.startswith("content:")
    again = parse_feed(SRC, NEWS_SEARCH, url="https://news.google.com/rss/search?q=x")
    assert again.articles[3].key == bare.key


def test_wordpress_footers_are_left_out_of_summary_and_text() -> None:
    body = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Site</title><link>https://site.example/</link><description>d</description>
<item><title>Attaque à Cabaret</title><link>https://site.example/a</link>
<description><![CDATA[<p>Des bandits ont attaqué Cabaret [&#8230;]</p>
<p>L’article <a href="https://site.example/a">Attaque à Cabaret</a> est apparu
en premier sur <a href="https://site.example/">Le Site</a>.</p>]]></description>
<content:encoded><![CDATA[<p>Des bandits ont attaqué Cabaret.</p><p>Trois morts.</p>
<p>The post <a href="https://site.example/a">Attack</a> appeared first on Le Site.</p>]]>
</content:encoded></item>
<item><title>The post office reopens</title><link>https://site.example/b</link>
<description>The post office reopened on Monday, and the queue appeared first on the
square.</description></item>
</channel></rss>""".encode()
    parsed = parse_feed(SRC, body, url="https://site.example/feed")
    first, second = parsed.articles
    assert first.summary == "Des bandits ont attaqué Cabaret […]"
    assert first.text == "Des bandits ont attaqué Cabaret.\n\nTrois morts."
    # Only the footer's own shape goes: a sentence that happens to share words stays.
    assert second.summary.startswith("The post office reopened")
    assert second.summary.endswith("square.")
