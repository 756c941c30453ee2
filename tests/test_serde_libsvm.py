"""text/x-libsvm SerDes: the two request serializers (exact bytes as sagemaker_pyspark
writes them; vectorized == per-row) and LibSVMResponseRowDeserializer (bulk == per-line)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import both_paths, rows_of

from serde import get_deserializer, get_serializer, serde_spec
from serde.arrow_types import record_batch_from_rows, rows_from_record_batch
from serde.base import ResponseRowDeserializer
from serde.errors import ResponseParseError, SchemaValidationError
from serde.libsvm import (
    LibSVMRequestRowSerializer,
    LibSVMResponseRowDeserializer,
    UnlabeledLibSVMRequestRowSerializer,
)

LABELED = StructType([StructField("label", DoubleType()), StructField("features", VectorUDT())])
UNLABELED = StructType([StructField("features", VectorUDT())])


def parse_libsvm_line(line: bytes) -> tuple[float, list[int], list[float]]:
    """An independent reader: Python's split, int and float."""
    label, *items = line.decode().rstrip("\n").split(" ")
    pairs = [item.split(":") for item in items]
    return float(label), [int(i) for i, _ in pairs], [float(v) for _, v in pairs]


# ----------------------------------------------------------------- request serializers


def test_labeled_exact_bytes_from_spark(spark):
    rows = [
        (1.0, Vectors.dense([1.0, 0.0, -2.5])),  # dense: every entry, zeros included
        (0.0, Vectors.sparse(5, [1, 4], [0.5, 0.0])),  # sparse: stored entries, 1-based
        (-3.0, Vectors.dense([1e-300, 1e16])),
        (2.5, Vectors.sparse(3, [], [])),
        (1.0, Vectors.dense([])),
        (math.nan, Vectors.dense([math.inf, -math.inf])),
    ]
    df = spark.createDataFrame(rows, LABELED).coalesce(1)
    batch = pa.Table.from_batches(df._collect_as_arrow()).combine_chunks().to_batches()[0]
    result = both_paths(LibSVMRequestRowSerializer(df.schema), batch)
    assert rows_of(result) == [
        b"1.0 1:1.0 2:0.0 3:-2.5\n",
        b"0.0 2:0.5 5:0.0\n",
        b"-3.0 1:1e-300 2:1e+16\n",
        b"2.5\n",
        b"1.0\n",
        b"NaN 1:Infinity 2:-Infinity\n",
    ]
    assert LibSVMRequestRowSerializer.content_type == "text/x-libsvm"


def test_unlabeled_writes_label_zero():
    batch = record_batch_from_rows(
        [(Vectors.sparse(10, [9], [4.0]),), (Vectors.dense([0.25, 3.0]),)], UNLABELED
    )
    result = both_paths(UnlabeledLibSVMRequestRowSerializer(UNLABELED), batch)
    assert result.data == b"0.0 10:4.0\n0.0 1:0.25 2:3.0\n"
    assert UnlabeledLibSVMRequestRowSerializer.content_type == "text/x-libsvm"


@pytest.mark.parametrize(
    ("label_type", "labels", "expected"),
    [
        (IntegerType(), [1, -7], [b"1.0", b"-7.0"]),
        (LongType(), [2**53 + 1, 0], [b"9007199254740992.0", b"0.0"]),  # rounds as float()
        (DecimalType(38, 18), [Decimal("0.1"), Decimal("-73295727.493410934019370651")], None),
    ],
)
def test_numeric_label_types(label_type, labels, expected):
    schema = StructType([StructField("y", label_type), StructField("x", ArrayType(DoubleType()))])
    batch = record_batch_from_rows([(label, [1.0]) for label in labels], schema)
    ser = LibSVMRequestRowSerializer(schema, label_column_name="y", features_column_name="x")
    result = both_paths(ser, batch)
    if expected is None:  # decimals: the double nearest the exact decimal
        expected = [repr(float(label)).encode() for label in labels]
    assert rows_of(result) == [label + b" 1:1.0\n" for label in expected]


def test_array_features():
    schema = StructType(
        [StructField("label", DoubleType()), StructField("features", ArrayType(IntegerType()))]
    )
    batch = record_batch_from_rows([(1.0, [3, 0, -1]), (0.0, [])], schema)
    result = both_paths(LibSVMRequestRowSerializer(schema), batch)
    assert result.data == b"1.0 1:3.0 2:0.0 3:-1.0\n0.0\n"


def test_null_label_and_null_features_are_row_errors():
    batch = record_batch_from_rows(
        [
            (1.0, Vectors.dense([1.0])),
            (None, Vectors.dense([2.0])),
            (3.0, None),
            (None, None),  # the label is checked first
            (5.0, Vectors.dense([5.0])),
        ],
        LABELED,
    )
    result = both_paths(LibSVMRequestRowSerializer(), batch)
    assert rows_of(result) == [b"1.0 1:1.0\n", b"", b"", b"", b"5.0 1:5.0\n"]
    assert str(result.errors[1]) == (
        "row 1, column 'label': label is null; fill or drop rows without a label before scoring"
    )
    assert str(result.errors[2]) == "row 2, column 'features': features are null"
    assert result.errors[3].column == "label"


def test_null_array_element_is_a_row_error():
    schema = StructType(
        [StructField("label", DoubleType()), StructField("features", ArrayType(DoubleType()))]
    )
    batch = record_batch_from_rows([(1.0, [1.0, None]), (2.0, [2.0])], schema)
    result = both_paths(UnlabeledLibSVMRequestRowSerializer(), batch)
    assert rows_of(result) == [b"", b"0.0 1:2.0\n"]
    assert "holds a null element" in str(result.errors[0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(allow_nan=False)),
            st.one_of(
                st.none(),
                st.dictionaries(st.integers(0, 30), st.floats(allow_nan=False), max_size=6),
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_round_trip_property(rows):
    """serialize → an independent parser → the same label, 1-based indices and values."""

    def vector(entries, sparse):
        if entries is None:
            return None
        if sparse:
            return Vectors.sparse(31, entries)
        dense = np.zeros(max(entries, default=-1) + 1)
        dense[list(entries)] = list(entries.values())
        return Vectors.dense(dense)

    batch = record_batch_from_rows([(y, vector(e, s)) for y, e, s in rows], LABELED)
    result = both_paths(LibSVMRequestRowSerializer(), batch)
    for i, (label, entries, sparse) in enumerate(rows):
        if label is None or entries is None:
            assert result.row(i) == b"" and i in result.errors
            continue
        got_label, indices, values = parse_libsvm_line(result.row(i))
        assert got_label == label
        want = vector(entries, sparse)
        want_indices = want.indices.tolist() if sparse else list(range(len(want.toArray())))
        assert indices == [j + 1 for j in want_indices]
        assert values == [float(want[j]) for j in want_indices]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            StructType([StructField("features", VectorUDT())]),
            "column 'label': expected a numeric label column, got no such column. "
            "available columns: features",
        ),
        (
            StructType([StructField("label", StringType()), StructField("features", VectorUDT())]),
            "column 'label': expected a numeric label column (double, float, int, long, "
            "decimal, ...), got string. cast it to double, or use "
            "UnlabeledLibSVMRequestRowSerializer",
        ),
        (
            StructType([StructField("label", DoubleType()), StructField("features", DoubleType())]),
            "column 'features': expected an ML Vector or array<float|double|int|long>, got double",
        ),
    ],
)
def test_schema_errors(schema, message):
    with pytest.raises(SchemaValidationError) as info:
        LibSVMRequestRowSerializer(schema)
    assert str(info.value) == message


def test_unlabeled_schema_needs_no_label():
    UnlabeledLibSVMRequestRowSerializer(UNLABELED)  # no error
    with pytest.raises(SchemaValidationError, match="column 'f': expected a column of the"):
        UnlabeledLibSVMRequestRowSerializer(UNLABELED, features_column_name="f")


def test_registry_names_and_per_row_use():
    labeled = get_serializer("libsvm", label_column_name="y")
    assert isinstance(labeled, LibSVMRequestRowSerializer)
    assert serde_spec(labeled) == {"name": "libsvm", "options": {"label_column_name": "y"}}
    row = Row(y=1, features=Vectors.sparse(5, [1, 4], [0.5, 2.0]))
    assert labeled.serialize_row(row) == b"1.0 2:0.5 5:2.0\n"
    unlabeled = get_serializer("unlabeled-libsvm")
    assert unlabeled.serialize_row(Row(features=Vectors.dense([3, 0]))) == b"0.0 1:3.0 2:0.0\n"


# ------------------------------------------------------------------------ deserializer


def as_rows(des: LibSVMResponseRowDeserializer, body: bytes) -> list[tuple]:
    """The bulk result as (label, SparseVector) tuples, after checking it equals the
    per-line result and the generic conversion of it."""
    batch = des.deserialize_batch(body)
    assert batch.schema == des.arrow_schema
    generic = ResponseRowDeserializer.deserialize_batch(des, body)
    assert repr(batch.to_pylist()) == repr(generic.to_pylist())  # repr: NaN equals NaN
    rows = [tuple(r) for r in rows_from_record_batch(batch, des.schema)]
    assert repr(rows) == repr(des.deserialize_response(body))
    return rows


def test_response_values():
    des = LibSVMResponseRowDeserializer(5)
    body = b"1.0 1:0.5 3:2\n0.0\n-2 5:1e-3\n"
    assert as_rows(des, body) == [
        (1.0, SparseVector(5, [0, 2], [0.5, 2.0])),
        (0.0, SparseVector(5, [], [])),
        (-2.0, SparseVector(5, [4], [0.001])),
    ]
    assert des.accepts == "text/x-libsvm"
    assert des.schema == StructType(
        [StructField("label", DoubleType(), False), StructField("features", VectorUDT(), False)]
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1 1:2", [(1.0, [0], [2.0])]),  # no final newline
        (b"1  2:3 \n\n\n", [(1.0, [1], [3.0])]),  # extra spaces skipped, trailing lines dropped
        (b"1 1:NaN\r\n2 2:Infinity\r\n", [(1.0, [0], [math.nan]), (2.0, [1], [math.inf])]),
        (b"", []),
    ],
)
def test_response_lenient_forms(body, expected):
    rows = as_rows(LibSVMResponseRowDeserializer(3), body)
    assert len(rows) == len(expected)
    for (label, vector), (want_label, indices, values) in zip(rows, expected):
        assert label == want_label
        assert vector.indices.tolist() == indices
        np.testing.assert_array_equal(vector.values, values)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"1.0 1:0.5 7:2\n", "line 1: index 7 is outside 1..5 (dim=5)"),
        (b"1.0 0:0.5\n", "line 1: index 0 is outside 1..5 (dim=5)"),
        (b"1 1:1\n1 3:1 2:1\n", "line 2: index 2 follows 3; indices must increase"),
        (b"abc 1:1\n", "line 1: label: expected a number, got 'abc'"),
        (b" 1:1\n", "line 1: label: expected a number, got ''"),
        (b"1 1:2:3\n", "line 1: expected index:value, got '1:2:3'"),
        (b"1 2\n", "line 1: expected index:value, got '2'"),
        (b"1 x:2\n", "line 1: item 'x:2': expected an integer, got 'x'"),
        (b"1 1:y\n", "line 1: item '1:y': expected a number, got 'y'"),
        (b"1\n\n2\n", "line 2: label: expected a number, got ''"),
    ],
)
def test_response_errors_name_the_line_and_quote_the_body(body, reason):
    des = LibSVMResponseRowDeserializer(5)
    for parse in (des.deserialize_response, des.deserialize_batch):
        with pytest.raises(ResponseParseError) as info:
            parse(body)
        assert str(info.value) == (
            f"cannot read response as text/x-libsvm: {reason}; body ({len(body)} bytes) "
            f"starts {body!r}"
        )


@pytest.mark.parametrize(
    ("dim", "error", "message"),
    [
        (-1, ValueError, "dim must be from 0 to 2,147,483,647, got -1"),
        (2**31, ValueError, "dim must be from 0 to 2,147,483,647, got 2,147,483,648"),
        (2.5, TypeError, "dim must be a whole number (from 0 to 2,147,483,647), got 2.5 (float)"),
        ("7", TypeError, "dim must be a whole number (from 0 to 2,147,483,647), got '7' (str)"),
    ],
)
def test_dim_outside_a_spark_vector_size_is_refused_at_construction(dim, error, message):
    with pytest.raises(error) as info:
        LibSVMResponseRowDeserializer(dim)
    assert str(info.value).startswith(message)


def test_registry_name():
    des = get_deserializer("libsvm-response", dim=3, label_column_name="y")
    assert isinstance(des, LibSVMResponseRowDeserializer)
    assert serde_spec(des) == {
        "name": "libsvm-response",
        "options": {"dim": 3, "label_column_name": "y"},
    }


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.dictionaries(st.integers(0, 19), st.floats(allow_nan=False), max_size=5),
        ),
        max_size=12,
    ),
    st.sampled_from([repr, "{:.17e}".format]),
    st.booleans(),
)
def test_generated_bodies_read_back(lines, spell, final_newline):
    body = "\n".join(
        " ".join([spell(label)] + [f"{i + 1}:{spell(v)}" for i, v in sorted(entries.items())])
        for label, entries in lines
    )
    body = (body + ("\n" if final_newline and lines else "")).encode()
    rows = as_rows(LibSVMResponseRowDeserializer(20), body)
    assert len(rows) == len(lines)
    for (label, vector), (want_label, entries) in zip(rows, lines):
        assert label == want_label
        assert vector.size == 20
        assert vector.indices.tolist() == sorted(entries)
        assert vector.values.tolist() == [entries[i] for i in sorted(entries)]


def test_request_bytes_read_back_by_the_response_deserializer():
    """What the serializer writes, the deserializer reads: a LibSVM round trip."""
    vectors = [Vectors.sparse(8, [0, 7], [1.5, -2.0]), Vectors.dense([0.0, 3.0])]
    batch = record_batch_from_rows([(float(i), v) for i, v in enumerate(vectors)], LABELED)
    body = LibSVMRequestRowSerializer().serialize_batch(batch).data
    rows = as_rows(LibSVMResponseRowDeserializer(8), body)
    assert rows == [
        (0.0, SparseVector(8, [0, 7], [1.5, -2.0])),
        (1.0, SparseVector(8, [0, 1], [0.0, 3.0])),
    ]
