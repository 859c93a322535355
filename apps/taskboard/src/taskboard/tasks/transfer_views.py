"""Import and export pages: ``/tasks/import`` and ``/tasks/export``, one endpoint for every client.

Both start a job and send the person to its page (303; JSON clients: 202 with ``Location``).
An import's file is checked before any job starts: a bad file is refused with every row's
mistakes and imports nothing. Without JavaScript each is a plain form; with it, the import form
shows the upload's progress (tiered's ``upload.js``) on the way to the same job page.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, UploadFile
from pydantic import BaseModel, BeforeValidator, ConfigDict
from starlette.requests import Request

import tiered
from taskboard.accounts.views import CurrentUser
from taskboard.db import Database
from taskboard.jobs import service as jobs
from taskboard.jobs.models import Job
from taskboard.jobs.queue import JobQueue
from taskboard.jobs.views import JobOut, job_out
from taskboard.tasks import transfer

router = APIRouter(tags=["tasks"])

IMPORT_TEMPLATE = "tasks/import.html"
EXPORT_TEMPLATE = "tasks/export.html"
CHOOSE_FILE = "Choose a CSV file to import."
LABELS = {"file": "the file", "format": "the format"}


def _a_file(value: Any) -> Any:
    if not hasattr(value, "filename") or not getattr(value, "filename", ""):
        raise ValueError(CHOOSE_FILE)
    return value


class ImportForm(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    file: Annotated[UploadFile, BeforeValidator(_a_file)]


class ExportForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "json"] = "csv"


class TransferPage(BaseModel):
    max_bytes: int = transfer.IMPORT_MAX_BYTES
    max_rows: int = transfer.IMPORT_MAX_ROWS
    export_hours: int = int(transfer.EXPORT_TTL.total_seconds() // 3600)


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.jobs
    return queue


async def _started(request: Request, job: Job, flash: str) -> tiered.Done[JobOut]:
    """Send the stored job to the workers and answer with its page: 303 there, or 202 with
    ``Location`` and the job for JSON clients."""
    await _queue(request).send(job.id)
    return tiered.Done(
        f"/jobs/{job.id}",
        data=job_out(job, tiered.client_of(request).tier),
        flash=flash,
        accepted=True,
    )


async def _page_context(request: Request) -> dict[str, Any]:
    return dict(TransferPage().__dict__)


@router.get("/tasks/import")
@tiered.view(IMPORT_TEMPLATE, block="import_form", json=False)
async def import_page(user: CurrentUser) -> TransferPage:
    """The import form: a CSV file of tasks."""
    return TransferPage()


@router.post("/tasks/import", status_code=202)
@tiered.form(
    ImportForm,
    template=IMPORT_TEMPLATE,
    block="import_form",
    success_block=None,  # the job's page
    context=_page_context,
    labels=LABELS,
)
async def import_tasks(
    data: ImportForm, user: CurrentUser, request: Request
) -> tiered.Done[JobOut]:
    """Check a CSV file of tasks (columns ``title``, ``notes``, ``due_on``, ``done``) and import
    it as a job: 202 with the job's ``Location``. A file with any bad row imports nothing: 422
    with each row's mistakes (row number, column, message)."""
    upload = data.file
    name = (upload.filename or "tasks.csv")[-255:]
    content = await upload.read(transfer.IMPORT_MAX_BYTES + 1)
    if len(content) > transfer.IMPORT_MAX_BYTES:
        raise tiered.PayloadTooLarge(
            f"The file is larger than {transfer.IMPORT_MAX_BYTES:,} bytes; split it and import "
            "each part."
        )
    try:
        rows = await anyio.to_thread.run_sync(transfer.read_import, content)
    except transfer.ImportRefused as exc:
        raise _refused(exc, name) from None
    job = await jobs.create(
        _database(request),
        user.id,
        transfer.IMPORT_KIND,
        {"rows": len(rows)},
        input_bytes=content,
        input_name=name,
    )
    flash = f"Importing {len(rows):,} {'task' if len(rows) == 1 else 'tasks'} from “{name}”."
    return await _started(request, job, flash)


def _refused(exc: transfer.ImportRefused, name: str) -> tiered.ValidationFailed:
    """Every mistake as a field error on ``file`` (so the error summary lists them, each linking
    to the file field), with the file's name, which a file input cannot keep."""
    errors = [tiered.FieldError("file", "/file", f"{name}: {exc.message}", "import-refused")]
    for error in exc.errors:
        column = f", column {error.column}" if error.column else ""
        errors.append(
            tiered.FieldError(
                "file", "/file", f"Row {error.row}{column}: {error.message}", "import-row"
            )
        )
    hidden = exc.total_errors - len(exc.errors)
    if hidden > 0:
        errors.append(tiered.FieldError("file", "/file", f"… and {hidden:,} more.", "import-row"))
    return tiered.ValidationFailed(exc.message, errors=tuple(errors))


@router.get("/tasks/export")
@tiered.view(EXPORT_TEMPLATE, block="export_form", json=False)
async def export_page(user: CurrentUser) -> TransferPage:
    """The export form: CSV or JSON."""
    return TransferPage()


@router.post("/tasks/export", status_code=202)
@tiered.form(
    ExportForm,
    template=EXPORT_TEMPLATE,
    block="export_form",
    success_block=None,  # the job's page
    context=_page_context,
    labels=LABELS,
)
async def export_tasks(
    data: ExportForm, user: CurrentUser, request: Request
) -> tiered.Done[JobOut]:
    """Export every task as CSV or JSON, as a job: 202 with the job's ``Location``; when done,
    the job links to the file for 24 hours."""
    params = {"format": data.format}
    job = await jobs.create(_database(request), user.id, transfer.EXPORT_KIND, params)
    return await _started(request, job, f"Exporting your tasks as {data.format.upper()}.")
