"""JSON SerDe throughput: per-row path vs vectorized batch path.

Run: ``.venv/bin/python benchmarks/bench_serde_json.py [rows]``. Prints Markdown table rows.
No Spark needed: batches are built like the ones ``mapInArrow`` hands over (dense ML
vectors in Spark's Arrow struct layout, 10,000 rows each). "per-row" is what a custom
SerDe gets — the base class's Arrow → ``Row`` loop calling ``serialize_row`` /
``deserialize_response`` — and "batch" is the built-in vectorized method; both produce the
same bytes (checked here on every batch).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serde_protobuf import HEADER, _rate_row, dense_vector_batch

from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.json import (
    JSONPredictionsResponseRowDeserializer,
    JSONRequestRowSerializer,
)
from serde.jsonlines import JSONLinesRequestRowSerializer


def _per_row_vs_batch(serializer: RequestRowSerializer, batches: list[pa.RecordBatch]):
    """(per-row seconds, batch seconds); each batch's rows are compared byte for byte."""
    per_row_s = batch_s = 0.0
    sep = serializer.row_separator
    for batch in batches:
        start = time.perf_counter()
        slow = RequestRowSerializer.serialize_batch(serializer, batch)
        middle = time.perf_counter()
        fast = serializer.serialize_batch(batch)
        per_row_s += middle - start
        batch_s += time.perf_counter() - middle
        expected = (
            slow.data
            if not fast.trailing_separator
            else sep.join(slow.row(i) for i in range(slow.num_rows)) + sep
        )
        assert fast.data == expected, "vectorized bytes differ from per-row bytes"
    return per_row_s, batch_s


def bench_json_serializer(
    rows: int = 1_000_000, width: int = 10, batch_rows: int = 10_000
) -> list[str]:
    """rows/s of ``JSONRequestRowSerializer`` (``{"instances": [[...], ...]}``) and the
    JSON Lines serializer on ``rows`` x ``width`` doubles: per-row vs vectorized."""
    batches = [dense_vector_batch(batch_rows, width, seed) for seed in range(rows // batch_rows)]
    total = batch_rows * len(batches)
    lines = []
    for name, serializer in (
        (f"JSON instances ({width} doubles)", JSONRequestRowSerializer()),
        (f"JSON Lines ({width} doubles)", JSONLinesRequestRowSerializer()),
    ):
        per_row_s, batch_s = _per_row_vs_batch(serializer, batches)
        baseline = total / per_row_s
        lines.append(_rate_row(name, "per-row", total, per_row_s, None))
        lines.append(_rate_row(name, "batch", total, batch_s, baseline))
    return lines


def bench_json_deserializer(rows: int = 1_000_000, batch_rows: int = 10_000) -> list[str]:
    """rows/s of ``JSONPredictionsResponseRowDeserializer`` on
    ``{"predictions": [[score, [p0, p1]], ...]}``: generic rows → Arrow vs columns → Arrow."""
    deserializer = JSONPredictionsResponseRowDeserializer("score double, probs array<double>")
    rng = np.random.default_rng(1)
    bodies = []
    for _ in range(rows // batch_rows):
        p = rng.random(batch_rows)
        items = [[s, [a, 1.0 - a]] for s, a in zip(rng.random(batch_rows).tolist(), p.tolist())]
        bodies.append(orjson.dumps({"predictions": items}))
    total = batch_rows * len(bodies)

    start = time.perf_counter()
    generic = [ResponseRowDeserializer.deserialize_batch(deserializer, b) for b in bodies]
    generic_s = time.perf_counter() - start
    start = time.perf_counter()
    columnar = [deserializer.deserialize_batch(b) for b in bodies]
    columnar_s = time.perf_counter() - start
    assert all(a.equals(b) for a, b in zip(generic, columnar)), "paths differ"
    name = "JSON predictions (double + array<double>[2])"
    return [
        _rate_row(name, "rows → Arrow", total, generic_s, None),
        _rate_row(name, "columns → Arrow", total, columnar_s, total / generic_s),
    ]


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 1_000_000
    print(HEADER)
    for line in bench_json_serializer(rows):
        print(line, flush=True)
    for line in bench_json_deserializer(rows):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
