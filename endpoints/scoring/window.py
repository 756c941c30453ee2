"""The adaptive in-flight window: additive increase, multiplicative decrease (AIMD), with a
floor of zero.

Each partition keeps at most ``limit`` requests in flight. A throttling answer multiplies
the limit by ``decrease`` (a half by default, TCP's factor); every success adds
``increase / limit``, so a full window of successes adds ``increase`` — the TCP
congestion-control rule, which lets many independent tasks share an
endpoint without coordinating: when it pushes back they all back off, and they grow back
slowly.

The limit may fall below one. A cluster can run more tasks than its endpoint serves
requests (32 tasks against 16 model workers): one request in flight per task is then still
too many, and each task must also *pause*. Below one, the window keeps one request in
flight and, after each, waits ``latency * (1 / limit - 1)`` (jittered, the latency being a
running average of successful requests), so the task's average concurrency is ``limit``.
A refused request costs the endpoint almost nothing; the pause is what makes room.

Only one decrease per "generation" counts: the requests already in flight when the limit
was halved were sent under the old limit, so their throttles say nothing new. Without this,
a burst of throttled answers from one window would collapse the limit at once.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from endpoints.clock import SYSTEM_CLOCK, Clock

__all__ = ["AdaptiveWindow", "WindowTicket"]

#: The latency assumed for pauses before any request has succeeded.
_INITIAL_LATENCY_S = 0.1
_LATENCY_SMOOTHING = 0.2


@dataclass(frozen=True)
class WindowTicket:
    """Proof of one slot, with the generation it was granted in."""

    generation: int


class AdaptiveWindow:
    def __init__(
        self,
        max_limit: float,
        *,
        min_limit: float = 1.0,
        initial: float | None = None,
        increase: float = 1.0,
        decrease: float = 0.5,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < min_limit <= max_limit:
            raise ValueError(
                f"need 0 < min_limit <= max_limit, got min={min_limit} max={max_limit}"
            )
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.increase = increase
        self.decrease = decrease
        self.clock = clock
        self._rng = rng or random.Random()
        self._level = float(initial if initial is not None else max_limit)
        self._in_flight = 0
        self._generation = 0
        self._resume_at = 0.0
        self._latency_s = _INITIAL_LATENCY_S
        self._cond = threading.Condition()
        self.decreases = 0
        self.lowest = self._level
        self.peak_in_flight = 0
        self.paused_s = 0.0

    @property
    def level(self) -> float:
        """The limit as a number: below one, the share of time a request is in flight."""
        return self._level

    @property
    def limit(self) -> int:
        """Requests allowed in flight at once (one, while the level is below one)."""
        return max(1, int(self._level))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self, timeout: float | None = None) -> WindowTicket:
        """Blocks until a slot is free under the current limit and any pause is over."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight < self.limit, timeout):
                raise TimeoutError("no in-flight slot became free")
            pause = self._resume_at - self.clock.monotonic()
            while pause > 0:
                # hold the slot through the pause: a paused task sends nothing
                self._in_flight += 1
                self._cond.release()
                try:
                    self.clock.sleep(pause)
                finally:
                    self._cond.acquire()
                    self._in_flight -= 1
                self.paused_s += pause
                pause = self._resume_at - self.clock.monotonic()
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return WindowTicket(self._generation)

    def release(
        self,
        ticket: WindowTicket,
        *,
        throttled: bool = False,
        ok: bool = False,
        latency_s: float | None = None,
    ) -> None:
        """Frees the slot; ``throttled`` halves the limit, ``ok`` grows it. ``latency_s``
        of a successful request feeds the pause taken while the level is below one."""
        with self._cond:
            self._in_flight -= 1
            if throttled and ticket.generation == self._generation:
                lowered = max(self.min_limit, self._level * self.decrease)
                if lowered < self._level:  # at the floor already, nothing decreases
                    self._level = lowered
                    self._generation += 1
                    self.decreases += 1
                    self.lowest = min(self.lowest, lowered)
            elif ok:
                if latency_s is not None:
                    self._latency_s += _LATENCY_SMOOTHING * (latency_s - self._latency_s)
                grown = self._level + self.increase / max(self._level, 1.0)
                self._level = min(self.max_limit, grown)
            if (ok or throttled) and self._level < 1.0:
                pause = self._latency_s * (1.0 / self._level - 1.0) * self._rng.uniform(0.5, 1.5)
                self._resume_at = max(self._resume_at, self.clock.monotonic() + pause)
            self._cond.notify_all()

    def __repr__(self) -> str:
        return (
            f"AdaptiveWindow(limit={self._level:g}, max={self.max_limit:g}, "
            f"in_flight={self._in_flight}, decreases={self.decreases})"
        )
