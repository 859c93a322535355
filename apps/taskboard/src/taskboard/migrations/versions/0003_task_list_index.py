"""Index tasks by owner and creation time (the list's default order) instead of by owner alone

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

The list's default order is newest first. With an index on ``owner_id`` alone, SQLite read all of
an owner's tasks and sorted them for every page; ``(owner_id, created_at)`` hands them over in
order (ties broken by the row id, which every SQLite index ends with), and still serves the
count, the owner's foreign key and every other ``owner_id = ?`` lookup.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_owner_created", ["owner_id", "created_at"], unique=False)
        batch_op.drop_index("ix_tasks_owner_id")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_owner_id", ["owner_id"], unique=False)
        batch_op.drop_index("ix_tasks_owner_created")
