"""Apply Alembic migrations from code, without an alembic.ini; tell whether any are due without
loading Alembic at all.

Alembic brings Mako, Pygments and every SQLAlchemy dialect with it: about 12 MiB that a process
keeps once it has imported them (CPython does not give the memory of unloaded modules back). So
it is imported only when a migration actually runs; a server process whose database is already
at :data:`HEAD` reads the revision with plain SQLAlchemy (:func:`current_revision`) and never
loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import String, column, create_engine, inspect, pool, select, table

from taskboard.settings import sync_database_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent

HEAD = "0007"
"""The newest migration's revision (``versions/``). Add a migration, move this to its revision:
a test checks that Alembic finds the same head."""

VERSION_TABLE = "alembic_version"
"""Where Alembic records the revision a database is at (its default name, in the default schema)."""


def current_revision(async_url: str) -> str | None:
    """The revision the database at ``async_url`` is at, from Alembic's version table; ``None``
    when it has none (an empty database). Blocking.

    Written here because Alembic's own reader (``MigrationContext.get_current_revision``) would
    load Alembic, which this exists to avoid. Should the table name several revisions (branches,
    which Taskboard's migrations do not have), they come back joined with ``", "``, which is never
    :data:`HEAD`, so Alembic gets to deal with them.
    """
    engine = create_engine(sync_database_url(async_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            version = select(column("version_num", String)).select_from(table(VERSION_TABLE))
            rows = connection.execute(version).scalars().all()
    finally:
        engine.dispose()
    return ", ".join(sorted(rows)) or None


def migrate(async_url: str) -> str | None:
    """Bring the database at ``async_url`` up to :data:`HEAD` unless it is there already, and
    return the revision it was at before (``None``: it was empty). Blocking: run it in a thread."""
    before = current_revision(async_url)
    if before != HEAD:
        upgrade(async_url)
    return before


def alembic_config(async_url: str) -> Config:
    from alembic.config import Config  # only when migrating: see the module's doc

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_database_url(async_url).replace("%", "%%"))
    return config


def upgrade(async_url: str, revision: str = "head") -> None:
    """Bring the database at ``async_url`` up to ``revision`` (blocking: run it in a thread)."""
    from alembic import command  # only when migrating: see the module's doc

    command.upgrade(alembic_config(async_url), revision)
