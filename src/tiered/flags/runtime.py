"""``Flags``: feature flags for one app, evaluated through OpenFeature with the request's client.

Give ``tiered.install(app, flags=Flags("flags.toml"))`` the app's declarations; then a template
asks ``{% if flag("inline_edit") %}`` and Python asks ``tiered.flag(request, "inline_edit")``.
The OpenFeature evaluation context is filled from the request automatically: the targeting key
is the user (when the app says who that is) or an anonymous visitor's stable key, and the
attributes are the client's tier, reasons, Save-Data, network class and whether JavaScript is
confirmed, plus what the app adds. Each flag is evaluated at most once per request, so a page
that asks twice shows one consistent answer.

Any OpenFeature provider can replace tiered's (``Flags(..., provider=FlagdProvider())``); it is
then wrapped in :class:`~tiered.flags.guard.GuardedProvider`, so a slow or failing provider costs
a request at most the deadline and yields the declared default. A request never fails because of
a flag.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext, get_evaluation_context
from openfeature.hook import get_hooks
from openfeature.provider import FeatureProvider, ProviderStatus
from openfeature.transaction_context import get_transaction_context
from starlette.requests import HTTPConnection

from tiered.asgi.context import RequestContext, context_of
from tiered.core.errors import ImproperlyConfigured
from tiered.core.flags import AttributeValue, FlagDefinition, parse_flags
from tiered.flags.guard import GuardedProvider
from tiered.flags.provider import FlagOverrideStore, TieredProvider

logger = logging.getLogger("tiered.flags")

SubjectKey = Callable[[HTTPConnection], str | None]
Attributes = Callable[[HTTPConnection], Mapping[str, AttributeValue]]
EvaluationListener = Callable[[str, str, str], None]
"""Called with (flag key, variant, reason) for every evaluation: telemetry hooks in here."""


class Flags:
    """An app's feature flags (see the module docstring)."""

    def __init__(
        self,
        definitions: Mapping[str, FlagDefinition] | str | Path,
        *,
        overrides: FlagOverrideStore | None = None,
        provider: FeatureProvider | None = None,
        deadline_seconds: float = 0.05,
        subject_key: SubjectKey | None = None,
        attributes: Attributes | None = None,
        refresh_seconds: float = 2.0,
    ) -> None:
        if isinstance(definitions, str | Path):
            definitions = load_flags_file(Path(definitions))
        self.definitions = dict(definitions)
        self.tiered_provider = TieredProvider(
            self.definitions, overrides, refresh_seconds=refresh_seconds
        )
        self.provider: FeatureProvider = (
            self.tiered_provider
            if provider is None
            else GuardedProvider(provider, deadline_seconds=deadline_seconds)
        )
        # A domain of its own, so two apps in one process (tests) never share a provider.
        self.domain = f"tiered-{id(self):x}"
        api.set_provider(self.provider, domain=self.domain)
        self.client = api.get_client(self.domain)
        self._subject_key = subject_key
        self._attributes = attributes
        self._refresh_seconds = refresh_seconds
        self._refresher: asyncio.Task[None] | None = None
        self.evaluations: Counter[tuple[str, str]] = Counter()
        """Evaluations so far in this process, by (flag key, variant)."""
        self.listeners: list[EvaluationListener] = []

    def is_enabled(self, connection: HTTPConnection, key: str) -> bool:
        """Whether flag ``key`` is on for this request's visitor (evaluated once per request)."""
        ctx = context_of(connection)
        cache = ctx.flag_values
        if cache is None:
            cache = ctx.flag_values = {}
        elif key in cache:
            return cache[key]
        flag = self.definitions.get(key)
        if flag is None:
            raise ImproperlyConfigured(
                f"No flag {key!r} is declared; declared flags: "
                f"{', '.join(sorted(self.definitions))}."
            )
        self._ensure_refresher()
        value, reason = self._resolve(key, flag.default, self._context(connection, ctx))
        cache[key] = value
        variant = "on" if value else "off"
        self.evaluations[(key, variant)] += 1
        for listener in self.listeners:
            try:
                listener(key, variant, reason)
            except Exception:  # telemetry must never fail a request
                logger.exception("A flag evaluation listener failed")
        return value

    def _resolve(self, key: str, default: bool, context: EvaluationContext) -> tuple[bool, str]:
        """The flag's value and OpenFeature's reason (lower case).

        With tiered's own provider, and nothing the OpenFeature client would add to an
        evaluation (hooks; an API, transaction or client evaluation context), tiered's provider
        is asked directly: the client's machinery (a hook context per hook list, four context
        merges, metadata) costs about 22 µs a flag on the bench machine (three flags add 141 µs
        to a request through the client, 75 µs directly). Whatever is registered with
        OpenFeature, or any other provider, goes through the client, and so does an answer with
        an error, so errors are reported the OpenFeature way.
        """
        if self._direct():
            try:
                resolved = self.tiered_provider.resolve_boolean_details(key, default, context)
            except Exception:  # noqa: S110 (the client below handles and logs it)
                pass
            else:
                if resolved.error_code is None:
                    return bool(resolved.value), str(resolved.reason or "unknown").lower()
        details = self.client.get_boolean_details(key, default, context)
        return bool(details.value), str(details.reason or "unknown").lower()

    def _direct(self) -> bool:
        return (
            self.provider is self.tiered_provider
            and not get_hooks()
            and not self.client.hooks
            and not self.tiered_provider.get_provider_hooks()
            and _is_empty(get_evaluation_context())
            and _is_empty(get_transaction_context())
            and _is_empty(self.client.context)
            and self.client.get_provider_status() is ProviderStatus.READY
        )

    def _context(self, connection: HTTPConnection, ctx: RequestContext) -> EvaluationContext:
        """The request's evaluation context, built once and reused by its other flags.

        Rebuilt only if the subject changed meanwhile (a handler's dependency may log the user
        in after a flag was asked for).
        """
        subject = self._subject_key(connection) if self._subject_key is not None else None
        cached = ctx.flag_context
        if cached is not None and cached[0] == subject:
            reused: EvaluationContext = cached[1]
            return reused
        context = self._build_context(connection, ctx, subject)
        ctx.flag_context = (subject, context)
        return context

    def _build_context(
        self, connection: HTTPConnection, ctx: RequestContext, subject: str | None
    ) -> EvaluationContext:
        client = ctx.client
        if "slow-network" in client.reasons:
            network = "slow"
        elif (
            client.ect is not None or client.rtt_ms is not None or client.downlink_mbps is not None
        ):
            network = "fast"
        else:
            network = "unknown"
        attributes: dict[str, Any] = {
            "tier": client.tier,
            "reasons": list(client.reasons),
            "save_data": client.save_data,
            "network": network,
            "js_confirmed": client.js_confirmed,
        }
        if client.mobile is not None:
            attributes["mobile"] = client.mobile
        if self._attributes is not None:
            for name, value in self._attributes(connection).items():
                attributes[name] = list(value) if isinstance(value, tuple) else value
        return EvaluationContext(targeting_key=subject or ctx.visitor_key(), attributes=attributes)

    async def refresh(self) -> None:
        """Reload overrides now (after an admin changed a flag in this process)."""
        await self.tiered_provider.refresh(force=True)

    def _ensure_refresher(self) -> None:
        if self._refresher is not None and not self._refresher.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refresher = loop.create_task(self._refresh_forever())

    async def aclose(self) -> None:
        """Stop reloading overrides in the background (``install`` calls this at shutdown,
        before the app's own teardown closes what the override store reads from): a refresh
        cut off by the event loop's end would leave its database connection to the garbage
        collector, unclosed."""
        refresher, self._refresher = self._refresher, None
        if refresher is None or refresher.done():
            return
        refresher.cancel()
        if refresher.get_loop() is asyncio.get_running_loop():
            await asyncio.wait({refresher})  # waits for it to end; its CancelledError stays its own

    async def _refresh_forever(self) -> None:
        while True:
            await self.tiered_provider.refresh()
            await asyncio.sleep(self._refresh_seconds)


def _is_empty(context: EvaluationContext) -> bool:
    return context.targeting_key is None and not context.attributes


def load_flags_file(path: Path) -> dict[str, FlagDefinition]:
    """Flag declarations from a TOML file (see :mod:`tiered.core.flags` for the format)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImproperlyConfigured(f"The flags file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfigured(
            f"The flags file {str(path)!r} is not valid TOML: {exc}."
        ) from None
    return parse_flags(document)


def flag(connection: HTTPConnection, key: str) -> bool:
    """Whether flag ``key`` is on for this request.

    Example::

        if tiered.flag(request, "inline_edit"):
            ...
    """
    flags = context_of(connection).runtime.flags
    if flags is None:
        raise ImproperlyConfigured(
            "No flags are configured: pass flags=tiered.Flags('flags.toml') to tiered.install()."
        )
    return flags.is_enabled(connection, key)
