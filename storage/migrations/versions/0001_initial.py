"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Until 0.1.0 is released this migration builds the schema from ``storage.schema``; at release
it is frozen into explicit operations and every later change gets a migration of its own.
"""

from __future__ import annotations

from alembic import op

from storage import fts
from storage.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    if bind.dialect.name == "sqlite":
        for stmt in fts.SQLITE_DDL:
            op.execute(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for stmt in fts.SQLITE_DROP:
            op.execute(stmt)
    metadata.drop_all(bind)
