"""A covering index for search: ranking a hit (its dates) and grouping it (its cluster) reads
the index, not the row with its text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_search",
        "articles",
        ["id", "cluster_id", "published_at", "first_seen_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_articles_search", table_name="articles")
