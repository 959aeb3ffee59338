"""Full-text index over articles: SQLite FTS5, or a PostgreSQL ``tsvector`` table with a GIN
index.

Edits and deletions are indexed by triggers. New rows are too on PostgreSQL; on SQLite the
code that stores them calls :func:`index_new` once per batch (migration 0004 dropped the
insert trigger of 0001): FTS5 indexes rows three times faster from one ``INSERT … SELECT``
than from a trigger run per row.

Both index words as they are (no stemming) with accents folded, so ``evasion`` finds
*évasion* on either: FTS5's ``remove_diacritics 2``, PostgreSQL's ``unaccent`` dictionary in
the ``veye_search`` text search configuration. Neither holds a second copy of the text."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

FTS_TABLE = "articles_fts"

#: The index as migration 0001 creates it (0004 then drops ``articles_fts_ai``).
SQLITE_DDL = (
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        title, summary, text,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TRIGGER IF NOT EXISTS articles_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO {FTS_TABLE}(rowid, title, summary, text)
        VALUES (new.id, new.title, new.summary, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS articles_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary, text)
        VALUES ('delete', old.id, old.title, old.summary, old.text);
    END""",
    # Only a change to indexed columns touches the index: verdict and bookkeeping updates
    # (the common case) cost nothing here.
    f"""CREATE TRIGGER IF NOT EXISTS articles_fts_au AFTER UPDATE OF title, summary, text
        ON articles BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary, text)
        VALUES ('delete', old.id, old.title, old.summary, old.text);
        INSERT INTO {FTS_TABLE}(rowid, title, summary, text)
        VALUES (new.id, new.title, new.summary, new.text);
    END""",
)

SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS articles_fts_au",
    "DROP TRIGGER IF EXISTS articles_fts_ad",
    "DROP TRIGGER IF EXISTS articles_fts_ai",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)

#: The PostgreSQL text search configuration: ``simple`` (no stemming, no stop words, as FTS5's
#: ``unicode61``) with accents folded first.
PG_CONFIG = "veye_search"
#: Characters of an article's text indexed on PostgreSQL: a ``tsvector`` is capped at 1 MB, and
#: a story's searchable words are in its first pages.
PG_TEXT_LIMIT = 100_000

POSTGRES_DDL = (
    # unaccent is a trusted extension: the database's owner may create it.
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = pg_catalog.simple)",
    f"""ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG}
        ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple""",
    f"""CREATE TABLE {FTS_TABLE} (
        rowid INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )""",
    f"CREATE INDEX {FTS_TABLE}_document ON {FTS_TABLE} USING gin (document)",
    # Title weighs most (A), then summary (B), then text (C), as bm25's weights on SQLite.
    f"""CREATE FUNCTION {FTS_TABLE}_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {FTS_TABLE} (rowid, document) VALUES (
            NEW.id,
            setweight(to_tsvector('{PG_CONFIG}', NEW.title), 'A')
            || setweight(to_tsvector('{PG_CONFIG}', NEW.summary), 'B')
            || setweight(to_tsvector('{PG_CONFIG}', left(NEW.text, {PG_TEXT_LIMIT})), 'C')
        )
        ON CONFLICT (rowid) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END
    $$""",
    f"""CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON articles
        FOR EACH ROW EXECUTE FUNCTION {FTS_TABLE}_sync()""",
    f"""CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF title, summary, text ON articles
        FOR EACH ROW EXECUTE FUNCTION {FTS_TABLE}_sync()""",
)

POSTGRES_DROP = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au ON articles",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai ON articles",
    f"DROP FUNCTION IF EXISTS {FTS_TABLE}_sync()",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}",
)


def ddl(dialect: str) -> tuple[str, ...]:
    """Statements that create the index on ``dialect`` (``sqlite`` or ``postgresql``)."""
    return {"sqlite": SQLITE_DDL, "postgresql": POSTGRES_DDL}.get(dialect, ())


def drop(dialect: str) -> tuple[str, ...]:
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(dialect, ())


_INDEX_NEW = f"""INSERT INTO {FTS_TABLE}(rowid, title, summary, text)
    SELECT id, title, summary, text FROM articles
    WHERE id IN (SELECT value FROM json_each(:ids))"""


def index_new(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Index the articles just inserted with ``ids`` (SQLite; PostgreSQL's trigger does it),
    within the caller's transaction."""
    if ids and conn.dialect.name == "sqlite":
        conn.execute(sa.text(_INDEX_NEW), {"ids": json.dumps([int(i) for i in ids])})
