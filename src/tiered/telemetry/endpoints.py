"""tiered's two telemetry endpoints, posted to by the bootstrap script with ``sendBeacon``.

``POST {internal_prefix}/beacon`` (fields ``csrf_token``, ``tier``): this page view's script ran.
``POST {internal_prefix}/report`` (fields ``csrf_token``, ``tier``, ``kind``): an enhancement
failed; ``kind`` is one of :data:`~tiered.telemetry.runtime.FAILURE_KINDS`, anything else counts
as ``other``.

Both answer 204 with no body. A client can never make them store anything it wrote: a body over
:data:`MAX_BODY_BYTES` is refused (413) before it is parsed, each field is matched against a
closed set and only a counter moves, and each visitor (and each client address) is held to a rate
(:attr:`Telemetry.beacon_limits`, :attr:`Telemetry.report_limits`; past it 429 and nothing is
counted), kept in this process's memory by the limits library. They need the page's CSRF token
like any form post, so another site cannot post confirmations on a visitor's behalf.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tiered.asgi.context import context_of
from tiered.core.errors import BadRequest, PayloadTooLarge, TooManyRequests
from tiered.telemetry.runtime import Telemetry
from tiered.telemetry.summary import TIERS

MAX_BODY_BYTES = 2048
"""The largest beacon or report accepted; the script sends about 500 bytes."""
_MAX_FIELDS = 8
_NAMESPACE = "tiered-telemetry"


class TelemetryEndpoints:
    """The beacon and report endpoints of one app, under ``prefix``."""

    def __init__(self, telemetry: Telemetry, prefix: str) -> None:
        self.telemetry = telemetry
        self.beacon_path = f"{prefix}/beacon"
        self.report_path = f"{prefix}/report"
        self._limits: dict[str, tuple[RateLimitItem, RateLimitItem]] = {
            "beacon": (parse(telemetry.beacon_limits[0]), parse(telemetry.beacon_limits[1])),
            "report": (parse(telemetry.report_limits[0]), parse(telemetry.report_limits[1])),
        }
        self._limiter: FixedWindowRateLimiter | None = None
        telemetry.own_paths = frozenset({self.beacon_path, self.report_path})

    def routes(self) -> list[Route]:
        return [
            Route(self.beacon_path, self.beacon, methods=["POST"], name="tiered_beacon"),
            Route(self.report_path, self.report, methods=["POST"], name="tiered_report"),
        ]

    async def beacon(self, request: Request) -> Response:
        fields = await _small_form(request)
        tier = _tier(fields.get("tier"))
        await self._hit(request, "beacon")
        self.telemetry.confirmed(tier)
        return Response(status_code=204)

    async def report(self, request: Request) -> Response:
        fields = await _small_form(request)
        await self._hit(request, "report")
        self.telemetry.enhancement_failed(fields.get("kind", ""), fields.get("tier", ""))
        return Response(status_code=204)

    async def _hit(self, request: Request, endpoint: str) -> None:
        """Count one post against the visitor's and the address's limits; 429 past either."""
        if self._limiter is None:  # made in the event loop (the storage's expiry is a task)
            self._limiter = FixedWindowRateLimiter(MemoryStorage())
        per_visitor, per_address = self._limits[endpoint]
        address = request.client.host if request.client else "unknown"
        keys = (
            (per_visitor, context_of(request).visitor_key()),
            (per_address, "address:" + address),
        )
        for item, key in keys:
            if not await self._limiter.hit(item, _NAMESPACE, endpoint, key):
                stats = await self._limiter.get_window_stats(item, _NAMESPACE, endpoint, key)
                raise TooManyRequests(math.ceil(stats.reset_time - time.time()))


def _tier(value: str | None) -> str:
    if value in TIERS:
        return value
    shown = (value or "")[:20]
    raise BadRequest(f"Unknown tier {shown!r}; expected one of 'core', 'lite', 'full'.")


async def _small_form(request: Request) -> dict[str, str]:
    """The posted fields, refusing a body over :data:`MAX_BODY_BYTES` before parsing it."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise PayloadTooLarge(f"A telemetry post is at most {MAX_BODY_BYTES} bytes.")
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"A telemetry post is at most {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    request._body = b"".join(chunks)  # so form() parses what was read (Starlette's own cache)
    try:
        async with request.form(
            max_files=0, max_fields=_MAX_FIELDS, max_part_size=MAX_BODY_BYTES
        ) as form:
            return {name: value for name, value in form.items() if isinstance(value, str)}
    except Exception as exc:
        raise BadRequest("The telemetry post is not a form (multipart or urlencoded).") from exc
