"""Which page caused a change, so that page can skip the event about its own change.

A page that shows live updates carries an origin id (``data-tiered-live-origin``); ``live.js``
sends it with each of the page's htmx requests in the ``X-Tiered-Live-Origin`` header. The route
that changes something passes it on, ``publish(..., origin=origin_of(request))``, and ``live.js``
then drops the event whose origin is its own: the page already shows its change, and applying it
twice (a second refetch, a flash of old content) is what this prevents.

An origin is a hint for the page, not a credential: a forged one only hides an event from the
forger's own page.
"""

from __future__ import annotations

import secrets

from starlette.requests import HTTPConnection

from tiered.live.events import valid_origin

ORIGIN_HEADER = "X-Tiered-Live-Origin"


def new_origin() -> str:
    """A fresh origin id for one rendered page (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def origin_of(request: HTTPConnection) -> str | None:
    """The origin id the request's page sent, or ``None`` when it sent none (or a malformed one).

    Example::

        await bus.publish(f"tasks:{user.id}", "task.updated", {"id": task.id},
                          origin=origin_of(request))
    """
    return valid_origin(request.headers.get(ORIGIN_HEADER))
