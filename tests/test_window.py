"""AdaptiveWindow: AIMD in-flight limit. Threads always wait with timeouts."""

from __future__ import annotations

import threading

import pytest

from endpoints.scoring.window import AdaptiveWindow, WindowTicket

WAIT_S = 5.0  # upper bound for anything a thread waits on; tests finish far sooner


def fill(window: AdaptiveWindow, count: int) -> list[WindowTicket]:
    return [window.acquire(timeout=WAIT_S) for _ in range(count)]


def test_starts_at_max_and_validates_bounds():
    window = AdaptiveWindow(8)
    assert (window.limit, window.in_flight, window.decreases, window.lowest) == (8, 0, 0, 8)
    assert AdaptiveWindow(8, initial=3).limit == 3
    for bad in [dict(max_limit=0), dict(max_limit=4, min_limit=5), dict(max_limit=4, min_limit=0)]:
        with pytest.raises(ValueError, match="need 0 < min_limit <= max_limit"):
            AdaptiveWindow(**bad)


def test_throttle_halves_the_limit():
    window = AdaptiveWindow(8)
    [ticket] = fill(window, 1)
    window.release(ticket, throttled=True)
    assert (window.limit, window.decreases, window.lowest, window.in_flight) == (4, 1, 4, 0)
    [ticket] = fill(window, 1)
    assert ticket.generation == 1
    window.release(ticket, throttled=True)
    assert (window.limit, window.decreases, window.lowest) == (2, 2, 2)


def test_throttles_from_one_generation_halve_once():
    window = AdaptiveWindow(8)
    tickets = fill(window, 8)
    assert {t.generation for t in tickets} == {0}
    for ticket in tickets[:6]:
        window.release(ticket, throttled=True)
    assert (window.limit, window.decreases) == (4, 1)
    for ticket in tickets[6:]:
        window.release(ticket)
    # a request sent under the new limit that is throttled too counts again
    [fresh] = fill(window, 1)
    window.release(fresh, throttled=True)
    assert (window.limit, window.decreases) == (2, 2)


def test_never_below_min_limit():
    window = AdaptiveWindow(8, min_limit=3)
    for _ in range(5):
        [ticket] = fill(window, 1)
        window.release(ticket, throttled=True)
    assert window.limit == 3
    assert window.lowest == 3
    assert window.decreases == 2  # 8 -> 4 -> 3; throttles at the floor decrease nothing


def test_additive_growth_back_to_max():
    window = AdaptiveWindow(8)
    [ticket] = fill(window, 1)
    window.release(ticket, throttled=True)
    limits = []
    for _ in range(30):
        [ticket] = fill(window, 1)
        window.release(ticket, ok=True)
        limits.append(window.limit)
    # +1/limit per success (TCP's rule): about a full window of successes adds one slot
    assert limits[:24] == [4] * 4 + [5] * 5 + [6] * 7 + [7] * 7 + [8]
    assert limits[-1] == 8  # and no further than max
    assert window.decreases == 1


def test_release_without_outcome_neither_grows_nor_shrinks():
    window = AdaptiveWindow(4, initial=2)
    for _ in range(10):
        [ticket] = fill(window, 1)
        window.release(ticket)
    assert window.limit == 2


def test_acquire_blocks_at_the_limit_until_a_release():
    window = AdaptiveWindow(2)
    tickets = fill(window, 2)
    with pytest.raises(TimeoutError, match="no in-flight slot became free"):
        window.acquire(timeout=0.05)

    got: list[WindowTicket] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        got.append(window.acquire(timeout=WAIT_S))

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    assert started.wait(WAIT_S)
    thread.join(0.1)
    assert thread.is_alive() and got == []  # still blocked: the window is full
    window.release(tickets[0], ok=True)
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert len(got) == 1
    assert window.in_flight == 2
    assert window.peak_in_flight == 2


def test_after_halving_acquire_waits_until_in_flight_drops_below_the_new_limit():
    window = AdaptiveWindow(4)
    tickets = fill(window, 4)
    window.release(tickets[0], throttled=True)  # limit 2, still 3 in flight
    with pytest.raises(TimeoutError):
        window.acquire(timeout=0.05)
    window.release(tickets[1])
    with pytest.raises(TimeoutError):
        window.acquire(timeout=0.05)  # 2 in flight, limit 2
    window.release(tickets[2])
    assert window.acquire(timeout=WAIT_S).generation == 1


def test_many_threads_never_exceed_the_limit():
    window = AdaptiveWindow(3)
    lock = threading.Lock()
    current = 0
    highest = 0
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal current, highest
        try:
            for _ in range(50):
                ticket = window.acquire(timeout=WAIT_S)
                with lock:
                    current += 1
                    highest = max(highest, current)
                with lock:
                    current -= 1
                window.release(ticket, ok=True)
        except BaseException as exc:  # surfaced below; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 2)
    assert errors == []
    assert not any(t.is_alive() for t in threads)
    assert highest <= 3
    assert window.peak_in_flight <= 3
    assert window.in_flight == 0


def test_repr():
    window = AdaptiveWindow(6)
    fill(window, 2)
    assert repr(window) == "AdaptiveWindow(limit=6, max=6, in_flight=2, decreases=0)"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_below_one_the_window_keeps_one_request_and_pauses_in_proportion():
    clock = FakeClock()
    window = AdaptiveWindow(2, min_limit=1 / 16, clock=clock)
    [ticket] = fill(window, 1)
    window.release(ticket, ok=True, latency_s=0.2)  # the running latency moves toward 0.2
    for expected in (1.0, 0.5):
        [ticket] = fill(window, 1)
        window.release(ticket, throttled=True)
        assert window.level == expected and window.limit == 1
    # at 0.5 each request is followed by a pause of about one latency (jittered 0.5x-1.5x)
    latency = 0.1 + 0.2 * (0.2 - 0.1)
    [ticket] = fill(window, 1)
    assert len(clock.sleeps) == 1 and 0.5 * latency <= clock.sleeps[0] <= 1.5 * latency
    assert window.paused_s == clock.sleeps[0]
    for _ in range(6):  # more throttles: down to the floor, never to zero
        window.release(ticket, throttled=True)
        [ticket] = fill(window, 1)
    assert window.level == 1 / 16 and window.lowest == 1 / 16
    # at 1/16 the pause is about 15 latencies: the task's share of one slot is 1/16
    assert 15 * 0.5 * latency <= clock.sleeps[-1] <= 15 * 1.5 * latency


def test_at_or_above_one_there_is_no_pause():
    clock = FakeClock()
    window = AdaptiveWindow(4, clock=clock)
    for _ in range(5):
        [ticket] = fill(window, 1)
        window.release(ticket, throttled=True)
    assert window.level == 1 and clock.sleeps == []
