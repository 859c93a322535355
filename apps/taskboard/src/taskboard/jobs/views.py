"""A job's page: ``GET /jobs/{id}`` in every tier, and an export's file.

The page says what the job is doing and, while it runs, how far it got. How it keeps up depends
on the client, like everything here: the full tier refetches the status region every 2 s, the
lite tier (Save-Data, slow networks) every 10 s, and the core tier and browsers without
JavaScript get a plain "Refresh" link, never an automatic reload that a screen reader user could
not stop. When the job ends the region comes back without a trigger, so polling stops by itself.
JSON clients get ``{"id", "kind", "status", "progress", "result", "error"}`` with an ``ETag``
(the job's version), and a 304 when nothing changed since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse

import tiered
from taskboard.accounts.service import aware
from taskboard.accounts.views import CurrentUser
from taskboard.db import Database, Id
from taskboard.jobs import service
from taskboard.jobs.models import Job
from taskboard.settings import Settings
from taskboard.tasks import transfer

router = APIRouter(tags=["jobs"])

KIND_LABELS = {
    transfer.IMPORT_KIND: "Import of tasks",
    transfer.EXPORT_KIND: "Export of tasks",
}
POLL_SECONDS = {"full": 2, "lite": 10}
"""How often a job page refetches its status while the job runs, by tier (core: never)."""


class ExportExpired(tiered.HTTPProblem):
    status = 410
    code = "export-expired"
    title = "This export has expired"
    next_step = "Export your tasks again; each export's file is kept for 24 hours."


class JobOut(BaseModel):
    """A job as JSON clients see it (and the job page's ``job``)."""

    id: int
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1, description="How much is done, from 0 to 1.")
    result: dict[str, Any] | None = Field(
        description="When done: an import's count of tasks, or an export's file and when its "
        "download link expires."
    )
    error: str | None = Field(description="When failed: what went wrong, for a person to read.")
    created_at: datetime
    finished_at: datetime | None
    version: int = Field(exclude=True)
    label: str = Field(exclude=True)
    poll_seconds: int | None = Field(exclude=True)

    @property
    def finished(self) -> bool:
        return self.status in service.FINISHED


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def job_out(job: Job, tier: str) -> JobOut:
    result = dict(job.result) if job.result else None
    if result is not None and "file" in result:
        result.pop("file")
        result["download"] = f"/jobs/{job.id}/download"
    finished = job.status in service.FINISHED
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=round(job.progress or 0.0, 4),
        result=result,
        error=job.error,
        created_at=aware(job.created_at),
        finished_at=aware(job.finished_at) if job.finished_at is not None else None,
        version=job.version,
        label=KIND_LABELS.get(job.kind, job.kind),
        poll_seconds=None if finished else POLL_SECONDS.get(tier),
    )


def _job_etag(job: JobOut) -> str:
    return str(job.version)


@router.get("/jobs/{job_id:int}")
@tiered.raises(service.JobNotFound)
@tiered.view("jobs/job.html", block="job", etag=_job_etag)
async def show_job(
    job_id: Id, user: CurrentUser, request: Request, client: tiered.Client
) -> JobOut:
    """A job's state and progress; its result when done (an export: the file's link)."""
    job = await service.get_owned(_database(request), user.id, job_id)
    return job_out(job, client.tier)


@router.get("/jobs/{job_id:int}/download", response_class=FileResponse, include_in_schema=True)
@tiered.raises(service.JobNotFound, ExportExpired)
async def download(job_id: Id, user: CurrentUser, request: Request) -> FileResponse:
    """A finished export's file, as an attachment, to its owner only, for 24 hours."""
    job = await service.get_owned(_database(request), user.id, job_id)
    if job.kind != transfer.EXPORT_KIND or job.status != "done":
        raise service.JobNotFound(f"Job {job_id} has no file to download.")
    path = transfer.export_path(_settings(request), job.result)
    if path is None:
        raise ExportExpired("The file of this export is no longer kept.")
    fmt = (job.result or {}).get("format", "csv")
    stamp = aware(job.created_at).strftime("%Y-%m-%d")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return FileResponse(
        path,
        media_type=media,
        filename=f"taskboard-tasks-{stamp}.{fmt}",
        headers={"Cache-Control": "private, no-store"},
    )
