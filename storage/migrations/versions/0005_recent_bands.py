"""The newest items' LSH bands in a small table of their own, moved into ``signature_bands``
in sorted passes: inserting each batch's random band hashes straight into the big table
dirtied a page of it per row, and each commit wrote them all again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_bands_recent",
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "band", "hash", "article_id", name=op.f("pk_signature_bands_recent")
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.execute(
        "INSERT INTO signature_bands (band, hash, article_id) "
        "SELECT band, hash, article_id FROM signature_bands_recent"
    )
    op.drop_table("signature_bands_recent")
