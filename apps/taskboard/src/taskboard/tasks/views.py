"""Tasks' pages and endpoints: one handler per URL serves pages, fragments and JSON.

The list's state (``q``, ``status``, ``sort``, ``page``) travels in the query string of every
action on the list (toggle, delete), so a browser without JavaScript is redirected back to the
same view of the list, and an enhanced request gets that same view's ``results`` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

import tiered
import tiered.live
from taskboard.accounts.models import User
from taskboard.accounts.views import CurrentUser
from taskboard.db import Database, DbSession, Id
from taskboard.tasks import service
from taskboard.tasks.forms import LABELS, DeleteForm, TaskEdit, TaskForm, TaskPatch, ToggleForm
from taskboard.tasks.service import (
    DEFAULT_SORT,
    DEFAULT_STATUS,
    MAX_PAGE,
    PAGE_SIZE,
    SORTS,
    STATUSES,
    Sort,
    Status,
)

router = APIRouter(tags=["tasks"])

LIST_TEMPLATE = "tasks/list.html"
DETAIL_TEMPLATE = "tasks/detail.html"
CONFIRM_TEMPLATE = "tasks/delete.html"

STATUS_LABELS: Mapping[Status, str] = {"all": "All tasks", "open": "Open", "done": "Done"}
SORT_LABELS: Mapping[Sort, str] = {
    "-created": "Newest first",
    "created": "Oldest first",
    "due": "Due soonest",
    "-due": "Due latest",
    "title": "Title A to Z",
    "-title": "Title Z to A",
}
_OWNER_KEY = "tasks_owner"


class TaskOut(BaseModel):
    """A task as JSON clients see it (and the templates' ``task``)."""

    id: int
    title: str
    notes: str
    done: bool
    due_on: date | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="One more with every change; the task's ETag.")

    @classmethod
    def of(cls, task: service.TaskFields) -> TaskOut:
        return cls(
            id=task.id,
            title=task.title,
            notes=task.notes,
            done=task.done,
            due_on=task.due_on,
            created_at=service.as_utc(task.created_at),
            updated_at=service.as_utc(task.updated_at),
            version=task.version,
        )

    def form_values(self) -> tiered.FormState:
        """The edit form filled in with this task's stored values."""
        values = {"title": self.title, "notes": self.notes, "due_on": self.due_on or ""}
        return tiered.FormState(values=values)


class TaskList(BaseModel):
    """One page of the user's tasks. ``next``/``previous`` are links keeping q, status, sort."""

    items: list[TaskOut]
    page: int
    total: int
    total_pages: int
    page_size: int = PAGE_SIZE
    next: str | None
    previous: str | None
    q: str
    status: Status
    sort: Sort
    owner_has_tasks: bool = Field(exclude=True)
    state_query: str = Field(exclude=True)
    status_options: list[tuple[str, str]] = Field(exclude=True)
    sort_options: list[tuple[str, str]] = Field(exclude=True)
    rendered_at: datetime = Field(exclude=True)
    live_cursor: str = Field(exclude=True)
    """Where this list's live updates start: taken before the tasks were read, so a change made
    while the page renders still reaches it."""
    live_origin: str = Field(exclude=True)
    """This page's id, so its own changes, heard back, are not applied twice."""


class DeleteConfirmation(BaseModel):
    task: TaskOut
    back: str
    state_query: str


# -- the list's state --------------------------------------------------------------------------


def _query_string(state: service.Query, *, page: int | None = None) -> str:
    """The list's state as a query string, defaults left out (``q=milk&page=2``)."""
    pairs: list[tuple[str, str | int]] = []
    if state.q:
        pairs.append(("q", state.q))
    if state.status != DEFAULT_STATUS:
        pairs.append(("status", state.status))
    if state.sort != DEFAULT_SORT:
        pairs.append(("sort", state.sort))
    number = state.page if page is None else page
    if number > 1:
        pairs.append(("page", number))
    return urlencode(pairs)


def _list_url(state: service.Query, *, page: int | None = None) -> str:
    query = _query_string(state, page=page)
    return f"/tasks?{query}" if query else "/tasks"


def _back_url(task_id: int, state: service.Query, params: QueryParams) -> str:
    """Where an action on a task returns: its page (``?back=task``) or the list as it was."""
    return f"/tasks/{task_id}" if params.get("back") == "task" else _list_url(state)


def _lenient_state(params: QueryParams) -> service.Query:
    """The list's state from an action's query string; anything unreadable is the default."""
    status = params.get("status", DEFAULT_STATUS)
    sort = params.get("sort", DEFAULT_SORT)
    try:
        page = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        page = 1
    return service.Query(
        q=params.get("q", "").strip()[:200],
        status=status if status in get_args(Status) else DEFAULT_STATUS,  # type: ignore[arg-type]
        sort=sort if sort in get_args(Sort) else DEFAULT_SORT,  # type: ignore[arg-type]
        page=page,
    )


# -- live updates: each user's tasks are a topic ----------------------------------------------


def _topic(user_id: int) -> str:
    return f"tasks:{user_id}"


def _live(request: Request) -> tiered.live.LiveStreams:
    live: tiered.live.LiveStreams = request.app.state.live
    return live


async def _announce(request: Request, user_id: int, kind: str, task_id: int) -> None:
    """Tell the user's other pages (tabs, devices, instances) that a task changed."""
    await _live(request).bus.publish(
        _topic(user_id), kind, {"id": task_id}, origin=tiered.live.origin_of(request)
    )


# -- which version a change was made from ------------------------------------------------------


CHANGED_MESSAGE = (
    "Someone changed this task while you were editing it, so your changes are not saved yet. "
    "Compare the two versions below, then save yours or keep theirs."
)
"""The edit form's message when it was submitted from a stale copy of the task."""

_MATCHES_NOTHING = tiered.EntityTags(any=False)


def _task_etag(task: TaskOut) -> str:
    return str(task.version)


def _expected(version: int | None, request: Request) -> tiered.EntityTags | None:
    """The version a change was made from: the form's ``version`` field, else ``If-Match`` (a
    header that is not a list of entity tags matches no version)."""
    if version is not None:
        return tiered.EntityTags(any=False, tags=(str(version),))
    header = request.headers.get("if-match")
    if header is None:
        return None
    return tiered.entity_tags(header) or _MATCHES_NOTHING


def _stale(exc: service.TaskChanged) -> service.TaskChanged:
    """``exc`` with the task as stored now, as an API client needs it to merge: the problem
    document's ``current`` member and the ``ETag`` to send back."""
    current = TaskOut.of(exc.task)
    exc.extra["current"] = current.model_dump(mode="json")
    exc.headers["ETag"] = f'"{current.version}"'
    return exc


# -- who is asking ---------------------------------------------------------------------------


async def _owner(request: Request, user: CurrentUser) -> User:
    # Kept on the request so a form's context (the page around a re-shown form) can find it.
    setattr(request.state, _OWNER_KEY, user)
    return user


Owner = Annotated[User, Depends(_owner)]


def _owner_of(request: Request) -> User:
    user: User = getattr(request.state, _OWNER_KEY)
    return user


async def _task_list(request: Request, user: User, state: service.Query) -> TaskList:
    database: Database = request.app.state.database
    cursor = await _live(request).bus.cursor(_topic(user.id))
    page = await service.list_tasks(database, user.id, state)
    shown = service.Query(state.q, state.status, state.sort, page.page)
    return TaskList(
        items=[TaskOut.of(task) for task in page.tasks],
        page=page.page,
        total=page.total,
        total_pages=page.total_pages,
        next=_list_url(shown, page=page.page + 1) if page.page < page.total_pages else None,
        previous=_list_url(shown, page=page.page - 1) if page.page > 1 else None,
        q=state.q,
        status=state.status,
        sort=state.sort,
        owner_has_tasks=page.owner_has_tasks,
        state_query=_query_string(shown),
        status_options=[(s, STATUS_LABELS[s]) for s in STATUSES],
        sort_options=[(s, SORT_LABELS[s]) for s in SORTS],
        rendered_at=datetime.now(UTC),
        live_cursor=cursor,
        live_origin=tiered.live.origin_of(request) or tiered.live.new_origin(),
    )


async def _list_context(request: Request) -> dict[str, Any]:
    """The list page around a form: the view of the list named by the request's query string."""
    listing = await _task_list(request, _owner_of(request), _lenient_state(request.query_params))
    context = dict(listing.__dict__)
    context["listing"] = listing
    return context


async def _detail_context(request: Request) -> dict[str, Any]:
    """The task page around its edit form: the task as stored now."""
    user = _owner_of(request)
    database: Database = request.app.state.database
    async with database.sessionmaker() as db:
        task = await service.get_task(db, user.id, int(request.path_params["task_id"]))
        return {"task": TaskOut.of(task)}


# -- the list ----------------------------------------------------------------------------------


@router.get("/tasks")
@tiered.view(LIST_TEMPLATE, block="results")
async def list_tasks(
    user: Owner,
    q: Annotated[str, Query(max_length=200, description="Search in titles and notes.")] = "",
    status: Annotated[Status, Query(description="Which tasks: open, done or all.")] = (
        DEFAULT_STATUS
    ),
    sort: Annotated[
        Sort, Query(description="Order: created, due or title; a leading '-' reverses it.")
    ] = DEFAULT_SORT,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    *,
    request: Request,
) -> TaskList:
    """The user's tasks, 20 a page, newest first unless ``sort`` says otherwise."""
    return await _task_list(request, user, service.Query(q.strip(), status, sort, page))


# The user's own topic only: no URL names another user's, so there is none to refuse.
@router.get("/tasks/live", include_in_schema=False)
async def task_stream(request: Request, user: CurrentUser) -> Response:
    """Server-Sent Events: an event each time one of the user's tasks changes (the list page's
    script refetches the list); ``Last-Event-ID`` or ``?cursor=`` resumes without a gap."""
    return await _live(request).stream(request, _topic(user.id), key=str(user.id))


@router.get("/tasks/live/poll")
async def task_changes(request: Request, user: CurrentUser) -> Response:
    """What changed in the user's tasks since ``cursor`` (JSON), for clients without a stream:
    ``{"cursor", "events", "refresh"}``; 304 to a matching ``If-None-Match`` when nothing did."""
    return await _live(request).poll(request, _topic(user.id))


def _task_link(operation: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation,
        "parameters": {"task_id": "$response.body#/id"},
        "description": description,
    }


TASK_LINKS = {
    "show": _task_link("show_task_tasks__task_id__get", "The task's page or JSON."),
    "replace": _task_link("edit_task_tasks__task_id__put", "Replace its fields."),
    "change": _task_link("patch_task_tasks__task_id__patch", "Change some of its fields."),
    "toggle": _task_link("toggle_task_tasks__task_id__toggle_post", "Mark it done or not."),
    "delete": _task_link("delete_task_json_tasks__task_id__delete", "Delete it."),
}
"""What an API client can do with a task it just created (OpenAPI links, for clients and for
schemathesis's stateful tests)."""


@router.post("/tasks", status_code=201, responses={201: {"links": TASK_LINKS}})
@tiered.form(
    TaskForm,
    template=LIST_TEMPLATE,
    block="board",
    context=_list_context,
    labels=LABELS,
)
async def create_task(
    user: Owner, db: DbSession, data: TaskForm, request: Request
) -> tiered.Done[TaskOut]:
    """Add a task. A browser without script goes back to the list it was working in (the form
    carries the list's query string), where the flash says what was added; an API client gets
    201 with the task's ``Location``."""
    task = await service.create_task(db, user.id, data.title, data.notes, data.due_on)
    await _announce(request, user.id, "task.created", task.id)
    return tiered.Done(
        f"/tasks/{task.id}",
        data=TaskOut.of(task),
        flash=f"Added the task “{task.title}”.",
        created=True,
        then=_list_url(_lenient_state(request.query_params)),
    )


# -- one task ----------------------------------------------------------------------------------


@router.get("/tasks/{task_id:int}")
@tiered.raises(service.TaskNotFound)
@tiered.view(DETAIL_TEMPLATE, block="editor", etag=_task_etag)
async def show_task(task_id: Id, user: Owner, db: DbSession) -> TaskOut:
    task = await service.get_task(db, user.id, task_id)
    return TaskOut.of(task)


@router.put("/tasks/{task_id:int}")
@router.post("/tasks/{task_id:int}")
@tiered.raises(service.TaskNotFound, service.TaskChanged)
@tiered.form(
    TaskEdit,
    template=DETAIL_TEMPLATE,
    block="editor",
    context=_detail_context,
    labels=LABELS,
    etag=_task_etag,
)
async def edit_task(
    task_id: Id, user: Owner, db: DbSession, data: TaskEdit, request: Request
) -> tiered.Done[TaskOut]:
    """Replace the task's title, notes and due date (JSON clients may PATCH instead).

    Made from a stale copy (the form's ``version``, or ``If-Match``), nothing is saved: the form
    comes back with both versions side by side, and an API client gets 412 with the current task.
    """
    changes = service.Changes(
        title=data.title,
        notes=data.notes,
        due_on=data.due_on,
        fields=frozenset({"title", "notes", "due_on"}),
    )
    try:
        task = await service.update_task(
            db, user.id, task_id, changes, expected=_expected(data.version, request)
        )
    except service.TaskChanged as exc:
        if data.version is None:
            raise _stale(exc) from None
        raise tiered.ValidationFailed(
            CHANGED_MESSAGE,
            errors=(tiered.FieldError("", "/version", CHANGED_MESSAGE, exc.code),),
        ) from None
    await _announce(request, user.id, "task.updated", task.id)
    return tiered.Done(
        f"/tasks/{task.id}",
        data=TaskOut.of(task),
        flash=f"Saved your changes to “{task.title}”.",
    )


@router.patch("/tasks/{task_id:int}")
@tiered.raises(service.TaskNotFound, service.TaskChanged)
@tiered.form(TaskPatch, labels=LABELS, etag=_task_etag)
async def patch_task(
    task_id: Id, user: Owner, db: DbSession, data: TaskPatch, request: Request
) -> tiered.Done[TaskOut]:
    """Change some of a task's fields (JSON): any of title, notes, due_on (null clears), done.

    With ``If-Match``, only the version it names: otherwise 412 with the current task."""
    sent = data.model_fields_set
    changes = service.Changes(
        title=data.title,
        notes=(data.notes or "") if "notes" in sent else None,
        due_on=data.due_on,
        done=data.done,
        fields=frozenset(sent),
    )
    try:
        task = await service.update_task(
            db, user.id, task_id, changes, expected=_expected(None, request)
        )
    except service.TaskChanged as exc:
        raise _stale(exc) from None
    await _announce(request, user.id, "task.updated", task.id)
    return tiered.Done(f"/tasks/{task.id}", data=TaskOut.of(task))


@router.post("/tasks/{task_id:int}/toggle")
@tiered.raises(service.TaskNotFound, service.TaskChanged)
@tiered.form(
    ToggleForm,
    template=LIST_TEMPLATE,
    block="results",
    context=_list_context,
    labels=LABELS,
    etag=_task_etag,
)
async def toggle_task(
    task_id: Id, user: Owner, db: DbSession, request: Request, data: ToggleForm
) -> tiered.Done[TaskOut]:
    """Set done as the button says (``done``; without it, flip); the browser goes back to the
    list as it was (``?back=task``: the task page)."""
    try:
        task = await service.toggle_task(
            db, user.id, task_id, done=data.done, expected=_expected(data.version, request)
        )
    except service.TaskChanged as exc:
        raise _stale(exc) from None
    await _announce(request, user.id, "task.updated", task.id)
    state = _lenient_state(request.query_params)
    back = _back_url(task.id, state, request.query_params)
    verb = "done" if task.done else "not done"
    return tiered.Done(back, data=TaskOut.of(task), flash=f"Marked “{task.title}” as {verb}.")


@router.get("/tasks/{task_id:int}/delete")
@tiered.raises(service.TaskNotFound)
@tiered.view(CONFIRM_TEMPLATE, json=False)
async def confirm_delete(
    task_id: Id, user: Owner, db: DbSession, request: Request
) -> DeleteConfirmation:
    """Ask before deleting (the page a browser without script gets from the Delete button)."""
    task = await service.get_task(db, user.id, task_id)
    state = _lenient_state(request.query_params)
    back = _back_url(task.id, state, request.query_params)
    return DeleteConfirmation(
        task=TaskOut.of(task),
        back=back,
        state_query=_query_string(state),
    )


@router.post("/tasks/{task_id:int}/delete")
@tiered.raises(service.TaskNotFound)
@tiered.form(
    DeleteForm,
    template=LIST_TEMPLATE,
    block="results",
    context=_list_context,
    labels=LABELS,
)
async def delete_task(
    task_id: Id, user: Owner, db: DbSession, request: Request, data: DeleteForm
) -> tiered.Done[None]:
    """Delete the task; the browser goes back to the list as it was. From the confirmation page
    (which sends the version it showed), a task changed meanwhile is not deleted: the page comes
    back showing it as it is now, to be confirmed again."""
    try:
        task = await service.delete_task(
            db, user.id, task_id, expected=_expected(data.version, request)
        )
    except service.TaskChanged:
        again = f"/tasks/{task_id}/delete"
        if request.url.query:
            again += "?" + request.url.query
        return tiered.Done(
            again,
            flash="This task changed since you opened this page, and nothing was deleted. "
            "Check it below, and delete it again if you still want to.",
            flash_level="warning",
        )
    await _announce(request, user.id, "task.deleted", task_id)
    return tiered.Done(
        _list_url(_lenient_state(request.query_params)), flash=f"Deleted the task “{task.title}”."
    )


@router.delete("/tasks/{task_id:int}", status_code=204)
@tiered.raises(service.TaskNotFound, service.TaskChanged)
@tiered.form()
async def delete_task_json(
    task_id: Id, user: Owner, db: DbSession, request: Request
) -> tiered.Done[None]:
    """Delete the task (JSON clients); 204 No Content. With ``If-Match``, only the version it
    names: otherwise 412 with the current task."""
    try:
        await service.delete_task(db, user.id, task_id, expected=_expected(None, request))
    except service.TaskChanged as exc:
        raise _stale(exc) from None
    await _announce(request, user.id, "task.deleted", task_id)
    return tiered.Done("/tasks")
