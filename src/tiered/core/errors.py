"""One exception tree for tiered, with stable machine codes.

Every error a client can see is an :class:`HTTPProblem`: it knows its HTTP status, a stable
``code`` that clients and tests can rely on, a short ``title`` for people, and an optional
``detail`` that says what went wrong with *this* request and how to fix it. The adapters render a
problem as an accessible HTML page, an HTML fragment, or an RFC 9457 ``application/problem+json``
document, whichever the client negotiated.

Example::

    raise NotFound("No task 41 in your list.")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from tiered.core.forms import FieldError


class TieredError(Exception):
    """Root of every exception tiered raises on purpose."""


class ImproperlyConfigured(TieredError):
    """A setting or an argument is wrong; raised at start-up with the fix in the message."""


class HTTPProblem(TieredError):
    """An error with an HTTP status and a stable code, rendered in the negotiated representation.

    Subclasses set ``status``, ``code``, ``title`` and, when useful, ``next_step``: one sentence a
    person reads on the error page about what to do now. ``location`` sends a person's browser
    there instead of an error page (303 See Other; ``HX-Redirect`` for an enhanced request), while
    an API client still gets the problem document: a log-in page for ``Unauthorized``, say.

    Example::

        raise LoginRequired("Log in to see this page.", location="/login?next=/tasks")
    """

    status: ClassVar[int] = 500
    redirects: ClassVar[bool] = False
    """Whether instances carry a ``location`` for people, so the OpenAPI document lists 303."""
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Something went wrong on our side"
    next_step: ClassVar[str] = (
        "Try again in a moment. If it keeps happening, tell us the request id."
    )

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.location = location
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = dict(extra or {})

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status}, code={self.code!r}, detail={self.detail!r})"


class BadRequest(HTTPProblem):
    status = 400
    code = "bad-request"
    title = "The request could not be understood"
    next_step = "Check what you sent and try again."


class MalformedBody(BadRequest):
    code = "malformed-body"
    title = "The request body could not be read"
    next_step = "Send a well-formed body of the declared Content-Type."


class Unauthorized(HTTPProblem):
    status = 401
    code = "unauthorized"
    title = "You need to log in"
    next_step = "Log in, then try again."


class Forbidden(HTTPProblem):
    status = 403
    code = "forbidden"
    title = "You are not allowed to do that"
    next_step = "Go back to the previous page."


class CsrfFailed(Forbidden):
    """The request could not be proven to come from one of our own forms.

    ``reason`` is one of the ``CSRF_*`` constants in :mod:`tiered.asgi.csrf`, for logs and tests.
    """

    code = "csrf-failed"
    title = "This form could not be checked"
    next_step = "Go back, reload the page, and submit the form again."

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason


class NotFound(HTTPProblem):
    status = 404
    code = "not-found"
    title = "Page not found"
    next_step = "Check the address, or start again from the home page."


class MethodNotAllowed(HTTPProblem):
    status = 405
    code = "method-not-allowed"
    title = "That method is not allowed here"
    next_step = "Use one of the methods listed in the Allow header."


class NotAcceptable(HTTPProblem):
    status = 406
    code = "not-acceptable"
    title = "No acceptable representation"
    next_step = "Ask for one of the media types on offer in your Accept header."


class UnknownVersion(NotAcceptable):
    code = "unknown-version"
    title = "Unknown API version"
    next_step = (
        "Ask for one of the versions on offer, or leave the version out to get the current one."
    )


class RequestTimeout(HTTPProblem):
    status = 408
    code = "request-timeout"
    title = "What you sent arrived too slowly"
    next_step = "Check your connection and send it again; nothing of it was kept."


class Conflict(HTTPProblem):
    status = 409
    code = "conflict"
    title = "That conflicts with the current state"
    next_step = "Reload the page to see the current state, then try again."


class IdempotencyKeyInFlight(Conflict):
    """An ``Idempotency-Key`` whose first request is still being processed (409, as the IETF
    draft on the header says); the client should wait and send the request again."""

    code = "idempotency-key-in-flight"
    title = "A request with this Idempotency-Key is still being processed"
    next_step = "Wait a moment, then send the same request again to get its response."


class PreconditionFailed(HTTPProblem):
    """A conditional request's precondition (``If-Match``) does not hold: what the client read is
    no longer what is stored. Put the current representation in ``extra`` and its ``ETag`` in
    ``headers``, so the client can merge without another round trip.

    Example::

        raise PreconditionFailed(
            "Task 7 changed: you sent version 3, it is now 5.",
            headers={"ETag": '"5"'},
            extra={"current": task_json},
        )
    """

    status = 412
    code = "precondition-failed"
    title = "This changed since you last read it"
    next_step = (
        "Read it again, apply your change to what is there now, and send it with the new ETag "
        "in If-Match."
    )


class PayloadTooLarge(HTTPProblem):
    status = 413
    code = "payload-too-large"
    title = "What you sent is too large"
    next_step = "Send less data, for example a shorter text or a smaller file."


class FormTooLarge(PayloadTooLarge):
    """A form body past one of the parser's limits: too many fields or files, or a part too big."""

    code = "form-too-large"
    title = "The form has too many fields or too large a part"
    next_step = "Send fewer fields or files, or smaller ones, as the detail says."


class UnsupportedMediaType(HTTPProblem):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported content type"
    next_step = "Send the body as one of the content types listed in the detail."


class ValidationFailed(HTTPProblem):
    """Input did not validate; ``errors`` lists each field's problem (:mod:`tiered.core.forms`)."""

    status = 422
    code = "validation-failed"
    title = "Some of what you entered needs fixing"
    next_step = "Correct the fields listed and submit again."

    def __init__(self, detail: str | None = None, *, errors: Iterable[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors: tuple[FieldError, ...] = tuple(errors)

    @classmethod
    def for_field(cls, field: str, message: str, code: str) -> ValidationFailed:
        """One field's error found by the service layer (``email`` already taken, say).

        Example::

            raise ValidationFailed.for_field("email", "An account with this email exists.", "taken")
        """
        return cls(
            message, errors=(FieldError(field, "/" + field.replace(".", "/"), message, code),)
        )


class IdempotencyKeyReused(HTTPProblem):
    """An idempotency key sent again with a different request (another method, path or body):
    422, as the IETF draft on ``Idempotency-Key`` says. The key still stands for its first
    request; a different request needs a key of its own."""

    status = 422
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"
    next_step = "Send a different request with a new Idempotency-Key."


class TooManyRequests(HTTPProblem):
    status = 429
    code = "too-many-requests"
    title = "Too many attempts"
    next_step = "Wait a little, then try again."

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        seconds = max(1, int(retry_after_seconds))
        super().__init__(
            detail or f"Try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
            extra={"retry_after": seconds},
        )
        self.retry_after_seconds = seconds


class InternalError(HTTPProblem):
    """What an unexpected exception becomes on its way to the client: no internals, a request id."""


class ServiceUnavailable(HTTPProblem):
    status = 503
    code = "service-unavailable"
    title = "The service is unavailable for a moment"
    next_step = "Try again in a few seconds."
