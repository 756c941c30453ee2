"""The adaptive in-flight window: additive increase, multiplicative decrease (AIMD).

Each partition sends at most ``limit`` requests at once. A throttling answer halves the
limit; every success adds ``1 / limit``, so a full window of successes adds one — the
TCP congestion-control rule, which lets thousands of independent tasks share an endpoint
without coordinating: when it pushes back they all back off, and they grow back slowly.

Only one decrease per "generation" counts: the requests already in flight when the limit
was halved were sent under the old limit, so their throttles say nothing new. Without this,
a burst of throttled answers from one window would collapse the limit to 1.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["AdaptiveWindow", "WindowTicket"]


@dataclass(frozen=True)
class WindowTicket:
    """Proof of one slot, with the generation it was granted in."""

    generation: int


class AdaptiveWindow:
    def __init__(self, max_limit: int, *, min_limit: int = 1, initial: int | None = None):
        if max_limit < 1 or min_limit < 1 or min_limit > max_limit:
            raise ValueError(
                f"need 1 <= min_limit <= max_limit, got min={min_limit} max={max_limit}"
            )
        self.max_limit = max_limit
        self.min_limit = min_limit
        self._limit = float(initial if initial is not None else max_limit)
        self._in_flight = 0
        self._generation = 0
        self._cond = threading.Condition()
        self.decreases = 0
        self.lowest = int(self._limit)
        self.peak_in_flight = 0

    @property
    def limit(self) -> int:
        return max(self.min_limit, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self, timeout: float | None = None) -> WindowTicket:
        """Blocks until a slot is free under the current limit."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight < self.limit, timeout):
                raise TimeoutError("no in-flight slot became free")
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return WindowTicket(self._generation)

    def release(self, ticket: WindowTicket, *, throttled: bool = False, ok: bool = False) -> None:
        """Frees the slot; ``throttled`` halves the limit, ``ok`` grows it."""
        with self._cond:
            self._in_flight -= 1
            if throttled and ticket.generation == self._generation:
                halved = max(float(self.min_limit), self._limit / 2)
                if halved < self._limit:  # at the floor already, nothing decreases
                    self._limit = halved
                    self._generation += 1
                    self.decreases += 1
                    self.lowest = min(self.lowest, self.limit)
            elif ok:
                self._limit = min(float(self.max_limit), self._limit + 1.0 / max(self._limit, 1))
            self._cond.notify_all()

    def __repr__(self) -> str:
        return (
            f"AdaptiveWindow(limit={self.limit}, max={self.max_limit}, "
            f"in_flight={self._in_flight}, decreases={self.decreases})"
        )
