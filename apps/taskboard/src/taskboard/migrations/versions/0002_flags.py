"""Create flag_overrides and flag_changes (feature flags changed on the admin page)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_overrides",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_flag_overrides_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_flag_overrides")),
    )
    op.create_table(
        "flag_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["users.id"],
            name=op.f("fk_flag_changes_changed_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_changes")),
    )
    with op.batch_alter_table("flag_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flag_changes_changed_at"), ["changed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flag_changes_changed_by"), ["changed_by"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_flag_changes_key"), ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flag_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flag_changes_key"))
        batch_op.drop_index(batch_op.f("ix_flag_changes_changed_by"))
        batch_op.drop_index(batch_op.f("ix_flag_changes_changed_at"))

    op.drop_table("flag_changes")
    op.drop_table("flag_overrides")
