from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.urls import (
    canonicalize,
    choose_article_url,
    decode_news_search_link,
    is_amp,
    is_news_search_link,
)

PUBLISHER = "https://www.lenouvelliste.com/article/123"
#: A Google News article id of the older kind, which carries the publisher's URL.
OLD_STYLE_ID = (
    base64.urlsafe_b64encode(
        b"\x08\x13\x22" + bytes([len(PUBLISHER)]) + PUBLISHER.encode() + b"\xd2\x01\x00"
    )
    .decode()
    .rstrip("=")
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Example.ORG:443/a/b?utm_source=x&id=3#top", "https://example.org/a/b?id=3"),
        ("http://example.org", "http://example.org/"),
        ("http://example.org:8080/x", "http://example.org:8080/x"),
        ("https://example.org/x?b=2&a=1&fbclid=zz&gclid=q", "https://example.org/x?a=1&b=2"),
        ("https://example.org/2024/03/story/amp/", "https://example.org/2024/03/story/"),
        ("https://example.org/caf%C3%A9", "https://example.org/caf%C3%A9"),
        (
            "https://news.google.com/rss/articles/x?url=https://lenouvelliste.com/article/1%3Futm_medium%3Drss",
            "https://lenouvelliste.com/article/1",
        ),
        # Tracking parameters of every kind, including French analytics (xtor).
        (
            "https://lenouvelliste.com/a?xtor=RSS-1&utm_campaign=x&mc_cid=1&_hsenc=2&id=4",
            "https://lenouvelliste.com/a?id=4",
        ),
        # Host and path spellings of one page.
        ("https://Example.org./a/./b/../c", "https://example.org/a/c"),
        ("https://user:pw@example.org/a", "https://example.org/a"),
        ("https://exämple.ht/a", "https://xn--exmple-cua.ht/a"),
        ("https://example.org:notaport/a", "https://example.org/a"),
        # AMP variants of one article.
        ("https://example.org/2024/03/story?amp=1", "https://example.org/2024/03/story"),
        ("https://example.org/2024/03/story.amp.html", "https://example.org/2024/03/story.html"),
        ("https://www.google.com/amp/s/www.example.org/a/b", "https://www.example.org/a/b"),
        (
            "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/a?utm_source=x",
            "https://www.example.org/a",
        ),
        # News-search redirect links.
        (
            "https://www.bing.com/news/apiclick.aspx?url=https%3A%2F%2Fexample.org%2Fa",
            "https://example.org/a",
        ),
        (
            "https://news.google.com/rss/articles/CBMiopaqueAU_yqLtoken?oc=5&hl=fr",
            "https://news.google.com/rss/articles/CBMiopaqueAU_yqLtoken",
        ),
        (f"https://news.google.com/rss/articles/{OLD_STYLE_ID}?oc=5", PUBLISHER),
        ("ftp://example.org/x", ""),
        ("not a url", ""),
        ("javascript:alert(1)", ""),
    ],
)
def test_canonicalize(raw: str, canonical: str) -> None:
    assert canonicalize(raw) == canonical


@given(
    st.from_regex(
        r"https?://[a-z]{1,10}\.(org|ht|com)(/[a-z0-9%-]{0,10}){0,3}(\?[a-z]=[0-9])?",
        fullmatch=True,
    )
)
def test_canonicalize_is_idempotent(url: str) -> None:
    once = canonicalize(url)
    assert canonicalize(once) == once


def test_news_search_links_give_way_to_the_publishers_url() -> None:
    opaque = "https://news.google.com/rss/articles/CBMiopaqueAU_yqLtoken?oc=5"
    assert is_news_search_link(opaque)
    assert decode_news_search_link(opaque) is None
    assert decode_news_search_link(f"https://news.google.com/rss/articles/{OLD_STYLE_ID}") == (
        PUBLISHER
    )
    # What the entry carries: its description's anchor to the publisher.
    assert choose_article_url(opaque, [opaque, "https://haitiantimes.com/2024/03/a/"]) == (
        "https://haitiantimes.com/2024/03/a/"
    )
    # Nothing better given: the link stands.
    assert choose_article_url(opaque, [opaque, "https://news.google.com/"]) == opaque


def test_amp_links_give_way_to_the_canonical_page_the_feed_gives() -> None:
    assert is_amp("https://amp.example.org/a")
    assert is_amp("https://example.org/amp/a")
    assert not is_amp("https://example.org/camping/a")
    assert (
        choose_article_url(
            "https://amp.example.org/a", ["https://other.example/a", "https://www.example.org/a"]
        )
        == "https://www.example.org/a"
    )
    # Another site's page is never taken for the canonical one.
    assert choose_article_url("https://amp.example.org/a", ["https://other.example/a"]) == (
        "https://amp.example.org/a"
    )
    assert choose_article_url("https://example.org/a", ["https://example.org/b"]) == (
        "https://example.org/a"
    )
