"""Tasks' business rules: every read and write is scoped to the task's owner.

Another user's task is indistinguishable from a task that does not exist: every lookup filters by
``owner_id`` and raises :class:`TaskNotFound` (404) otherwise, so no route or representation can
reveal, change or delete it.

The list is built for 100,000 tasks over 1,000 users: every query starts with
``owner_id = ?`` (and ``done = ?`` for a status filter), which the indexes
``ix_tasks_owner_created`` (the default order, newest first, needs no sort) and
``ix_tasks_owner_done_created`` serve, and the count is a ``COUNT(*)`` over the same filter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Literal, Protocol, TypeVar, cast

from sqlalchemy import ColumnElement, Row, Select, String, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

import tiered
from taskboard.db import Database
from taskboard.tasks.models import Task

PAGE_SIZE: Final = 20
"""Tasks per page, in HTML and JSON."""

Status = Literal["open", "done", "all"]
Sort = Literal["-created", "created", "due", "-due", "title", "-title"]

STATUSES: Final[tuple[Status, ...]] = ("all", "open", "done")
SORTS: Final[tuple[Sort, ...]] = ("-created", "created", "due", "-due", "title", "-title")
DEFAULT_STATUS: Final[Status] = "all"
DEFAULT_SORT: Final[Sort] = "-created"
MAX_PAGE: Final = 100_000

_LIKE_ESCAPE: Final = "\\"


class TaskNotFound(tiered.NotFound):
    code = "task-not-found"
    title = "Task not found"
    next_step = "Go back to your list of tasks; the task may have been deleted."


@dataclass(frozen=True, slots=True)
class Query:
    """What the list shows: search, status filter, sort order and page (all with defaults)."""

    q: str = ""
    status: Status = DEFAULT_STATUS
    sort: Sort = DEFAULT_SORT
    page: int = 1


class TaskFields(Protocol):
    """What a shown task has: a :class:`Task`, or a row of the list's query (see
    :func:`list_tasks`)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def notes(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def due_on(self) -> date | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def version(self) -> int: ...


_SHOWN: Final = (
    Task.id,
    Task.title,
    Task.notes,
    Task.done,
    Task.due_on,
    Task.created_at,
    Task.updated_at,
    Task.version,
)
"""The columns a listed task shows: :class:`TaskFields`."""


@dataclass(frozen=True, slots=True)
class Page:
    tasks: Sequence[TaskFields]
    page: int
    total: int
    total_pages: int
    owner_has_tasks: bool
    """Whether the owner has any task at all (tells "no tasks yet" from "no matches")."""


@dataclass(frozen=True, slots=True)
class Changes:
    """Fields to change; ``None`` in ``fields`` means "leave it", except for ``due_on``."""

    title: str | None = None
    notes: str | None = None
    due_on: date | None = None
    done: bool | None = None
    fields: frozenset[str] = frozenset()


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its own ``%`` and ``_`` literal."""
    escaped = (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


@functools.cache
def _statements(status: Status, sort: Sort, searching: bool) -> tuple[Select[Any], Select[Any]]:
    """One kind of list's statements: a page of tasks with the count, and the count alone.

    Built once for each of the 36 kinds (status, order, searching or not), with the owner, the
    pattern, the limit and the offset bound when they run: building a statement, and SQLAlchemy
    working out its cache key, took longer than SQLite takes to answer it.
    """
    conditions: list[ColumnElement[bool]] = [Task.owner_id == bindparam("owner_id")]
    if status != "all":
        conditions.append(Task.done == (status == "done"))
    if searching:
        pattern = bindparam("pattern", type_=String())
        conditions.append(
            or_(
                Task.title.ilike(pattern, escape=_LIKE_ESCAPE),
                Task.notes.ilike(pattern, escape=_LIKE_ESCAPE),
            )
        )
    count = select(func.count()).select_from(Task).where(*conditions)
    page = _ordered(select(*_SHOWN, count.scalar_subquery()).where(*conditions), sort)
    return page.limit(bindparam("limit")).offset(bindparam("offset")), count


_S = TypeVar("_S", bound=Select[Any])


def _ordered(statement: _S, sort: Sort) -> _S:
    # Every order ends with the id, so pages are stable when created_at, due_on or title tie.
    if sort == "-created":
        return statement.order_by(Task.created_at.desc(), Task.id.desc())
    if sort == "created":
        return statement.order_by(Task.created_at.asc(), Task.id.asc())
    if sort == "due":
        return statement.order_by(Task.due_on.asc().nulls_last(), Task.id.asc())
    if sort == "-due":
        return statement.order_by(Task.due_on.desc().nulls_last(), Task.id.desc())
    if sort == "title":
        return statement.order_by(func.lower(Task.title).asc(), Task.id.asc())
    return statement.order_by(func.lower(Task.title).desc(), Task.id.desc())


_ANY_TASK = select(Task.id).where(Task.owner_id == bindparam("owner_id")).limit(1)


async def list_tasks(database: Database, owner_id: int, query: Query) -> Page:
    """One page of the owner's tasks; a page past the end shows the last page.

    One statement reads the page and the count (an uncorrelated scalar subquery, computed once):
    a statement costs far more in SQLAlchemy than in the database here, so two are slower than
    one. Only a page past the end needs a second look. The tasks are rows of committed data, not
    entities (:meth:`taskboard.db.Database.rows`): a list only shows them.
    """
    q = query.q.strip()
    page_of, count = _statements(query.status, query.sort, bool(q))
    params: dict[str, Any] = {"owner_id": owner_id}
    if q:
        params["pattern"] = like_pattern(q)
    page = max(query.page, 1)
    rows = await _page_rows(database, page_of, params, page)
    if rows:
        total = rows[0][-1]
    else:
        counted = await database.first_row(count, params)
        total = counted[0] if counted is not None else 0
        page = max(1, -(-total // PAGE_SIZE))
        if total:
            rows = await _page_rows(database, page_of, params, page)
    tasks = cast(list[TaskFields], rows)  # a row has the fields by name; its last is the count
    total_pages = max(1, -(-total // PAGE_SIZE))
    owner_has_tasks = total > 0
    if not owner_has_tasks and (q or query.status != "all"):
        owner_has_tasks = await database.first_row(_ANY_TASK, {"owner_id": owner_id}) is not None
    return Page(tasks, min(page, total_pages), total, total_pages, owner_has_tasks)


async def _page_rows(
    database: Database, statement: Select[Any], params: dict[str, Any], page: int
) -> Sequence[Row[Any]]:
    bound = {**params, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    return await database.rows(statement, bound)


async def get_task(db: AsyncSession, owner_id: int, task_id: int) -> Task:
    """The owner's task ``task_id``; anyone else's (or none) is :class:`TaskNotFound`."""
    result = await db.execute(select(Task).where(Task.id == task_id, Task.owner_id == owner_id))
    task = result.scalar_one_or_none()
    if task is None:
        raise TaskNotFound(f"You have no task {task_id}.")
    return task


async def create_task(
    db: AsyncSession, owner_id: int, title: str, notes: str, due_on: date | None
) -> Task:
    now = datetime.now(UTC)
    task = Task(
        owner_id=owner_id,
        title=title,
        notes=notes,
        due_on=due_on,
        done=False,
        created_at=now,
        updated_at=now,
    )
    db.add(task)
    await db.commit()
    return task


class TaskChanged(tiered.PreconditionFailed):
    """The task is no longer the version the change was made from; ``task`` is it as stored now.

    Nothing was written. The caller shows the person both versions (or sends an API client the
    current one) and lets them choose.
    """

    code = "task-changed"
    title = "This task changed since you opened it"

    def __init__(self, task: Task) -> None:
        super().__init__(
            f"Task {task.id} was changed elsewhere since you read it; it is now version "
            f"{task.version}."
        )
        self.task = task


def _check_version(task: Task, expected: tiered.EntityTags | None) -> None:
    """:class:`TaskChanged` unless ``expected`` (if given) names the task's version."""
    if expected is not None and not expected.matches(str(task.version)):
        raise TaskChanged(task)


async def _commit(db: AsyncSession) -> bool:
    """Commit; ``False`` (rolled back) when another writer changed the row since it was read."""
    try:
        await db.commit()
    except StaleDataError:
        await db.rollback()
        return False
    return True


_ATTEMPTS: Final = 3
"""Tries of a change that another writer keeps getting to first (without a precondition)."""


async def _change(
    db: AsyncSession,
    owner_id: int,
    task_id: int,
    expected: tiered.EntityTags | None,
    apply: Callable[[Task], bool],
) -> Task:
    """Read the task, check ``expected`` (its version's tags), ``apply`` the change, commit.

    ``apply`` returns whether it changed anything (nothing to write: no new version). The
    version column makes the UPDATE conditional on the version read; when another writer got in
    between, a change with ``expected`` is :class:`TaskChanged`, one without is tried again on
    the fresh row (the last writer wins, as the request asked).
    """
    for _ in range(_ATTEMPTS):
        task = await get_task(db, owner_id, task_id)
        _check_version(task, expected)
        if not apply(task):
            return task
        task.updated_at = datetime.now(UTC)
        if await _commit(db):
            return task
        if expected is not None:
            break
    raise TaskChanged(await get_task(db, owner_id, task_id))


async def update_task(
    db: AsyncSession,
    owner_id: int,
    task_id: int,
    changes: Changes,
    *,
    expected: tiered.EntityTags | None = None,
) -> Task:
    """Apply ``changes``; with ``expected``, only to the version those tags name."""

    def apply(task: Task) -> bool:
        if "title" in changes.fields and changes.title is not None:
            task.title = changes.title
        if "notes" in changes.fields and changes.notes is not None:
            task.notes = changes.notes
        if "due_on" in changes.fields:
            task.due_on = changes.due_on
        if "done" in changes.fields and changes.done is not None:
            task.done = changes.done
        return True

    return await _change(db, owner_id, task_id, expected, apply)


async def toggle_task(
    db: AsyncSession,
    owner_id: int,
    task_id: int,
    *,
    done: bool | None = None,
    expected: tiered.EntityTags | None = None,
) -> Task:
    """Set done to ``done``, or flip it when ``done`` is not given.

    A form says which state its button asks for, so two people pressing "Mark done" on the same
    task both get a done task, instead of the second undoing the first.
    """

    def apply(task: Task) -> bool:
        wanted = not task.done if done is None else done
        if task.done == wanted:
            return False
        task.done = wanted
        return True

    return await _change(db, owner_id, task_id, expected, apply)


async def delete_task(
    db: AsyncSession, owner_id: int, task_id: int, *, expected: tiered.EntityTags | None = None
) -> Task:
    """Delete the owner's task and return it as it was (for the confirmation message)."""
    task = await get_task(db, owner_id, task_id)
    _check_version(task, expected)
    await db.delete(task)
    if not await _commit(db):
        raise TaskChanged(await get_task(db, owner_id, task_id))
    return task


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every datetime this app stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
