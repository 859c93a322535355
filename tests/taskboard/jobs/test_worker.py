"""Real workers on real brokers: jobs run in worker processes, and a worker killed mid-job
(SIGKILL) leaves its job to run again to the same result.

Brokers: the embedded one (kombu's SQLAlchemy transport on a SQLite file, what ``make run``
uses), and RabbitMQ and Redis when ``TEST_RABBITMQ_URL`` / ``TEST_REDIS_URL`` name them
(``.ci/run`` sets both on a machine that has them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from taskboard.accounts.service import create_user
from taskboard.db import Database
from taskboard.jobs import service
from taskboard.jobs.models import Job
from taskboard.jobs.queue import JobQueue
from taskboard.settings import Settings
from taskboard.tasks import transfer
from taskboard.tasks.models import Task
from tests.taskboard.conftest import SECRET

T = TypeVar("T")
BROKERS = ["embedded"]
if os.environ.get("TEST_RABBITMQ_URL"):
    BROKERS.append("rabbitmq")
if os.environ.get("TEST_REDIS_URL"):
    BROKERS.append("redis")

# A worker with short timings (a lease of 2 s, a sweep every second) whose imports go slowly
# enough (100 rows a step, 50 ms between steps) to be killed in the middle of one.
WORKER = textwrap.dedent(
    """
    import asyncio

    from taskboard.jobs import service, worker
    from taskboard.settings import Settings
    from taskboard.tasks import transfer

    service.LEASE_SECONDS = 2.0
    service.RESEND_AFTER_SECONDS = 2.0
    worker.SWEEP_SECONDS = 1.0
    transfer.IMPORT_BATCH = 100
    step = service.JobRun.step

    async def slow_step(self, session, **kwargs):
        await asyncio.sleep(0.05)
        await step(self, session, **kwargs)

    service.JobRun.step = slow_step
    worker.main(Settings.from_environ())
    """
)


@pytest.fixture(params=BROKERS)
def settings(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Settings:
    database = shutil.copy(sqlite_template, tmp_path / "taskboard.db")
    broker = {
        "embedded": None,
        "rabbitmq": os.environ.get("TEST_RABBITMQ_URL"),
        "redis": os.environ.get("TEST_REDIS_URL"),
    }[request.param]
    return Settings(
        database_url=f"sqlite+inline:///{database}",
        secret_key=SECRET,
        data_dir=tmp_path,
        broker=broker,
        job_queue=f"taskboard-test-{uuid.uuid4().hex[:8]}",  # a queue of its own on the broker
    )


class Workers:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str] | None = None) -> subprocess.Popen[bytes]:
        """The worker above, or ``command`` (a ``taskboard`` command line) with its settings."""
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.database_url.replace("+inline", ""),
            "TASKBOARD_DATA": str(self.settings.data_dir),
            "SECRET_KEY": SECRET,
            "JOB_QUEUE": self.settings.job_queue,
        }
        env.pop("BROKER_URL", None)
        if self.settings.broker:
            env["BROKER_URL"] = self.settings.broker
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *(["-m", "taskboard.cli", *command] if command else ["-c", WORKER]),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(settings, tmp_path / "worker.log")
    yield running
    running.stop()


def _send(settings: Settings, job_id: int) -> None:
    queue = JobQueue(settings.broker_url, settings.job_queue)
    try:
        queue.send_now(job_id)
    finally:
        queue.close()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _queued_import(settings: Settings, rows: int) -> tuple[int, int]:
    database = Database(settings.database_url)
    try:
        user = await create_user(database, f"w{time.monotonic_ns()}@example.org", "x" * 12)
        content = ("title\n" + "".join(f"Task {n}\n" for n in range(rows))).encode()
        job = await service.create(
            database, user.id, transfer.IMPORT_KIND, input_bytes=content, input_name="big.csv"
        )
        return user.id, job.id
    finally:
        await database.dispose()


async def _state(settings: Settings, job_id: int, owner_id: int) -> tuple[Job, int]:
    database = Database(settings.database_url)
    try:
        async with database.sessionmaker() as session:
            job = await session.get(Job, job_id)
            count = await session.scalar(
                select(func.count()).select_from(Task).where(Task.owner_id == owner_id)
            )
        assert job is not None
        return job, int(count or 0)
    finally:
        await database.dispose()


def _wait_for(
    settings: Settings,
    job_id: int,
    owner_id: int,
    done: Callable[[Job, int], bool],
    timeout: float = 60,
) -> tuple[Job, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job, count = _run(_state(settings, job_id, owner_id))
        if done(job, count):
            return job, count
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {job.status} {count}")


def test_a_worker_runs_a_queued_job(settings: Settings, workers: Workers) -> None:
    owner, job_id = _run(_queued_import(settings, 300))
    _send(settings, job_id)
    workers.start()

    job, count = _wait_for(settings, job_id, owner, lambda j, c: j.status in service.FINISHED)

    assert (job.status, count, job.attempts) == ("done", 300, 1), job.error
    assert job.result == {"imported": 300, "file_name": "big.csv"}


def test_a_worker_says_when_it_takes_jobs_by_writing_its_ready_file(
    settings: Settings, workers: Workers, tmp_path: Path
) -> None:
    """What ``taskboard stack`` waits for before it lets traffic in: a worker's start is seconds
    of CPU, and a stack that took load during it served its first seconds at half speed."""
    ready = tmp_path / "worker.ready"
    ready.write_text("left by an earlier worker\n", encoding="utf-8")
    process = workers.start(["worker", f"--ready-file={ready}"])
    deadline = time.monotonic() + 60
    while (ready.read_text(encoding="utf-8") if ready.exists() else "") != f"{process.pid}\n":
        assert process.poll() is None, workers.log.read_text(encoding="utf-8")
        assert time.monotonic() < deadline, "no ready file after 60 s"
        time.sleep(0.05)
    owner, job_id = _run(_queued_import(settings, 20))
    _send(settings, job_id)

    job, count = _wait_for(settings, job_id, owner, lambda j, c: j.status in service.FINISHED)

    assert (job.status, count) == ("done", 20), job.error


def test_a_worker_killed_mid_import_leaves_it_to_finish_once(
    settings: Settings, workers: Workers
) -> None:
    # Enough rows (batches of 500) that the import is still running, a few seconds in, when the
    # poll below (a database of its own per look) sees its first batches committed.
    rows = 20_000
    owner, job_id = _run(_queued_import(settings, rows))
    _send(settings, job_id)
    first = workers.start()
    _wait_for(settings, job_id, owner, lambda j, c: j.status == "running" and c >= 500)

    first.send_signal(signal.SIGKILL)
    first.wait()
    job, count = _run(_state(settings, job_id, owner))
    assert job.status == "running"  # killed mid-import
    assert 0 < count < rows

    workers.start()
    job, count = _wait_for(
        settings, job_id, owner, lambda j, c: j.status in service.FINISHED, timeout=90
    )
    assert (job.status, count) == ("done", rows), job.error
    assert job.attempts == 2
    assert job.result == {"imported": rows, "file_name": "big.csv"}


def test_a_job_sent_while_the_broker_was_down_is_sent_by_the_sweep(
    settings: Settings, workers: Workers
) -> None:
    # Stored, never sent (as when the broker did not answer the web process): the sweep sends it.
    owner, job_id = _run(_queued_import(settings, 50))
    workers.start()
    job, count = _wait_for(settings, job_id, owner, lambda j, c: j.status in service.FINISHED)
    assert (job.status, count) == ("done", 50)
