"""RecordIO-protobuf throughput: per-row path vs vectorized batch path, both directions.

Run: ``.venv/bin/python benchmarks/bench_serde_protobuf.py [rows]``. Prints Markdown table
rows; ``benchmarks/bench_serde.py`` may import :func:`bench_protobuf_serializer` and
:func:`bench_protobuf_deserializer`. No Spark needed: batches are built like the ones
``mapInArrow`` hands over (dense ML vectors in Spark's Arrow struct layout).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pyarrow as pa

from serde.arrow_types import VECTOR_ARROW_TYPE
from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.protobuf import (
    KMeansProtobufResponseRowDeserializer,
    ProtobufRequestRowSerializer,
    write_label_records,
)

HEADER = "| SerDe | path | rows | seconds | rows/s | speed-up |\n|---|---|---|---|---|---|"


def dense_vector_batch(rows: int, width: int, seed: int = 0) -> pa.RecordBatch:
    """``rows`` dense ML vectors of ``width`` doubles, as Spark's Arrow struct."""
    values = np.random.default_rng(seed).normal(size=rows * width)
    offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
    column = pa.StructArray.from_arrays(
        [
            pa.array(np.ones(rows, dtype=np.int8)),
            pa.nulls(rows, pa.int32()),
            pa.nulls(rows, VECTOR_ARROW_TYPE.field("indices").type),
            pa.ListArray.from_arrays(
                offsets, pa.array(values), type=VECTOR_ARROW_TYPE.field("values").type
            ),
        ],
        fields=list(VECTOR_ARROW_TYPE),
    )
    return pa.record_batch([column], names=["features"])


def _rate_row(name: str, path: str, rows: int, seconds: float, baseline: float | None) -> str:
    rate = rows / seconds
    speedup = "1.0x" if baseline is None else f"{rate / baseline:.1f}x"
    return f"| {name} | {path} | {rows:,} | {seconds:.2f} | {rate:,.0f} | {speedup} |"


def bench_protobuf_serializer(
    rows: int = 1_000_000, width: int = 10, batch_rows: int = 10_000
) -> list[str]:
    """rows/s of ``ProtobufRequestRowSerializer``: per-row (``serialize_row`` through the
    base class's Arrow → Row loop, what a custom SerDe gets) vs ``serialize_batch``."""
    serializer = ProtobufRequestRowSerializer()
    batches = [dense_vector_batch(batch_rows, width, seed) for seed in range(rows // batch_rows)]
    total = batch_rows * len(batches)

    start = time.perf_counter()
    per_row = [RequestRowSerializer.serialize_batch(serializer, b) for b in batches]
    per_row_s = time.perf_counter() - start

    start = time.perf_counter()
    batched = [serializer.serialize_batch(b) for b in batches]
    batch_s = time.perf_counter() - start

    assert all(a.data == b.data for a, b in zip(per_row, batched)), "paths differ"
    name = f"protobuf request ({width} doubles)"
    baseline = total / per_row_s
    return [
        _rate_row(name, "per-row", total, per_row_s, None),
        _rate_row(name, "batch", total, batch_s, baseline),
    ]


def bench_protobuf_deserializer(rows: int = 1_000_000, batch_rows: int = 10_000) -> list[str]:
    """rows/s of ``KMeansProtobufResponseRowDeserializer`` on KMeans-shaped answers:
    ``deserialize_response`` + generic Arrow conversion vs ``deserialize_batch``."""
    deserializer = KMeansProtobufResponseRowDeserializer()
    rng = np.random.default_rng(1)
    body = write_label_records(
        [
            {"distance_to_cluster": float(d), "closest_cluster": float(c)}
            for d, c in zip(rng.random(batch_rows), rng.integers(0, 8, batch_rows))
        ]
    )
    repeats = max(1, rows // batch_rows)
    total = repeats * batch_rows

    start = time.perf_counter()
    for _ in range(repeats):
        generic = ResponseRowDeserializer.deserialize_batch(deserializer, body)
    per_row_s = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(repeats):
        fast = deserializer.deserialize_batch(body)
    batch_s = time.perf_counter() - start

    assert generic.equals(fast), "paths differ"
    name = "kmeans protobuf response"
    baseline = total / per_row_s
    return [
        _rate_row(name, "per-row", total, per_row_s, None),
        _rate_row(name, "batch", total, batch_s, baseline),
    ]


def main(argv: list[str]) -> int:
    rows = int(argv[1]) if len(argv) > 1 else 1_000_000
    print(HEADER)
    for line in bench_protobuf_serializer(rows) + bench_protobuf_deserializer(rows):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
