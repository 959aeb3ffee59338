"""Stored MinHash signatures and their LSH bands: near-duplicate candidates by index lookup.

Each signed item has one ``signatures`` row (the signature, for verification) and ``BANDS``
band rows. Looking up a text's candidates is a query on the bands' primary key, so nothing is
held in memory between batches and a restart forgets nothing.

Band rows go first into ``signature_bands_recent``, and are moved into ``signature_bands`` in
one sorted pass once it holds :data:`MERGE_ROWS` (:func:`merge_recent`): their hashes are
random, and inserted straight into the big table each would dirty a page of its own, which
every commit writes again; the cost per item would grow with the store. Lookups read both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from storage import similarity
from storage.schema import signature_bands, signature_bands_recent, signatures
from storage.similarity import Signature

__all__ = [
    "CANDIDATE_LIMIT",
    "Copy",
    "Stored",
    "fetch_bands",
    "find_copies",
    "merge_recent",
    "save_signature",
    "save_signatures",
]

#: Most candidates verified per lookup, newest first: a flood of identical stubs cannot make
#: one lookup slow.
CANDIDATE_LIMIT = 200

#: Band rows (``BANDS`` per item, so about 5,000 items) kept apart before they are merged: the
#: small table's pages are what each batch dirties, and a merge writes the big table's pages
#: once for all of them.
MERGE_ROWS = 160_000

#: Where band rows are, the newest first.
_BAND_TABLES = (signature_bands_recent, signature_bands)


@dataclass(frozen=True, slots=True)
class Copy:
    """A stored item whose text is a near-duplicate of the one looked up."""

    article_id: int
    cluster_id: int | None
    #: Estimated Jaccard similarity of the two texts' shingles.
    similarity: float


def _lookup() -> sa.TextClause:
    """The candidate query, built once: a fixed text statement is compiled and cached once
    (a 32-term expression rebuilt per item would cost more than the lookup itself). Each
    ``(band, hash)`` term is a primary-key search; SQLite ORs them (MULTI-INDEX OR)."""
    terms = " OR ".join(f"(band = {i} AND hash = :h{i})" for i in range(similarity.BANDS))
    candidates = " UNION ALL ".join(
        f"SELECT article_id FROM {t.name} WHERE {terms}" for t in _BAND_TABLES
    )
    return sa.text(
        "SELECT s.article_id, s.minhash, a.cluster_id FROM signatures s "
        "JOIN articles a ON a.id = s.article_id "
        f"WHERE s.article_id IN ({candidates}) "
        "AND s.at BETWEEN :lo AND :hi ORDER BY s.article_id DESC LIMIT :limit"
    ).bindparams(
        sa.bindparam("lo", type_=signatures.c.at.type),
        sa.bindparam("hi", type_=signatures.c.at.type),
    )


_LOOKUP = _lookup()
_INSERT_SIGNATURE = signatures.insert()
_INSERT_BANDS = signature_bands_recent.insert()
_DELETE_BANDS = tuple(
    t.delete().where(
        t.c.band == sa.bindparam("b"),
        t.c.hash == sa.bindparam("h"),
        t.c.article_id == sa.bindparam("a"),
    )
    for t in _BAND_TABLES
)


def save_signature(
    conn: sa.Connection, article_id: int, sig: Signature, at: datetime, *, replace: bool = False
) -> None:
    """Store an item's signature and bands; with ``replace`` (after an edit), drop the
    previous ones first."""
    if replace:
        old = conn.execute(
            sa.select(signatures.c.minhash).where(signatures.c.article_id == article_id)
        ).scalar_one_or_none()
        if old is not None:
            # By the full primary key: the bands tables have no article_id index.
            keys = [
                {"b": i, "h": h, "a": article_id}
                for i, h in enumerate(similarity.band_hashes(similarity.from_bytes(old)))
            ]
            for delete in _DELETE_BANDS:
                conn.execute(delete, keys)
            conn.execute(signatures.delete().where(signatures.c.article_id == article_id))
    conn.execute(
        _INSERT_SIGNATURE, {"article_id": article_id, "minhash": similarity.to_bytes(sig), "at": at}
    )
    conn.execute(
        _INSERT_BANDS,
        [
            {"band": i, "hash": h, "article_id": article_id}
            for i, h in enumerate(similarity.band_hashes(sig))
        ],
    )


def find_copies(
    conn: sa.Connection,
    sig: Signature,
    *,
    threshold: float,
    at: datetime,
    window: timedelta,
    limit: int = CANDIDATE_LIMIT,
) -> list[Copy]:
    """Stored items at least ``threshold`` similar to ``sig`` and stamped within ``window`` of
    ``at``, most similar first (ties: the oldest item first)."""
    params: dict[str, object] = {f"h{i}": h for i, h in enumerate(similarity.band_hashes(sig))}
    params.update(lo=at - window, hi=at + window, limit=limit)
    found = [
        Copy(
            r.article_id,
            r.cluster_id,
            similarity.similarity(sig, similarity.from_bytes(r.minhash)),
        )
        for r in conn.execute(_LOOKUP, params)
    ]
    return sorted(
        (c for c in found if c.similarity >= threshold),
        key=lambda c: (-c.similarity, c.article_id),
    )


# -- batches ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored signature, for verifying candidates in memory."""

    article_id: int
    sig: Signature
    #: As stored: naive, in the time zone it was written in (UTC).
    at: datetime
    cluster_id: int | None


# One JSON parameter each: the statements stay fixed (compiled and cached once) whatever the
# batch size, and each ``(band, hash)`` is still a primary-key search.
#: Most stored items a new item is compared with through one band.
MAX_PER_BAND = 64


# The newest MAX_PER_BAND items of each ``(band, hash)``, read backwards along the primary key:
# a band every story of an outlet shares (its boilerplate) must not cost a read of all of
# them. One band per query, its hashes a JSON array of plain integers: a third of the cost of
# one query over ``[band, hash]`` pairs, whose every element SQLite must take apart.
# CROSS JOIN fixes SQLite's join order: the hashes drive, each a primary-key search.
def _band_matches(table: str) -> dict[str, sa.TextClause]:
    return {
        "sqlite": sa.text(
            f"SELECT sb.hash, sb.article_id FROM json_each(:hashes) j "
            f"CROSS JOIN {table} sb ON sb.band = :band AND sb.hash = j.value "
            f"AND sb.article_id IN (SELECT s2.article_id FROM {table} s2 "
            "WHERE s2.band = :band AND s2.hash = j.value "
            f"ORDER BY s2.article_id DESC LIMIT {MAX_PER_BAND})"
        ),
        "postgresql": sa.text(
            "SELECT sb.hash, sb.article_id "
            "FROM jsonb_array_elements_text(CAST(:hashes AS jsonb)) j(value) CROSS JOIN LATERAL ("
            f"SELECT s2.hash, s2.article_id FROM {table} s2 "
            "WHERE s2.band = CAST(:band AS smallint) AND s2.hash = CAST(j.value AS bigint) "
            f"ORDER BY s2.article_id DESC LIMIT {MAX_PER_BAND}) sb"
        ),
    }


_BAND_MATCHES = tuple(_band_matches(t.name) for t in _BAND_TABLES)
_SIGNATURE_COLUMNS = (
    sa.column("article_id", sa.Integer),
    sa.column("minhash", sa.LargeBinary),
    signatures.c.at,
    sa.column("cluster_id", sa.Integer),
)
_BATCH_SIGNATURES = {
    "sqlite": sa.text(
        "SELECT s.article_id, s.minhash, s.at, a.cluster_id FROM signatures s "
        "JOIN articles a ON a.id = s.article_id "
        "WHERE s.article_id IN (SELECT value FROM json_each(:ids))"
    ).columns(*_SIGNATURE_COLUMNS),
    "postgresql": sa.text(
        "SELECT s.article_id, s.minhash, s.at, a.cluster_id FROM signatures s "
        "JOIN articles a ON a.id = s.article_id "
        "WHERE s.article_id IN ("
        "SELECT CAST(value AS integer) FROM jsonb_array_elements_text(CAST(:ids AS jsonb)))"
    ).columns(*_SIGNATURE_COLUMNS),
}
#: Hashes (or ids) per lookup: bounds the JSON parameter, not the number of queries.
_PAIRS_PER_QUERY = 4096


def fetch_bands(
    conn: sa.Connection, bands: npt.NDArray[np.int64]
) -> tuple[dict[tuple[int, int], list[int]], dict[int, Stored]]:
    """Every stored item sharing a band with any of the signatures whose band hashes are the
    rows of ``bands`` (see :func:`similarity.band_hashes_many`): the items of each
    ``(band, hash)``, and their signatures. A few queries for a whole batch instead of one
    per item."""
    dialect = conn.dialect.name
    by_band: dict[tuple[int, int], list[int]] = {}
    for band in range(bands.shape[1] if len(bands) else 0):
        wanted = np.unique(bands[:, band]).tolist()
        for start in range(0, len(wanted), _PAIRS_PER_QUERY):
            chunk = json.dumps(wanted[start : start + _PAIRS_PER_QUERY])
            params = {"band": band, "hashes": chunk}
            for matches in _BAND_MATCHES:
                for h, article_id in conn.execute(matches[dialect], params).fetchall():
                    by_band.setdefault((band, h), []).append(article_id)
    for key, found in by_band.items():
        if len(found) > MAX_PER_BAND:  # each table gave its newest: keep the newest of all
            by_band[key] = sorted(found, reverse=True)[:MAX_PER_BAND]
    ids = sorted({a for found in by_band.values() for a in found})
    stored: dict[int, Stored] = {}
    for start in range(0, len(ids), _PAIRS_PER_QUERY):
        chunk = json.dumps(ids[start : start + _PAIRS_PER_QUERY])
        for r in conn.execute(_BATCH_SIGNATURES[dialect], {"ids": chunk}):
            at = r.at.replace(tzinfo=None)
            stored[r.article_id] = Stored(
                r.article_id, similarity.from_bytes(r.minhash), at, r.cluster_id
            )
    return by_band, stored


def save_signatures(
    conn: sa.Connection, rows: Sequence[tuple[int, Signature, Sequence[int], datetime]]
) -> None:
    """Store new items' ``(article_id, signature, band hashes, at)``: one executemany per table,
    straight to the driver (SQLAlchemy's multi-row insert costs more than SQLite's)."""
    if not rows:
        return
    # The column type's own conversion, so the stored text is what SQLAlchemy would write.
    to_db = signatures.c.at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO signatures (article_id, minhash, at) VALUES ({mark}, {mark}, {mark})",
        [(a, similarity.to_bytes(s), to_db(at) if to_db else at) for a, s, _, at in rows],
    )
    conn.exec_driver_sql(
        f"INSERT INTO {signature_bands_recent.name} (band, hash, article_id) "
        f"VALUES ({mark}, {mark}, {mark})",
        [(i, h, a) for a, _, bands, _ in rows for i, h in enumerate(bands)],
    )


# A plain count: the table never holds much more than MERGE_ROWS, and SQLite counts a b-tree's
# cells without reading its rows (seven times faster here than counting up to a LIMIT).
_COUNT_RECENT = sa.select(sa.func.count()).select_from(signature_bands_recent)
_MERGE = (
    sa.text(
        f"INSERT INTO {signature_bands.name} (band, hash, article_id) "
        f"SELECT band, hash, article_id FROM {signature_bands_recent.name}"
    ),
    signature_bands_recent.delete(),
)


def merge_recent(conn: sa.Connection, *, at_least: int | None = None) -> bool:
    """Move the recent band rows into ``signature_bands`` once there are ``at_least`` of them
    (:data:`MERGE_ROWS`), within the caller's transaction; True if it did. They are read in
    key order, so the big table takes them page after page."""
    at_least = MERGE_ROWS if at_least is None else at_least
    if conn.execute(_COUNT_RECENT).scalar_one() < at_least:
        return False
    for statement in _MERGE:
        conn.execute(statement)
    return True
