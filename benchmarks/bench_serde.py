"""Serializer throughput: the vectorized path of each built-in vs its per-row path.

Serializes and packs 1,000,000 rows x 10 doubles, handed over as Arrow batches of 10,000
rows (the shape ``mapInArrow`` gives the transformer), on one core, and prints rows/s for
both paths and their ratio. Both are measured in the same run, so the ratio is what to
quote. Other formats join the table by appending to :data:`FORMATS`::

    from benchmarks.bench_serde import FORMATS, bench_serializer

Run: ``.venv/bin/python benchmarks/bench_serde.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table

from serde.arrow_types import VECTOR_ARROW_TYPE
from serde.base import RequestRowSerializer
from serde.batching import RequestBatchIterator
from serde.csv import UnlabeledCSVRequestRowSerializer
from serde.libsvm import LibSVMRequestRowSerializer

WIDTH = 10
BATCH_ROWS = 10_000
#: The per-row path is ~two orders of magnitude slower; it is timed on this many rows.
PER_ROW_SAMPLE = 50_000

#: ``(name, factory)`` pairs; each factory returns a serializer reading ``label`` (double)
#: and ``features`` (ML vector). Append yours to add a row to the table.
FORMATS: list[tuple[str, Callable[[], RequestRowSerializer]]] = [
    ("csv", UnlabeledCSVRequestRowSerializer),
    ("libsvm", LibSVMRequestRowSerializer),
]


def make_batches(rows: int, width: int = WIDTH, batch_rows: int = BATCH_ROWS) -> list:
    """Arrow batches of ``label`` + dense ``features`` vectors, laid out as Spark does."""
    rng = np.random.default_rng(7)
    batches = []
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        values = pa.array(rng.normal(size=n * width))
        offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
        features = pa.StructArray.from_arrays(
            [
                pa.array(np.ones(n, dtype=np.int8)),
                pa.nulls(n, pa.int32()),
                pa.nulls(n, VECTOR_ARROW_TYPE.field("indices").type),
                pa.ListArray.from_arrays(offsets, values).cast(
                    VECTOR_ARROW_TYPE.field("values").type
                ),
            ],
            fields=list(VECTOR_ARROW_TYPE),
        )
        labels = pa.array(rng.integers(0, 2, size=n).astype(np.float64))
        batches.append(pa.record_batch([labels, features], names=["label", "features"]))
    return batches


def _rows_per_second(
    serialize: Callable[[pa.RecordBatch], object],
    packer: RequestBatchIterator,
    batches: Sequence[pa.RecordBatch],
) -> tuple[float, int]:
    """Rows per CPU-second of serialize + pack over ``batches``, and the bytes of all
    bodies. CPU time, not wall time: these machines are shared, and a busy neighbour
    would otherwise decide the figure."""
    total_bytes = 0
    rows = sum(b.num_rows for b in batches)
    start = time.process_time()
    for batch in batches:
        for item in packer.pack(serialize(batch), batch):
            total_bytes += len(item.body)
    return rows / (time.process_time() - start), total_bytes


def bench_serializer(
    name: str,
    serializer: RequestRowSerializer,
    batches: Sequence[pa.RecordBatch],
    per_row_sample: int = PER_ROW_SAMPLE,
) -> dict:
    """One table row: vectorized vs per-row rows/s for ``serializer`` on ``batches``.

    The per-row path is the base class's ``serialize_batch`` (Arrow → ``Row`` →
    ``serialize_row``), which is what a user-written SerDe gets; it runs on the first
    ``per_row_sample`` rows only. Both paths go through the same packer.
    """
    packer = RequestBatchIterator(serializer, max_batch_records=1000)
    vectorized, body_bytes = _rows_per_second(serializer.serialize_batch, packer, batches)
    sample, counted = [], 0
    for batch in batches:
        if counted >= per_row_sample:
            break
        sample.append(batch)
        counted += batch.num_rows
    per_row, _ = _rows_per_second(
        lambda b: RequestRowSerializer.serialize_batch(serializer, b), packer, sample
    )
    rows = sum(b.num_rows for b in batches)
    return {
        "format": name,
        "rows": rows,
        "vectorized rows/s": vectorized,
        "per-row rows/s": per_row,
        "speed-up": vectorized / per_row,
        "MB of bodies": body_bytes / 1e6,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):  # one core, as one Spark task has
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    batches = make_batches(args.rows)
    results = [bench_serializer(name, factory(), batches) for name, factory in FORMATS]
    headers = list(results[0])
    print(
        f"Serialize + pack {args.rows:,} rows x {WIDTH} doubles, Arrow batches of "
        f"{BATCH_ROWS:,}, one core, rows per CPU-second (per-row path timed on "
        f"{PER_ROW_SAMPLE:,} rows)\n"
    )
    print(table(headers, [[r[h] for h in headers] for r in results]))


if __name__ == "__main__":
    main()
