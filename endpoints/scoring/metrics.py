"""What a transform did: rows, requests, bytes, retries by cause, errors, latency.

Each partition fills one :class:`TransformMetrics`, logs a one-line summary at INFO, and
adds it to a Spark accumulator; the driver reads the merged total after the action as
``model.last_metrics``. Latencies go into fixed log-spaced buckets so partitions merge by
adding counts and percentiles stay within a few percent.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pyspark.accumulators import AccumulatorParam

__all__ = ["LatencyHistogram", "MetricsAccumulatorParam", "MetricsRecorder", "TransformMetrics"]

# 0.05 ms .. ~170 s, 8 buckets per doubling: ~9% resolution.
_BUCKETS_PER_DOUBLING = 8
_MIN_MS = 0.05
_NUM_BUCKETS = _BUCKETS_PER_DOUBLING * 22


@dataclass
class LatencyHistogram:
    counts: list[int] = field(default_factory=lambda: [0] * _NUM_BUCKETS)

    def record(self, seconds: float) -> None:
        ms = max(seconds * 1000.0, _MIN_MS)
        index = int(math.log2(ms / _MIN_MS) * _BUCKETS_PER_DOUBLING)
        self.counts[min(index, _NUM_BUCKETS - 1)] += 1

    def merge(self, other: LatencyHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]

    @property
    def count(self) -> int:
        return sum(self.counts)

    def percentile_ms(self, q: float) -> float | None:
        """The upper edge of the bucket holding the ``q``-th percentile (0-100)."""
        total = self.count
        if total == 0:
            return None
        rank = math.ceil(total * q / 100.0)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= max(rank, 1):
                return _MIN_MS * 2 ** ((index + 1) / _BUCKETS_PER_DOUBLING)
        return None


@dataclass
class TransformMetrics:
    """Counters of one transform (or one partition of it).

    ``requests`` counts every HTTP attempt, retries included; ``retries`` those after the
    first, by cause. ``requests_in_retried_tasks`` counts attempts made by a task that
    Spark had to re-run (an executor died): those rows were scored more than once.
    """

    partitions: int = 0
    rows: int = 0
    rows_failed: int = 0
    requests: int = 0
    bodies: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    retries: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    bisections: int = 0
    window_decreases: int = 0
    window_lowest: float | None = None
    window_peak_in_flight: int = 0
    client_constructions: int = 0
    requests_in_retried_tasks: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: seconds requests spent waiting: for a window slot, in a pause, or in a backoff
    wait_seconds: float = 0.0
    #: seconds requests were in flight, and seconds partitions ran (summed over both)
    request_seconds: float = 0.0
    partition_seconds: float = 0.0

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())

    @property
    def throttles(self) -> int:
        """Throttled answers: those retried and those that ended a request."""
        return self.retries["throttled"] + self.errors["throttled"]

    @property
    def mean_in_flight(self) -> float | None:
        """Requests in flight at once, on average over a partition's run: the
        concurrency a partition really used (the window's limit is only a ceiling)."""
        return self.request_seconds / self.partition_seconds if self.partition_seconds else None

    @property
    def send_rate(self) -> float | None:
        """Requests per second of one partition's run, on average."""
        return self.requests / self.partition_seconds if self.partition_seconds else None

    def merge(self, other: TransformMetrics) -> TransformMetrics:
        for name in (
            "partitions",
            "rows",
            "rows_failed",
            "requests",
            "bodies",
            "bytes_sent",
            "bytes_received",
            "bisections",
            "window_decreases",
            "wait_seconds",
            "request_seconds",
            "partition_seconds",
            "client_constructions",
            "requests_in_retried_tasks",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.retries.update(other.retries)
        self.errors.update(other.errors)
        self.window_peak_in_flight = max(self.window_peak_in_flight, other.window_peak_in_flight)
        lows = [w for w in (self.window_lowest, other.window_lowest) if w is not None]
        self.window_lowest = min(lows) if lows else None
        self.latency.merge(other.latency)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions,
            "rows": self.rows,
            "rows_failed": self.rows_failed,
            "requests": self.requests,
            "bodies": self.bodies,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "retries": dict(self.retries),
            "errors": dict(self.errors),
            "bisections": self.bisections,
            "throttles": self.throttles,
            "wait_seconds": round(self.wait_seconds, 3),
            "mean_in_flight": _rounded(self.mean_in_flight),
            "send_rate": _rounded(self.send_rate),
            "window_decreases": self.window_decreases,
            "window_lowest": self.window_lowest,
            "window_peak_in_flight": self.window_peak_in_flight,
            "client_constructions": self.client_constructions,
            "requests_in_retried_tasks": self.requests_in_retried_tasks,
            "latency_ms": {f"p{q}": self.latency.percentile_ms(q) for q in (50, 90, 99)},
        }

    def summary(self) -> str:
        p50, p99 = self.latency.percentile_ms(50), self.latency.percentile_ms(99)
        lat = f"p50={p50:.1f}ms p99={p99:.1f}ms" if p50 is not None and p99 is not None else ""
        return (
            (
                f"rows={self.rows} failed_rows={self.rows_failed} requests={self.requests} "
                f"retries={self.total_retries} {dict(self.retries) or ''} "
                f"bytes_out={self.bytes_sent} bytes_in={self.bytes_received} {lat} "
                f"throttles={self.throttles} waited={self.wait_seconds:.2f}s "
                f"mean_in_flight={_rounded(self.mean_in_flight)} "
                f"send_rate={_rounded(self.send_rate)}/s "
                f"window_decreases={self.window_decreases} window_lowest={self.window_lowest}"
            )
            .replace("  ", " ")
            .strip()
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class MetricsRecorder:
    """One partition's :class:`TransformMetrics`, updated from its request threads under
    one lock, so no counter is lost to a race between two requests ending together."""

    def __init__(self) -> None:
        self.metrics = TransformMetrics(partitions=1)
        self._lock = threading.Lock()

    def request(self, sent: int, received: int, seconds: float) -> None:
        with self._lock:
            m = self.metrics
            m.requests += 1
            m.bytes_sent += sent
            m.bytes_received += received
            m.request_seconds += seconds
            m.latency.record(seconds)

    def waited(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.metrics.wait_seconds += seconds

    def count(self, name: str, n: int = 1) -> None:
        """Adds ``n`` to the integer counter ``name`` (``bodies``, ``bisections``, ...)."""
        with self._lock:
            setattr(self.metrics, name, getattr(self.metrics, name) + n)

    def retry(self, kind: str) -> None:
        with self._lock:
            self.metrics.retries[kind] += 1

    def error(self, kind: str) -> None:
        with self._lock:
            self.metrics.errors[kind] += 1


class MetricsAccumulatorParam(AccumulatorParam):
    def zero(self, value: TransformMetrics) -> TransformMetrics:
        return TransformMetrics()

    def addInPlace(self, value1: TransformMetrics, value2: TransformMetrics) -> TransformMetrics:
        return value1.merge(value2)
