"""What a person (or an API client) may send about a task, and the messages for mistakes.

Each model forbids unknown fields, so a JSON client with a typo hears about it; an HTML form still
validates because its submit button has no name and tiered strips ``csrf_token`` and
``idempotency_key`` before validation.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

TITLE_MAX: Final = 200
NOTES_MAX: Final = 10_000

LABELS: Final = {
    "title": "the title",
    "notes": "the notes",
    "due_on": "the due date",
    "done": "done",
    "version": "the version",
}
"""How error messages name each field ("Enter the title.")."""

DUE_ON_FORMAT_MESSAGE: Final = "Enter the due date as a date like 2026-12-31 (year-month-day)."
TITLE_NULL_MESSAGE: Final = "Enter the title: a task cannot be without one."
DONE_NULL_MESSAGE: Final = "Send done as true or false."

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _due_on(value: Any) -> Any:
    """A blank field means no due date; anything else must be YYYY-MM-DD (not a timestamp)."""
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _ISO_DATE.fullmatch(text):
            return text  # pydantic checks it is a real day ("2026-02-30" is not)
    raise ValueError(DUE_ON_FORMAT_MESSAGE)


def _notes(value: Any) -> Any:
    """No notes is empty notes; browsers send line breaks as CRLF, which count as one."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\r\n", "\n")
    return value


def _not_null(message: str) -> Any:
    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(message)
        return value

    return check


def _blank_allowed(schema: dict[str, Any]) -> None:
    """The OpenAPI document says what :func:`_due_on` takes: a blank field too."""
    schema["anyOf"].append({"type": "string", "pattern": r"^\s*$"})


# The title is stripped before its length is checked, so the document says (`\S`) that one of
# its characters must be more than a space; the check and its message stay min_length's.
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_MAX, json_schema_extra={"pattern": r"\S"})
]


def _no_null(schema: dict[str, Any]) -> None:
    """The OpenAPI document says what :func:`_not_null` refuses: a null."""
    kinds = [kind for kind in schema.pop("anyOf") if kind != {"type": "null"}]
    schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})
    schema.pop("default", None)


def _null_allowed(schema: dict[str, Any]) -> None:
    """The OpenAPI document says what :func:`_notes` takes: null (no notes) too."""
    own = dict(schema)
    schema.clear()
    schema["anyOf"] = [own, {"type": "null"}]


Notes = Annotated[
    str,
    Field(max_length=NOTES_MAX, json_schema_extra=_null_allowed),
    BeforeValidator(_notes),
]
DueOn = Annotated[date | None, BeforeValidator(_due_on), Field(json_schema_extra=_blank_allowed)]


class TaskForm(BaseModel):
    """A new task, or all of a task's editable fields at once (``POST /tasks/{id}``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title
    notes: Notes = ""
    due_on: DueOn = None


def _refuse_numbers(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(DONE_NULL_MESSAGE)  # the same words: true or false
    return value


def _refuse_booleans(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(VERSION_TYPE_MESSAGE)
    return value


VERSION_TYPE_MESSAGE: Final = "Send the version as a whole number, like 3."
Version = Annotated[int | None, Field(ge=1, le=2**31 - 1), BeforeValidator(_refuse_booleans)]


class TaskEdit(TaskForm):
    """All of a task's editable fields (``POST``/``PUT /tasks/{id}``), and the version they were
    edited from: the edit form carries it, so a change made from a stale copy is caught."""

    version: Version = None


class DeleteForm(BaseModel):
    """``POST /tasks/{id}/delete``: optionally the version the confirmation page showed, so a
    task changed meanwhile is shown again rather than deleted unseen."""

    model_config = ConfigDict(extra="forbid")

    version: Version = None


class ToggleForm(BaseModel):
    """``POST /tasks/{id}/toggle``: the state the button asks for (without it, done flips), and
    optionally the version it was pressed on."""

    model_config = ConfigDict(extra="forbid")

    done: Annotated[bool | None, BeforeValidator(_refuse_numbers)] = None
    version: Version = None


class TaskPatch(BaseModel):
    """Some of a task's fields (``PATCH /tasks/{id}``, JSON only); ``due_on: null`` clears it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Left out is "unchanged"; null is refused, so the document offers no null.
    title: Annotated[
        Title | None,
        BeforeValidator(_not_null(TITLE_NULL_MESSAGE)),
        Field(json_schema_extra=_no_null),
    ] = None
    notes: Notes | None = None
    due_on: DueOn = None
    done: Annotated[
        StrictBool | None,
        BeforeValidator(_not_null(DONE_NULL_MESSAGE)),
        Field(json_schema_extra=_no_null),
    ] = None
