"""A worker process: takes job messages from the broker and runs them, one at a time.

``taskboard worker`` starts one (``make run`` starts one for you; ``make stack`` starts two).
Each message is run on one event loop kept for the life of the process, with a database engine
of its own; a sweep thread sends again every job whose message seems lost (see
:func:`sweep`), and deletes exports past their expiry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, or_, select, update

from taskboard.db import Database
from taskboard.jobs import service
from taskboard.jobs.models import Job
from taskboard.jobs.queue import TASK_NAME, JobQueue, celery_app
from taskboard.settings import Settings, shown_url, sync_database_url

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("taskboard.jobs")

SWEEP_SECONDS = 10.0


def bodies(settings: Settings) -> dict[str, service.Body]:
    """Every kind of job, by name: what a message's job runs."""
    from taskboard.accounts import password_reset
    from taskboard.tasks import transfer

    return {
        transfer.IMPORT_KIND: transfer.import_tasks,
        transfer.EXPORT_KIND: transfer.exporter(settings),
        password_reset.RESET_MAIL_KIND: password_reset.mail_job(settings),
    }


class Runner:
    """One event loop and one database engine for the worker process, made on first use (after
    a fork, when the pool forks)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runner: asyncio.Runner | None = None
        self._database: Database | None = None
        self._bodies = bodies(settings)

    def run(self, job_id: int) -> service.Outcome:
        if self._runner is None:
            self._runner = asyncio.Runner()
            self._database = Database(
                self.settings.database_url, instances=self.settings.instances, pool_size=2
            )
            self._runner.run(self._database.start())
        assert self._database is not None
        return self._runner.run(service.execute(self._database, job_id, self._bodies))

    def close(self) -> None:
        if self._runner is not None:
            if self._database is not None:
                self._runner.run(self._database.dispose())
            self._runner.close()
            self._runner = None


def build(settings: Settings) -> Celery:
    """The worker's Celery app, with the one task every job message names."""
    app = celery_app(settings.broker_url, settings.job_queue)
    runner = Runner(settings)

    @app.task(name=TASK_NAME, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def run_job(task: Any, job_id: int) -> None:
        outcome = runner.run(int(job_id))
        if outcome.retry_in is not None:
            raise task.retry(countdown=outcome.retry_in)

    app.conf.worker_state_db = None
    app.runner = runner
    return app


def sweep(settings: Settings, queue: JobQueue, engine: Any) -> int:
    """Send again each job whose message seems lost: queued and sent longer ago than
    ``RESEND_AFTER_SECONDS``, or running with its lease run out (its worker died or stalled).
    Returns how many were sent."""
    moment = service.now()
    stale = moment - timedelta(seconds=service.RESEND_AFTER_SECONDS)
    with engine.begin() as connection:
        ids = list(
            connection.scalars(
                select(Job.id).where(
                    or_(
                        (Job.status == "queued") & (Job.sent_at < stale),
                        (Job.status == "running") & (Job.lease_until < moment),
                    )
                )
            )
        )
        if ids:
            connection.execute(update(Job).where(Job.id.in_(ids)).values(sent_at=moment))
    sent = 0
    for job_id in ids:
        try:
            queue.send_now(job_id)
            sent += 1
        except Exception as exc:
            logger.warning("sweep: job %s not sent again (%s)", job_id, exc)
            break
    if sent:
        logger.info("sweep: sent %s job(s) again", sent)
    from taskboard.tasks import transfer

    transfer.delete_expired_exports(settings)
    return sent


def start_sweeping(settings: Settings, interval: float | None = None) -> threading.Event:
    """Sweep every ``interval`` seconds (:data:`SWEEP_SECONDS`) on a daemon thread until the
    returned event is set."""
    interval = SWEEP_SECONDS if interval is None else interval
    stop = threading.Event()
    queue = JobQueue(settings.broker_url, settings.job_queue)
    engine = create_engine(sync_database_url(settings.database_url), pool_size=1)

    def loop() -> None:
        while not stop.wait(interval):
            try:
                sweep(settings, queue, engine)
            except Exception:
                logger.exception("sweep failed; trying again in %s s", interval)
        engine.dispose()
        queue.close()

    threading.Thread(target=loop, name="taskboard-sweep", daemon=True).start()
    return stop


def main(
    settings: Settings,
    *,
    concurrency: int = 1,
    loglevel: str = "WARNING",
    ready_file: Path | None = None,
) -> None:
    """Run a worker in this process until it is told to stop (SIGTERM: the job in hand
    finishes first; SIGKILL: its message goes back to the queue, or the sweep resends it).

    ``ready_file`` is written (the process id) once the worker consumes from its queue: a
    supervisor that waits for it knows the worker's start (imports, the broker's connection),
    a few seconds of CPU, is over before it sends traffic to the instances beside it.
    """
    from celery import signals

    app = build(settings)
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)

        def ready(**_: Any) -> None:
            ready_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

        # weak=False: the receiver is a closure that nothing else holds.
        signals.worker_ready.connect(ready, weak=False)
    stop = start_sweeping(settings)
    print(
        f"Taskboard worker: jobs from {shown_url(settings.broker_url)}, queue {settings.job_queue}",
        flush=True,
    )
    try:
        app.worker_main(
            [
                "--quiet",  # no banner: the line above says what it serves
                "worker",
                f"--queues={settings.job_queue}",
                "--pool=solo" if concurrency == 1 else f"--concurrency={concurrency}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        stop.set()
        app.runner.close()
