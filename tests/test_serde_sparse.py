"""Sparse vectors (issue 12): LibSVM and protobuf write them from their indices; CSV and
JSON build rows dense one bounded run at a time, write exactly what the per-row path
writes, and refuse a row too wide to build dense instead of allocating it."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, StructField, StructType
from serde_helpers import assert_same_errors

import serde.features
import serde.row_chunks
from serde.arrow_types import VECTOR_ARROW_TYPE, record_batch_from_rows, rows_from_record_batch
from serde.base import RequestRowSerializer, SerializedRows
from serde.csv import EMPTY_FEATURES, UnlabeledCSVRequestRowSerializer
from serde.errors import RowSerializationError
from serde.features import features_from_batch
from serde.json import JSONColumnarRequestSerializer, JSONRequestRowSerializer
from serde.jsonlines import JSONLinesRequestRowSerializer
from serde.libsvm import LibSVMRequestRowSerializer, UnlabeledLibSVMRequestRowSerializer
from serde.proto import record_pb2
from serde.protobuf import ProtobufRequestRowSerializer
from serde.recordio import read_recordio
from serde.row_chunks import join_runs, row_runs

SCHEMA = StructType([StructField("label", DoubleType()), StructField("features", VectorUDT())])
MiB = 1 << 20

SERIALIZERS: dict[str, Callable[[], RequestRowSerializer]] = {
    "csv": UnlabeledCSVRequestRowSerializer,
    "json": JSONRequestRowSerializer,
    "json-object": lambda: JSONRequestRowSerializer(input_mapping={"features": "x"}),
    "json-columnar": lambda: JSONColumnarRequestSerializer(["features"]),
    "jsonlines": JSONLinesRequestRowSerializer,
    "libsvm": LibSVMRequestRowSerializer,
    "unlabeled-libsvm": UnlabeledLibSVMRequestRowSerializer,
    "protobuf": ProtobufRequestRowSerializer,
}
DENSE_WRITERS = ["csv", "json", "json-object", "json-columnar", "jsonlines"]
SPARSE_WRITERS = ["libsvm", "unlabeled-libsvm", "protobuf"]


def serializer(name: str) -> RequestRowSerializer:
    built = SERIALIZERS[name]()
    built.set_schema(SCHEMA)
    return built


def batch_of(vectors) -> pa.RecordBatch:
    """Label 1.0 beside each vector, in Spark's Arrow layout of ``VectorUDT``."""
    return record_batch_from_rows([(1.0, v) for v in vectors], SCHEMA)


def decoded(framed: bytes) -> tuple[list[float], list[int], list[int]]:
    """(values, keys, shape) of the one Record in a protobuf row."""
    (payload,) = list(read_recordio(framed))
    record = record_pb2.Record()
    record.ParseFromString(payload)
    tensor = record.features["values"].float32_tensor
    return list(tensor.values), list(tensor.keys), list(tensor.shape)


def per_row(name: str, batch: pa.RecordBatch) -> list[bytes]:
    """Each row as ``serialize_row`` writes it, in the form ``serialize_batch`` gives it:
    vectorized JSON ends each row with its ``,``, and a refused row is empty. Columnar
    JSON's ``serialize_row`` writes a whole body, so its rows are the ``{"instances"}``
    rows, which hold the same values."""
    reference = serializer("json" if name == "json-columnar" else name)
    end = b"," if name == "json" or name.startswith("json-") else b""
    rows = []
    for row in rows_from_record_batch(batch, SCHEMA):
        try:
            rows.append(reference.serialize_row(row) + end)
        except RowSerializationError:
            rows.append(b"")
    return rows


def both_paths(name: str, batch: pa.RecordBatch) -> SerializedRows:
    """``serialize_batch``'s result, after checking it against the per-row path: the same
    bytes row for row (see :func:`per_row`) and the same errors."""
    fast = serializer(name).serialize_batch(batch)
    assert [fast.row(i) for i in range(fast.num_rows)] == per_row(name, batch)
    assert_same_errors(fast, RequestRowSerializer.serialize_batch(serializer(name), batch))
    return fast


@dataclass
class Peak:
    """The most memory allocated at once, in bytes."""

    python: int = 0  # tracemalloc: Python objects and numpy arrays
    arrow: int = 0  # Arrow's memory pool, which tracemalloc does not see

    @property
    def total(self) -> int:
        return self.python + self.arrow


_POOLS: list[pa.MemoryPool] = []  # a pool must outlive every buffer it handed out


@contextmanager
def peak_memory() -> Iterator[Peak]:
    """The most memory allocated at once inside the block, by Python and numpy and by
    Arrow (through a fresh proxy of Arrow's default pool)."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    _POOLS.append(pool)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    peak = Peak()
    try:
        yield peak
    finally:
        peak.python = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        pa.set_memory_pool(previous)
        peak.arrow = pool.max_memory()


# --------------------------------------------------- byte equality with the per-row path

MIXED = [
    Vectors.sparse(4, [1, 3], [2.5, -0.0]),  # a stored -0.0 stays -0.0
    Vectors.dense([1.0, 0.0, 0.0, 3.0]),
    Vectors.sparse(4, [], []),  # empty sparse: all zeros
    Vectors.dense([0.0, 0.0, 0.0, 0.0]),  # all-zero dense
    None,
    Vectors.sparse(4, [0, 1, 2, 3], [0.0, 0.0, 0.0, 0.0]),  # stored zeros
    Vectors.sparse(0, [], []),
    Vectors.sparse(6, [5], [7.0]),  # a wider row makes the batch ragged
]

#: Rows 0 and 2 of MIXED (the protobuf rows are checked decoded).
EXPECTED_ROWS = {
    "csv": (b"0.0,2.5,0.0,-0.0\n", b"0.0,0.0,0.0,0.0\n"),
    "json": (b"[0.0,2.5,0.0,-0.0],", b"[0.0,0.0,0.0,0.0],"),
    "json-object": (b'{"x":[0.0,2.5,0.0,-0.0]},', b'{"x":[0.0,0.0,0.0,0.0]},'),
    "json-columnar": (b"[0.0,2.5,0.0,-0.0],", b"[0.0,0.0,0.0,0.0],"),
    "jsonlines": (b"[0.0,2.5,0.0,-0.0]\n", b"[0.0,0.0,0.0,0.0]\n"),
    "libsvm": (b"1.0 2:2.5 4:-0.0\n", b"1.0\n"),
    "unlabeled-libsvm": (b"0.0 2:2.5 4:-0.0\n", b"0.0\n"),
}


def assert_mixed_rows(name: str, result) -> None:
    assert result.num_rows == len(MIXED)
    # the null vector; in CSV also the size-0 one, whose line would be blank
    assert list(result.errors) == ([4, 6] if name == "csv" else [4])
    assert str(result.errors[4]).startswith("row 4, column 'features': ")
    if name == "csv":
        assert str(result.errors[6]) == f"row 6, column 'features': {EMPTY_FEATURES}"
    if name == "protobuf":
        assert decoded(result.row(0)) == ([2.5, -0.0], [1, 3], [4])
        assert decoded(result.row(2)) == ([], [], [4])
        assert decoded(result.row(1)) == ([1.0, 0.0, 0.0, 3.0], [], [])
    else:
        assert (result.row(0), result.row(2)) == EXPECTED_ROWS[name]


@pytest.mark.parametrize("name", list(SERIALIZERS))
def test_mixed_sparse_batch_is_written_as_the_per_row_path_writes_it(name):
    assert_mixed_rows(name, both_paths(name, batch_of(MIXED)))


@pytest.mark.parametrize("name", list(SERIALIZERS))
def test_mixed_sparse_batch_from_spark(spark, name):
    frame = spark.createDataFrame([(1.0, v) for v in MIXED], SCHEMA).coalesce(1)
    batch = pa.Table.from_batches(frame._collect_as_arrow()).combine_chunks().to_batches()[0]
    assert_mixed_rows(name, both_paths(name, batch))


def random_vectors(count: int, seed: int = 7) -> list:
    """Dense, sparse and null rows of a few widths, in random order."""
    rng = np.random.default_rng(seed)
    vectors = []
    for _ in range(count):
        width = int(rng.choice([0, 3, 4, 9]))
        kind = rng.integers(5)
        if kind == 0:
            vectors.append(None)
        elif kind == 1:
            vectors.append(Vectors.dense(rng.standard_normal(width).round(3)))
        else:
            stored = np.flatnonzero(rng.random(width) < 0.3)
            vectors.append(Vectors.sparse(width, stored, rng.standard_normal(stored.size)))
    return vectors


@pytest.mark.parametrize("name", DENSE_WRITERS)
@pytest.mark.parametrize("budget", [1, 5, 16])
def test_any_run_size_writes_the_same_bytes(monkeypatch, name, budget):
    batch = batch_of(random_vectors(60))
    whole = serializer(name).serialize_batch(batch)
    monkeypatch.setattr(serde.row_chunks, "DENSE_CELL_BUDGET", budget)
    runs = both_paths(name, batch)
    assert (runs.data, runs.offsets.tolist()) == (whole.data, whole.offsets.tolist())
    assert sorted(runs.errors) == sorted(whole.errors) != []


# ----------------------------------------------------------------- runs and their joining


def test_runs_hold_at_most_the_budget_or_one_wider_row():
    cells = np.array([3, 3, 3, 10, 0, 0, 2])
    assert list(row_runs(cells, 6)) == [(0, 2), (2, 3), (3, 4), (4, 7)]
    assert list(row_runs(np.array([7, 7]), 6)) == [(0, 1), (1, 2)]
    assert list(row_runs(np.zeros(0, dtype=np.int64), 6)) == []


def test_join_runs_concatenates_text_and_offsets():
    first = b"ab\ncd\n"
    assert join_runs(iter([(first, np.array([3, 3]))]))[0] is first  # one run: no copy
    data, offsets = join_runs(iter([(b"a\n", np.array([2])), (b"", np.zeros(0)), (b"bc\n", [3])]))
    assert (data, offsets.tolist()) == (b"a\nbc\n", [0, 2, 5])
    data, offsets = join_runs(iter([]))
    assert (data, offsets.tolist()) == (b"", [0])


# ------------------------------------------------------- rows too wide to write dense

WIDE = Vectors.sparse(2**31 - 1, [0, 5, 9], [1.0, 2.0, 3.0])
WIDE_REASON = (
    "a sparse vector of size 2,147,483,647 written dense would be at least 8,589,934,588 "
    "bytes; rows over 4,194,304 elements are refused rather than allocated. Use LibSVM or "
    "protobuf, which write sparse vectors from their indices, or reduce the vector size"
)


@pytest.mark.parametrize("name", DENSE_WRITERS)
def test_a_sparse_vector_too_wide_to_write_dense_is_a_row_error(name):
    batch = batch_of([Vectors.dense([1.0, 2.0]), WIDE, Vectors.sparse(2, [1], [4.0])])
    with peak_memory() as peak:
        result = both_paths(name, batch)
    assert peak.total < 4 * MiB  # refused before anything of its size was allocated
    assert list(result.errors) == [1]
    assert str(result.errors[1]) == f"row 1, column 'features': {WIDE_REASON}"
    assert result.row(1) == b""
    assert result.row(2) == per_row(name, batch)[2] != b""


def test_csv_per_row_refuses_the_wide_row_without_allocating_it():
    with peak_memory() as peak, pytest.raises(RowSerializationError) as info:
        serializer("csv").serialize_row(Row(label=1.0, features=WIDE))
    assert str(info.value) == f"column 'features': {WIDE_REASON}"
    assert peak.total < MiB


@pytest.mark.parametrize("name", SPARSE_WRITERS)
def test_sparse_formats_write_the_wide_row_from_its_indices(name):
    result = both_paths(name, batch_of([WIDE]))
    assert result.errors == {}
    if name == "protobuf":
        assert decoded(result.row(0)) == ([1.0, 2.0, 3.0], [0, 5, 9], [2**31 - 1])
    else:
        label = b"1.0" if name == "libsvm" else b"0.0"
        assert result.row(0) == label + b" 1:1.0 6:2.0 10:3.0\n"


def test_the_dense_limit_is_inclusive_and_applies_to_sparse_rows_only(monkeypatch):
    assert serde.features.MAX_DENSE_VALUES == 2**22  # as the module docstring documents
    monkeypatch.setattr(serde.features, "MAX_DENSE_VALUES", 8)
    vectors = [
        Vectors.sparse(8, [7], [1.0]),
        Vectors.sparse(9, [8], [1.0]),
        Vectors.dense([2.0] * 9),
    ]
    result = both_paths("csv", batch_of(vectors))
    assert result.row(0) == b"0.0," * 7 + b"1.0\n"
    assert result.row(2) == b"2.0," * 8 + b"2.0\n"  # a dense row is data already held
    assert list(result.errors) == [1]
    assert "size 9 written dense would be at least 36 bytes; rows over 8 elements" in str(
        result.errors[1]
    )
    block = features_from_batch(batch_of(vectors), "features")
    assert block.too_wide().tolist() == [False, True, False]
    assert block.dense_row(0).tolist() == [0.0] * 7 + [1.0]
    with pytest.raises(RowSerializationError, match="size 9 written dense"):
        block.dense_row(1, "features")


def test_sdk_adapter_refuses_the_wide_row_too():
    serializers = pytest.importorskip("sagemaker.core.serializers")
    from serde.sagemaker_sdk import SDKSerializerAdapter

    adapter = SDKSerializerAdapter(serializers.CSVSerializer())
    assert adapter.serialize_row(Row(features=SparseVector(3, [2], [1.5]))) == b"0.0,0.0,1.5"
    with pytest.raises(RowSerializationError) as info:
        adapter.serialize_row(Row(features=WIDE))
    assert str(info.value) == f"column 'features': {WIDE_REASON}"


# ------------------------------------------------------------------------ bounded memory


def wide_sparse_batch(rows: int, width: int, stored: int = 10) -> pa.RecordBatch:
    """``rows`` sparse vectors of ``width`` elements with ``stored`` entries each, built
    straight in Arrow (a Python list of them would cost more than the test measures)."""
    rng = np.random.default_rng(3)
    step = width // stored  # one entry in each of ``stored`` equal slices, at random
    indices = np.arange(stored) * step + rng.integers(0, step, (rows, 1))
    offsets = pa.array(np.arange(0, rows * stored + 1, stored, dtype=np.int32))
    fields = list(VECTOR_ARROW_TYPE)
    vectors = pa.StructArray.from_arrays(
        [
            pa.array(np.zeros(rows, dtype=np.int8)),
            pa.array(np.full(rows, width, dtype=np.int32)),
            pa.ListArray.from_arrays(
                offsets, pa.array(indices.reshape(-1).astype(np.int32)), type=fields[2].type
            ),
            pa.ListArray.from_arrays(
                offsets, pa.array(rng.standard_normal(rows * stored)), type=fields[3].type
            ),
        ],
        fields=fields,
    )
    return pa.RecordBatch.from_arrays([pa.array(np.ones(rows)), vectors], names=SCHEMA.names)


def serialized_under_measure(name: str, batch: pa.RecordBatch) -> tuple[SerializedRows, Peak]:
    """``serialize_batch`` under :func:`peak_memory`, its rows checked (first, middle,
    last) against the per-row path."""
    ser = serializer(name)
    with peak_memory() as peak:
        result = ser.serialize_batch(batch)
    assert result.errors == {}
    assert result.num_rows == batch.num_rows
    for i in (0, batch.num_rows // 2, batch.num_rows - 1):
        assert result.row(i) == per_row(name, batch.slice(i, 1))[0], f"row {i}"
    return result, peak


@pytest.mark.parametrize("name", SPARSE_WRITERS)
def test_sparse_formats_never_build_a_wide_row_dense(name):
    # 2,000 rows of 2**20 elements: 16 GiB dense; stored entries: 20,000
    result, peak = serialized_under_measure(name, wide_sparse_batch(2_000, 2**20))
    assert len(result.data) < 2 * MiB
    assert peak.total < 16 * MiB, peak


@pytest.mark.parametrize(
    ("name", "rows", "width", "overhead"),
    [(name, 2_000, 2**13, 24 * MiB) for name in DENSE_WRITERS]
    + [("csv", 24, 2**20, 64 * MiB), ("json", 24, 2**20, 64 * MiB)],
)
def test_dense_formats_build_one_bounded_run_at_a_time(name, rows, width, overhead):
    result, peak = serialized_under_measure(name, wide_sparse_batch(rows, width))
    assert len(result.data) > rows * width * 4  # every element spelled, "0.0," at least
    # The text is the output itself. What writing it costs on top is one run's work (the
    # run budget, or one row wider than it) and the text's growth margin, however many
    # rows. Before runs the whole batch was built dense: 250 MiB to 1.3 GiB on top here.
    assert peak.total - len(result.data) < overhead, peak
    assert peak.total < rows * width * 8, peak  # less than the batch's dense doubles alone
