"""Checks of a spider source's ``options``, light enough to run when the config is loaded
(no Scrapy import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "check_common_options",
    "check_listing_options",
    "check_sitemap_options",
    "link_selector",
]


def link_selector(css: str) -> str:
    """``css`` made to select an href: ``h2 a`` becomes ``h2 a::attr(href)``."""
    css = css.strip()
    return css if "::" in css else f"{css}::attr(href)"


def check_listing_options(options: Mapping[str, Any]) -> str | None:
    """What is wrong with a listing spider's options, in one line; ``None`` when fine."""
    from parsel.csstranslator import css2xpath

    links = options.get("article_links")
    if not isinstance(links, str) or not links.strip():
        return 'options.article_links is required: a CSS selector such as "h2 a::attr(href)"'
    for name in ("article_links", "next_page"):
        value = options.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"options.{name} must be a CSS selector (text)"
        try:
            css2xpath(link_selector(value))
        except Exception as e:  # cssselect raises several types for a bad selector
            return f"options.{name}: {value!r} is not a valid CSS selector ({e})"
    for name in ("max_pages", "max_articles"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            return f"options.{name} must be a whole number of at least 1"
    return _common(options)


def check_sitemap_options(options: Mapping[str, Any]) -> str | None:
    """What is wrong with a sitemap spider's options, in one line; ``None`` when fine."""
    for name in ("max_age_hours", "max_items", "max_sitemaps"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            return f"options.{name} must be a positive number"
    return _common(options)


def check_common_options(options: Mapping[str, Any]) -> str | None:
    """Options every kind of source takes."""
    return _common(options)


def _common(options: Mapping[str, Any]) -> str | None:
    value = options.get("allow_private")
    if value is not None and not isinstance(value, bool):
        return "options.allow_private must be true or false"
    domains = options.get("allowed_domains")
    if domains is not None and (
        not isinstance(domains, list) or not all(isinstance(d, str) for d in domains)
    ):
        return "options.allowed_domains must be a list of host names"
    return None
