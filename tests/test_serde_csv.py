"""text/csv SerDes: UnlabeledCSVRequestRowSerializer (exact bytes, as sagemaker_pyspark
writes them; vectorized == per-row) and XGBoostCSVRowDeserializer (bulk == per-token)."""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import both_paths, rows_of

from serde import get_deserializer, get_serializer, serde_spec
from serde.arrow_types import record_batch_from_rows
from serde.base import ResponseRowDeserializer
from serde.batching import RequestBatchIterator, RequestBody
from serde.csv import (
    EMPTY_FEATURES,
    UnlabeledCSVRequestRowSerializer,
    XGBoostCSVRowDeserializer,
)
from serde.errors import ResponseParseError, SchemaValidationError
from serde.numbers import format_double

VECTOR_SCHEMA = StructType([StructField("id", LongType()), StructField("features", VectorUDT())])


def arrow_batch(spark, rows, schema) -> pa.RecordBatch:
    """The rows as Spark itself hands them to Python (one Arrow batch)."""
    batches = spark.createDataFrame(rows, schema).coalesce(1)._collect_as_arrow()
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


# ------------------------------------------------------------------ request serializer


def test_vectors_from_spark_exact_bytes(spark):
    rows = [
        (0, Vectors.dense([1.0, 0.0, -2.5])),
        (1, Vectors.sparse(3, [1], [0.5])),  # written dense, as the reference does
        (2, Vectors.dense([1e-300, 1.9999999999999998e23, 1e16])),
        (3, Vectors.sparse(3, [0, 2], [-0.0, 7.0])),
        (4, Vectors.dense([123456.789, 5e-324, -1.0])),
    ]
    batch = arrow_batch(spark, rows, VECTOR_SCHEMA)
    result = both_paths(UnlabeledCSVRequestRowSerializer(VECTOR_SCHEMA), batch)
    assert rows_of(result) == [
        b"1.0,0.0,-2.5\n",
        b"0.0,0.5,0.0\n",
        b"1e-300,2e+23,1e+16\n",
        b"-0.0,0.0,7.0\n",
        b"123456.789,5e-324,-1.0\n",
    ]
    assert result.errors == {}


def test_non_finite_values_spelled_like_java(spark):
    rows = [(0, Vectors.dense([math.nan, 1.0])), (1, Vectors.dense([math.inf, -math.inf]))]
    batch = arrow_batch(spark, rows, VECTOR_SCHEMA)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    assert result.data == b"NaN,1.0\nInfinity,-Infinity\n"


def test_empty_and_ragged_vectors(spark):
    # sparse vectors of different sizes: each row is written at its size; an empty one
    # would be a blank line, which CSV readers skip, so it is that row's error
    rows = [
        (0, Vectors.sparse(4, [3], [1.5])),
        (1, Vectors.dense([])),
        (2, Vectors.sparse(2, [], [])),
        (3, Vectors.dense([2.0])),
    ]
    batch = arrow_batch(spark, rows, VECTOR_SCHEMA)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    assert rows_of(result) == [b"0.0,0.0,0.0,1.5\n", b"", b"0.0,0.0\n", b"2.0\n"]
    assert str(result.errors[1]) == f"row 1, column 'features': {EMPTY_FEATURES}"
    assert sorted(result.errors) == [1]


def test_null_vector_is_a_row_error_naming_row_and_column(spark):
    rows = [(0, Vectors.dense([1.0, 2.0])), (1, None), (2, Vectors.dense([3.0, 4.0])), (3, None)]
    batch = arrow_batch(spark, rows, VECTOR_SCHEMA)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    assert rows_of(result) == [b"1.0,2.0\n", b"", b"3.0,4.0\n", b""]
    assert sorted(result.errors) == [1, 3]
    assert str(result.errors[1]) == "row 1, column 'features': features are null"
    assert result.errors[3].row_index == 3


def test_null_vector_in_a_ragged_batch(spark):
    rows = [(0, Vectors.dense([1.0])), (1, None), (2, Vectors.dense([3.0, 4.0]))]
    batch = arrow_batch(spark, rows, VECTOR_SCHEMA)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    assert rows_of(result) == [b"1.0\n", b"", b"3.0,4.0\n"]
    assert list(result.errors) == [1]


@pytest.mark.parametrize(
    ("element_type", "values", "expected"),
    [
        (IntegerType(), [1, -2, 0], b"1.0,-2.0,0.0\n"),
        (LongType(), [2**40, 7], b"1099511627776.0,7.0\n"),
        (FloatType(), [0.5, 0.1], b"0.5,0.10000000149011612\n"),  # float32 0.1 as a double
        (DoubleType(), [0.1, -1e-7], b"0.1,-1e-7\n"),
    ],
)
def test_array_columns(spark, element_type, values, expected):
    schema = StructType([StructField("features", ArrayType(element_type))])
    batch = arrow_batch(spark, [(values,), ([],)], schema)
    result = both_paths(UnlabeledCSVRequestRowSerializer(schema), batch)
    assert rows_of(result) == [expected, b""]
    assert str(result.errors[1]) == f"row 1, column 'features': {EMPTY_FEATURES}"


def test_array_with_null_element_is_a_row_error(spark):
    schema = StructType([StructField("features", ArrayType(DoubleType()))])
    batch = arrow_batch(spark, [([1.0, 2.0],), ([1.0, None],), (None,)], schema)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    assert rows_of(result) == [b"1.0,2.0\n", b"", b""]
    assert str(result.errors[1]) == (
        "row 1, column 'features': an array of features holds a null element; "
        "fill or drop nulls before scoring"
    )
    assert str(result.errors[2]) == "row 2, column 'features': features are null"


def test_scalar_columns_in_the_order_given(spark):
    schema = StructType(
        [
            StructField("age", IntegerType()),
            StructField("income", DoubleType()),
            StructField("ratio", DecimalType(10, 3)),
            StructField("name", StringType()),
        ]
    )
    rows = [(42, 5.5e4, Decimal("0.125"), "a"), (7, -1.0, Decimal("3.100"), "b")]
    batch = arrow_batch(spark, rows, schema)
    ser = UnlabeledCSVRequestRowSerializer(schema, features_column_name=["ratio", "age", "income"])
    assert rows_of(both_paths(ser, batch)) == [b"0.125,42.0,55000.0\n", b"3.1,7.0,-1.0\n"]
    one = UnlabeledCSVRequestRowSerializer(schema, features_column_name="income")
    assert rows_of(both_paths(one, batch)) == [b"55000.0\n", b"-1.0\n"]


def test_null_scalar_reports_the_first_null_column(spark):
    schema = StructType([StructField("a", DoubleType()), StructField("b", DoubleType())])
    batch = arrow_batch(spark, [(1.0, 2.0), (None, None), (3.0, None)], schema)
    result = both_paths(UnlabeledCSVRequestRowSerializer(features_column_name=["a", "b"]), batch)
    assert rows_of(result) == [b"1.0,2.0\n", b"", b""]
    assert str(result.errors[1]).startswith("row 1, column 'a': value is null")
    assert str(result.errors[2]).startswith("row 2, column 'b': value is null")


def test_serializes_inside_spark_workers(spark):
    """The serializer travels to executors and runs in mapInArrow, as the transformer
    uses it."""
    df = spark.createDataFrame(
        [(i, Vectors.dense([float(i), i / 4])) for i in range(6)], VECTOR_SCHEMA
    ).repartition(2)
    serializer = UnlabeledCSVRequestRowSerializer(df.schema)

    def serialize(batches):  # refers to nothing of this module: workers cannot import it
        for batch in batches:
            rows = serializer.serialize_batch(batch)
            bodies = pa.array([rows.row(i) for i in range(rows.num_rows)], pa.binary())
            yield pa.record_batch([batch.column("id"), bodies], names=["id", "body"])

    out = df.mapInArrow(serialize, "id long, body binary").orderBy("id").collect()
    assert [bytes(r.body) for r in out] == [
        b"0.0,0.0\n",
        b"1.0,0.25\n",
        b"2.0,0.5\n",
        b"3.0,0.75\n",
        b"4.0,1.0\n",
        b"5.0,1.25\n",
    ]


def test_packed_body_reads_back_with_pythons_csv_module():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50, 4)) * 10.0 ** rng.integers(-30, 30, size=(50, 4))
    rows = [(Vectors.dense(r),) for r in matrix]
    schema = StructType([StructField("features", VectorUDT())])
    batch = record_batch_from_rows(rows, schema)
    ser = UnlabeledCSVRequestRowSerializer(schema)
    bodies = list(RequestBatchIterator(ser, max_batch_records=20).iter_arrow([batch]))
    assert [(b.start, b.stop) for b in bodies] == [(0, 20), (20, 40), (40, 50)]
    assert all(isinstance(b, RequestBody) for b in bodies)
    parsed = [
        [float(v) for v in line]
        for b in bodies
        for line in csv.reader(io.StringIO(b.body.decode()))
    ]
    assert np.array_equal(np.array(parsed), matrix)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_round_trip_property(vectors, sparse):
    """serialize → Python's float() on each field → the same doubles; both paths agree."""
    schema = StructType([StructField("features", VectorUDT())])

    def vector(values):
        if values is None:
            return None
        if sparse:
            keep = [i for i, v in enumerate(values) if v != 0.0 or i % 2]
            return Vectors.sparse(len(values), keep, [values[i] for i in keep])
        return Vectors.dense(values)

    batch = record_batch_from_rows([(vector(v),) for v in vectors], schema)
    result = both_paths(UnlabeledCSVRequestRowSerializer(), batch)
    for i, values in enumerate(vectors):
        line = result.row(i)
        if not values:  # null, or empty (a blank line): that row's error
            assert line == b"" and i in result.errors
            continue
        assert line.endswith(b"\n")
        parsed = [float(t) for t in line[:-1].split(b",")]
        assert len(parsed) == len(values)
        for got, want in zip(parsed, values):
            assert got == want or (math.isnan(got) and math.isnan(want))


# ------------------------------------------------------------------------ schema checks


@pytest.mark.parametrize(
    ("schema", "columns", "message"),
    [
        (
            StructType([StructField("x", DoubleType())]),
            "features",
            "column 'features': expected a column of the DataFrame, got no such column. "
            "available columns: x",
        ),
        (
            StructType([StructField("features", StringType())]),
            "features",
            "column 'features': expected an ML Vector or array<float|double|int|long> or "
            "numeric scalar columns, got string",
        ),
        (
            StructType([StructField("features", ArrayType(StringType()))]),
            "features",
            "column 'features': expected an ML Vector or array<float|double|int|long>, "
            "got array<string>",
        ),
        (
            StructType([StructField("a", DoubleType()), StructField("b", StringType())]),
            ["a", "b"],
            "column 'b': expected a numeric scalar column, got string",
        ),
    ],
)
def test_schema_errors(schema, columns, message):
    with pytest.raises(SchemaValidationError) as info:
        UnlabeledCSVRequestRowSerializer(schema, features_column_name=columns)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_batch_without_the_column_fails_before_any_row():
    batch = pa.record_batch([pa.array([1.0])], names=["x"])
    with pytest.raises(SchemaValidationError, match="column 'features': expected a column of"):
        UnlabeledCSVRequestRowSerializer().serialize_batch(batch)


def test_registry_and_content_type():
    ser = get_serializer("csv", features_column_name=["a", "b"])
    assert isinstance(ser, UnlabeledCSVRequestRowSerializer)
    assert ser.content_type == UnlabeledCSVRequestRowSerializer.content_type == "text/csv"
    assert serde_spec(ser) == {"name": "csv", "options": {"features_column_name": ["a", "b"]}}
    assert ser.serialize_row(Row(a=1, b=2.5)) == b"1.0,2.5\n"
    assert ser.body_prefix == ser.row_separator == ser.body_suffix == b""


# ----------------------------------------------------------------------- deserializer


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"0.5,1.5,-2", [0.5, 1.5, -2.0]),
        (b"0.5\n1.5\n", [0.5, 1.5]),  # newer XGBoost containers: one per line
        (b"  0.25 , 1e-3\r\n", [0.25, 0.001]),
        (b"1,2,", [1.0, 2.0]),  # trailing empty tokens dropped, like Java's split
        (b"7", [7.0]),
        (b"", []),
        (b" \n", []),
    ],
)
def test_xgboost_csv_values(body, expected):
    des = XGBoostCSVRowDeserializer()
    assert des.deserialize_response(body) == [(v,) for v in expected]
    batch = des.deserialize_batch(body)
    assert batch.schema == des.arrow_schema
    assert batch.column(0).to_pylist() == expected


def test_xgboost_csv_non_finite_and_schema():
    des = get_deserializer("xgboost-csv", prediction_column_name="score")
    assert des.accepts == "text/csv"
    assert des.schema == StructType([StructField("score", DoubleType(), False)])
    values = des.deserialize_batch(b"NaN,Infinity,-Infinity").column("score").to_pylist()
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"0.5,abc,1", "prediction 1: expected a number, got 'abc'"),
        (b"0.5,,1", "prediction 1: expected a number, got ''"),
        (b"1_000", "prediction 0: expected a number, got '1_000'"),
        (b"\xff\xfe", "not UTF-8 text (invalid start byte at byte 0)"),
    ],
)
def test_xgboost_csv_parse_errors_quote_the_body(body, reason):
    des = XGBoostCSVRowDeserializer()
    for parse in (des.deserialize_response, des.deserialize_batch):
        with pytest.raises(ResponseParseError) as info:
            parse(body)
        assert str(info.value) == (
            f"cannot read response as text/csv: {reason}; body ({len(body)} bytes) starts {body!r}"
        )


def test_xgboost_csv_long_body_quoted_to_200_bytes():
    body = b"1.0," * 100 + b"x"
    with pytest.raises(ResponseParseError, match=r"body \(401 bytes\) starts b'1.0,1.0,.*'\.\.\.$"):
        XGBoostCSVRowDeserializer().deserialize_batch(body)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=1, max_size=40),
    st.sampled_from([",", "\n"]),
    st.sampled_from(["", "\n"]),
    st.sampled_from(["repr", "ours", "exp"]),
)
def test_xgboost_bulk_equals_per_token(values, separator, tail, style):
    spell = {"repr": repr, "ours": format_double, "exp": "{:.17e}".format}
    body = (separator.join(spell[style](v) for v in values) + tail).encode()
    des = XGBoostCSVRowDeserializer()
    bulk = des.deserialize_batch(body).column(0).to_pylist()
    per_token = [v for (v,) in des.deserialize_response(body)]
    assert bulk == per_token == values
    generic = ResponseRowDeserializer.deserialize_batch(des, body)
    assert generic.equals(des.deserialize_batch(body))
