"""Ids are never used twice: SQLite's tasks, jobs and API tokens get AUTOINCREMENT

Without it SQLite gives a new row the largest id plus one, so deleting the newest task and adding
another gave the new one the deleted one's id: a stale page, bookmark or API client naming the
deleted task reached the new one instead of a 404 (schemathesis found it: a PATCH after a
DELETE answered 200). PostgreSQL's sequences never reuse a value, so only SQLite changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("tasks", "jobs", "api_tokens")
"""The tables whose ids are in URLs."""


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # SQLite cannot add AUTOINCREMENT to a table: Alembic copies it into a new one.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
