"""CSV over named scalar columns (request) and multi-column CSV answers (response)."""

from __future__ import annotations

import csv
import io
import math
import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import DenseVector
from pyspark.sql import Row
from pyspark.sql.types import (
    BooleanType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import read_error

from serde import get_deserializer, get_serializer
from serde.arrow_types import record_batch_from_rows, rows_from_record_batch
from serde.base import RequestRowSerializer
from serde.batching import RequestBatchIterator
from serde.ddl import parse_ddl
from serde.errors import ResponseParseError, SchemaValidationError
from serde.named_csv import CSVResponseRowDeserializer, NamedCSVRequestRowSerializer

SCHEMA = StructType(
    [
        StructField("age", IntegerType()),
        StructField("income", DoubleType()),
        StructField("ratio", FloatType()),
        StructField("city", StringType()),
        StructField("member", BooleanType()),
        StructField("price", DecimalType(10, 2)),
    ]
)
ROWS = [
    (30, 50000.0, 0.5, "Oslo", True, Decimal("1.10")),
    (None, float("nan"), None, 'New York, "NY"', False, None),
    (52, 1e20, 0.1, "", None, Decimal("-3.00")),
    (7, float("-inf"), 2.0, None, True, Decimal("0.01")),
]
COLUMNS = ["age", "income", "ratio", "city", "member", "price"]
EXPECTED = (
    b"30,50000.0,0.5,Oslo,true,1.1\n"
    b',NaN,,"New York, ""NY""",false,\n'
    b'52,1e+20,0.10000000149011612,"",,-3.0\n'
    b"7,-Infinity,2.0,,true,0.01\n"
)


def serializer(columns=COLUMNS, schema=SCHEMA) -> NamedCSVRequestRowSerializer:
    ser = NamedCSVRequestRowSerializer(columns)
    ser.set_schema(schema)
    return ser


def test_exact_bytes_per_row_and_vectorized():
    ser = serializer()
    batch = record_batch_from_rows(ROWS, SCHEMA)
    assert ser.content_type == "text/csv"
    per_row = b"".join(ser.serialize_row(r) for r in rows_from_record_batch(batch, SCHEMA))
    assert per_row == EXPECTED
    fast = ser.serialize_batch(batch)
    assert fast.data == EXPECTED
    lines = EXPECTED.splitlines(keepends=True)
    assert [fast.row(i) for i in range(4)] == lines
    assert not fast.errors
    [body] = RequestBatchIterator(ser).iter_arrow([batch])
    assert body.body == EXPECTED


def test_column_order_is_the_given_order():
    ser = serializer(["city", "age"])
    assert ser.serialize_row(Row(age=3, city="x")) == b"x,3\n"
    assert ser.serialize_batch(record_batch_from_rows(ROWS[:1], SCHEMA)).data == b"Oslo,30\n"


def test_written_csv_reads_back_with_pythons_csv_module():
    ser = serializer(["city", "age"])
    data = ser.serialize_batch(record_batch_from_rows(ROWS, SCHEMA)).data.decode()
    assert list(csv.reader(io.StringIO(data, newline=""))) == [
        ["Oslo", "30"],
        ['New York, "NY"', ""],
        ["", "52"],
        ["", "7"],
    ]


def test_vectorized_equals_per_row_on_a_spark_batch(spark):
    df = spark.range(0, 500, 1, 2).selectExpr(
        "id",
        "cast(id as double) / 3 as x",
        "cast(id as float) / 7 as f",
        "case when id % 7 = 0 then null else concat('n,', id) end as name",
        "id % 2 = 0 as even",
    )
    ser = serializer(["id", "x", "f", "name", "even"], df.schema)
    total = 0
    for batch in df._collect_as_arrow():
        fast = ser.serialize_batch(batch)
        slow = RequestRowSerializer.serialize_batch(ser, batch)
        assert fast.data == slow.data
        assert fast.offsets.tolist() == slow.offsets.tolist()
        total += batch.num_rows
    assert total == 500


def test_schema_errors():
    with pytest.raises(SchemaValidationError, match="column 'zip': expected a column of the"):
        serializer(["zip"])
    vector_schema = StructType([StructField("v", DoubleType()), StructField("w", StringType())])
    from pyspark.ml.linalg import VectorUDT

    with pytest.raises(SchemaValidationError) as info:
        serializer(["v"], StructType([StructField("v", VectorUDT())]))
    assert str(info.value).startswith(
        "column 'v': expected a number, string or boolean column, got vector."
    )
    assert serializer(["w", "v"], vector_schema).columns == ["w", "v"]
    with pytest.raises(ValueError, match="needs at least one column"):
        NamedCSVRequestRowSerializer([])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), st.floats()),
            st.one_of(st.none(), st.text(max_size=6)),
            st.one_of(st.none(), st.booleans()),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_property_vectorized_equals_per_row_and_reads_back(rows):
    schema = parse_ddl("n bigint, x double, s string, b boolean")
    ser = serializer(["n", "x", "s", "b"], schema)
    batch = record_batch_from_rows(rows, schema)
    fast = ser.serialize_batch(batch)
    per_row = b"".join(ser.serialize_row(r) for r in rows_from_record_batch(batch, schema))
    assert fast.data == per_row
    des = CSVResponseRowDeserializer("n bigint, x double, s string, b boolean")
    for (n, x, s, b), back in zip(rows, des.deserialize_response(fast.data)):
        assert back[0] == n
        assert back[1] is x is None or back[1] == x or (math.isnan(x) and math.isnan(back[1]))
        if s is not None and "\r" not in s:  # csv maps a lone \r inside quotes as-is
            assert back[2] == s
        assert back[3] == b


# -- response ------------------------------------------------------------------------------


def test_response_lines_to_typed_columns():
    des = CSVResponseRowDeserializer("score double, label bigint, name string, ok boolean")
    body = b'0.5,1,"x, y",true\nNaN,2.0,,0\n\n-Infinity,,plain,FALSE\n'
    rows = list(des.deserialize_response(body))
    assert rows[0] == (0.5, 1, "x, y", True)
    assert math.isnan(rows[1][0]) and rows[1][1:] == (2, "", False)
    assert rows[2] == (float("-inf"), None, "plain", False)
    batch = des.deserialize_batch(body)
    assert batch.column("label").to_pylist() == [1, 2, None]
    assert batch.schema.field("label").type.bit_width == 64


def test_one_array_or_vector_column_takes_the_whole_line():
    probs = CSVResponseRowDeserializer("probs array<double>")
    assert list(probs.deserialize_response(b"0.1,0.9\n1,0\n")) == [([0.1, 0.9],), ([1.0, 0.0],)]
    vec = CSVResponseRowDeserializer("v vector")
    assert list(vec.deserialize_response(b"1,2.5\n")) == [(DenseVector([1.0, 2.5]),)]
    with pytest.raises(ResponseParseError, match="line 0, field 1: an empty field, but"):
        list(vec.deserialize_response(b"1,\n"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"0.5,1\n0.5\n", "line 1 has 1 fields; expected 2 (score, n)"),
        (b"high,1\n", "line 0, column 'score': expected a number, got 'high'"),
        (b"0.5,1.5\n", "line 0, column 'n': expected an integer, got '1.5'"),
        (b"0.5,3000000000\n", "line 0, column 'n': expected int (between -2147483648 and"),
        (b"\xff\xfe,1\n", "not UTF-8 text"),
    ],
)
def test_response_errors_name_line_and_column(body, message):
    des = CSVResponseRowDeserializer("score double, n int")
    assert message in str(read_error(des, body))


def test_not_nullable_and_unsupported_columns():
    des = CSVResponseRowDeserializer("score double not null")
    with pytest.raises(ResponseParseError, match="column 'score': an empty field, but the col"):
        list(des.deserialize_response(b"\n1\n,\n".replace(b",", b'""')))
    with pytest.raises(ValueError, match="a CSV result column cannot be array<array<double>>"):
        CSVResponseRowDeserializer("a double, b array<array<double>>")


def test_registered_and_picklable():
    ser = get_serializer("named-csv", columns=["a", "b"])
    assert isinstance(ser, NamedCSVRequestRowSerializer)
    des = get_deserializer("csv-response", schema="a double, b string")
    assert isinstance(des, CSVResponseRowDeserializer)
    list(des.deserialize_response(b"1,x\n"))
    again = pickle.loads(pickle.dumps(des))
    assert list(again.deserialize_response(b"2,y\n")) == [(2.0, "y")]
