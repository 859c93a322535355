"""The tasks table."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from taskboard.db import Base


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_owner_created", "owner_id", "created_at"),
        Index("ix_tasks_owner_done_created", "owner_id", "done", "created_at"),
        {"sqlite_autoincrement": True},  # an id is never given twice (migration 0007)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    """1 when created, one more with every change: a task's ``ETag``, and what a form carries
    so that a change made from a stale copy is caught instead of silently overwriting."""

    # SQLAlchemy's optimistic concurrency: every UPDATE and DELETE of a loaded task says
    # ``WHERE version = <the version read>`` and raises StaleDataError when another writer got
    # there first, so the check between reading and writing cannot race.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's own convention)
