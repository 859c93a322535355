"""Jobs' rules: who may see a job, how a worker takes one, and how it records its progress.

A job belongs to the user who started it: every lookup filters by ``owner_id`` and another user's
job is a 404, like a task. A worker *claims* a job before running it (``queued`` → ``running``,
with a lease until a moment a little ahead, renewed with each step) and each claim is numbered
(``attempts``); a step of work commits only while its claim is still the job's latest, so two
workers can never both apply the same step, even when one of them stalled past its lease.

Why it is safe to run a job again: the broker delivers a message at least once (acknowledged
only when the job is done, so a killed worker's job is delivered again), and the sweep sends a
job again when its message seems lost. Each delivery claims the job first; a job that is done,
failed or held by a live lease is not run twice. A job resumes from its ``cursor``, which is
committed in the same transaction as the work it counts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import tiered
from taskboard.accounts.service import aware
from taskboard.db import Database
from taskboard.jobs.models import Job

logger = logging.getLogger("taskboard.jobs")

Status = Literal["queued", "running", "done", "failed"]
FINISHED: Final = ("done", "failed")

MAX_ATTEMPTS: Final = 5
"""Claims of one job, each a delivery that found it unfinished: past this it is ``failed``."""
LEASE_SECONDS: Final = 30.0
"""How long a claim holds without a step: a worker that stops (killed, stalled) frees its job
this long after its last step."""
RESEND_AFTER_SECONDS: Final = 60.0
"""A queued job whose message has not been taken this long after it was sent is sent again."""


class JobNotFound(tiered.NotFound):
    code = "job-not-found"
    title = "Job not found"
    next_step = "Go back to your tasks; a job page is kept for a week after the job ends."


class TransientJobError(Exception):
    """A failure that may pass (a mail server down, a lost connection): the job is tried again,
    later each time, up to :data:`MAX_ATTEMPTS`."""


class LeaseLost(Exception):
    """Another claim took the job over (this worker stalled past its lease): stop, commit
    nothing."""


def now() -> datetime:
    return datetime.now(UTC)


# --- what the web side does ----------------------------------------------------------------------


async def create(
    database: Database,
    owner_id: int | None,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    input_bytes: bytes | None = None,
    input_name: str | None = None,
) -> Job:
    """Store a queued job; the caller sends its message (:class:`taskboard.jobs.queue.JobQueue`)
    after this commit, so a worker never receives a job it cannot read yet."""
    job = Job(
        owner_id=owner_id,
        kind=kind,
        status="queued",
        progress=0.0,
        params=params or {},
        input=input_bytes,
        input_name=input_name,
        attempts=0,
        cursor=0,
        version=1,
        sent_at=now(),
    )
    async with database.sessionmaker() as session:
        session.add(job)
        await session.commit()
    return job


async def get_owned(database: Database, owner_id: int, job_id: int) -> Job:
    async with database.sessionmaker() as session:
        job = await session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner_id))
    if job is None:
        raise JobNotFound(f"You have no job {job_id}.")
    return job


# --- what a worker does --------------------------------------------------------------------------


@dataclass
class Claim:
    """The outcome of trying to take a job: ``job`` to run, or why not (``wait``: seconds until
    the lease another claim holds runs out; neither: nothing to do)."""

    job: Job | None = None
    wait: float | None = None


async def claim(database: Database, job_id: int, *, lease: float | None = None) -> Claim:
    lease = LEASE_SECONDS if lease is None else lease
    moment = now()
    async with database.sessionmaker() as session:
        claimed = await session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                (Job.status == "queued") | ((Job.status == "running") & (Job.lease_until < moment)),
            )
            .values(
                status="running",
                attempts=Job.attempts + 1,
                lease_until=moment + timedelta(seconds=lease),
                version=Job.version + 1,
            )
        )
        await session.commit()
        job = await session.get(Job, job_id, populate_existing=True)
    if job is None or job.status in FINISHED:
        return Claim()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        until = aware(job.lease_until) if job.lease_until is not None else moment
        return Claim(wait=max(1.0, (until - moment).total_seconds()))
    return Claim(job=job)


@dataclass
class JobRun:
    """One claim of a job, as its body sees it: what to work on, where to resume, and the
    means to record progress."""

    database: Database
    job: Job
    lease: float = field(default_factory=lambda: LEASE_SECONDS)
    reported: float = 0.0

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params or {}

    async def step(self, session: AsyncSession, *, cursor: int, progress: float) -> None:
        """Record progress in ``session``'s transaction, with the work it counts; the caller
        commits both. Raises :class:`LeaseLost` when a later claim took the job over."""
        changed = await session.execute(
            update(Job)
            .where(Job.id == self.job.id, Job.attempts == self.job.attempts)
            .where(Job.status == "running")
            .values(
                cursor=cursor,
                progress=min(1.0, max(0.0, progress)),
                lease_until=now() + timedelta(seconds=self.lease),
                version=Job.version + 1,
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {self.job.id}: claim {self.job.attempts} was taken over")
        self.job.cursor = cursor
        self.reported = progress

    async def report(self, progress: float) -> None:
        """Record progress that has no work of its own to commit with (an export's file)."""
        async with self.database.sessionmaker() as session:
            await self.step(session, cursor=self.job.cursor, progress=progress)
            await session.commit()


async def finish(run: JobRun, result: dict[str, Any]) -> None:
    await _end(run, status="done", result=result, error=None)


async def fail(run: JobRun, error: str) -> None:
    await _end(run, status="failed", result=None, error=error)


async def _end(run: JobRun, *, status: Status, result: Any, error: str | None) -> None:
    async with run.database.sessionmaker() as session:
        changed = await session.execute(
            update(Job)
            .where(Job.id == run.job.id, Job.attempts == run.job.attempts)
            .values(
                status=status,
                progress=1.0 if status == "done" else Job.progress,
                result=result,
                error=error,
                lease_until=None,
                finished_at=now(),
                version=Job.version + 1,
                # What it worked on is done with: an upload is not kept past its import, nor a
                # mail's address past its sending.
                input=None,
                params={},
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {run.job.id}: claim {run.job.attempts} was taken over")
        await session.commit()


async def release(run: JobRun, retry_in: float) -> None:
    """Give the job back (its lease ends now), to be claimed by the retry due in ``retry_in``
    seconds (the sweep, which sends again what waits too long, counts from then)."""
    async with run.database.sessionmaker() as session:
        await session.execute(
            update(Job)
            .where(Job.id == run.job.id, Job.attempts == run.job.attempts)
            .where(Job.status == "running")
            .values(
                status="queued",
                lease_until=None,
                sent_at=now() + timedelta(seconds=retry_in),
                version=Job.version + 1,
            )
        )
        await session.commit()


Body = Callable[[JobRun], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Outcome:
    """What the worker does with the message: ``retry_in`` seconds, or nothing more."""

    retry_in: float | None = None


def backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1``: 2, 4, 8, 16 … capped at five minutes."""
    return float(min(300, 2**attempt))


async def execute(database: Database, job_id: int, bodies: dict[str, Body]) -> Outcome:
    """Run job ``job_id`` once, if it is to be run: claim it, run its body, record how it ended.

    A transient failure gives the job back and asks for a retry with backoff; after
    :data:`MAX_ATTEMPTS` claims, or on any other failure, the job is ``failed`` with a message a
    person can act on (the traceback goes to the log, not to the job)."""
    claimed = await claim(database, job_id)
    if claimed.job is None:
        return Outcome(retry_in=claimed.wait)
    run = JobRun(database, claimed.job)
    job = claimed.job
    if job.attempts > MAX_ATTEMPTS:
        await fail(run, f"Stopped after {MAX_ATTEMPTS} attempts that did not finish.")
        return Outcome()
    body = bodies.get(job.kind)
    if body is None:
        await fail(run, f"This kind of job ({job.kind}) is not known here.")
        return Outcome()
    try:
        result = await body(run)
        await finish(run, result)
    except LeaseLost:
        logger.warning("job %s: taken over by a later claim; this one stops", job.id)
        return Outcome()
    except TransientJobError as exc:
        if job.attempts >= MAX_ATTEMPTS:
            await fail(run, f"{exc} Tried {job.attempts} times; giving up.")
            return Outcome()
        logger.warning("job %s (%s): attempt %s failed: %s", job.id, job.kind, job.attempts, exc)
        retry_in = backoff(job.attempts)
        await release(run, retry_in)
        return Outcome(retry_in=retry_in)
    except Exception:
        logger.exception("job %s (%s) failed", job.id, job.kind)
        await fail(
            run,
            "Something went wrong while running this job. Start it again; if it "
            "fails again, the error is in the server's log.",
        )
        return Outcome()
    return Outcome()
