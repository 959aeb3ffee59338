"""Tables. Schema changes go through an Alembic migration in ``storage/migrations``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Per-source state: caching headers for conditional GET, and health.
sources = Table(
    "sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_poll_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    #: When the current run of failures began; ``None`` while healthy.
    Column("failing_since", DateTime(timezone=True)),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_poll_at", DateTime(timezone=True)),
    Column("last_new_at", DateTime(timezone=True)),
    Column("items_total", Integer, nullable=False, default=0),
)

#: One row per distinct item (unique ``key``), with the filter's verdict.
articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("source", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(8)),
    Column("published_at", DateTime(timezone=True)),
    Column("authors", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    #: How many times the content changed after it was first stored.
    Column("revisions", Integer, nullable=False, default=0),
    Column("salvaged", Boolean, nullable=False, default=False),
    Column("alert", Boolean, nullable=False, default=False),
    #: Space-delimited with a leading and trailing space, so ``LIKE '% cat %'`` is exact.
    Column("categories", Text, nullable=False, default=""),
    Column("score", Float, nullable=False, default=0.0),
    Column("verdict", JSON),
    Index("ix_articles_source_guid", "source", "guid"),
    Index("ix_articles_published_at", "published_at"),
    Index("ix_articles_first_seen_at", "first_seen_at"),
)

#: Every outlet (and link) that carried an item.
article_sources = Table(
    "article_sources",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(100), primary_key=True),
    Column("url", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
)

#: Daemon bookkeeping: heartbeat and per-job last run, readable by ``veye status``.
runtime = Table(
    "runtime",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
