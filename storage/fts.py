"""Full-text index over articles: SQLite FTS5 kept in sync by triggers.

``remove_diacritics 2`` makes ``evasion`` find *évasion*; the index holds no copy of the text
(``content='articles'``)."""

from __future__ import annotations

FTS_TABLE = "articles_fts"

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
