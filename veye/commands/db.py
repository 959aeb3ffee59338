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


@db_group.command("copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The database to copy into, e.g. postgresql+psycopg://veye@db.example/veye; "
    "new and empty.",
)
@click.pass_obj
def copy(app: App, target_url: str) -> None:
    """Copy the whole store (items, clusters, alerts and their history) into another database.

    This is how a SQLite store moves to PostgreSQL: stop `veye run`, copy, then point
    `storage.url` at the new database. Ids stay the same. The target is migrated first and
    must be empty; a failed copy writes nothing."""
    from storage.copy import copy_store
    from storage.errors import StorageError
    from veye.errors import AlreadyRunning
    from veye.lock import InstanceLock, lock_path_for

    source_url = app.settings.database_url()
    lock_path = lock_path_for(source_url)
    if lock_path is not None and InstanceLock(lock_path).is_held_elsewhere():
        raise AlreadyRunning(
            "veye run is watching this database: stop it first, so the copy misses nothing"
        )
    source = db.connect(source_url)
    target = db.connect(target_url)
    shown = target.url.render_as_string(hide_password=True)
    try:
        report = copy_store(
            source, target, on_table=lambda name, n: click.echo(f"  {name}: {n} rows")
        )
    except StorageError as e:
        raise StorageError(f"cannot copy to {shown}: {e}") from e
    finally:
        source.dispose()
        target.dispose()
    click.echo(
        f"copied {report.rows} rows to {shown}; set storage.url to it to use it "
        "(the old database is unchanged)"
    )


COMMANDS = [db_group]
