"""Health and readiness, and the 503 every request gets while the database is away.

``GET /healthz`` says the process is up and never touches the database, so a supervisor does not
restart a healthy process during a database outage. ``GET /readyz`` says whether the database
answers ``SELECT 1`` within a second, so a load balancer sends traffic elsewhere until it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import Response

import tiered
from taskboard.db import Database
from taskboard.ops.service import database_unavailable, driver_errors, is_database_unavailable

READY_TIMEOUT_SECONDS = 1.0
"""How long ``/readyz`` waits for the database before it answers 503."""

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = "ok"


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database answers",
    responses={503: {"description": "The database is not reachable; see Retry-After."}},
)
async def readyz(request: Request) -> Health:
    database: Database = request.app.state.database
    try:
        with anyio.fail_after(READY_TIMEOUT_SECONDS):
            await database.ping()
    except tiered.ServiceUnavailable:
        raise
    except Exception as exc:  # a timeout, or any reason the database did not answer
        raise database_unavailable() from exc
    return Health()


async def _unavailable(request: Request, exc: Exception) -> Response:
    """Re-raised as a tiered problem, which tiered's middleware renders for the client."""
    if is_database_unavailable(exc):
        raise database_unavailable() from exc
    raise exc  # a bad query or a broken constraint stays what it is: a 500, logged


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def exception_handlers() -> dict[type[Exception], ExceptionHandler]:
    """What ``create_app`` registers: database outages answer 503, in every representation.

    A function, called once the app's engine has loaded its database's driver, because the
    driver's exceptions are among them (see :func:`~taskboard.ops.service.driver_errors`).
    """
    errors = (sa_exc.DBAPIError, sa_exc.TimeoutError, *driver_errors())
    return dict.fromkeys(errors, _unavailable)
