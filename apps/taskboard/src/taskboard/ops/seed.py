"""Demo data for demos and benchmarks: users ``user1@example.org``… and tasks spread across them.

Fast by construction: one transaction, bulk inserts in batches through SQLAlchemy Core (not the
ORM), and one password hash shared by every user (argon2 takes tens of milliseconds on purpose;
a thousand of them would take a minute). The data is varied but reproducible: the same numbers
give the same titles, notes, states and dates.

Running it again skips the users that already exist and adds tasks only for the new ones, so
``make seed`` twice does not double the data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO, TypeVar

from sqlalchemy import Connection, create_engine, insert, select
from tqdm import tqdm  # type: ignore[import-untyped]

from taskboard.accounts.models import User
from taskboard.settings import sync_database_url
from taskboard.tasks.models import Task

DEFAULT_PASSWORD = "taskboard demo password"  # noqa: S105 (documented demo data)
BATCH = 5_000
"""Rows per INSERT batch: large enough to be fast, small enough for a smooth progress bar."""

_VERBS = (
    "Call", "Email", "Review", "Draft", "Book", "Fix", "Plan", "Buy", "Renew", "Clean",
    "Schedule", "Update", "Cancel", "Pay", "Prepare", "Check", "Write", "Order", "Return", "Sort",
)  # fmt: skip
_OBJECTS = (
    "the dentist", "the quarterly report", "the plumber", "train tickets", "the passport",
    "the garden shed", "the team offsite", "groceries", "the car insurance", "the kitchen",
    "the budget spreadsheet", "the conference talk", "the library books", "the electricity bill",
    "the birthday present", "the project roadmap", "the bike", "the tax return", "the newsletter",
    "the backup drive", "the landlord", "the release notes", "the flat viewing", "the photo album",
)  # fmt: skip
_SUFFIXES = (
    "", "", "", " before Friday", " this week", " (again)", " for Mum", " with Sam",
    " — urgent", " after lunch", " next month", " if it rains",
)  # fmt: skip
_NOTES = (
    "Ask about the weekend opening hours.",
    "The reference number is in the last email.",
    "Bring the receipt and the warranty card.",
    "Compare at least three offers first.",
    "Sam said the old one still works; double-check.",
    "Needs a signature from both of us.",
    "Keep it under budget: 150 at most.",
    "Remind the others in the group chat.",
    "See the notes from the last meeting.",
    "Can be done online; the login is in the password manager.",
)


class SeedRefused(Exception):
    """The seed cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SeedResult:
    users: int
    """Users created now."""
    skipped_users: int
    """Seed users that existed already (left as they were, and given no new tasks)."""
    tasks: int
    seconds: float


def seed(
    async_url: str,
    *,
    users: int,
    tasks: int,
    password_hash: str,
    progress: TextIO | None = None,
    today: date | None = None,
) -> SeedResult:
    """Create ``users`` users (sharing ``password_hash``) and ``tasks`` tasks spread across them.

    ``progress`` is where the progress bar goes (``None``: no bar).
    """
    started = time.perf_counter()
    rng = random.Random(f"{users}/{tasks}")  # noqa: S311 (reproducible demo data, not secrets)
    today = today or datetime.now(UTC).date()
    now = datetime.now(UTC)
    emails = [f"user{n}@example.org" for n in range(1, users + 1)]
    engine = create_engine(sync_database_url(async_url))
    try:
        with engine.begin() as connection:
            existing = _existing(connection, emails)
            new_emails = [email for email in emails if email not in existing]
            if not new_emails:
                return SeedResult(0, len(existing), 0, time.perf_counter() - started)
            bar = tqdm(
                total=len(new_emails) + tasks,
                unit=" rows",
                unit_scale=True,
                desc="seeding",
                file=progress,
                disable=progress is None,
                mininterval=0.2,
            )
            with bar:
                for chunk in _batches(new_emails, BATCH):
                    connection.execute(
                        insert(User),
                        [
                            {
                                "email": email,
                                "password_hash": password_hash,
                                "is_admin": False,
                                "created_at": now,
                            }
                            for email in chunk
                        ],
                    )
                    bar.update(len(chunk))
                owners = _ids(connection, new_emails)
                for first in range(0, tasks, BATCH):
                    count = min(BATCH, tasks - first)
                    rows = [_task(rng, owners, first + i, today, now) for i in range(count)]
                    connection.execute(insert(Task), rows)
                    bar.update(count)
    finally:
        engine.dispose()
    return SeedResult(len(new_emails), len(existing), tasks, time.perf_counter() - started)


def _existing(connection: Connection, emails: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _batches(emails, 500):
        found.update(connection.scalars(select(User.email).where(User.email.in_(chunk))))
    return found


def _ids(connection: Connection, emails: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for chunk in _batches(emails, 500):
        ids.extend(connection.scalars(select(User.id).where(User.email.in_(chunk))))
    return sorted(ids)


def _task(
    rng: random.Random, owners: Sequence[int], n: int, today: date, now: datetime
) -> dict[str, Any]:
    title = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_SUFFIXES)}"
    notes = "" if rng.random() < 0.4 else " ".join(rng.sample(_NOTES, rng.randint(1, 3)))
    due_on = None if rng.random() < 0.5 else today + timedelta(days=rng.randint(-30, 90))
    created_at = now - timedelta(seconds=rng.randint(0, 180 * 24 * 3600))
    if n < len(owners):
        owner = owners[n]  # everyone gets a task first
    elif rng.random() < 0.3:
        owner = rng.choice(owners[: 1 + len(owners) // 10])  # then some lists grow much longer
    else:
        owner = rng.choice(owners)
    return {
        "owner_id": owner,
        "title": title,
        "notes": notes,
        "done": rng.random() < 0.35,
        "due_on": due_on,
        "created_at": created_at,
        "updated_at": created_at,
    }


T = TypeVar("T")


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
