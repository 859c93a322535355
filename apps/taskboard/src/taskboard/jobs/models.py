"""The jobs table: what a job is to do, how far it got and what came of it.

The row is the truth about a job; the queue's message only says "run job 42". So a message the
broker loses, or one a killed worker never acknowledged, costs nothing: the worker's sweep sends
again any job that waits too long or whose lease ran out (:mod:`taskboard.jobs.service`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

import taskboard.accounts.models  # noqa: F401 (the users table a job's owner_id refers to)
from taskboard.db import Base


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        Index("ix_jobs_status_sent", "status", "sent_at"),
        {"sqlite_autoincrement": True},  # an id is never given twice (migration 0007)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    """Who may see the job (its page, its result); `None` for work of the app's own, such as
    a password-reset mail, which no page shows."""
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``queued``, ``running``, ``done`` or ``failed``."""
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """An upload the job works on (an import's file), kept until the job ends."""
    input_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    """How far the job got, committed with the work it counts: a job run again resumes here."""
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """While running: the worker's hold on the job, renewed as it makes progress."""
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When a message for it was last given to the broker."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    """One more with every change: the job's ``ETag``, so a poll with nothing new is a 304."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
