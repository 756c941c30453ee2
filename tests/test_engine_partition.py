"""The scoring engine alone, without Spark: order, bodies spanning Arrow batches, the count
check, bisection, retries with a fake clock, the window, and per-row errors."""

from __future__ import annotations

import pyarrow as pa
import pytest
from engine_harness import (
    FakeClock,
    Recorder,
    csv_rows,
    expected_sum,
    feature_batches,
    score,
    summing,
)

from endpoints.clients.mock import MockResponse
from endpoints.errors import EndpointsError, ResultCountMismatchError
from endpoints.retry import RetryPolicy
from endpoints.scoring.engine import WINDOW_DECREASE, WINDOW_FLOOR


def test_output_row_i_belongs_to_input_row_i_and_bodies_span_batches():
    recorder = Recorder(summing)
    rows, metrics = score(recorder, feature_batches(1000, 250), max_batch_records=300)
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(1000)]
    # 300-row bodies across 250-row batches: full bodies, then what is left at the end
    assert sorted(len(r) for r in recorder.requests) == [100, 300, 300, 300]
    assert sorted(i for request in recorder.requests for i in request) == list(range(1000))
    assert (metrics.rows, metrics.requests, metrics.bodies, metrics.rows_failed) == (
        1000,
        4,
        4,
        0,
    )


def test_every_row_is_sent_exactly_once_with_many_bodies_in_flight():
    recorder = Recorder(summing)
    rows, metrics = score(recorder, feature_batches(5000, 777), max_batch_records=64)
    sent = [i for request in recorder.requests for i in request]
    assert sorted(sent) == list(range(5000))
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(5000)]
    assert metrics.window_peak_in_flight <= 8


def test_the_byte_limit_cuts_bodies_with_framing_counted():
    recorder = Recorder(summing)
    rows, _ = score(recorder, feature_batches(200, 200), max_batch_bytes=100)
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(200)]
    assert max(recorder.sizes) <= 100
    # greedy: adding the next row to any body would have passed the limit
    row_bytes = [len(f"{i}.0,{i % 7}.0,0.5\n") for i in range(200)]
    bodies = [(request[-1], size) for request, size in zip(recorder.requests, recorder.sizes)]
    assert all(size + row_bytes[end + 1] > 100 for end, size in bodies if end < 199)


def test_a_short_answer_fails_the_task_naming_endpoint_and_counts():
    def drops_last(request):
        return summing(request).rsplit(b"\n", 2)[0] + b"\n"

    with pytest.raises(ResultCountMismatchError, match=r"with 99 results for 100 rows"):
        score(drops_last, feature_batches(100, 100))


def test_a_short_answer_goes_to_the_error_column_never_shifting_rows():
    def short_for_second_body(request):
        ids = [int(r[0]) for r in csv_rows(request)]
        body = summing(request)
        return body.split(b"\n", 1)[1] if 100 in ids else body

    rows, metrics = score(
        short_for_second_body, feature_batches(300, 300), max_batch_records=100, on_error="column"
    )
    assert [r["error"]["kind"] if r["error"] else None for r in rows] == (
        [None] * 100 + ["count_mismatch"] * 100 + [None] * 100
    )
    assert [r["prediction"] for r in rows[:100] + rows[200:]] == [
        expected_sum(i) for i in [*range(100), *range(200, 300)]
    ]
    assert all(r["prediction"] is None for r in rows[100:200])
    assert metrics.errors["count_mismatch"] == 1


def test_bisection_isolates_the_row_the_endpoint_rejects():
    def rejects_row_37(request):
        if 37 in [int(r[0]) for r in csv_rows(request)]:
            return MockResponse(400, b"bad row", code="ValidationError")
        return summing(request)

    recorder = Recorder(rejects_row_37)
    rows, metrics = score(recorder, feature_batches(64, 64), on_error="column")
    assert [i for i, r in enumerate(rows) if r["error"]] == [37]
    assert rows[37]["error"]["kind"] == "rejected" and rows[37]["error"]["status"] == 400
    assert rows[36]["prediction"] == expected_sum(36)
    # 64 -> 32 -> 16 -> 8 -> 4 -> 2 -> 1: one failing body per level plus its good halves
    assert metrics.bisections == 6
    assert metrics.requests == 13


def test_an_endpoint_that_is_gone_is_never_bisected_one_error_per_body():
    def deleted(request):  # what InvokeEndpoint answers once the endpoint is deleted
        return MockResponse(
            400, b"Endpoint ep of account 123456789012 not found.", code="ValidationError"
        )

    recorder = Recorder(deleted)
    rows, metrics = score(
        recorder, feature_batches(2000, 500), on_error="column", max_batch_records=100
    )
    assert len(rows) == 2000 and all(r["prediction"] is None for r in rows)
    assert {r["error"]["kind"] for r in rows} == {"endpoint_access"}
    assert (metrics.requests, metrics.bisections) == (20, 0)  # one request per body
    assert sorted(len(r) for r in recorder.requests) == [100] * 20


def test_halves_refused_alike_end_bisection_nobody_s_row_is_to_blame():
    def refuses_everything(request):
        return MockResponse(400, b"unsupported request format", code="ValidationError")

    recorder = Recorder(refuses_everything)
    rows, metrics = score(recorder, feature_batches(64, 64), on_error="column")
    assert {r["error"]["kind"] for r in rows} == {"rejected"}
    assert {r["error"]["attempts"] for r in rows} == {2}  # the two halves that agreed
    # the body, then its two halves, which failed alike: no deeper split
    assert (metrics.requests, metrics.bisections) == (3, 1)
    assert sorted(map(len, recorder.requests)) == [32, 32, 64]


def test_a_rejected_body_fails_the_task_by_default_naming_its_rows():
    def rejects_all(request):
        return MockResponse(400, b"no", code="ValidationError")

    with pytest.raises(EndpointsError, match=r"partition None, rows 0\.\.9: .*HTTP 400"):
        score(rejects_all, feature_batches(10, 10))


def test_throttles_shrink_the_window_and_are_retried_without_sleeping():
    answers = iter([MockResponse(400, b"Rate exceeded", code="ThrottlingException")] * 2)

    def throttles_twice(request):
        return next(answers, None) or summing(request)

    clock = FakeClock()
    rows, metrics = score(throttles_twice, feature_batches(10, 10), clock=clock)
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(10)]
    assert (metrics.retries["throttled"], metrics.throttles, metrics.requests) == (2, 2, 3)
    assert clock.sleeps == []  # the window paces throttles, not a per-request backoff
    # each throttle came under the limit the one before had set: 8 -> 4 -> 2
    assert metrics.window_decreases == 2
    assert metrics.window_lowest == pytest.approx(8 * WINDOW_DECREASE**2)


def test_throttling_never_exhausts_attempts_while_the_time_budget_lasts():
    answers = iter([MockResponse(400, b"Rate exceeded", code="ThrottlingException")] * 30)

    def throttles_thirty_times(request):
        return next(answers, None) or summing(request)

    clock = FakeClock()
    rows, metrics = score(
        throttles_thirty_times,
        feature_batches(10, 10),
        clock=clock,
        retry=RetryPolicy(max_attempts=3, max_elapsed_s=600),
    )
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(10)]
    assert metrics.throttles == 30 and metrics.requests == 31
    # down to the floor's share of a request in flight, pausing in proportion
    assert metrics.window_lowest == WINDOW_FLOOR
    assert sum(clock.sleeps) == pytest.approx(metrics.wait_seconds)
    assert metrics.wait_seconds > 0


def test_a_job_cap_below_one_request_per_task_paces_the_task():
    clock = FakeClock()
    rows, metrics = score(
        summing,
        feature_batches(100, 100),
        clock=clock,
        max_batch_records=10,
        job_max_in_flight=1,
        task_max_in_flight=0.25,
    )
    assert [r["prediction"] for r in rows] == [expected_sum(i) for i in range(100)]
    assert metrics.window_peak_in_flight == 1
    # after each of the 10 requests a pause of about 3 latencies (jittered 0.5x-1.5x)
    assert len(clock.sleeps) == 9


def test_retry_after_is_honoured_in_full():
    answers = iter([MockResponse(503, b"busy", retry_after=7.0)])

    def busy_once(request):
        return next(answers, None) or summing(request)

    clock = FakeClock()
    rows, _ = score(busy_once, feature_batches(5, 5), clock=clock)
    assert len(rows) == 5 and clock.sleeps == [7.0]


def test_retries_exhausted_go_to_the_error_column_with_attempts():
    def always_500(request):
        return MockResponse(500, b"boom")

    rows, metrics = score(
        always_500,
        feature_batches(4, 4),
        on_error="column",
        retry=RetryPolicy(max_attempts=3, backoff_base_s=0.01),
    )
    assert {(r["error"]["kind"], r["error"]["attempts"], r["error"]["status"]) for r in rows} == {
        ("retries_exhausted:server", 3, 500)
    }
    assert metrics.requests == 3 and metrics.rows_failed == 4


def test_a_row_that_cannot_be_serialized_is_its_own_error_and_neighbours_are_sent():
    features = pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float64()))
    batch = pa.RecordBatch.from_arrays([features], names=["features"])
    recorder = Recorder(summing)
    rows, metrics = score(recorder, [batch], on_error="column")
    assert [r["prediction"] for r in rows] == [3.0, None, 7.0]
    assert rows[1]["error"]["kind"] == "serialization"
    assert "features are null" in rows[1]["error"]["message"]
    assert recorder.requests == [[1], [3]]  # the bad row splits the body, never shifts it
    assert metrics.rows_failed == 1


def test_empty_batches_and_an_empty_partition_produce_no_rows_and_no_requests():
    recorder = Recorder(summing)
    empty = feature_batches(5, 5)[0].slice(0, 0)
    rows, metrics = score(recorder, [empty, empty])
    assert rows == [] and recorder.requests == [] and metrics.requests == 0
