"""``GET /admin/dashboard`` (admins only; a 404 to everyone else, like every admin page) and
``GET /metrics`` (only to ``Authorization: Bearer <METRICS_TOKEN>``; a 404 to everyone else, and
to everyone when ``METRICS_TOKEN`` is unset)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

import tiered
from taskboard.accounts.views import OptionalUser
from taskboard.dashboard import service
from taskboard.dashboard.service import DashboardPage
from tiered.telemetry import EXPOSITION_CONTENT_TYPE

router = APIRouter()

PAGE = "/admin/dashboard"


def _telemetry(request: Request) -> tiered.Telemetry:
    telemetry: tiered.Telemetry = request.app.state.telemetry
    return telemetry


def _not_found(request: Request) -> tiered.NotFound:
    # The same answer as for any path that does not exist: nothing says there is a page here.
    return tiered.NotFound(f"There is no page at {request.url.path}.")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if not service.metrics_allowed(token, request.headers.get("authorization")):
        raise _not_found(request)
    return Response(
        _telemetry(request).metrics.exposition(),
        media_type=EXPOSITION_CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


@router.get(PAGE, response_model=DashboardPage, summary="Telemetry of the whole fleet (admins)")
@tiered.raises(tiered.NotFound)
@tiered.view("dashboard/index.html")
async def dashboard(
    request: Request,
    user: OptionalUser,
    minutes: Annotated[int, Query(description="The window: 15, 60, 360 or 1440 minutes")] = 60,
) -> DashboardPage:
    if not service.can_see_dashboard(user):
        raise _not_found(request)
    return await service.dashboard(_telemetry(request), minutes)
