"""The request body as tiered's middleware reads it: bounded in size and in time, read once
when the middleware needs it before the app (a form's CSRF field), and what the app left
unread drained before the response ends (see :mod:`tiered.asgi.middleware`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope

from tiered.asgi.context import RequestContext
from tiered.core.errors import (
    FormTooLarge,
    HTTPProblem,
    MalformedBody,
    PayloadTooLarge,
    RequestTimeout,
)

logger = logging.getLogger("tiered")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# How Starlette's form parsers say a limit was passed (max_fields, max_files, max_part_size).
_FORM_LIMITS = ("Too many fields", "Too many files", "exceeded maximum size")


def timed(receive: Receive, seconds: float) -> Receive:
    """``receive``, until the body is complete within ``seconds`` of now."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    complete = False

    async def timed_receive() -> Message:
        nonlocal complete
        if complete:  # waiting for a disconnect after the body is no body read
            return await receive()
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout(
                f"The request body did not arrive within {seconds:g} seconds.",
                headers={"Connection": "close"},
            ) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            complete = True
        return message

    return timed_receive


async def read_body(receive: Receive, limit: int, too_large: Callable[[], HTTPProblem]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, then: Receive | None = None) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives the already-read body once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            if then is not None:
                return await then()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit:,} bytes.")


def limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`PayloadTooLarge` once more than ``limit`` bytes arrived."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return limited_receive


async def form_field(scope: Scope, body: bytes, ctx: RequestContext, name: str) -> str | None:
    """Field ``name`` of the form ``body``, parsed once: the parsed form is kept on ``ctx`` for
    the form view (which would otherwise parse the same body again) and closed after the
    response."""
    form = await read_form(Request(scope, replay(body)))
    ctx.form = form
    field = form.get(name)
    return field if isinstance(field, str) else None


async def read_form(request: Request) -> FormData:
    """``request.form()``, its failures as problems that say what to change: past one of the
    parser's limits (fields, files, a part's size) :class:`FormTooLarge` (413), else
    :class:`MalformedBody` (400)."""
    try:
        return await request.form()
    except HTTPException as exc:  # Starlette's MultiPartException, as a 400, in an app
        raise _form_problem(str(exc.detail)) from None
    except MultiPartException as exc:  # ... and as itself outside one
        raise _form_problem(exc.message) from None


def _form_problem(message: str) -> HTTPProblem:
    message = message.rstrip(".") + "."
    if any(limit in message for limit in _FORM_LIMITS):
        return FormTooLarge(f"{message} Send fewer fields or files, or smaller ones.")
    return MalformedBody(f"The form body could not be read: {message}")


class BodyRead:
    """How much of the request's body the app read: all of it, or where it stopped."""

    __slots__ = ("_receive", "complete", "reading", "seen", "started", "waits_for_continue")

    def __init__(self, receive: Receive, *, waits_for_continue: bool) -> None:
        self._receive = receive
        self.complete = False
        """The body's last part arrived, or the client went away: nothing more to read."""
        self.reading = False
        self.started = False
        self.seen = 0
        self.waits_for_continue = waits_for_continue

    async def receive(self) -> Message:
        self.reading = True
        try:
            message = await self._receive()
        finally:
            self.reading = False
        if message["type"] == "http.request":
            self.started = True
            self.seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        else:
            self.complete = True
        return message

    def can_drain(self, limit: int) -> bool:
        """Whether the rest may be read and dropped: not when the client waits for ``100
        Continue`` before it sends any (reading would ask for a body nobody wants), nor past the
        size limit."""
        return not (self.waits_for_continue and not self.started) and self.seen <= limit

    async def drain(self, receive: Receive) -> None:
        """Read and drop the rest, through ``receive`` (the limit and deadline apply)."""
        if self.reading:  # a streaming response listens for the disconnect: it reads the rest
            return
        try:
            while not self.complete:
                await receive()
        except Exception as exc:  # too slow, too large, or gone: the server closes the connection
            logger.info("The rest of a request body was not read (%s)", exc or type(exc).__name__)


def expects_continue(headers: dict[str, str]) -> bool:
    return headers.get("expect", "").strip().lower() == "100-continue"
