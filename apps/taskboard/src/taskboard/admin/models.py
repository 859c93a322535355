"""The flag tables: overrides of the declared flags, and the record of every change to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from taskboard.db import Base


class FlagOverride(Base):
    """A flag's whole definition as an admin set it, replacing the declaration in flags.toml."""

    __tablename__ = "flag_overrides"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What ``tiered.core.flags.flag_to_data`` writes (without the description, which is the
    declaration's)."""
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FlagChange(Base):
    """One change to a flag: what was in force before, what is after, who and when."""

    __tablename__ = "flag_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """``None`` when the flag was reset to its declaration."""
    changed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True
    )
    """The admin; ``None`` once that account is deleted (the change stays on record)."""
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
