"""Helpers for the tasks tests: the stored tasks, tasks made directly, and tokens from pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.db import Database
from taskboard.tasks.models import Task
from tests.taskboard.conftest import Account
from tiered.testing import csrf_token

HX = {"HX-Request": "true"}
JSON = {"Accept": "application/json"}


def csrf(client: TestClient, url: str = "/tasks") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return csrf_token(response.text)


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    return database


def stored(client: TestClient, owner: Account | None = None) -> list[dict[str, Any]]:
    """Every stored task (of ``owner``), oldest first, as plain dicts."""

    async def read() -> list[dict[str, Any]]:
        async with _database(client).sessionmaker() as db:
            statement = select(Task).order_by(Task.id)
            if owner is not None:
                statement = statement.where(Task.owner_id == owner.user.id)
            rows = (await db.execute(statement)).scalars()
            return [
                {
                    "id": t.id,
                    "owner_id": t.owner_id,
                    "title": t.title,
                    "notes": t.notes,
                    "done": t.done,
                    "due_on": t.due_on,
                }
                for t in rows
            ]

    assert client.portal is not None
    return client.portal.call(read)


def make_tasks(
    client: TestClient,
    owner: Account,
    titles: list[str],
    *,
    notes: str = "",
    done: bool = False,
    due_on: date | None = None,
) -> list[int]:
    """Store tasks directly, one second apart in the given order (the last is the newest)."""

    async def write() -> list[int]:
        start = datetime.now(UTC) - timedelta(days=1)
        async with _database(client).sessionmaker() as db:
            tasks = [
                Task(
                    owner_id=owner.user.id,
                    title=title,
                    notes=notes,
                    done=done,
                    due_on=due_on,
                    created_at=start + timedelta(seconds=i),
                    updated_at=start + timedelta(seconds=i),
                )
                for i, title in enumerate(titles)
            ]
            db.add_all(tasks)
            await db.commit()
            return [t.id for t in tasks]

    assert client.portal is not None
    return client.portal.call(write)
