"""``create_app(settings)``: Taskboard, assembled from its domains on tiered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI

import tiered
import tiered.live
from taskboard.accounts import views as accounts_views
from taskboard.accounts.service import SqlSessionStore
from taskboard.admin import views as admin_views
from taskboard.dashboard import service as dashboard_service
from taskboard.dashboard import views as dashboard_views
from taskboard.db import Database
from taskboard.jobs import views as jobs_views
from taskboard.jobs.queue import JobQueue
from taskboard.migrations.runner import migrate
from taskboard.ops import views as ops_views
from taskboard.ops.service import DatabaseGuard, ResilientSessionStore
from taskboard.settings import Settings
from taskboard.tasks import transfer, transfer_views
from taskboard.tasks import views as tasks_views

DOMAINS = (
    ops_views,
    accounts_views,
    transfer_views,  # before tasks': /tasks/import is not /tasks/{task_id}
    tasks_views,
    jobs_views,
    admin_views,
    dashboard_views,
)
"""Each domain's views module: its ``router``, and optionally ``exception_handlers``: a mapping
of exception classes to handlers, or a function that returns one when the app is built."""

PACKAGE = Path(__file__).resolve().parent
TEMPLATE_DIRS = (
    PACKAGE / "templates",
    PACKAGE / "accounts" / "templates",
    PACKAGE / "tasks" / "templates",
    PACKAGE / "jobs" / "templates",
    PACKAGE / "dashboard" / "templates",
    PACKAGE / "admin" / "templates",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing touches the database until it starts (migrations run then)."""
    settings = settings or Settings.from_environ()
    database = Database(
        settings.database_url,
        instances=settings.instances,
        pool_size=settings.database_pool_size,
    )
    flags = admin_views.build_flags(database)
    # Shared by every instance when Redis is there, so one form posted to two makes one task.
    idempotency = (
        tiered.RedisIdempotencyStore(settings.redis_url, prefix="taskboard:idempotency")
        if settings.redis_url
        else tiered.MemoryIdempotencyStore()
    )
    # "This changed" for each user's tasks, to every page showing them: through Redis when
    # there is one (every instance's pages hear every instance's changes), else in process.
    live_bus: tiered.live.LiveBus = (
        tiered.live.RedisLiveBus(settings.redis_url, prefix="taskboard:live")
        if settings.redis_url
        else tiered.live.MemoryLiveBus()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(migrate, settings.database_url)
        await database.start()  # sizes PostgreSQL's pool from its max_connections
        await flags.refresh()  # the first request already sees the stored overrides
        # tiered's lifespan freezes what is alive once this start is done (tiered.install).
        try:
            yield
        finally:
            await live_bus.aclose()
            jobs.close()
            if isinstance(idempotency, tiered.RedisIdempotencyStore):
                await idempotency.aclose()
            await database.dispose()

    app = FastAPI(
        title="Taskboard",
        version="1",
        lifespan=lifespan,
        # Any request may meet a database that does not answer (sessions live there too).
        responses={503: {"description": "The database does not answer; see `Retry-After`."}},
    )
    app.state.settings = settings
    app.state.database = database
    app.state.database_guard = DatabaseGuard(database)
    app.state.telemetry = telemetry = dashboard_service.build_telemetry(settings)
    app.state.flags = flags
    # Jobs go to the workers through this; their rows are in the database (taskboard.jobs).
    app.state.jobs = jobs = JobQueue(settings.broker_url, settings.job_queue)
    # A stream ends after ~25 s and its page reconnects from its cursor, missing nothing: the
    # servers wait for open responses before the app's shutdown runs, so this is what bounds a
    # graceful stop (the stack gives an instance 30 s) while pages hold streams open.
    app.state.live = tiered.live.LiveStreams(
        live_bus, tiered.live.LiveSettings(max_stream_seconds=25)
    )
    tiered.install(
        app,
        tiered.TieredSettings(
            secret_key=settings.secret_key,
            debug=settings.debug,
            template_dirs=tuple(str(d) for d in TEMPLATE_DIRS if d.is_dir()),
            static_dirs=(str(PACKAGE / "static"),),
            trusted_proxies=settings.trusted_proxies,
            trusted_origins=settings.trusted_origins,
            # One version of the JSON API so far: a client that asks for another (version=2)
            # is told 406 rather than served a shape it did not ask for.
            json_versions=tiered.JsonVersions((tiered.ApiVersion("1"),), current="1"),
            # An import's file, and the form around it (a few kilobytes).
            body_limits={"/tasks/import": transfer.IMPORT_MAX_BYTES + 65_536},
        ),
        session_store=ResilientSessionStore(SqlSessionStore(database)),
        idempotency_store=idempotency,
        telemetry=telemetry,
        flags=flags,
    )
    for views in DOMAINS:
        app.include_router(views.router)
        handlers = getattr(views, "exception_handlers", {})
        for exception, handler in (handlers() if callable(handlers) else handlers).items():
            app.add_exception_handler(exception, handler)
    return app
