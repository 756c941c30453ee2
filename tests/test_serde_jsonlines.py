"""JSON Lines: one instance per request line, one prediction per response line."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import ArrayType, DoubleType, LongType, StringType, StructField, StructType
from serde_helpers import both_paths, read_error

from serde import get_deserializer, get_serializer
from serde.arrow_types import record_batch_from_rows, rows_from_record_batch
from serde.batching import RequestBatchIterator, RequestBody
from serde.jsonlines import JSONLinesRequestRowSerializer, JSONLinesResponseRowDeserializer

SCHEMA = StructType(
    [
        StructField("features", VectorUDT()),
        StructField("n", LongType()),
        StructField("s", StringType()),
    ]
)
ROWS = [
    (Vectors.dense([1.0, 0.5]), 1, "a\nb"),
    (Vectors.sparse(2, [0], [3.0]), 2, "c"),
    (Vectors.dense([float("nan"), 1.0]), 3, "d"),
    (Vectors.dense([2.0, 2.0]), None, "e"),
]


def test_lines_of_lists_and_objects_with_exact_bytes():
    batch = record_batch_from_rows(ROWS, SCHEMA)
    lists = JSONLinesRequestRowSerializer()
    lists.set_schema(SCHEMA)
    assert (lists.content_type, lists.body_prefix, lists.row_separator, lists.body_suffix) == (
        "application/jsonlines",
        b"",
        b"",
        b"",
    )
    rows = lists.serialize_batch(batch)
    assert rows.data == b"[1.0,0.5]\n[3.0,0.0]\n[2.0,2.0]\n"
    assert not rows.trailing_separator
    assert [rows.row(i) for i in range(4)] == [b"[1.0,0.5]\n", b"[3.0,0.0]\n", b"", b"[2.0,2.0]\n"]
    assert str(rows.errors[2]).startswith("row 2, column 'features': feature 0 is nan; JSON has")

    objects = JSONLinesRequestRowSerializer(input_mapping={"n": "count", "s": "text"})
    objects.set_schema(SCHEMA)
    assert objects.serialize_row(Row(n=1, s="a\nb")) == b'{"count":1,"text":"a\\nb"}\n'
    body = [
        x for x in RequestBatchIterator(objects).iter_arrow([batch]) if isinstance(x, RequestBody)
    ]
    assert [x.body for x in body] == [
        b'{"count":1,"text":"a\\nb"}\n{"count":2,"text":"c"}\n{"count":3,"text":"d"}\n'
    ]


def test_vectorized_equals_per_row():
    batch = record_batch_from_rows(ROWS * 5, SCHEMA)
    for options in ({}, {"features_column_name": ["n"]}, {"input_mapping": {"features": "x"}}):
        ser = JSONLinesRequestRowSerializer(**options)
        ser.set_schema(SCHEMA)
        assert len(both_paths(ser, batch).errors) == 5


def test_vectorized_equals_per_row_on_a_spark_batch(spark):
    df = spark.range(0, 300, 1, 2).selectExpr(
        "id", "array(cast(id as double) / 7, 1e20) as w", "concat('r', id) as name"
    )
    ser = JSONLinesRequestRowSerializer(input_mapping={"id": "id", "w": "w", "name": "name"})
    ser.set_schema(df.schema)
    seen = 0
    for batch in df._collect_as_arrow():
        fast = ser.serialize_batch(batch)
        rows = rows_from_record_batch(batch, df.schema)
        assert fast.data == b"".join(ser.serialize_row(r) for r in rows)
        seen += batch.num_rows
    assert seen == 300
    assert orjson.loads(fast.row(0)) == {
        "id": batch.column("id")[0].as_py(),
        "w": [batch.column("id")[0].as_py() / 7, 1e20],
        "name": f"r{batch.column('id')[0].as_py()}",
    }


def test_response_lines_scalars_lists_objects_and_blank_lines():
    des = JSONLinesResponseRowDeserializer("score double, label string", {"l": "label"})
    body = b'[0.5, "a"]\n\n{"score": 1, "l": "b"}\r\n[NaN, "c"]\n'
    rows = list(des.deserialize_response(body))
    assert rows[:2] == [(0.5, "a"), (1.0, "b")]
    assert math.isnan(rows[2][0]) and rows[2][1] == "c"
    batch = des.deserialize_batch(b'[0.5, null]\n[1, "x"]')
    assert batch.to_pydict() == {"score": [0.5, 1.0], "label": [None, "x"]}
    single = JSONLinesResponseRowDeserializer("p array<double>")
    assert list(single.deserialize_response(b"[0.1, 0.9]\n[1, 0]\n")) == [
        ([0.1, 0.9],),
        ([1.0, 0.0],),
    ]
    assert single.accepts == "application/jsonlines"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]\n1,2\n", "line 1: not valid JSON"),
        (b'[1, 2]\n["x", 2]\n', "line 1, output 'a': expected double, got string 'x'"),
        (b"[1, 2, 3]\n", "line 0: a list of 3 values for 2 columns (a, b)"),
        (b'{"a": 1}\n', "line 0: output 'b' is missing; the object has keys ['a']"),
    ],
)
def test_response_errors_name_the_line(body, message):
    des = JSONLinesResponseRowDeserializer("a double, b double")
    assert message in str(read_error(des, body))


def test_registered_names():
    assert isinstance(get_serializer("jsonlines"), JSONLinesRequestRowSerializer)
    des = get_deserializer("jsonlines", schema="y double")
    assert isinstance(des, JSONLinesResponseRowDeserializer)
    assert des.schema == StructType([StructField("y", DoubleType())])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3),
        ),
        max_size=25,
    )
)
def test_generated_lines_deserialize_to_the_same_values(items):
    des = JSONLinesResponseRowDeserializer("y double, p array<double>")
    body = b"".join(orjson.dumps({"y": y, "p": p}) + b"\n" for y, p in items)
    assert list(des.deserialize_response(body)) == items
    schema = StructType([StructField("p", ArrayType(DoubleType()))])
    ser = JSONLinesRequestRowSerializer("p")
    ser.set_schema(schema)
    rows = ser.serialize_batch(record_batch_from_rows([(p,) for _, p in items], schema))
    assert [orjson.loads(line) for line in rows.data.splitlines()] == [p for _, p in items]
