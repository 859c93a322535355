"""tiered's public API is exactly what ``tiered.__all__`` lists (as httpx's test_exported_members).

A change to this list is a change to the public API: say so in CHANGELOG.md.
"""

from __future__ import annotations

import tiered

PUBLIC_NAMES = [
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


def test_all_lists_exactly_the_public_names() -> None:
    assert tiered.__all__ == PUBLIC_NAMES


def test_every_exported_name_exists() -> None:
    missing = [name for name in tiered.__all__ if not hasattr(tiered, name)]

    assert missing == []


def test_no_other_public_names_leak() -> None:
    exported = set(tiered.__all__)
    leaked = [
        name
        for name in vars(tiered)
        if not name.startswith(("_", "@"))  # "@py_builtins": pytest rewrites its plugins' asserts
        and name not in exported
        # The subpackages themselves appear as attributes once imported.
        and name
        not in {
            "asgi",
            "core",
            "fastapi",
            "flags",
            "jinja",
            "live",
            "settings",
            "telemetry",
            "testing",
        }
    ]

    assert leaked == []


def test_exported_errors_share_one_root() -> None:
    errors = [
        getattr(tiered, name)
        for name in tiered.__all__
        if isinstance(getattr(tiered, name), type) and issubclass(getattr(tiered, name), Exception)
    ]

    assert errors
    assert all(issubclass(error, tiered.TieredError) for error in errors)
    assert all(
        issubclass(error, tiered.HTTPProblem)
        for error in errors
        if error not in (tiered.TieredError, tiered.ImproperlyConfigured)
    )


def test_version_is_a_string() -> None:
    assert isinstance(tiered.__version__, str)
