"""Live updates by polling: for the ``lite`` tier, and for clients whose stream cannot connect.

``GET ...?cursor=X`` answers what happened after ``X``::

    {"cursor": "3f2a9c1d.18", "events": [{"id": "3f2a9c1d.18", "kind": "task.updated",
     "data": {"id": 7}, "origin": null}], "refresh": false}

The answer's ``cursor`` is the one to send next time, and its ``ETag`` is that cursor quoted. The
cursor only moves when something happened, so a client that sends it back in ``If-None-Match``
(with the same ``cursor``) gets ``304 Not Modified`` and no body for as long as nothing changes.
Without the conditional header the same case is a tiny 200 with no events. ``refresh: true``
means the events after ``X`` are no longer known: refetch everything, then carry on from the new
cursor.

Each answer is for one user (the app picks the topic from the session or token), so it is
``private`` and varies on ``Cookie`` and ``Authorization``; ``no-cache`` makes a browser ask
again every time rather than reuse an answer.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from tiered.core.conditional import entity_tags, quoted
from tiered.live.events import REFRESH, LiveBus, LiveEvent

HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Cookie, Authorization"}


async def poll_response(
    bus: LiveBus, topic: str, cursor: str | None, if_none_match: str | None
) -> Response:
    """The poll answer for ``topic`` after ``cursor`` (``None``: the client has none yet)."""
    events: list[LiveEvent] | None = [] if cursor is None else await bus.since(topic, cursor)
    if cursor is None or events is None:
        now = await bus.cursor(topic)
        return _answer(now, [], refresh=cursor is not None)
    if events:
        refresh = any(event.kind == REFRESH for event in events)
        return _answer(events[-1].id, events, refresh=refresh)
    tags = entity_tags(if_none_match)
    if tags is not None and tags.matches(cursor):
        return Response(status_code=304, headers={**HEADERS, "ETag": quoted(cursor)})
    return _answer(cursor, [], refresh=False)


def _answer(cursor: str, events: list[LiveEvent], *, refresh: bool) -> Response:
    body = {"cursor": cursor, "events": [event.to_json() for event in events], "refresh": refresh}
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        media_type="application/json",
        headers={**HEADERS, "ETag": quoted(cursor)},
    )
