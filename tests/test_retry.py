"""RetryPolicy, RetryState and call_with_retries (the loop the engine and the control plane
share) with a fake clock and a seeded random source: no real sleeps."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable

import pytest

from endpoints.errors import (
    InvocationError,
    ModelError,
    RejectedError,
    RetriesExhaustedError,
    ServerError,
    ThrottledError,
    TransportError,
)
from endpoints.retry import RetryPolicy, RetryState, call_with_retries


class FakeClock:
    """Starts at 0.0 (a value a real monotonic clock never shows) and moves only on sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def drive(
    policy: RetryPolicy,
    failures: list[InvocationError],
    clock: FakeClock,
    seed: int = 7,
    work_s: float = 0.0,
) -> tuple[str, RetryState | None]:
    """Runs the library's own retry loop over an attempt that raises ``failures`` first,
    then succeeds; each attempt takes ``work_s`` of fake time. Returns the result and the
    request's RetryState (None when nothing was retried)."""
    pending = list(failures)
    seen: list[RetryState] = []

    def attempt() -> str:
        clock.now += work_s
        if pending:
            raise pending.pop(0)
        return "ok"

    result = call_with_retries(
        attempt,
        policy,
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(seed),
        on_retry=lambda _error, _delay, state: seen.append(state),
    )
    return result, (seen[-1] if seen else None)


def throttled(retry_after: float | None = None) -> ThrottledError:
    return ThrottledError(
        "slow down", endpoint="ep", status=400, code="ThrottlingException", retry_after=retry_after
    )


def server_error(retry_after: float | None = None) -> ServerError:
    return ServerError("boom", endpoint="ep", status=500, retry_after=retry_after)


def test_backoff_ceilings_double_and_cap():
    policy = RetryPolicy(backoff_base_s=0.1, backoff_max_s=1.0)
    assert [policy.backoff_ceiling(n) for n in range(1, 8)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
        1.0,
    ]


def test_full_jitter_stays_within_zero_and_the_ceiling_and_is_seeded():
    policy = RetryPolicy(max_attempts=8, backoff_base_s=0.1, backoff_max_s=1.0)
    clock = FakeClock()
    result, state = drive(policy, [server_error()] * 7, clock, seed=7)
    assert result == "ok"
    assert state.attempts == 8
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert all(0.0 <= s <= c for s, c in zip(clock.sleeps, ceilings))
    rng = random.Random(7)
    assert clock.sleeps == [rng.uniform(0.0, c) for c in ceilings]
    # a different seed spreads the same retries differently (no synchronised herd)
    other = FakeClock()
    drive(policy, [server_error()] * 7, other, seed=8)
    assert other.sleeps != clock.sleeps


def test_jitter_covers_the_whole_range():
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=1.0)
    sleeps = []
    for seed in range(400):
        state = policy.new_state(clock=FakeClock(), rng=random.Random(seed))
        state.begin_attempt()
        sleeps.append(state.next_delay(server_error()))
    assert 0.0 <= min(sleeps) < 0.05
    assert 0.95 < max(sleeps) <= 1.0


@pytest.mark.parametrize("make_error", [throttled, server_error])
def test_retry_after_is_a_floor_honoured_in_full(make_error):
    policy = RetryPolicy(backoff_base_s=0.01, backoff_max_s=5.0)
    clock = FakeClock()
    errors = [make_error(2.0), make_error(0.0), make_error(60.0)]
    result, _ = drive(policy, errors, clock)
    assert result == "ok"
    assert clock.sleeps[0] == 2.0  # jitter under 0.01 s: the server's wish wins
    assert 0.0 <= clock.sleeps[1] <= 0.02  # Retry-After: 0 does not force a wait
    assert clock.sleeps[2] == 60.0  # longer than backoff_max_s: asking sooner earns a refusal


def test_retry_after_beyond_the_time_budget_gives_up_at_once_saying_why():
    policy = RetryPolicy(max_elapsed_s=30.0, backoff_base_s=0.01)
    clock = FakeClock()
    with pytest.raises(RetriesExhaustedError) as info:
        drive(policy, [throttled(3600.0)], clock)
    assert clock.sleeps == []
    assert info.value.reason == "Retry-After 3600s would pass max_elapsed_s=30"


def test_max_attempts_exhaustion_chains_the_last_error():
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01, paced_throttles=True)
    clock = FakeClock()
    last = server_error()
    with pytest.raises(RetriesExhaustedError) as info:
        drive(policy, [server_error(), throttled(), server_error(), last], clock)
    error = info.value
    assert error.__cause__ is last
    assert error.last_error is last
    assert error.attempts == 4  # three failures, and a throttle that used up none
    assert error.reason == "max_attempts=3"
    assert str(error) == "gave up after 4 attempts (max_attempts=3): endpoint 'ep' HTTP 500: boom"
    # two backoffs; the throttle slept not at all: the window paces it
    assert len(clock.sleeps) == 2 and all(0 < s <= 0.02 for s in clock.sleeps)


def test_paced_throttles_never_use_up_attempts_only_the_time_budget():
    policy = RetryPolicy(
        max_attempts=2, max_elapsed_s=50.0, backoff_base_s=0.01, paced_throttles=True
    )
    clock = FakeClock()
    outcome, state = drive(policy, [throttled()] * 40, clock, work_s=1.0)
    assert (outcome, state.attempts, state.throttles) == ("ok", 41, 40)
    with pytest.raises(RetriesExhaustedError, match="max_elapsed_s=50"):
        drive(policy, [throttled()] * 60, FakeClock(), work_s=1.0)


def test_unpaced_throttles_back_off_and_count_like_any_retryable_error():
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    clock = FakeClock()
    with pytest.raises(RetriesExhaustedError, match="max_attempts=3"):
        drive(policy, [throttled()] * 5, clock)
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)


def test_max_elapsed_exhaustion_counts_from_the_first_attempt():
    # each attempt takes 4 s, each backoff is pinned to 1 s by Retry-After above a 1 s cap
    policy = RetryPolicy(max_attempts=100, max_elapsed_s=12.0, backoff_base_s=0, backoff_max_s=1)
    clock = FakeClock()
    with pytest.raises(RetriesExhaustedError) as info:
        drive(policy, [throttled(1.0)] * 10, clock, work_s=4.0)
    # t=4 fail → sleep to 5; t=9 fail → sleep to 10; t=14 fail: 14 + 1 > 12 → stop
    assert clock.sleeps == [1.0, 1.0]
    assert clock.now == 14.0
    assert info.value.attempts == 3
    assert info.value.reason == "max_elapsed_s=12"
    assert isinstance(info.value.__cause__, ThrottledError)


def test_a_wait_that_would_end_past_max_elapsed_is_not_taken():
    policy = RetryPolicy(max_elapsed_s=10.0, backoff_base_s=0, backoff_max_s=30.0)
    state = policy.new_state(clock=FakeClock(), rng=random.Random(0))
    state.begin_attempt()
    assert state.next_delay(throttled(10.0)) == 10.0  # ends exactly at the limit: allowed
    with pytest.raises(RetriesExhaustedError, match="max_elapsed_s=10"):
        state.next_delay(throttled(10.5))


@pytest.mark.parametrize(
    "error",
    [
        RejectedError("bad input", endpoint="ep", status=400, code="ValidationError"),
        ModelError("model raised", endpoint="ep", status=424, code="ModelError"),
        InvocationError("unclassified", endpoint="ep"),
    ],
)
def test_non_retryable_errors_are_raised_at_once(error):
    clock = FakeClock()
    with pytest.raises(type(error)) as info:
        drive(RetryPolicy(), [error], clock)
    assert info.value is error
    assert clock.sleeps == []


def test_transport_errors_are_retried_unless_configured_off():
    dropped = TransportError("connection reset", endpoint="ep", maybe_processed=True)
    clock = FakeClock()
    result, state = drive(RetryPolicy(), [dropped, dropped], clock)
    assert (result, state.attempts, len(clock.sleeps)) == ("ok", 3, 2)
    assert state.history == ["transport", "transport"]

    strict = RetryPolicy(retry_transport_errors=False)
    assert not strict.is_retryable(dropped)
    assert strict.is_retryable(throttled())
    with pytest.raises(TransportError):
        drive(strict, [dropped], FakeClock())


def test_history_records_codes_or_kinds_and_repr_shows_it():
    clock = FakeClock()
    _, state = drive(RetryPolicy(backoff_base_s=0.001), [throttled(), server_error()], clock)
    assert state.history == ["ThrottlingException", "server"]
    assert repr(state) == "RetryState(attempts=3, history=['ThrottlingException', 'server'])"


def test_policy_is_validated_immutable_and_picklable():
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="must not be negative"):
        RetryPolicy(backoff_base_s=-1)
    policy = RetryPolicy(max_attempts=3, retry_transport_errors=False)
    with pytest.raises(AttributeError):
        policy.max_attempts = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(policy)) == policy


def test_default_state_uses_the_monotonic_clock_and_its_own_rng():
    state = RetryPolicy().new_state()
    clock: Callable[[], float] = state.clock
    assert clock() > 0
    state.begin_attempt()
    assert 0.0 <= state.next_delay(server_error()) <= 0.1


def test_a_final_failure_carries_the_attempts_it_took():
    rejected = RejectedError("bad row", endpoint="ep", status=400, code="ValidationError")
    policy = RetryPolicy(backoff_base_s=0.001, paced_throttles=True)
    with pytest.raises(RejectedError) as info:
        drive(policy, [throttled(), throttled(), rejected], FakeClock())
    assert info.value is rejected
    assert (info.value.attempts, info.value.kind) == (3, "rejected")


def test_code_sets_extend_what_is_a_throttle_or_worth_retrying():
    busy = RejectedError("busy", endpoint="ep", status=400, code="ServerBusy")
    warming = RejectedError("warming", endpoint="ep", status=409, code="Warming")
    default = RetryPolicy(backoff_base_s=0.001)
    assert not default.is_retryable(busy) and not default.is_throttle(busy)
    custom = RetryPolicy(
        backoff_base_s=0.001,
        paced_throttles=True,
        throttling_codes=default.throttling_codes | {"ServerBusy"},
        retryable_codes=["Warming"],  # any iterable; kept as a frozenset
    )
    assert custom.is_throttle(busy) and custom.is_retryable(warming)
    assert not custom.is_throttle(warming)
    assert custom.retryable_codes == frozenset({"Warming"})
    clock = FakeClock()
    result, state = drive(custom, [busy, warming, busy], clock)
    assert (result, state.attempts, state.throttles) == ("ok", 4, 2)
    assert len(clock.sleeps) == 1  # only the retryable code backed off; throttles are paced
    assert pickle.loads(pickle.dumps(custom)) == custom


def test_backend_exceptions_are_translated_by_the_hook_and_others_propagate():
    from botocore.exceptions import ClientError

    from endpoints.failures import from_backend_error

    calls = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "DescribeEndpoint",
            )
        if len(calls) == 2:
            raise KeyError("a bug")
        return "ok"

    clock = FakeClock()
    with pytest.raises(KeyError):
        call_with_retries(
            attempt, RetryPolicy(), sleep=clock.sleep, clock=clock, translate=from_backend_error
        )
    assert len(calls) == 2 and len(clock.sleeps) == 1
