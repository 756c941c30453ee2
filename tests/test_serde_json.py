"""JSON SerDes in TF Serving's REST shapes: exact bytes, per-row vs vectorized identity on
Spark's own Arrow batches, per-row errors, the response reader, and the seed use case."""

from __future__ import annotations

import math
import pickle

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import DenseVector, Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import assert_same_errors, read_error

from serde import get_deserializer, get_serializer, serde_spec
from serde.arrow_types import record_batch_from_rows, rows_from_record_batch
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.batching import RequestBatchIterator, RequestBody, RowFailure
from serde.ddl import parse_ddl
from serde.errors import ResponseParseError, RowSerializationError, SchemaValidationError
from serde.json import (
    JSONColumnarRequestSerializer,
    JSONPredictionsResponseRowDeserializer,
    JSONRequestRowSerializer,
)
from serde.json_instances import dump_matrix_rows
from serde.registry import (
    deserializer_from_spec,
    register_deserializer,
    register_serializer,
    serializer_from_spec,
)

SCHEMA = StructType(
    [
        StructField("features", VectorUDT()),
        StructField("weights", ArrayType(DoubleType())),
        StructField("ids", ArrayType(LongType())),
        StructField("age", IntegerType()),
        StructField("income", DoubleType()),
        StructField("ratio", FloatType()),
        StructField("city", StringType()),
        StructField("member", BooleanType()),
    ]
)
ROWS = [
    (Vectors.dense([1.0, 2.5]), [0.1, 1e20], [1, 2], 30, 50000.0, 0.5, "Oslo", True),
    (Vectors.sparse(2, [1], [-7.0]), [3.0, -0.0], [3, 4], 41, 1e-7, 2.0, 'a "b",\nc', False),
    (Vectors.dense([0.0, 5e-324]), [2.0, 4.0], [5, 6], 52, 12.25, 0.25, "", None),
]


def batch_of(rows, schema=SCHEMA) -> pa.RecordBatch:
    return record_batch_from_rows(rows, schema)


def serializer(schema=SCHEMA, **options) -> JSONRequestRowSerializer:
    ser = JSONRequestRowSerializer(**options)
    ser.set_schema(schema)
    return ser


def body_of(ser: RequestRowSerializer, batch: pa.RecordBatch) -> bytes:
    [item] = RequestBatchIterator(ser).iter_arrow([batch])
    assert isinstance(item, RequestBody)
    return item.body


def assert_same_as_per_row(ser: RequestRowSerializer, batch: pa.RecordBatch, schema=None):
    """The vectorized rows equal the per-row ones byte for byte, errors included, and the
    packer builds the same bodies from either."""
    fast = ser.serialize_batch(batch)
    slow = RequestRowSerializer.serialize_batch(ser, batch)
    sep = ser.row_separator if fast.trailing_separator else b""
    assert fast.num_rows == slow.num_rows == batch.num_rows
    assert_same_errors(fast, slow)
    for i in range(batch.num_rows):
        expected = b"" if i in slow.errors else slow.row(i) + sep
        assert fast.row(i) == expected, f"row {i}"
    packer = RequestBatchIterator(ser, max_batch_records=7, max_batch_bytes=4096)
    rows = list(rows_from_record_batch(batch, schema or ser.schema))
    via_rows = [
        (x.body, x.start) if isinstance(x, RequestBody) else x.index for x in packer.iter_rows(rows)
    ]
    via_arrow = [
        (x.body, x.start) if isinstance(x, RequestBody) else x.index
        for x in packer.iter_arrow([batch])
    ]
    assert via_arrow == via_rows
    return fast


# -- exact bytes --------------------------------------------------------------------------


def test_vector_instances_dense_and_sparse_as_lists():
    ser = serializer()
    assert body_of(ser, batch_of(ROWS)) == (b'{"instances":[[1.0,2.5],[0.0,-7.0],[0.0,5e-324]]}')
    assert ser.serialize_row(Row(features=Vectors.sparse(3, [2], [1.5]))) == b"[0.0,0.0,1.5]"


def test_array_instances_keep_shortest_double_spelling():
    assert body_of(serializer(features_column_name="weights"), batch_of(ROWS)) == (
        b'{"instances":[[0.1,1e+20],[3.0,-0.0],[2.0,4.0]]}'
    )


def test_integer_array_and_integer_columns_stay_integral():
    assert body_of(serializer(features_column_name="ids"), batch_of(ROWS)) == (
        b'{"instances":[[1,2],[3,4],[5,6]]}'
    )
    assert body_of(serializer(features_column_name=["age"]), batch_of(ROWS)) == (
        b'{"instances":[[30],[41],[52]]}'
    )


def test_scalar_columns_of_mixed_types_are_one_double_tensor():
    ser = serializer(features_column_name=["age", "income", "ratio"])
    assert body_of(ser, batch_of(ROWS)) == (
        b'{"instances":[[30.0,50000.0,0.5],[41.0,1e-7,2.0],[52.0,12.25,0.25]]}'
    )


def test_object_instances_through_input_mapping():
    ser = serializer(
        input_mapping={"age": "age_in", "features": "x", "city": "city", "member": "m", "ids": "t"}
    )
    assert ser.serialize_row(next(rows_from_record_batch(batch_of(ROWS[:1]), SCHEMA))) == (
        b'{"age_in":30,"x":[1.0,2.5],"city":"Oslo","m":true,"t":[1,2]}'
    )
    fast = ser.serialize_batch(batch_of(ROWS))
    assert fast.row(1) == (
        b'{"age_in":41,"x":[0.0,-7.0],"city":"a \\"b\\",\\nc","m":false,"t":[3,4]},'
    )
    assert 2 in fast.errors  # member is null
    assert str(fast.errors[2]) == "row 2, column 'member': value is null"


def test_instance_format_object_without_mapping_uses_column_names():
    ser = serializer(features_column_name="weights", instance_format="object")
    assert ser.serialize_row(Row(weights=[1.0, 2.0])) == b'{"weights":[1.0,2.0]}'


def test_list_format_with_mapping_is_refused():
    with pytest.raises(ValueError, match="only an object instance carries"):
        JSONRequestRowSerializer(input_mapping={"a": "b"}, instance_format="list")
    with pytest.raises(ValueError, match="'list' or 'object', got 'rows'"):
        JSONRequestRowSerializer(instance_format="rows")


def test_framing_and_content_type():
    ser = JSONRequestRowSerializer()
    assert (ser.content_type, ser.body_prefix, ser.row_separator, ser.body_suffix) == (
        "application/json",
        b'{"instances":[',
        b",",
        b"]}",
    )
    fast = serializer().serialize_batch(batch_of(ROWS))
    assert fast.trailing_separator
    assert fast.data == b"[1.0,2.5],[0.0,-7.0],[0.0,5e-324],"


def test_dump_matrix_rows_cuts_one_orjson_call_into_rows():
    data, lengths = dump_matrix_rows(np.array([[1.0, 2.0], [3.5, -1e300]]), b"\n")
    assert data == b"[1.0,2.0]\n[3.5,-1e+300]\n"
    assert lengths.tolist() == [10, 14]
    data, lengths = dump_matrix_rows(np.zeros((3, 0)), b",")
    assert (data, lengths.tolist()) == (b"[],[],[],", [3, 3, 3])
    assert dump_matrix_rows(np.zeros((0, 4)), b",")[0] == b""


# -- per-row errors -------------------------------------------------------------------------


def test_nan_and_infinity_are_per_row_errors_naming_row_and_column():
    rows = [
        (Vectors.dense([1.0, float("nan")]), [1.0], [1], 1, 1.0, 1.0, "a", True),
        (Vectors.dense([1.0, 2.0]), [1.0, float("inf")], [1], 1, float("-inf"), 1.0, "a", True),
        (None, None, None, None, None, None, None, None),
        (Vectors.dense([3.0, 4.0]), [1.0, None], [None], 1, 1.0, 1.0, "a", True),
    ]
    batch = batch_of(rows)
    vec = serializer().serialize_batch(batch)
    assert vec.data == b"[1.0,2.0],[3.0,4.0],"
    assert {i: str(e) for i, e in vec.errors.items()} == {
        0: "row 0, column 'features': feature 1 is nan; JSON has no NaN or Infinity: "
        "fill or drop such values before scoring",
        2: "row 2, column 'features': features are null",
    }
    arr = serializer(features_column_name="weights").serialize_batch(batch)
    assert str(arr.errors[1]) == (
        "row 1, column 'weights': feature 1 is inf; JSON has no NaN or Infinity: "
        "fill or drop such values before scoring"
    )
    assert str(arr.errors[3]) == "row 3, column 'weights': feature 1 is null"
    scalars = serializer(features_column_name=["age", "income"]).serialize_batch(batch)
    assert sorted(scalars.errors) == [1, 2]
    assert str(scalars.errors[1]).startswith("row 1, column 'income': value is -inf;")
    obj = serializer(input_mapping={"ids": "ids"}).serialize_batch(batch)
    assert str(obj.errors[3]) == "row 3, column 'ids': element [0] is null"
    for ser_options in ({}, {"features_column_name": "weights"}, {"input_mapping": {"ids": "i"}}):
        assert_same_as_per_row(serializer(**ser_options), batch)


def test_schema_errors_name_column_expected_and_actual():
    with pytest.raises(SchemaValidationError) as info:
        serializer(features_column_name="city")
    assert str(info.value).startswith("column 'city': expected an ML Vector or array<")
    with pytest.raises(SchemaValidationError, match="column 'nope': expected a column"):
        serializer(features_column_name="nope")
    with pytest.raises(SchemaValidationError) as info:
        serializer(
            input_mapping={"city": "c", "when": "w"},
            schema=StructType([*SCHEMA.fields, StructField("when", DateType())]),
        )
    assert str(info.value) == (
        "column 'when': expected a number, string, boolean, an array of those, or an ML "
        "Vector, got date. convert the column (e.g. dates to strings) before scoring"
    )
    with pytest.raises(SchemaValidationError, match="column 'd': expected double, float or"):
        serializer(features_column_name=["d"], schema=StructType().add("d", DecimalType(10, 2)))


# -- vectorized == per-row on Spark's own batches ------------------------------------------


@pytest.fixture(scope="module")
def spark_batches(spark):
    rows = [
        (
            i,
            Vectors.sparse(4, [i % 4], [i * 0.5]) if i % 3 else Vectors.dense([i, 0.1, -i, 2.0]),
            [i * 0.1, float(i)],
            [i, -i, 7],
            i * 1.5,
            "x" * (i % 3) + ("," if i % 5 == 0 else ""),
        )
        for i in range(200)
    ]
    rows[17] = (17, None, None, None, None, None)
    rows[18] = (18, Vectors.dense([float("nan")] * 4), [float("inf"), 1.0], [1, 2, 3], 1.0, "z")
    df = spark.createDataFrame(
        rows,
        parse_ddl(
            "id long, features vector, weights array<double>, ids array<int>, x double, s string"
        ),
    ).repartition(3)
    batches = df._collect_as_arrow()
    assert sum(b.num_rows for b in batches) == 200
    return df.schema, batches


@pytest.mark.parametrize(
    ("options", "error_rows"),
    [
        ({}, [17, 18]),
        ({"features_column_name": "weights"}, [17, 18]),
        ({"features_column_name": "ids"}, [17]),
        ({"features_column_name": ["id", "x"]}, [17]),
        ({"features_column_name": ["id"]}, []),
        ({"input_mapping": {"features": "f", "s": "name", "ids": "ids", "x": "x"}}, [17, 18]),
    ],
)
def test_vectorized_equals_per_row_on_spark_batches(spark_batches, options, error_rows):
    schema, batches = spark_batches
    ser = serializer(schema, **options)
    failed = []
    for batch in batches:
        fast = assert_same_as_per_row(ser, batch)
        ids = batch.column("id").to_pylist()
        failed += [ids[i] for i in fast.errors]
    assert sorted(failed) == error_rows


def test_ragged_vectors_fall_back_to_per_row_dumps_with_same_bytes():
    rows = [(Vectors.dense([1.0]),), (Vectors.sparse(3, [0], [2.0]),), (Vectors.dense([]),)]
    schema = StructType([StructField("features", VectorUDT())])
    ser = serializer(schema)
    fast = assert_same_as_per_row(ser, batch_of(rows, schema))
    assert fast.data == b"[1.0],[2.0,0.0,0.0],[],"


# -- columnar ---------------------------------------------------------------------------------


def test_columnar_body_and_row_estimates():
    ser = JSONColumnarRequestSerializer({"age": "age", "weights": "w", "city": "c"})
    ser.set_schema(SCHEMA)
    batch = batch_of(ROWS)
    assert ser.row_separable is False
    assert ser.serialize_body(batch) == (
        b'{"inputs":{"age":[30,41,52],"w":[[0.1,1e+20],[3.0,-0.0],[2.0,4.0]],'
        b'"c":["Oslo","a \\"b\\",\\nc",""]}}'
    )
    rows = ser.serialize_batch(batch)
    assert rows.row(0) == b'30,[0.1,1e+20],"Oslo",'
    assert ser.body_prefix + ser.body_suffix == b'{"inputs":{"age":[],"w":[],"c":[]}}'
    body = ser.serialize_body(batch)
    assert len(body) == len(ser.body_prefix + ser.body_suffix) + len(rows.data) - 3
    assert ser.serialize_row(Row(age=1, weights=[2.0], city="x")) == (
        b'{"inputs":{"age":[1],"w":[[2.0]],"c":["x"]}}'
    )


def test_columnar_packer_splits_around_bad_rows_and_respects_byte_limit():
    ser = JSONColumnarRequestSerializer(["income"])
    schema = StructType([StructField("income", DoubleType())])
    ser.set_schema(schema)
    batch = batch_of([(float(i),) for i in range(10)] + [(float("nan"),), (1.5,)], schema)
    items = list(RequestBatchIterator(ser, max_batch_bytes=40).iter_arrow([batch]))
    bodies = [x for x in items if isinstance(x, RequestBody)]
    assert all(len(x.body) <= 40 for x in bodies)
    values = [v for x in bodies for v in orjson.loads(x.body)["inputs"]["income"]]
    assert values == [float(i) for i in range(10)] + [1.5]
    [failure] = [x for x in items if isinstance(x, RowFailure)]
    assert failure.index == 10
    assert "column 'income': value is nan" in str(failure.error)
    with pytest.raises(RowSerializationError, match="row 10, column 'income': value is nan"):
        ser.serialize_body(batch)


# -- deserializer -------------------------------------------------------------------------------


def test_scalar_predictions_into_one_column():
    des = JSONPredictionsResponseRowDeserializer("score double")
    assert list(des.deserialize_response(b'{"predictions": [0.25, 1, [0.5]]}')) == [
        (0.25,),
        (1.0,),
        (0.5,),
    ]
    batch = des.deserialize_batch(b'{"predictions": [0.25, 1]}')
    assert batch.schema.field(0).type == pa.float64()
    assert batch.column(0).to_pylist() == [0.25, 1.0]


def test_list_predictions_into_an_array_column_or_by_position():
    probs = JSONPredictionsResponseRowDeserializer("probs array<double>")
    assert list(probs.deserialize_response(b'{"predictions": [[0.1, 0.9], [1, 0]]}')) == [
        ([0.1, 0.9],),
        ([1.0, 0.0],),
    ]
    positional = JSONPredictionsResponseRowDeserializer("label bigint, score double")
    assert list(positional.deserialize_response(b'{"predictions": [[1, 0.9], [0.0, 0.2]]}')) == [
        (1, 0.9),
        (0, 0.2),
    ]
    vec = JSONPredictionsResponseRowDeserializer("v vector")
    [row] = vec.deserialize_batch(b"[[1, 2.5]]").to_pylist()
    assert row == {"v": {"type": 1, "size": None, "indices": None, "values": [1.0, 2.5]}}
    assert list(vec.deserialize_response(b"[[1, 2.5]]")) == [(DenseVector([1.0, 2.5]),)]


def test_object_predictions_with_output_mapping():
    des = JSONPredictionsResponseRowDeserializer(
        "risk_score double, class_scores array<double>, label string",
        output_mapping={"risk": "risk_score", "scores": "class_scores"},
    )
    body = (
        b'{"predictions": [{"risk": 0.2, "scores": [0.8, 0.2], "label": "low", "x": 1},'
        b'{"risk": 0.9, "scores": [0.1, 0.9], "label": "high"}]}'
    )
    assert list(des.deserialize_response(body)) == [
        (0.2, [0.8, 0.2], "low"),
        (0.9, [0.1, 0.9], "high"),
    ]
    assert des.deserialize_batch(body).to_pydict() == {
        "risk_score": [0.2, 0.9],
        "class_scores": [[0.8, 0.2], [0.1, 0.9]],
        "label": ["low", "high"],
    }


def test_columnar_outputs():
    des = JSONPredictionsResponseRowDeserializer(
        "risk double, scores array<double>", output_mapping={"s": "scores"}
    )
    body = b'{"outputs": {"risk": [0.1, 0.2], "s": [[1, 2], [3, 4]]}}'
    assert list(des.deserialize_response(body)) == [(0.1, [1.0, 2.0]), (0.2, [3.0, 4.0])]
    single = JSONPredictionsResponseRowDeserializer("y double")
    assert list(single.deserialize_response(b'{"outputs": [3, 4]}')) == [(3.0,), (4.0,)]


def test_custom_predictions_key_nan_and_nulls():
    des = JSONPredictionsResponseRowDeserializer("y double, n int", predictions_key="results")
    rows = list(des.deserialize_response(b'{"results": [[NaN, null], [-Infinity, 7]]}'))
    assert math.isnan(rows[0][0]) and rows[0][1] is None
    assert rows[1] == (float("-inf"), 7)


@pytest.mark.parametrize(
    ("schema", "body", "message"),
    [
        (
            "score double",
            b'{"predictions": [0.1, "high"]}',
            "prediction 1, output 'score': expected double, got string 'high'",
        ),
        (
            "probs array<double>",
            b'{"predictions": [[0.1, true]]}',
            "prediction 0, output 'probs': element [1]: expected double, got boolean true",
        ),
        (
            "n int",
            b'{"predictions": [3e10]}',
            "prediction 0, output 'n': expected int (between -2147483648 and 2147483647), "
            "got number 30000000000",
        ),
        (
            "a double, b double",
            b'{"predictions": [[1, 2], [1, 2, 3]]}',
            "prediction 1: a list of 3 values for 2 columns (a, b), filled by position",
        ),
        (
            "a double, b double",
            b'{"predictions": [0.5]}',
            "prediction 0 is number 0.5, but the schema has 2 columns (a, b)",
        ),
        (
            "score double",
            b'{"predictions": [[0.1, 0.9]]}',
            "prediction 0: a list of 2 values for the single scalar column 'score' (double)",
        ),
        (
            "score double",
            b'{"predictions": [{"prob": 0.1}]}',
            "prediction 0: output 'score' is missing; the object has keys ['prob']",
        ),
        ("score double", b'{"predictions": 3}', "'predictions' is number 3; expected a list"),
        ("score double", b'{"error": "input is bad"}', "answered with an error: 'input is bad'"),
        ("score double", b'{"result": []}', 'expected {"predictions": [...]} or {"outputs"'),
        ("score double", b"<html>oops", "not valid JSON"),
        (
            "a double, b double",
            b'{"outputs": {"a": [1, 2], "b": [1]}}',
            "outputs disagree on the row count: 'a' has 2 values, 'b' has 1",
        ),
        (
            "a double, b string",
            b'{"outputs": {"a": [1], "b": [2]}}',
            "row 0, output 'b': expected string, got number 2",
        ),
    ],
)
def test_wrong_answers_raise_response_parse_error_with_where_and_what(schema, body, message):
    des = JSONPredictionsResponseRowDeserializer(schema)
    error = read_error(des, body)
    assert message in str(error)
    assert error.body_head == body[:200]


def test_output_mapping_to_unknown_column_is_refused():
    with pytest.raises(ValueError, match="column 'nope', which is not in the result schema"):
        JSONPredictionsResponseRowDeserializer("a double", output_mapping={"x": "nope"})


def test_mapped_output_named_in_type_errors():
    des = JSONPredictionsResponseRowDeserializer("risk_score double", {"risk": "risk_score"})
    with pytest.raises(ResponseParseError, match=r"output 'risk' \(column 'risk_score'\): exp"):
        list(des.deserialize_response(b'{"predictions": [{"risk": "x"}]}'))


def test_deserializer_pickles_and_rebuilds_from_spec():
    des = JSONPredictionsResponseRowDeserializer("a double, b array<int>", {"x": "a"})
    list(des.deserialize_response(b'[{"x": 1, "b": [1]}]'))  # builds the cached coercers
    again = pickle.loads(pickle.dumps(des))
    assert list(again.deserialize_response(b'[{"x": 1, "b": [1]}]')) == [(1.0, [1])]
    spec = serde_spec(des)
    assert spec == {
        "name": "json",
        "options": {
            "schema": "a double, b array<int>",
            "output_mapping": {"x": "a"},
        },
    }
    rebuilt = deserializer_from_spec(orjson.loads(orjson.dumps(spec)))
    assert rebuilt.schema == des.schema


def test_registered_names():
    assert isinstance(get_serializer("json", features_column_name="v"), JSONRequestRowSerializer)
    assert isinstance(
        get_serializer("json-columnar", input_mapping=["a"]), JSONColumnarRequestSerializer
    )
    assert isinstance(
        get_deserializer("json", schema="s double"), JSONPredictionsResponseRowDeserializer
    )
    ser = serializer(input_mapping={"age": "a"})
    assert serializer_from_spec(serde_spec(ser)).serialize_row(Row(age=3)) == b'{"a":3}'


# -- property tests ------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=30))
def test_round_trip_instances_through_orjson(rows):
    schema = StructType([StructField("w", ArrayType(DoubleType()))])
    ser = serializer(schema, features_column_name="w")
    batch = batch_of([(r,) for r in rows], schema)
    body = body_of(ser, batch)
    assert orjson.loads(body)["instances"] == rows
    assert_same_as_per_row(ser, batch)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**63), 2**63 - 1),
            st.one_of(st.none(), finite),
            st.text(max_size=8),
            st.lists(finite, max_size=3),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_round_trip_object_instances(rows):
    schema = parse_ddl("n bigint, x double, s string, w array<double>")
    ser = serializer(schema, input_mapping={"n": "N", "x": "X", "s": "S", "w": "W"})
    batch = batch_of(rows, schema)
    fast = assert_same_as_per_row(ser, batch, schema)
    assert sorted(fast.errors) == [i for i, r in enumerate(rows) if r[1] is None]
    for i, (n, x, s, w) in enumerate(rows):
        if x is not None:
            assert orjson.loads(fast.row(i)[:-1]) == {"N": n, "X": x, "S": s, "W": w}


predictions = st.lists(
    st.tuples(finite, st.lists(finite, max_size=4), st.integers(-(2**63), 2**63 - 1)),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(predictions, st.sampled_from(["rows", "objects", "columns"]))
def test_generated_predictions_deserialize_to_the_same_values(items, shape):
    des = JSONPredictionsResponseRowDeserializer(
        "score double, probs array<double>, label bigint", {"p": "probs"}
    )
    if shape == "rows":
        body = orjson.dumps({"predictions": [list(t) for t in items]})
    elif shape == "objects":
        body = orjson.dumps(
            {"predictions": [{"score": s, "p": p, "label": n} for s, p, n in items]}
        )
    else:
        columns = list(zip(*items)) or [(), (), ()]
        body = orjson.dumps({"outputs": dict(zip(["score", "p", "label"], map(list, columns)))})
    assert list(des.deserialize_response(body)) == items
    batch = des.deserialize_batch(body)
    assert batch.num_rows == len(items)
    assert [tuple(r.values()) for r in batch.to_pylist()] == items


# -- the seed use case, as a user writes it -------------------------------------------------


@register_serializer("test-seed-csv")
class SeedCSVSerializer(RequestRowSerializer):
    """A user's serializer: per-row only, rows end in a newline."""

    content_type = "text/csv"

    def __init__(self, features_column_name: str = "features") -> None:
        self.features_column_name = features_column_name

    def serialize_row(self, row) -> bytes:
        return (",".join(repr(float(v)) for v in row[self.features_column_name]) + "\n").encode()


@register_deserializer("test-seed-predictions")
class SeedPredictionsDeserializer(ResponseRowDeserializer):
    """A user's deserializer: ``{"predictions": [[p0, p1], ...]}`` → array<double>."""

    accepts = "application/json"

    def __init__(self, column: str = "probabilities") -> None:
        self.column = column

    @property
    def schema(self) -> StructType:
        return StructType([StructField(self.column, ArrayType(DoubleType()))])

    def deserialize_response(self, body: bytes):
        for p in orjson.loads(body)["predictions"]:
            yield ([float(v) for v in p],)


def test_seed_use_case_custom_serdes_registered_and_rebuilt_from_spec(spark):
    df = spark.createDataFrame(
        [(Vectors.dense([0.5, -0.25]),), (Vectors.dense([1.0, 1.0]),)], ["features"]
    )
    [batch] = df.coalesce(1)._collect_as_arrow()
    ser = serializer_from_spec(serde_spec(SeedCSVSerializer()))
    des = deserializer_from_spec(serde_spec(SeedPredictionsDeserializer("probs")))
    assert serde_spec(des) == {"name": "test-seed-predictions", "options": {"column": "probs"}}
    ser.set_schema(df.schema)
    [body] = RequestBatchIterator(ser).iter_arrow([batch])
    assert body.body == b"0.5,-0.25\n1.0,1.0\n"
    answer = b'{"predictions": [[0.1, 0.9], [0.75, 0.25]]}'
    result = des.deserialize_batch(answer)
    assert result.schema.field("probs").type == pa.list_(pa.field("element", pa.float64()))
    assert result.column(0).to_pylist() == [[0.1, 0.9], [0.75, 0.25]]
    # the built-in JSON deserializer reads the same answer into the same column
    builtin = get_deserializer("json", schema="probs array<double>")
    assert builtin.deserialize_batch(answer).to_pydict() == result.to_pydict()


def test_serialized_rows_type():
    assert isinstance(serializer().serialize_batch(batch_of(ROWS)), SerializedRows)
