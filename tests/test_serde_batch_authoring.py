"""Users' own SerDes: the batch-level way (serde.batch_serde) and the faster per-row path.

A batch-way serializer must write exactly what its per-row twin writes, report the rows it
cannot write on their own (null, NaN, a row its code raises for) with every neighbour
intact, and register and save by name like any other SerDe; through the engine, a wrong
count from a batch deserializer fails only its body. The per-row path must hand a
user the same ``Row`` values as before, vectors as ML vectors even when the engine
converted a vector column to ``list<double>`` in the JVM.
"""

from __future__ import annotations

import pickle

import numpy as np
import orjson
import pyarrow as pa
import pytest
from engine_harness import Accumulator, FakeClock, csv_rows, expected_sum, feature_batches
from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import assert_same_errors, rows_of

from endpoints.clients.mock import MockEndpoint
from endpoints.scoring.engine import PartitionScorer
from endpoints.scoring.options import EngineOptions
from serde import (
    ColumnsDeserializer,
    FeatureMatrixSerializer,
    RecordBatchSerializer,
    RequestBatchIterator,
    RequestBody,
    RequestRowSerializer,
    ResponseParseError,
    ResponseRowDeserializer,
    RowFailure,
    SerdeError,
    register_deserializer,
    register_serializer,
    serde_spec,
)
from serde.arrow_types import VECTOR_ARROW_TYPE, record_batch_from_rows, rows_from_record_batch
from serde.batch_serde import NON_FINITE_FEATURES
from serde.features import NULL_ELEMENT, NULL_FEATURES
from serde.json import JSONPredictionsResponseRowDeserializer
from serde.registry import deserializer_from_spec, serializer_from_spec

VECTORS = StructType([StructField("id", LongType()), StructField("features", VectorUDT())])
ARRAYS = StructType(
    [StructField("id", LongType()), StructField("features", ArrayType(DoubleType()))]
)
RESULTS = StructType([StructField("probabilities", ArrayType(DoubleType()))])


def line(values) -> bytes:
    """One CSV line in orjson's spelling of doubles, as both twins below write it."""
    return orjson.dumps(np.asarray(values, dtype=np.float64), option=orjson.OPT_SERIALIZE_NUMPY)[
        1:-1
    ] + (b"\n")


# --- the twins: one format written per row and per batch --------------------------------


@register_serializer("test-per-row-csv")
class PerRowCSV(RequestRowSerializer):
    content_type = "text/csv"

    def __init__(self, features_column_name: str = "features") -> None:
        self.features_column_name = features_column_name

    def serialize_row(self, row: Row) -> bytes:
        features = row[self.features_column_name]
        if features is None:
            raise ValueError("features are null")
        values = features.toArray() if hasattr(features, "toArray") else features
        if any(v > 100 for v in values):
            raise ValueError("a value over 100")
        return line(values)


class _RefusesOver100:
    """The twins' one rule beyond the format: a value over ``limit`` is refused."""

    limit = 100.0

    def check(self, features: np.ndarray) -> None:
        if (features > self.limit).any():
            raise ValueError("a value over 100")


@register_serializer("test-batch-csv")
class BatchCSVAsList(FeatureMatrixSerializer, _RefusesOver100):
    content_type = "text/csv"

    def serialize_matrix(self, features: np.ndarray):
        self.check(features)
        return [line(row) for row in features]


class BatchCSVAsLines(FeatureMatrixSerializer, _RefusesOver100):
    content_type = "text/csv"
    records_end_with = b"\n"

    def serialize_matrix(self, features: np.ndarray):
        self.check(features)
        return b"".join(line(row) for row in features)


class BatchCSVAsArrow(FeatureMatrixSerializer, _RefusesOver100):
    content_type = "text/csv"

    def serialize_matrix(self, features: np.ndarray):
        self.check(features)
        return pa.array([line(row).decode() for row in features], pa.string())


class BatchCSVAsNumpy(FeatureMatrixSerializer, _RefusesOver100):
    content_type = "text/csv"

    def serialize_matrix(self, features: np.ndarray):
        self.check(features)
        return np.array([line(row) for row in features], dtype=object)


BATCH_TWINS = [BatchCSVAsList, BatchCSVAsLines, BatchCSVAsArrow, BatchCSVAsNumpy]


def vector_batch() -> pa.RecordBatch:
    """Dense, sparse, ragged, null, NaN and over-100 rows, as Spark hands vectors over."""
    rows = [
        (0, DenseVector([1.0, 2.5, -3.0])),
        (1, SparseVector(3, [1], [7.0])),
        (2, None),
        (3, DenseVector([0.1, 1e-7, -1e16])),
        (4, DenseVector([float("nan"), 1.0, 2.0])),
        (5, DenseVector([1.0, 200.0, 3.0])),
        (6, DenseVector([4.0, 5.0])),  # narrower: its own call
        (7, SparseVector(3, [], [])),
    ]
    return record_batch_from_rows(rows, VECTORS)


def per_row(serializer: RequestRowSerializer, batch: pa.RecordBatch, schema: StructType):
    """What the per-row path writes: the base class's default serialize_batch."""
    serializer.set_schema(schema)
    return RequestRowSerializer.serialize_batch(serializer, batch)


@pytest.mark.parametrize("twin", BATCH_TWINS, ids=lambda c: c.__name__)
def test_batch_way_writes_exactly_what_the_per_row_twin_writes(twin):
    batch = vector_batch()
    fast = twin()
    fast.set_schema(VECTORS)
    out = fast.serialize_batch(batch)
    slow = per_row(PerRowCSV(), batch, VECTORS)

    assert rows_of(out) == [
        b"1.0,2.5,-3.0\n",
        b"0.0,7.0,0.0\n",
        b"",
        b"0.1,1e-7,-1e+16\n",
        b"",
        b"",
        b"4.0,5.0\n",
        b"0.0,0.0,0.0\n",
    ]
    assert sorted(out.errors) == [2, 4, 5]
    for i in (0, 1, 3, 6, 7):
        assert out.row(i) == slow.row(i)
    assert out.errors[2].reason == NULL_FEATURES
    assert out.errors[4].reason == NON_FINITE_FEATURES
    assert str(out.errors[5]) == "row 5: a value over 100"
    assert {i: e.row_index for i, e in out.errors.items()} == {2: 2, 4: 4, 5: 5}


@pytest.mark.parametrize("twin", BATCH_TWINS, ids=lambda c: c.__name__)
def test_batch_way_per_row_method_gives_the_same_records_and_errors(twin):
    """serialize_row (one row through serialize_matrix) against serialize_batch."""
    batch = vector_batch()
    serializer = twin()
    fast = serializer.serialize_batch(batch)
    slow = per_row(serializer, batch, VECTORS)
    assert slow.data == fast.data
    assert slow.offsets.tolist() == fast.offsets.tolist()
    assert_same_errors(fast, slow)


def test_an_array_column_with_a_null_element_is_refused_on_that_row_only():
    batch = record_batch_from_rows(
        [(0, [1.0, 2.0]), (1, [1.0, None]), (2, [3.0, 4.0])],
        ARRAYS,
    )
    out = BatchCSVAsList().serialize_batch(batch)
    assert rows_of(out) == [b"1.0,2.0\n", b"", b"3.0,4.0\n"]
    assert out.errors[1].reason == NULL_ELEMENT
    assert_same_errors(out, per_row(BatchCSVAsList(), batch, ARRAYS))


def test_rows_failing_in_the_user_code_are_isolated_and_packing_skips_them():
    values = np.arange(40, dtype=np.float64).reshape(20, 2)
    values[[3, 17], 1] = 500.0  # the user's code raises for any batch holding these
    batch = record_batch_from_rows([(i, v.tolist()) for i, v in enumerate(values)], ARRAYS)
    serializer = BatchCSVAsList()
    packer = RequestBatchIterator(serializer, max_batch_records=6)
    items = list(packer.iter_arrow([batch]))

    failures = [item for item in items if isinstance(item, RowFailure)]
    assert [(f.index, str(f.error)) for f in failures] == [
        (3, "row 3: a value over 100"),
        (17, "row 17: a value over 100"),
    ]
    bodies = [item for item in items if isinstance(item, RequestBody)]
    assert [(b.start, b.stop) for b in bodies] == [(0, 3), (4, 10), (10, 16), (16, 17), (18, 20)]
    sent = b"".join(b.body for b in bodies)
    assert sent == b"".join(line(values[i]) for i in range(20) if i not in (3, 17))


def test_non_finite_values_reach_the_user_when_allowed():
    class WithNaN(BatchCSVAsList):
        allow_non_finite = True

    batch = record_batch_from_rows([(0, [float("nan"), float("-inf")])], ARRAYS)
    assert rows_of(WithNaN().serialize_batch(batch)) == [b"null,null\n"]  # orjson's spelling


def test_only_the_features_column_leaves_the_jvm_and_vectors_may_come_dense():
    serializer = BatchCSVAsList()
    assert serializer.input_columns(VECTORS) == ["features"]
    assert serializer.writes_vectors_dense


def test_a_row_written_as_none_gets_an_error_naming_the_method():
    class RefusesOdd(FeatureMatrixSerializer):
        def serialize_matrix(self, features):
            return [None if row[0] % 2 else line(row) for row in features]

    batch = record_batch_from_rows([(i, [float(i)]) for i in range(4)], ARRAYS)
    out = RefusesOdd().serialize_batch(batch)
    assert rows_of(out) == [b"0.0\n", b"", b"2.0\n", b""]
    assert str(out.errors[1]) == (
        "row 1: RefusesOdd.serialize_matrix wrote None for this row: the format cannot carry it"
    )


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (lambda f: [b"x\n"] * (len(f) - 1), r"wrote 1 records for 2 rows"),
        (lambda f: b"x\n" * len(f), r"returned bytes; return one bytes per row"),
        (lambda f: ["text"] * len(f), r"must write bytes for each row"),
        (lambda f: pa.array([1, 2]), r"returned an Arrow array of int64"),
    ],
    ids=["count", "one-bytes", "str", "arrow-ints"],
)
def test_a_batch_method_breaking_the_contract_fails_loudly(written, message):
    class Broken(FeatureMatrixSerializer):
        def serialize_matrix(self, features):
            return written(features)

    batch = record_batch_from_rows([(0, [1.0]), (1, [2.0])], ARRAYS)
    with pytest.raises(SerdeError, match=message):
        Broken().serialize_batch(batch)


def test_records_end_with_counts_the_records_it_finds():
    class TwoLinesPerRow(FeatureMatrixSerializer):
        records_end_with = b"\n"

        def serialize_matrix(self, features):
            return b"a\nb\n" * len(features)

    batch = record_batch_from_rows([(0, [1.0])], ARRAYS)
    with pytest.raises(SerdeError, match=r"wrote 2 records ending with b'\\n' for 1 rows"):
        TwoLinesPerRow().serialize_batch(batch)


# --- RecordBatchSerializer: the user reads Arrow columns --------------------------------


class IdsAsText(RecordBatchSerializer):
    """One ``id:label`` line per row; a row without a label is refused by raising."""

    content_type = "text/plain"
    row_separator = b";"

    def serialize_record_batch(self, batch: pa.RecordBatch):
        labels = batch.column("label")
        if labels.null_count:
            raise ValueError("a label is null")
        ids = batch.column("id").cast(pa.string())
        return pa.compute.binary_join_element_wise(ids, labels, ":")


LABELLED = StructType([StructField("id", LongType()), StructField("label", StringType())])


def test_record_batch_serializer_isolates_the_row_it_raises_for_and_frames_bodies():
    batch = record_batch_from_rows([(1, "a"), (2, "b"), (3, None), (4, "d"), (5, "e")], LABELLED)
    serializer = IdsAsText()
    out = serializer.serialize_batch(batch)
    assert rows_of(out) == [b"1:a", b"2:b", b"", b"4:d", b"5:e"]
    assert str(out.errors[2]) == "row 2: a label is null"
    bodies = list(RequestBatchIterator(serializer).iter_arrow([batch]))
    assert [getattr(b, "body", None) for b in bodies] == [b"1:a;2:b", None, b"4:d;5:e"]


def test_record_batch_serializer_serializes_a_row_through_its_schema():
    serializer = IdsAsText()
    with pytest.raises(SerdeError, match=r"call set_schema\(df.schema\) first"):
        serializer.serialize_row(Row(id=1, label="a"))
    serializer.set_schema(LABELLED)
    assert serializer.serialize_row(Row(id=7, label="x")) == b"7:x"
    assert serializer.serialize_row(Row(label="y", id=8)) == b"8:y"


# --- ColumnsDeserializer ---------------------------------------------------------------


@register_deserializer("test-batch-predictions")
class BatchPredictions(ColumnsDeserializer):
    accepts = "application/json"

    def __init__(self, column: str = "probabilities") -> None:
        self.column = column

    @property
    def schema(self) -> StructType:
        return StructType([StructField(self.column, ArrayType(DoubleType()))])

    def deserialize_columns(self, body: bytes):
        return {self.column: orjson.loads(body)["predictions"]}


def test_columns_deserializer_builds_what_the_builtin_builds():
    body = b'{"predictions": [[0.25, 0.75], [1, 0], [0.5, 0.5]]}'
    ours = BatchPredictions().deserialize_batch(body)
    builtin = JSONPredictionsResponseRowDeserializer("probabilities array<double>")
    assert ours.equals(builtin.deserialize_batch(body))
    assert list(BatchPredictions().deserialize_response(body)) == [
        ([0.25, 0.75],),
        ([1.0, 0.0],),
        ([0.5, 0.5],),
    ]


def test_columns_may_be_numpy_arrow_or_positional():
    class Several(ColumnsDeserializer):
        schema = StructType(
            [
                StructField("score", DoubleType()),
                StructField("probs", ArrayType(DoubleType())),
                StructField("label", StringType()),
                StructField("projection", VectorUDT()),
            ]
        )

        def deserialize_columns(self, body: bytes):
            matrix = np.array([[0.1, 0.9], [0.8, 0.2]])
            return [matrix[:, 1], matrix, pa.array(["b", "a"]), matrix]

    batch = Several().deserialize_batch(b"")
    assert batch.column("score").to_pylist() == [0.9, 0.2]
    assert batch.column("probs").to_pylist() == [[0.1, 0.9], [0.8, 0.2]]
    assert batch.column("label").to_pylist() == ["b", "a"]
    assert list(Several().deserialize_response(b""))[1] == (
        0.2,
        [0.8, 0.2],
        "a",
        DenseVector([0.8, 0.2]),
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"a": [1.0, 2.0], "b": [1.0]},
            r"one value per result in every column, got a: 2 values, b: 1 values",
        ),
        ({"a": [1.0], "c": [1.0]}, r"gave columns \['a', 'c'\]; the schema has \['a', 'b'\]"),
        ([[1.0]], r"gave 1 columns for the 2 of the schema \(a, b\)"),
        ({"a": 1.0, "b": [1.0]}, r"a: not a column of values"),
        ({"a": ["x"], "b": [1.0]}, r"column 'a' \(double\)"),
    ],
    ids=["count", "names", "width", "scalar", "type"],
)
def test_columns_that_do_not_fit_the_schema_are_parse_errors(columns, message):
    class Given(ColumnsDeserializer):
        accepts = "application/json"
        schema = StructType([StructField("a", DoubleType()), StructField("b", DoubleType())])

        def deserialize_columns(self, body: bytes):
            return columns

    with pytest.raises(ResponseParseError, match=message) as info:
        Given().deserialize_batch(b'{"x": 1}')
    assert str(info.value).startswith("cannot read response as application/json: ")
    assert "body (8 bytes) starts b'{\"x\": 1}'" in str(info.value)


def test_an_exception_in_deserialize_columns_is_a_parse_error_quoting_the_body():
    with pytest.raises(ResponseParseError) as info:
        BatchPredictions().deserialize_batch(b'{"outputs": []}')
    assert "BatchPredictions.deserialize_columns raised KeyError: 'predictions'" in str(info.value)
    assert info.value.body_head == b'{"outputs": []}'


# --- through the scoring engine (no Spark: a MockEndpoint, a fake clock) -------------


class AnyValueCSV(BatchCSVAsList):
    limit = float("inf")


def score_with_batch_serdes(answer, batches):
    """One partition through the engine with batch-way SerDes, errors in a column."""
    scorer = PartitionScorer(
        MockEndpoint(answer),
        AnyValueCSV(),
        BatchPredictions(),
        EngineOptions(max_batch_records=100, on_error="column"),
        Accumulator(),
        FakeClock(),
    )
    return [row for array in scorer(iter(batches)) for row in array.to_pylist()]


def probabilities_of(rows: list[list[float]]) -> list[list[float]]:
    return [[sum(r), -sum(r)] for r in rows]


def test_the_engine_reports_a_wrong_count_from_a_batch_deserializer_on_that_body_only():
    def one_short_for_the_second_body(request):
        rows = csv_rows(request)
        predictions = probabilities_of(rows)
        if int(rows[0][0]) == 100:
            predictions = predictions[1:]
        return orjson.dumps({"predictions": predictions})

    rows = score_with_batch_serdes(one_short_for_the_second_body, feature_batches(300, 300))
    assert [r["error"]["kind"] if r["error"] else None for r in rows] == (
        [None] * 100 + ["count_mismatch"] * 100 + [None] * 100
    )
    assert "99 results for 100 rows" in rows[150]["error"]["message"]
    assert [r["probabilities"] for r in rows[:100] + rows[200:]] == [
        [expected_sum(i), -expected_sum(i)] for i in [*range(100), *range(200, 300)]
    ]


def test_the_engine_keeps_a_refused_row_apart_and_scores_its_neighbours():
    batches = feature_batches(10, 10)
    values = batches[0].column("features").to_pylist()
    values[4][2] = float("nan")
    batch = pa.record_batch([pa.array(values)], names=["features"])
    rows = score_with_batch_serdes(
        lambda request: orjson.dumps({"predictions": probabilities_of(csv_rows(request))}),
        [batch],
    )
    assert [r["error"]["kind"] if r["error"] else None for r in rows] == (
        [None] * 4 + ["serialization"] + [None] * 5
    )
    assert rows[4]["probabilities"] is None
    assert [r["probabilities"][0] for r in rows if r["error"] is None] == [
        expected_sum(i) for i in range(10) if i != 4
    ]


# --- registration and saving by name -------------------------------------------------


def test_batch_serdes_save_and_load_by_name():
    serializer = BatchCSVAsList(features_column_name="x")
    spec = serde_spec(serializer)
    assert spec == {"name": "test-batch-csv", "options": {"features_column_name": "x"}}
    again = serializer_from_spec(orjson.loads(orjson.dumps(spec)))
    assert type(again) is BatchCSVAsList and again.features_column_name == "x"
    with_schema = serializer_from_spec(serde_spec(BatchCSVAsList(schema=VECTORS)))
    assert with_schema.schema == VECTORS

    deserializer = BatchPredictions(column="p")
    spec = serde_spec(deserializer)
    assert spec == {"name": "test-batch-predictions", "options": {"column": "p"}}
    body = b'{"predictions": [[0.5, 0.5]]}'
    loaded = deserializer_from_spec(spec)
    assert loaded.deserialize_batch(body).equals(deserializer.deserialize_batch(body))


# --- the per-row path ---------------------------------------------------------------


class SeesRows(RequestRowSerializer):
    """Records what serialize_row was handed."""

    def __init__(self) -> None:
        self.seen: list[Row] = []

    def serialize_row(self, row: Row) -> bytes:
        self.seen.append(row)
        return b"x"


def test_a_vector_column_converted_to_an_array_reaches_the_user_as_dense_vectors():
    """The engine may hand a VectorUDT column over as list<double> (vector_to_array)."""
    as_arrays = pa.record_batch(
        [pa.array([1, 2, 3]), pa.array([[1.0, 2.0], None, [3.0, 4.0]])],
        names=["id", "features"],
    )
    serializer = SeesRows()
    serializer.set_schema(VECTORS)
    serializer.serialize_batch(as_arrays)
    assert serializer.seen == [
        Row(id=1, features=DenseVector([1.0, 2.0])),
        Row(id=2, features=None),
        Row(id=3, features=DenseVector([3.0, 4.0])),
    ]
    assert isinstance(serializer.seen[0].features, DenseVector)
    ragged = pa.record_batch([pa.array([[1.0], [2.0, 3.0]])], names=["features"])
    assert [r.features for r in rows_from_record_batch(ragged, VECTORS)] == [
        DenseVector([1.0]),
        DenseVector([2.0, 3.0]),
    ]


def test_per_row_serializer_sees_the_same_vectors_either_way():
    """Spark's vector struct and the converted array give the per-row user equal rows."""
    vectors = vector_batch()
    dense_ids = [0, 3, 5, 6]
    as_struct = list(rows_from_record_batch(vectors.take(dense_ids), VECTORS))
    as_list = pa.record_batch(
        [
            pa.array(dense_ids),
            pa.array([row.features.toArray().tolist() for row in as_struct]),
        ],
        names=["id", "features"],
    )
    assert list(rows_from_record_batch(as_list, VECTORS)) == as_struct
    assert (
        PerRowCSV().serialize_batch(as_list).data
        == PerRowCSV().serialize_batch(vectors.take(dense_ids)).data
    )


def test_rows_behave_like_spark_rows():
    batch = pa.record_batch(
        [pa.array([1, 2]), pa.array(["a", "b"]), pa.array([0.5, 1.5])],
        names=["id", "count", "score"],
    )
    first, second = rows_from_record_batch(batch)
    assert first == Row(id=1, count="a", score=0.5)
    assert isinstance(first, Row)
    assert repr(first) == "Row(id=1, count='a', score=0.5)"
    assert (first.id, first["score"], first[2], first[-1]) == (1, 0.5, 0.5, 0.5)
    assert first["count"] == "a" and first.count("a") == 1  # tuple.count, as on any Row
    assert "score" in first and "other" not in first
    assert first.asDict() == {"id": 1, "count": "a", "score": 0.5}
    assert second.__fields__ == ["id", "count", "score"]
    restored = pickle.loads(pickle.dumps(second))
    assert restored == second and type(restored) is Row and restored.score == 1.5
    with pytest.raises(ValueError):
        first["missing"]
    with pytest.raises(AttributeError):
        first.missing  # noqa: B018


@pytest.mark.parametrize(
    "column",
    [
        pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]).slice(1),
        pa.array([[1.0], [], None, [2.0, None]]),
        pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())),
        pa.array([[1.5, 2.5]], pa.large_list(pa.float32())),
        pa.array([1.5, None, 2.5]),
        pa.array([7, 8], pa.int64()),
        pa.array([True, False]),
        pa.chunked_array([pa.array([1.0]), pa.array([2.0])]),
    ],
    ids=["sliced", "ragged-nulls", "int32", "float32-large", "nulls", "int64", "bool", "chunked"],
)
def test_plain_columns_reach_the_user_as_arrow_would_give_them(column):
    batch = pa.Table.from_arrays([column], names=["v"]).combine_chunks().to_batches()[0]
    assert [row.v for row in rows_from_record_batch(batch)] == column.to_pylist()


def test_scalar_types_in_the_schema_keep_their_python_values():
    schema = StructType(
        [
            StructField("i", IntegerType()),
            StructField("f", FloatType()),
            StructField("s", StringType()),
        ]
    )
    batch = record_batch_from_rows([(1, 0.5, "x"), (None, None, None)], schema)
    assert list(rows_from_record_batch(batch, schema)) == [
        Row(i=1, f=0.5, s="x"),
        Row(i=None, f=None, s=None),
    ]


def test_vector_struct_with_sparse_rows_and_nulls_still_reads_row_by_row():
    rows = list(rows_from_record_batch(vector_batch(), VECTORS))
    assert rows[1].features == SparseVector(3, [1], [7.0])
    assert rows[2].features is None
    assert rows[6].features == DenseVector([4.0, 5.0])
    struct = pa.array(
        [None, {"type": 1, "size": None, "indices": None, "values": [1.0]}], VECTOR_ARROW_TYPE
    )
    batch = pa.record_batch([struct], names=["features"])
    assert [r.features for r in rows_from_record_batch(batch)] == [None, DenseVector([1.0])]


def test_default_deserialize_batch_takes_lists_tuples_and_numpy_values():
    class Rows(ResponseRowDeserializer):
        schema = StructType(
            [StructField("p", ArrayType(DoubleType())), StructField("n", LongType())]
        )

        def deserialize_response(self, body: bytes):
            return [([0.5, 0.5], 1), ((1, 0), np.int64(2)), (np.array([0.25, 0.75]), None)]

    batch = Rows().deserialize_batch(b"")
    assert batch.to_pylist() == [
        {"p": [0.5, 0.5], "n": 1},
        {"p": [1.0, 0.0], "n": 2},
        {"p": [0.25, 0.75], "n": None},
    ]


def test_record_batch_from_rows_reports_a_short_row():
    with pytest.raises(IndexError):
        record_batch_from_rows(
            [(1.0, 2), (3.0,)],
            StructType([StructField("a", DoubleType()), StructField("b", LongType())]),
        )
