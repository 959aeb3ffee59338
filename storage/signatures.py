"""Stored MinHash signatures and their LSH bands: near-duplicate candidates by index lookup.

Each signed item has one ``signatures`` row (the signature, for verification) and ``BANDS``
``signature_bands`` rows. Looking up a text's candidates is one query on the bands' primary
key, so nothing is held in memory between batches and a restart forgets nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from storage import similarity
from storage.schema import signature_bands, signatures
from storage.similarity import Signature

__all__ = [
    "CANDIDATE_LIMIT",
    "Copy",
    "Stored",
    "fetch_bands",
    "find_copies",
    "save_signature",
    "save_signatures",
]

#: Most candidates verified per lookup, newest first: a flood of identical stubs cannot make
#: one lookup slow.
CANDIDATE_LIMIT = 200


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
    return sa.text(
        "SELECT s.article_id, s.minhash, a.cluster_id FROM signatures s "
        "JOIN articles a ON a.id = s.article_id "
        f"WHERE s.article_id IN (SELECT article_id FROM signature_bands WHERE {terms}) "
        "AND s.at BETWEEN :lo AND :hi ORDER BY s.article_id DESC LIMIT :limit"
    ).bindparams(
        sa.bindparam("lo", type_=signatures.c.at.type),
        sa.bindparam("hi", type_=signatures.c.at.type),
    )


_LOOKUP = _lookup()
_INSERT_SIGNATURE = signatures.insert()
_INSERT_BANDS = signature_bands.insert()
_DELETE_BAND = signature_bands.delete().where(
    signature_bands.c.band == sa.bindparam("b"),
    signature_bands.c.hash == sa.bindparam("h"),
    signature_bands.c.article_id == sa.bindparam("a"),
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
            # By the full primary key: the bands table has no article_id index.
            conn.execute(
                _DELETE_BAND,
                [
                    {"b": i, "h": h, "a": article_id}
                    for i, h in enumerate(similarity.band_hashes(similarity.from_bytes(old)))
                ],
            )
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
_BAND_MATCHES = {
    "sqlite": sa.text(
        "SELECT sb.hash, sb.article_id FROM json_each(:hashes) j "
        "CROSS JOIN signature_bands sb ON sb.band = :band AND sb.hash = j.value "
        "AND sb.article_id IN (SELECT s2.article_id FROM signature_bands s2 "
        "WHERE s2.band = :band AND s2.hash = j.value "
        f"ORDER BY s2.article_id DESC LIMIT {MAX_PER_BAND})"
    ),
    "postgresql": sa.text(
        "SELECT sb.hash, sb.article_id "
        "FROM jsonb_array_elements_text(CAST(:hashes AS jsonb)) j(value) CROSS JOIN LATERAL ("
        "SELECT s2.hash, s2.article_id FROM signature_bands s2 "
        "WHERE s2.band = CAST(:band AS smallint) AND s2.hash = CAST(j.value AS bigint) "
        f"ORDER BY s2.article_id DESC LIMIT {MAX_PER_BAND}) sb"
    ),
}
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
            for h, article_id in conn.execute(_BAND_MATCHES[dialect], params).fetchall():
                by_band.setdefault((band, h), []).append(article_id)
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
        f"INSERT INTO signature_bands (band, hash, article_id) VALUES ({mark}, {mark}, {mark})",
        [(i, h, a) for a, _, bands, _ in rows for i, h in enumerate(bands)],
    )
