"""Apply Alembic migrations from code, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from taskboard.settings import sync_database_url

MIGRATIONS = Path(__file__).resolve().parent


def alembic_config(async_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_database_url(async_url).replace("%", "%%"))
    return config


def upgrade(async_url: str, revision: str = "head") -> None:
    """Bring the database at ``async_url`` up to ``revision`` (blocking: run it in a thread)."""
    command.upgrade(alembic_config(async_url), revision)
