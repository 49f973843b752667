"""RetryPolicy: what is retried, how long to wait, and how much in total (tenacity underneath).

Only idempotent requests are retried (every GET; a POST only when the caller marks it safe). Retried:
[`TransportError`][amili_async.errors.TransportError] (connection failures, resets, timeouts) and
the statuses in ``retry_statuses`` (429, 502, 503, 504 by default; add 500 if your deployment's 500s
are transient). ``asyncio.CancelledError`` is never retried: the retryable errors are listed, not
caught wholesale. A 429's ``Retry-After`` also holds back the client's other requests (see the
transport).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import tenacity

from .errors import AmiliError, APIError, TransportError

__all__ = ["RetryHook", "RetryPolicy"]

logger = logging.getLogger("amili_async.transport")

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
# Called before each retry's sleep with (attempt that failed, its error, seconds to sleep).
RetryHook = Callable[[int, AmiliError, float], None]

DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How the client retries a failed idempotent request.

    Attributes:
        max_attempts: Attempts in all, the first included (``1`` disables retries).
        initial_backoff: The first backoff in seconds; it doubles on each retry...
        max_backoff: ...up to this many seconds.
        jitter: Each backoff is shortened by a random fraction up to this (0.25 = up to 25 %), so
            many clients failing together do not retry together.
        max_retry_after: A ``Retry-After`` up to this many seconds is waited for exactly; a longer one
            ends the retries and the error (with ``retry_after``) reaches the caller, who can
            schedule the work later instead of holding a task for minutes.
        total_timeout: The time budget in seconds for the whole call: every attempt's own time and
            every sleep between them. When it runs out mid-attempt the attempt is cancelled and a
            [`TimeoutError`][amili_async.TimeoutError] raised; a retry whose sleep would end past it
            is not made. ``None``: no bound beyond ``max_attempts`` and the per-attempt timeout.
        retry_statuses: The HTTP statuses that are retried.
        retry_transport_errors: Whether connection failures and timeouts are retried.
        sleep: The coroutine used to wait (inject a fake one in tests).
    """

    max_attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    total_timeout: float | None = 600.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_transport_errors: bool = True
    sleep: Sleep = dataclasses.field(default=asyncio.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.total_timeout is not None and not self.total_timeout > 0:
            raise ValueError("total_timeout must be positive (or None)")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt under this policy."""
        if isinstance(error, TransportError):
            return self.retry_transport_errors
        return isinstance(error, APIError) and error.status in self.retry_statuses

    def backoff(self, retry_number: int) -> float:
        """The jittered exponential backoff before retry number ``retry_number`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** (retry_number - 1))
        return ceiling * (1 - self.jitter * random.random())

    def delay_for(self, error: BaseException, retry_number: int) -> float:
        """How long to wait before the next attempt: the server's ``Retry-After`` when it sent one,
        otherwise the backoff."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.backoff(retry_number)

    def without_retries(self) -> RetryPolicy:
        """This policy with one attempt only (same time budget and sleep): for requests that are
        not safe to repeat."""
        return dataclasses.replace(self, max_attempts=1)

    def retrying(
        self, on_retry: RetryHook | None = None, *, label: str = "", started: float | None = None
    ) -> tenacity.AsyncRetrying:
        """A new tenacity controller applying this policy (one per call: tenacity keeps per-call
        state on it). ``label`` names the call in the retry log lines; ``started`` (a
        ``time.monotonic()`` reading) is when the call began, when that was before the
        controller's first attempt: the time budget counts from there."""
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(self.is_retryable),
            wait=self._wait,
            stop=functools.partial(self._stop, started=started),
            sleep=self.sleep,
            before_sleep=_before_sleep(on_retry, label),
            reraise=True,
        )

    async def run(
        self,
        attempt: Callable[..., Awaitable[T]],
        *args: Any,
        on_retry: RetryHook | None = None,
        label: str = "",
    ) -> T:
        """Await ``attempt(*args)`` (a coroutine function) until it succeeds or the policy gives
        up. The waits respect ``total_timeout``; bounding an attempt in flight is the attempt's
        business (the client's transport ends it when the call's ``total_timeout`` runs out).

        Raises:
            AmiliError: The last attempt's error.
        """
        started = time.monotonic()
        try:
            return await attempt(*args)  # most calls succeed at once: no controller is built
        except AmiliError as error:
            if self.max_attempts < 2 or not self.is_retryable(error):
                raise
            first_failure = [error]

        async def replayed_then_attempted(*call_args: Any) -> T:
            # The controller's first attempt is the one already made: its failure takes the same
            # wait, stop and hooks as every later one, through tenacity's public API.
            if first_failure:
                raise first_failure.pop()
            return await attempt(*call_args)

        retrying = self.retrying(on_retry, label=label, started=started)
        result: T = await retrying(replayed_then_attempted, *args)
        return result

    def _wait(self, state: tenacity.RetryCallState) -> float:
        return self.delay_for(_failure(state), state.attempt_number)

    def _stop(self, state: tenacity.RetryCallState, *, started: float | None) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        retry_after = getattr(_failure(state), "retry_after", None)
        if retry_after is not None and retry_after > self.max_retry_after:
            return True
        # With an injected sleep no wall time passes, so count the time slept as well.
        if self.total_timeout is None:
            return False
        since_start = state.seconds_since_start if started is None else time.monotonic() - started
        elapsed = max(since_start or 0.0, state.idle_for)
        return elapsed + state.upcoming_sleep > self.total_timeout


def _failure(state: tenacity.RetryCallState) -> BaseException:
    assert state.outcome is not None  # tenacity calls wait/stop only after an attempt
    error = state.outcome.exception()
    assert error is not None  # only failures are retried
    return error


def _before_sleep(
    on_retry: RetryHook | None, label: str
) -> Callable[[tenacity.RetryCallState], None]:
    def log_retry(state: tenacity.RetryCallState) -> None:
        error = _failure(state)
        assert isinstance(error, AmiliError)
        logger.info(
            "[%s] retrying %s %s after attempt %d failed: %s (request id %s); sleeping %.2fs",
            label,
            error.method,
            error.url,
            state.attempt_number,
            _reason(error),
            error.request_id,
            state.upcoming_sleep,
        )
        if on_retry is not None:
            on_retry(state.attempt_number, error, state.upcoming_sleep)

    return log_retry


def _reason(error: AmiliError) -> str:
    if isinstance(error, APIError):
        return f"HTTP {error.status}"
    return f"{type(error).__name__}: {error.message}"
