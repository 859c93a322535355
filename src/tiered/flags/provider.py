"""tiered's OpenFeature provider: flags declared in the app, overrides stored by the app.

The provider answers from memory, so an evaluation costs microseconds and never waits on I/O.
Overrides (changes made on an admin page) come from a :class:`FlagOverrideStore`; the provider
reloads them at most every ``refresh_seconds``, so every process of an app sees a change within
that time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from tiered.core.flags import AttributeValue, FlagDefinition, evaluate

logger = logging.getLogger("tiered.flags")

_REASONS = {
    "disabled": Reason.DISABLED,
    "targeting-match": Reason.TARGETING_MATCH,
    "split": Reason.SPLIT,
    "default": Reason.DEFAULT,
}


class FlagOverrideStore(Protocol):
    """Where run-time changes to flags are kept (the app's database, typically)."""

    async def load(self) -> Mapping[str, FlagDefinition]:
        """Every overridden flag's whole definition, by key."""


class MemoryOverrideStore:
    """Overrides in this process only: for tests and single-process apps."""

    def __init__(self) -> None:
        self.overrides: dict[str, FlagDefinition] = {}

    async def load(self) -> Mapping[str, FlagDefinition]:
        return dict(self.overrides)


class TieredProvider(AbstractProvider):
    """Evaluates boolean flags with :func:`tiered.core.flags.evaluate`."""

    def __init__(
        self,
        definitions: Mapping[str, FlagDefinition],
        overrides: FlagOverrideStore | None = None,
        *,
        refresh_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.definitions = dict(definitions)
        self._store = overrides
        self._overrides: dict[str, FlagDefinition] = {}
        self._refresh_seconds = refresh_seconds
        self._loaded_at = float("-inf")

    def get_metadata(self) -> Metadata:
        return Metadata(name="tiered")

    def current(self, key: str) -> FlagDefinition | None:
        """The definition in force for ``key``: the override if there is one."""
        return self._overrides.get(key) or self.definitions.get(key)

    async def refresh(self, *, force: bool = False) -> None:
        """Reload overrides if they are older than ``refresh_seconds`` (or ``force``)."""
        if self._store is None:
            return
        now = time.monotonic()
        if not force and now - self._loaded_at < self._refresh_seconds:
            return
        self._loaded_at = now  # also on failure: a broken store is retried later, not per request
        try:
            loaded = await self._store.load()
        except Exception:
            logger.exception("Could not load flag overrides; keeping the previous ones")
            return
        self._overrides = {k: v for k, v in loaded.items() if k in self.definitions}

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        flag = self.current(flag_key)
        if flag is None:
            return FlagResolutionDetails(
                value=default_value,
                reason=Reason.ERROR,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"No flag {flag_key!r} is declared.",
            )
        context = evaluation_context or EvaluationContext()
        attributes: dict[str, AttributeValue] = {}
        for name, value in context.attributes.items():
            if isinstance(value, str | bool | int | float):
                attributes[name] = value
            elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                attributes[name] = tuple(str(v) for v in value)
        result = evaluate(flag, context.targeting_key or "", attributes)
        return FlagResolutionDetails(
            value=result.value, reason=_REASONS[result.reason], variant=result.variant
        )

    def _unsupported(
        self, kind: str, flag_key: str, default_value: Any
    ) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(
            value=default_value,
            reason=Reason.ERROR,
            error_code=ErrorCode.TYPE_MISMATCH,
            error_message=f"tiered's flags are boolean; {flag_key!r} was asked for as {kind}.",
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._unsupported("a string", flag_key, default_value)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._unsupported("an integer", flag_key, default_value)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._unsupported("a float", flag_key, default_value)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        return self._unsupported("an object", flag_key, default_value)
