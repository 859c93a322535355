"""A deadline around another OpenFeature provider, so a slow or broken one never holds a request.

tiered's own provider answers from memory. A provider that talks to a service (flagd, Unleash,
a vendor's SDK) may block; wrapped in :class:`GuardedProvider`, each evaluation runs on a small
thread pool and the request waits at most ``deadline_seconds`` before using the default value.
When every worker is busy with a stuck call, new evaluations get the default at once rather
than queue behind it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, FeatureProvider, Metadata

logger = logging.getLogger("tiered.flags")

T = TypeVar("T")


class GuardedProvider(AbstractProvider):
    """Wraps ``inner`` with a deadline per evaluation and a bound on stuck calls."""

    def __init__(
        self, inner: FeatureProvider, *, deadline_seconds: float = 0.05, max_workers: int = 4
    ) -> None:
        super().__init__()
        self.inner = inner
        self.deadline_seconds = deadline_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tiered-flags")
        self._max_workers = max_workers
        self._in_flight = 0
        self._lock = threading.Lock()
        self.failures = 0
        """Evaluations that fell back to the default (timeouts, errors, saturation)."""

    def get_metadata(self) -> Metadata:
        return Metadata(name=f"guarded({self.inner.get_metadata().name})")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.inner.shutdown()

    def _guarded(
        self, call: Callable[[], FlagResolutionDetails[T]], flag_key: str, default_value: T
    ) -> FlagResolutionDetails[T]:
        with self._lock:
            if self._in_flight >= self._max_workers:
                return self._fallback(flag_key, default_value, "every flag worker is busy")
            self._in_flight += 1

        def run() -> FlagResolutionDetails[T]:
            try:
                return call()
            finally:
                with self._lock:
                    self._in_flight -= 1

        future = self._pool.submit(run)
        try:
            return future.result(timeout=self.deadline_seconds)
        except FutureTimeout:
            return self._fallback(
                flag_key, default_value, f"no answer within {self.deadline_seconds * 1000:.0f} ms"
            )
        except Exception as exc:
            return self._fallback(flag_key, default_value, f"{type(exc).__name__}: {exc}")

    def _fallback(self, flag_key: str, default_value: T, why: str) -> FlagResolutionDetails[T]:
        self.failures += 1
        logger.warning("Flag %r fell back to its default: %s", flag_key, why)
        return FlagResolutionDetails(
            value=default_value,
            reason=Reason.ERROR,
            error_code=ErrorCode.GENERAL,
            error_message=why,
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._guarded(
            lambda: self.inner.resolve_boolean_details(flag_key, default_value, evaluation_context),
            flag_key,
            default_value,
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._guarded(
            lambda: self.inner.resolve_string_details(flag_key, default_value, evaluation_context),
            flag_key,
            default_value,
        )

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._guarded(
            lambda: self.inner.resolve_integer_details(flag_key, default_value, evaluation_context),
            flag_key,
            default_value,
        )

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._guarded(
            lambda: self.inner.resolve_float_details(flag_key, default_value, evaluation_context),
            flag_key,
            default_value,
        )

    def resolve_object_details(
        self, flag_key: str, default_value: Any, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[Any]:
        return self._guarded(
            lambda: self.inner.resolve_object_details(flag_key, default_value, evaluation_context),
            flag_key,
            default_value,
        )
