"""Errors raised by storage.

::

    StorageError
    ├── DatabaseUnavailable     the database cannot be opened or migrated
    ├── TargetNotEmpty          ``veye db copy`` into a database that holds a store already
    └── InvalidSearchQuery      the user's query is not valid search syntax (also a ValueError)
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by ``storage``."""


class DatabaseUnavailable(StorageError):
    """The database cannot be opened, locked, or brought to the current schema."""


class InvalidSearchQuery(StorageError, ValueError):
    """A search query the full-text engine cannot parse."""


class TargetNotEmpty(StorageError):
    """The database to copy into already holds items or sources: copying would mix stores."""
