"""Drives the scoring engine without Spark: Arrow batches in, a MockEndpoint, a fake clock.

``score(...)`` runs one partition through :class:`~endpoints.scoring.engine.PartitionScorer`
exactly as the transformer's Arrow UDF does, and returns its output as Python rows plus the
partition's metrics, so tests assert values, counts and requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from endpoints.clients.mock import MockEndpoint, MockRequest, MockResponse
from endpoints.retry import RetryPolicy
from endpoints.scoring.engine import PartitionScorer
from endpoints.scoring.metrics import TransformMetrics
from endpoints.scoring.options import EngineOptions
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer


class FakeClock:
    """Jumps forward instead of sleeping; records every sleep. Thread-safe."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Accumulator:
    def __init__(self) -> None:
        self.value = TransformMetrics()

    def add(self, metrics: TransformMetrics) -> None:
        self.value.merge(metrics)


def feature_batches(rows: int, batch_rows: int, width: int = 3) -> list[pa.RecordBatch]:
    """``features`` = [id, id % 7, 0.5, ...]: the row sum tells which row it was."""
    out = []
    for start in range(0, rows, batch_rows):
        ids = np.arange(start, min(rows, start + batch_rows), dtype=np.float64)
        columns = [ids, ids % 7] + [np.full(len(ids), 0.5)] * (width - 2)
        matrix = np.stack(columns, axis=1)
        features = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), width).cast(
            pa.list_(pa.float64())
        )
        out.append(pa.RecordBatch.from_arrays([features], names=["features"]))
    return out


def expected_sum(row: int, width: int = 3) -> float:
    return row + row % 7 + 0.5 * (width - 2)


def csv_rows(request: MockRequest) -> list[list[float]]:
    return [[float(v) for v in line.split(b",")] for line in request.body.splitlines()]


def summing(request: MockRequest) -> bytes:
    """A model: one line per row, the row's sum."""
    return b"".join(b"%r\n" % sum(r) for r in csv_rows(request))


class Recorder:
    """Wraps a handler, recording each request's rows (by their first feature, the id)."""

    def __init__(self, handler: Callable[[MockRequest], bytes | MockResponse]) -> None:
        self.handler = handler
        self.requests: list[list[int]] = []
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: MockRequest) -> bytes | MockResponse:
        with self._lock:
            self.requests.append([int(r[0]) for r in csv_rows(request)])
            self.sizes.append(len(request.body))
        return self.handler(request)


def score(
    handler: Callable[[MockRequest], bytes | MockResponse],
    batches: list[pa.RecordBatch],
    clock: FakeClock | None = None,
    **options,
) -> tuple[list[dict], TransformMetrics]:
    options.setdefault("retry", RetryPolicy(backoff_base_s=0.1, backoff_max_s=1.0))
    serializer = UnlabeledCSVRequestRowSerializer()
    accumulator = Accumulator()
    scorer = PartitionScorer(
        MockEndpoint(handler),
        serializer,
        XGBoostCSVRowDeserializer(),
        EngineOptions(**options),
        accumulator,
        clock or FakeClock(),
    )
    out = [row for array in scorer(iter(batches)) for row in array.to_pylist()]
    return out, accumulator.value
