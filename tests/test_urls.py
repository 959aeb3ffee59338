from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.urls import canonicalize


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
