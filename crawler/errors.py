"""Errors raised while collecting.

::

    CrawlError
    ├── FetchError            no usable response
    │   ├── TooLarge          the decoded body passed the byte cap
    │   ├── Timeout           the total deadline passed
    │   ├── HTTPStatusError   the server answered 4xx/5xx
    │   └── BlockedURL        a scheme or address we refuse to fetch
    │       └── RobotsDisallowed   the site's robots.txt says no
    ├── ParseError            a body that is not a feed we can read
    └── SpiderError           a spider's child process failed, hung or spoke garbage
"""

from __future__ import annotations


class CrawlError(Exception):
    """Base of every error raised by ``crawler``."""


class FetchError(CrawlError):
    """No usable response came back."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TooLarge(FetchError):
    """The decoded body is larger than the configured cap."""


class Timeout(FetchError):
    """The request's total deadline passed."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""


class BlockedURL(FetchError):
    """A URL whose scheme or address we refuse to fetch."""


class ParseError(CrawlError):
    """The body is not a feed we can read."""


class RobotsDisallowed(BlockedURL):
    """The site's robots.txt does not let us fetch this URL (or could not be read)."""


class SpiderError(CrawlError):
    """A spider's child process failed, hung, or wrote something we cannot read."""
