"""SQLite: new articles are indexed for search by the statement that stores a batch (one
``INSERT … SELECT`` per batch, :func:`storage.fts.index_new`), not by a trigger per row,
which cost three times as much. Edits and deletions are still indexed by their triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS articles_fts_ai")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            """CREATE TRIGGER IF NOT EXISTS articles_fts_ai AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, summary, text)
            VALUES (new.id, new.title, new.summary, new.text);
            END"""
        )
