"""Alembic environment: the engine comes from ``storage.db`` (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from storage.db import include_object
from storage.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
