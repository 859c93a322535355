"""Helpers for the jobs tests: run the queued jobs in this process, read a job's row."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.db import Database
from taskboard.jobs import service
from taskboard.jobs.models import Job
from taskboard.jobs.worker import bodies
from taskboard.settings import Settings


def run_jobs(client: TestClient) -> list[service.Outcome]:
    """Run every queued job once, as a worker would (the same ``execute``), on the app's loop."""
    app = client.app
    database: Database = app.state.database  # type: ignore[attr-defined]
    settings: Settings = app.state.settings  # type: ignore[attr-defined]
    kinds = bodies(settings)

    async def run() -> list[service.Outcome]:
        async with database.sessionmaker() as session:
            ids = list(await session.scalars(select(Job.id).where(Job.status == "queued")))
        return [await service.execute(database, job_id, kinds) for job_id in ids]

    assert client.portal is not None
    return client.portal.call(run)


def job_row(client: TestClient, job_id: int) -> Job:
    database: Database = client.app.state.database  # type: ignore[attr-defined]

    async def read() -> Job:
        async with database.sessionmaker() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            return job

    assert client.portal is not None
    return client.portal.call(read)
