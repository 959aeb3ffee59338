"""Tables. Schema changes go through an Alembic migration in ``storage/migrations``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    #: The worker polling it now, until ``lease_until``: several workers sharing one database
    #: never poll a source at once, and a dead worker's hold runs out.
    Column("lease_owner", String(200)),
    Column("lease_until", DateTime(timezone=True)),
    #: The worker that polled it last.
    Column("last_poll_by", String(200)),
)

#: One row per story or event: copies and reports of the same event join one cluster, and
#: alerts are owed per cluster, not per item.
clusters = Table(
    "clusters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    #: Title of the item that started it.
    Column("title", Text, nullable=False),
    #: True once any item in it alerted; categories are the union of its items'.
    Column("alert", Boolean, nullable=False, default=False),
    Column("categories", Text, nullable=False, default=""),
    Column("items", Integer, nullable=False, default=0),
    #: Distinct outlets that carried any of its items.
    Column("outlets", Integer, nullable=False, default=0),
    #: When the item that started it was published (else first seen): reports of the same
    #: event join only within the configured window of this time.
    Column("event_at", DateTime(timezone=True)),
    Index("ix_clusters_updated_at", "updated_at"),
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
    Column("cluster_id", Integer, ForeignKey("clusters.id"), index=True),
    #: How it came into its cluster: ``start``, ``copy`` (near-duplicate text) or ``event``
    #: (same event, other words); ``cluster_similarity`` is the estimated Jaccard of a copy.
    Column("cluster_via", String(8)),
    Column("cluster_similarity", Float),
    Index("ix_articles_source_guid", "source", "guid"),
    Index("ix_articles_published_at", "published_at"),
    Index("ix_articles_first_seen_at", "first_seen_at"),
    #: What ranking and grouping a search hit reads, without loading the row and its text:
    #: on SQLite, search reads it through this index (see ``storage.search``).
    Index("ix_articles_search", "id", "cluster_id", "published_at", "first_seen_at"),
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

#: MinHash signature of an item's text (see ``storage.similarity``), for near-duplicate checks.
signatures = Table(
    "signatures",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("minhash", LargeBinary, nullable=False),
    #: Published time, else first seen: copies join only within ``clusters.copy_window``.
    Column("at", DateTime(timezone=True), nullable=False),
)


def _band_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("band", SmallInteger, nullable=False),
        Column("hash", BigInteger, nullable=False),
        Column("article_id", Integer, nullable=False),
        PrimaryKeyConstraint("band", "hash", "article_id"),
        sqlite_with_rowid=False,
    )


#: LSH bands of every signature: items sharing a ``(band, hash)`` are near-duplicate
#: candidates. The primary key is the lookup index (no rowid table beside it). No foreign
#: key: a cascade would scan the table for want of an ``article_id`` index, and a band row
#: left by a deleted item is harmless (lookups join ``signatures``, which cascades).
signature_bands = _band_table("signature_bands")

#: The newest items' bands, the same rows, until they are moved into ``signature_bands`` in
#: one sorted pass (:func:`storage.signatures.merge_recent`). A band's hash is random: a
#: batch's rows inserted straight into the big table land on as many pages as it has, and
#: every page they touch is written again at each commit. Here they touch a small table's.
signature_bands_recent = _band_table("signature_bands_recent")

#: The places, prisons and gangs an alerting cluster is about, for matching later reports
#: of the same event: ``key`` is ``kind:normalised name``, ``at`` the cluster's ``event_at``.
cluster_entities = Table(
    "cluster_entities",
    metadata,
    Column("cluster_id", Integer, ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("cluster_id", "key"),
    Index("ix_cluster_entities_key_at", "key", "at"),
)

#: The gazetteer entities the filter found in each item, for ``--entity`` / ``--place``.
article_entities = Table(
    "article_entities",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("name", String(200), primary_key=True),
    Index("ix_article_entities_name", "name", "kind"),
)

#: Daemon bookkeeping: heartbeat and per-job last run, readable by ``veye status``.
runtime = Table(
    "runtime",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: The outbox: one row per alert owed to a channel, written in the same transaction as the
#: cluster change that owes it. ``occasion`` tells apart the follow-ups one cluster may owe
#: (``first`` for ``alert.new``; ``outlets:4``, ``corroborated`` for ``alert.update``), so
#: owing the same alert twice breaks the unique constraint.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: Sent as ``X-Veye-Delivery`` / ``Message-ID``: the same on every attempt.
    Column("delivery_id", String(36), nullable=False, unique=True),
    Column("cluster_id", Integer, ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    Column("article_id", Integer),
    Column("route", String(100), nullable=False),
    Column("channel", String(100), nullable=False),
    #: ``alert.new`` or ``alert.update``.
    Column("event", String(32), nullable=False),
    Column("occasion", String(64), nullable=False),
    #: Set when the alert goes out in a digest: the digest's due time, shared by its rows.
    Column("digest_key", String(64)),
    #: The delivery id of the digest message carrying this row, fixed when first claimed.
    Column("batch_id", String(36)),
    #: What the cluster, its lead item and its verdict looked like when the alert was owed.
    Column("payload", JSON, nullable=False),
    #: ``pending``, ``sending`` (claimed; ``next_attempt_at`` is the lease's end), ``sent``
    #: or ``failed``.
    Column("state", String(16), nullable=False),
    #: Attempts since it was last queued (``veye alerts retry`` starts again from zero).
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("cluster_id", "channel", "event", "occasion", name="uq_alerts_owed"),
    Index("ix_alerts_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_alerts_channel_created_at", "channel", "created_at"),
)

#: One row per attempt to deliver an alert: what the channel answered, and how long it took.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    #: 1 for the alert's first attempt ever, counting across manual retries.
    Column("attempt", Integer, nullable=False),
    #: The id the message carried (the alert's own, or its digest's).
    Column("delivery_id", String(36), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration", Float, nullable=False),
    #: ``sent``, ``retry`` or ``failed``.
    Column("outcome", String(16), nullable=False),
    #: HTTP status or SMTP reply code, when the peer answered.
    Column("status", Integer),
    #: The peer's answer (response body excerpt, SMTP reply), secrets removed.
    Column("reply", Text),
    Column("error", Text),
    Index("ix_deliveries_alert_id", "alert_id"),
)
