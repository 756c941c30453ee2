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
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from endpoints.errors import (
    InvocationError,
    RetriesExhaustedError,
    RetryableError,
    ThrottledError,
    TransportError,
)

__all__ = ["RetryPolicy", "RetryState"]


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
    """

    max_attempts: int = 8
    max_elapsed_s: float = 600.0
    backoff_base_s: float = 0.1
    backoff_max_s: float = 20.0
    retry_transport_errors: bool = True
    paced_throttles: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff times must not be negative")

    def is_retryable(self, error: InvocationError) -> bool:
        if isinstance(error, TransportError):
            return self.retry_transport_errors
        return isinstance(error, RetryableError)

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
        if not self.policy.is_retryable(error):
            raise error
        throttled = self.policy.paced_throttles and isinstance(error, ThrottledError)
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
