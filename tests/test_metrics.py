"""The latency histogram and the metrics that merge across partitions, directly."""

from __future__ import annotations

import pickle

import pytest

from endpoints.scoring.metrics import LatencyHistogram, MetricsAccumulatorParam, TransformMetrics


def test_percentiles_are_bucket_upper_edges_within_nine_percent():
    histogram = LatencyHistogram()
    for ms in range(1, 101):  # 1..100 ms, one each
        histogram.record(ms / 1000)
    assert histogram.count == 100
    for q, exact in ((50, 50.0), (90, 90.0), (99, 99.0), (100, 100.0)):
        got = histogram.percentile_ms(q)
        assert exact <= got <= exact * 2 ** (1 / 8), (q, got)  # one bucket: 2^(1/8) wide


def test_an_empty_histogram_has_no_percentile_and_extremes_are_clamped():
    histogram = LatencyHistogram()
    assert histogram.percentile_ms(99) is None
    histogram.record(0.0)  # below the first bucket's 0.05 ms
    histogram.record(10_000.0)  # far above the last bucket's ~210 s
    assert histogram.counts[0] == 1 and histogram.counts[-1] == 1
    assert histogram.percentile_ms(0) == pytest.approx(0.05 * 2 ** (1 / 8))


def test_histograms_merge_by_bucket_and_metrics_merge_across_partitions():
    a, b = TransformMetrics(), TransformMetrics()
    a.rows, b.rows = 10, 5
    a.retries["throttled"], b.retries["throttled"] = 2, 3
    a.errors["server"] = 1
    a.latency.record(0.010)
    b.latency.record(0.010)
    b.latency.record(1.0)
    merged = MetricsAccumulatorParam().addInPlace(a, b)
    assert (merged.rows, merged.retries["throttled"], merged.errors["server"]) == (15, 5, 1)
    assert merged.latency.count == 3
    assert merged.latency.percentile_ms(50) == pytest.approx(10.0, rel=0.1)
    assert merged.latency.percentile_ms(100) == pytest.approx(1000.0, rel=0.1)
    # accumulators cross the executor boundary pickled
    assert pickle.loads(pickle.dumps(merged)).latency.counts == merged.latency.counts
