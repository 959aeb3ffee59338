"""``veye db``: the database's schema."""

from __future__ import annotations

import click

from storage import db
from veye.app import App


@click.group("db")
def db_group() -> None:
    """Manage the database."""


@db_group.command("upgrade")
@click.pass_obj
def upgrade(app: App) -> None:
    """Create the database or bring its schema to this version of veye."""
    engine = db.connect(app.settings.database_url())
    try:
        ran = db.upgrade(engine)
        rev = db.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"database {'upgraded to' if ran else 'already at'} schema {rev}")


COMMANDS = [db_group]
