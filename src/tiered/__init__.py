"""tiered: web backends on FastAPI that work for every client and get better for capable ones.

The public API is what this module exports; everything else may change between releases.

Example::

    app = FastAPI()
    tiered.install(app, template_dirs=("templates",))

    @app.get("/hello/{name}")
    @tiered.view("hello.html", block="greeting")
    async def hello(name: str) -> Greeting:
        return Greeting(name=name)

    # The same in one decorator: tiered.route is @app.get with @tiered.view.
    @tiered.route(app, "/hi/{name}", "hello.html", block="greeting")
    async def hi(name: str) -> Greeting:
        return Greeting(name=name)
"""

from tiered.asgi.context import Flash, client_of, flash, get_cookie, session_of, set_cookie
from tiered.asgi.idempotency import (
    IdempotencyStore,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
    StoredResponse,
)
from tiered.asgi.runtime import Runtime, csrf_exempt, safe_next
from tiered.asgi.sessions import MemorySessionStore, Session, SessionStore
from tiered.core.capabilities import Client, HtmxRequest, read_client
from tiered.core.conditional import EntityTags, entity_tags
from tiered.core.errors import (
    BadRequest,
    Conflict,
    CsrfFailed,
    Forbidden,
    FormTooLarge,
    HTTPProblem,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ImproperlyConfigured,
    MalformedBody,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RequestTimeout,
    ServiceUnavailable,
    TieredError,
    TooManyRequests,
    Unauthorized,
    UnknownVersion,
    UnsupportedMediaType,
    ValidationFailed,
)
from tiered.core.flags import Condition, FlagDefinition, Rule, flag_to_data, parse_flag
from tiered.core.forms import FieldError, FormState
from tiered.core.negotiation import Negotiated, Representation, negotiate
from tiered.core.tiers import Reason, Tier, TierPolicy
from tiered.core.versions import ApiVersion, JsonVersions
from tiered.fastapi.install import install
from tiered.fastapi.openapi import raises
from tiered.fastapi.routing import route
from tiered.fastapi.views import ClientDep, Done, form, read_body, view
from tiered.flags.guard import GuardedProvider
from tiered.flags.provider import FlagOverrideStore, MemoryOverrideStore, TieredProvider
from tiered.flags.runtime import Flags, flag
from tiered.live import LiveBus, LiveEvent, LiveSettings, LiveStreams, MemoryLiveBus, RedisLiveBus
from tiered.settings import TieredSettings
from tiered.telemetry import MemoryTelemetryStore, RedisTelemetryStore, Telemetry, TelemetryStore

__version__ = "0.1.0"

__all__ = [
    "ApiVersion",
    "BadRequest",
    "Client",
    "ClientDep",
    "Condition",
    "Conflict",
    "CsrfFailed",
    "Done",
    "EntityTags",
    "FieldError",
    "FlagDefinition",
    "FlagOverrideStore",
    "Flags",
    "Flash",
    "Forbidden",
    "FormState",
    "FormTooLarge",
    "GuardedProvider",
    "HTTPProblem",
    "HtmxRequest",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "ImproperlyConfigured",
    "JsonVersions",
    "LiveBus",
    "LiveEvent",
    "LiveSettings",
    "LiveStreams",
    "MalformedBody",
    "MemoryIdempotencyStore",
    "MemoryLiveBus",
    "MemoryOverrideStore",
    "MemorySessionStore",
    "MemoryTelemetryStore",
    "MethodNotAllowed",
    "Negotiated",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Reason",
    "RedisIdempotencyStore",
    "RedisLiveBus",
    "RedisTelemetryStore",
    "Representation",
    "RequestTimeout",
    "Rule",
    "Runtime",
    "ServiceUnavailable",
    "Session",
    "SessionStore",
    "StoredResponse",
    "Telemetry",
    "TelemetryStore",
    "Tier",
    "TierPolicy",
    "TieredError",
    "TieredProvider",
    "TieredSettings",
    "TooManyRequests",
    "Unauthorized",
    "UnknownVersion",
    "UnsupportedMediaType",
    "ValidationFailed",
    "client_of",
    "csrf_exempt",
    "entity_tags",
    "flag",
    "flag_to_data",
    "flash",
    "form",
    "get_cookie",
    "install",
    "negotiate",
    "parse_flag",
    "raises",
    "read_body",
    "read_client",
    "route",
    "safe_next",
    "session_of",
    "set_cookie",
    "view",
]
