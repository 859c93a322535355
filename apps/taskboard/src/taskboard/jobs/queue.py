"""The queue between the web processes and the workers: Celery, on the broker ``BROKER_URL`` names.

Why Celery: it is the maintained queue that Python services already run (and that the systems
this app grew from name), it speaks to RabbitMQ and Redis, the brokers at scale, and to a
database through kombu's SQLAlchemy transport, which is what lets ``make run`` keep jobs in a
file of its own with no service to start. arq and procrastinate were the alternatives: arq needs
Redis even for the embedded default, procrastinate needs PostgreSQL; neither serves both.

What Celery is trusted with is small: a message "run job 42". The job itself, its progress and
its result live in the app's database (:mod:`taskboard.jobs.service`), so a lost or repeated
message costs nothing. Messages are acknowledged late (after the job ran) and rejected back to
the queue when a worker dies mid-job; one message at a time per worker process.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("taskboard.jobs")

TASK_NAME = "taskboard.run_job"
QUEUE = "taskboard"
"""The queue's default name (``JOB_QUEUE``): apps sharing a broker each need one of their own."""


def embedded_broker_url(data_dir: Path) -> str:
    """The broker of ``make run``: a SQLite file next to the app's (kombu's SQLAlchemy
    transport), so queued messages survive a restart of everything."""
    return f"sqla+sqlite:///{(data_dir / 'queue.db').resolve()}"


def celery_app(broker_url: str, queue: str = QUEUE) -> Celery:
    """The one Celery configuration, for the web side (which only sends) and the workers."""
    from celery import Celery

    if broker_url.startswith("sqla+"):
        # kombu's SQLAlchemy transport declares its tables with a loader strategy SQLAlchemy 2.1
        # deprecates; it works, and the warning is kombu's to fix, not the person's running it.
        warnings.filterwarnings("ignore", message="The ``noload`` loader strategy")
    app = Celery("taskboard", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,  # results are the job's row, not Celery's
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        # A publish that cannot reach the broker gives up quickly: the job is stored already,
        # and the sweep sends it once the broker is back.
        broker_connection_timeout=3,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
    )
    return app


class JobQueue:
    """The web side's handle on the queue: :meth:`send` a stored job to the workers."""

    def __init__(self, broker_url: str, queue: str = QUEUE) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self._app: Celery | None = None

    def _celery(self) -> Celery:
        if self._app is None:
            self._app = celery_app(self.broker_url, self.queue)
        return self._app

    def send_now(self, job_id: int, countdown: float | None = None) -> None:
        """Publish the job's message (blocking); raises when the broker cannot take it."""
        self._celery().send_task(TASK_NAME, args=[job_id], queue=self.queue, countdown=countdown)

    async def send(self, job_id: int) -> bool:
        """Publish off the event loop; ``False`` (and a warning) when the broker is down: the
        job waits, stored, for the worker's sweep to send it again."""
        try:
            await anyio.to_thread.run_sync(self.send_now, job_id)
        except Exception as exc:
            logger.warning(
                "job %s: the broker did not take it (%s); it will be sent again", job_id, exc
            )
            return False
        return True

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
