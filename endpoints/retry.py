"""One retry policy for every endpoint kind: what to retry, and how long to wait.

A :class:`RetryPolicy` is an immutable value (safe to share between threads and to ship
to executors). Each request keeps its own :class:`RetryState`; ``next_delay`` either
returns the seconds to sleep before the next attempt or raises
:class:`~endpoints.errors.RetriesExhaustedError` with the last failure chained.

Backoff is exponential with full jitter (sleep a uniform random time between 0 and
``min(backoff_max, backoff_base * 2**attempt)``), the scheme AWS recommends because it
spreads a cluster's retries instead of synchronising them; a server's ``Retry-After`` is a
floor under that, honoured in full as long as it fits in ``max_elapsed_s``.

Throttles are different where the caller paces its requests itself (``paced_throttles``:
the scoring engine, whose in-flight window halves and, below one, pauses): they say "too
many at once", not "this request failed". A job offered more concurrency than its endpoint
serves meets them all the time, so they then never use up ``max_attempts`` — only the time
budget ``max_elapsed_s`` ends them — and wait for no backoff of their own, only for the
server's ``Retry-After``. Sequential callers (the control plane, cleanup) leave it off.

:func:`call_with_retries` is the one loop that applies a policy, used by the scoring engine
(around its in-flight window) and by every control-plane call of hosting and cleanup.
What counts as a throttle or a retryable failure is decided once, by
:mod:`endpoints.failures`, with the code sets a policy may extend, as botocore's are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from endpoints.errors import (
    InvocationError,
    RetriesExhaustedError,
    RetryableError,
    ThrottledError,
    TransportError,
)
from endpoints.failures import THROTTLING_CODES

__all__ = ["RetryPolicy", "RetryState", "call_with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed request is retried.

    Args:
        max_attempts: attempts per request, the first included; throttled attempts do not
            count (see the module docstring).
        max_elapsed_s: no new attempt starts after this many seconds from the first.
        backoff_base_s: the first backoff ceiling; doubles per attempt.
        backoff_max_s: the largest backoff ceiling.
        retry_transport_errors: retry timeouts and dropped connections (the endpoint may
            have run the request: inference must be idempotent, which it is for models).
        paced_throttles: throttles neither count toward ``max_attempts`` nor back off: the
            caller's window paces them (see the module docstring).
        throttling_codes: error codes that mean "slow down" whatever their status (a 429 or
            503 always does); extend them for a server with codes of its own.
        retryable_codes: further error codes worth another attempt with backoff (a 4xx a
            server uses for a transient state, say).
    """

    max_attempts: int = 8
    max_elapsed_s: float = 600.0
    backoff_base_s: float = 0.1
    backoff_max_s: float = 20.0
    retry_transport_errors: bool = True
    paced_throttles: bool = False
    throttling_codes: frozenset[str] = THROTTLING_CODES
    retryable_codes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff times must not be negative")
        # lists and sets from a caller (or a saved Param) become hashable, immutable sets
        object.__setattr__(self, "throttling_codes", frozenset(self.throttling_codes))
        object.__setattr__(self, "retryable_codes", frozenset(self.retryable_codes))

    def is_throttle(self, error: InvocationError) -> bool:
        """A "slow down": a :class:`ThrottledError`, or a code this policy names so."""
        return isinstance(error, ThrottledError) or error.code in self.throttling_codes

    def is_retryable(self, error: InvocationError) -> bool:
        if isinstance(error, TransportError):
            return self.retry_transport_errors
        return (
            isinstance(error, RetryableError)
            or self.is_throttle(error)
            or error.code in self.retryable_codes
        )

    def backoff_ceiling(self, retry_number: int) -> float:
        """The largest sleep before retry ``retry_number`` (1 = first retry)."""
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** (retry_number - 1)))

    def new_state(
        self, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ) -> RetryState:
        # one generator for the process: seeding a new one per request costs more than the
        # request's own bookkeeping, and jitter needs no independence between requests
        return RetryState(self, clock, rng or _JITTER)


_JITTER = random.Random()


@dataclass
class RetryState:
    """The attempts of one request: counts them and decides each wait."""

    policy: RetryPolicy
    clock: Callable[[], float]
    rng: random.Random
    attempts: int = 0
    throttles: int = 0
    history: list[str] = field(default_factory=list)
    started_at: float | None = None

    def begin_attempt(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock()
        self.attempts += 1

    def next_delay(self, error: InvocationError) -> float:
        """Seconds to wait before retrying after ``error``; raises when we must stop."""
        self.history.append(error.code or error.kind)
        error.attempts = self.attempts
        if not self.policy.is_retryable(error):
            raise error
        throttled = self.policy.paced_throttles and self.policy.is_throttle(error)
        self.throttles += throttled
        failures = self.attempts - self.throttles
        if failures >= self.policy.max_attempts:
            raise RetriesExhaustedError(
                error, self.attempts, f"max_attempts={self.policy.max_attempts}"
            ) from error
        jitter = 0.0 if throttled else self.rng.uniform(0.0, self.policy.backoff_ceiling(failures))
        # 429, 503 and some 500s say how long to wait: honoured in full (retrying sooner
        # only earns another refusal), within the request's time budget
        delay = max(jitter, error.retry_after or 0.0)
        started = self.started_at if self.started_at is not None else self.clock()
        elapsed = self.clock() - started
        if elapsed + delay > self.policy.max_elapsed_s:
            reason = f"max_elapsed_s={self.policy.max_elapsed_s:g}"
            if elapsed + jitter <= self.policy.max_elapsed_s:  # only the server's wait is over
                reason = f"Retry-After {delay:g}s would pass {reason}"
            raise RetriesExhaustedError(error, self.attempts, reason) from error
        return delay

    def __repr__(self) -> str:
        return f"RetryState(attempts={self.attempts}, history={self.history})"


def call_with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    translate: Callable[[Exception], InvocationError | None] | None = None,
    on_failure: Callable[[InvocationError], None] | None = None,
    on_retry: Callable[[InvocationError, float, RetryState], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """``attempt()`` until it returns, retrying the failures ``policy`` retries.

    ``translate`` turns a backend's exception into an :class:`InvocationError` (``None``:
    not a failure of the service, so it propagates untouched); ``on_failure`` sees every
    failed attempt, ``on_retry`` every retry with the delay about to be slept. Raises the
    last failure when it is not retryable, or :class:`RetriesExhaustedError` chaining it;
    either carries ``attempts``. ``rng`` seeds the jitter (tests).
    """
    state = policy.new_state(clock, rng)
    while True:
        state.begin_attempt()
        try:
            return attempt()
        except InvocationError as exc:
            error = exc
        except Exception as exc:
            translated = translate(exc) if translate is not None else None
            if translated is None:
                raise
            translated.__cause__ = exc
            error = translated
        if on_failure is not None:
            on_failure(error)
        delay = state.next_delay(error)
        if on_retry is not None:
            on_retry(error, delay, state)
        if delay > 0:
            sleep(delay)
