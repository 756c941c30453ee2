"""Time as the engine sees it: one object to read the clock and to sleep.

Retries and pacing wait; tests must not. Every part that waits takes a :class:`Clock`, and
tests pass a fake one that jumps forward instead of sleeping (botocore's retry tests do the
same), so a backoff of minutes is checked in microseconds.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""

    def sleep(self, seconds: float) -> None:
        """Waits ``seconds``."""


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.sleep``."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
