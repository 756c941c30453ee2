"""KServe V2 SerDes without a server: exact request bytes for every kind of input, per-row
errors the same on both paths, bodies cut within their byte limit, and responses read by
output name with every misfit reported rather than shifted."""

from __future__ import annotations

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
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import assert_same_errors, read_error

from serde import get_deserializer, get_serializer, list_deserializers, list_serializers
from serde.arrow_types import record_batch_from_rows
from serde.base import RequestRowSerializer
from serde.batching import RequestBatchIterator, RequestBody, RowFailure
from serde.errors import RowSerializationError, SchemaValidationError, SerdeError
from serde.kserve_v2 import KServeV2RequestRowSerializer, KServeV2ResponseRowDeserializer
from serde.registry import deserializer_from_spec, serde_spec, serializer_from_spec

SCHEMA = StructType(
    [
        StructField("features", VectorUDT()),
        StructField("age", IntegerType()),
        StructField("visits", LongType()),
        StructField("income", DoubleType()),
        StructField("ratio", FloatType()),
        StructField("city", StringType()),
        StructField("member", BooleanType()),
        StructField("ids", ArrayType(LongType())),
    ]
)
ROWS = [
    (Vectors.dense([1.0, 2.5]), 30, 7, 50000.0, 0.5, "Oslo", True, [1, 2]),
    (Vectors.sparse(2, [1], [-7.0]), 41, 8, 1e-7, 2.0, 'a "b",\nc', False, [3, 4]),
    (Vectors.dense([0.0, 5e-324]), 52, 9, 12.25, 0.25, "", True, [5, 6]),
]


def serializer(schema: StructType = SCHEMA, **options) -> KServeV2RequestRowSerializer:
    ser = KServeV2RequestRowSerializer(**options)
    ser.set_schema(schema)
    return ser


def batch_of(rows, schema: StructType = SCHEMA) -> pa.RecordBatch:
    return record_batch_from_rows(rows, schema)


def tensors(body: bytes) -> dict[str, np.ndarray]:
    """The request's inputs by name, each data reshaped to its shape."""
    return {
        t["name"]: np.asarray(t["data"]).reshape(t["shape"]) for t in orjson.loads(body)["inputs"]
    }


# -- request bytes --------------------------------------------------------------------------


def test_features_vector_is_one_rows_by_width_tensor():
    ser = serializer(outputs=["predict", "predict_proba"], parameters={"content_type": "np"})
    assert ser.row_separable is False
    assert ser.serialize_body(batch_of(ROWS)) == (
        b'{"inputs":[{"name":"input-0","shape":[3,2],"datatype":"FP64",'
        b'"data":[1.0,2.5,0.0,-7.0,0.0,5e-324]}],'
        b'"outputs":[{"name":"predict"},{"name":"predict_proba"}],'
        b'"parameters":{"content_type":"np"}}'
    )
    assert serializer(input_name="x").serialize_body(batch_of(ROWS[:1])) == (
        b'{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[1.0,2.5]}]}'
    )


def test_vector_handed_over_as_an_array_writes_the_same_body():
    """The engine converts narrow vectors to array<double> in the JVM: same bytes."""
    ser = serializer()
    as_arrays = pa.RecordBatch.from_arrays(
        [pa.array([[1.0, 2.5], [0.0, -7.0], [0.0, 5e-324]], pa.list_(pa.float64()))],
        names=["features"],
    )
    assert ser.serialize_body(as_arrays) == ser.serialize_body(batch_of(ROWS))


def test_input_per_column_with_its_own_datatype_and_shape():
    ser = serializer(
        input_mapping={"age": "age", "income": "inc", "city": "c", "member": "m", "ids": "ids"},
        datatypes={"inc": "FP32", "age": "INT64"},
    )
    assert ser.serialize_body(batch_of(ROWS[:2])) == (
        b'{"inputs":['
        b'{"name":"age","shape":[2],"datatype":"INT64","data":[30,41]},'
        b'{"name":"inc","shape":[2],"datatype":"FP32","data":[50000.0,1e-7]},'
        b'{"name":"c","shape":[2],"datatype":"BYTES","data":["Oslo","a \\"b\\",\\nc"]},'
        b'{"name":"m","shape":[2],"datatype":"BOOL","data":[true,false]},'
        b'{"name":"ids","shape":[2,2],"datatype":"INT64","data":[1,2,3,4]}]}'
    )
    as_list = serializer(input_mapping=["ratio", "visits"])
    assert as_list.serialize_body(batch_of(ROWS[:1])) == (
        b'{"inputs":[{"name":"ratio","shape":[1],"datatype":"FP32","data":[0.5]},'
        b'{"name":"visits","shape":[1],"datatype":"INT64","data":[7]}]}'
    )


def test_several_scalar_columns_form_one_tensor():
    ints = serializer(features_column_name=["age", "visits"])
    assert ints.serialize_body(batch_of(ROWS)) == (
        b'{"inputs":[{"name":"input-0","shape":[3,2],"datatype":"INT64","data":[30,7,41,8,52,9]}]}'
    )
    mixed = serializer(features_column_name=["age", "income"], datatypes={"input-0": "FP32"})
    assert tensors(mixed.serialize_body(batch_of(ROWS)))["input-0"].tolist() == [
        [30.0, 50000.0],
        [41.0, 1e-7],
        [52.0, 12.25],
    ]
    one_scalar = serializer(features_column_name="income")
    assert tensors(one_scalar.serialize_body(batch_of(ROWS)))["input-0"].shape == (3, 1)


def test_one_row_body_per_row_matches_the_batch_body():
    for options in ({}, {"input_mapping": ["age", "city", "member", "ids"]}):
        ser = serializer(**options)
        for i, row in enumerate(ROWS):
            assert ser.serialize_row(Row(**dict(zip(SCHEMA.names, row)))) == ser.serialize_body(
                batch_of(ROWS).slice(i, 1)
            )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=3, max_size=3
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_finite_doubles_arrive_exactly(matrix):
    schema = StructType([StructField("features", ArrayType(DoubleType()))])
    body = serializer(schema).serialize_body(batch_of([(r,) for r in matrix], schema))
    sent = tensors(body)["input-0"]
    assert sent.shape == (len(matrix), 3)
    assert sent.tolist() == matrix


# -- errors ------------------------------------------------------------------------------------


def test_rows_json_or_the_datatype_cannot_carry_are_per_row_errors_on_both_paths():
    rows = [
        *ROWS,
        (None, 1, 1, 1.0, 1.0, "x", True, [1, 1]),
        (Vectors.dense([float("nan"), 1.0]), 1, 1, 1.0, 1.0, "x", True, [1, 1]),
        (Vectors.dense([1.0, 1.0]), 1, 1, 1e300, 1.0, None, None, [1, None]),
    ]
    batch = batch_of(rows)
    for options, expected in [
        (
            {},
            {
                3: "row 3, column 'features': value is null",
                4: "row 4, column 'features': feature 0 is nan; JSON has no NaN or Infinity: "
                "fill or drop such values before scoring",
            },
        ),
        (
            {"input_mapping": ["income", "city", "ids"], "datatypes": {"income": "FP32"}},
            {
                5: "row 5, column 'income': value 1e+300 is outside FP32's range (±3.4e38); "
                "send input 'income' as FP64 with datatypes",
            },
        ),
    ]:
        ser = serializer(**options)
        fast = ser.serialize_batch(batch)
        assert {i: str(e) for i, e in fast.errors.items()} == expected
        assert_same_errors(fast, RequestRowSerializer.serialize_batch(ser, batch))
        assert all(fast.row(i) == b"" for i in expected)
    ser = serializer()
    with pytest.raises(RowSerializationError, match="row 3, column 'features': value is null"):
        ser.serialize_body(batch)


def test_rows_of_another_width_are_refused_since_a_tensor_is_rectangular():
    schema = StructType([StructField("w", ArrayType(DoubleType()))])
    batch = batch_of([([1.0, 2.0],), (None,), ([3.0],), ([4.0, 5.0],)], schema)
    ser = serializer(schema, features_column_name="w")
    rows = ser.serialize_batch(batch)
    assert sorted(rows.errors) == [1, 2]
    assert str(rows.errors[2]) == (
        "row 2, column 'w': 1 values, where row 0 has 2: input 'input-0' is one tensor of "
        "shape [rows, 2], so every row of a request must have as many; pad or cut the rows to "
        "one width"
    )
    items = list(RequestBatchIterator(ser).iter_arrow([batch]))
    assert [(type(x).__name__, getattr(x, "start", getattr(x, "index", None))) for x in items] == [
        ("RequestBody", 0),
        ("RowFailure", 1),
        ("RowFailure", 2),
        ("RequestBody", 3),
    ]
    with pytest.raises(RowSerializationError, match="row 1, column 'w': 1 values, where row 0"):
        ser.serialize_body(batch_of([([1.0, 2.0],), ([3.0],)], schema))


def test_schema_errors_name_the_column_and_what_would_fit():
    cases = [
        ({"datatypes": {"input-0": "INT64"}}, "column 'features': expected a datatype input "),
        ({"features_column_name": "city"}, "column 'city': expected an ML Vector, an array"),
        ({"features_column_name": ["age", "member"]}, "column 'member': expected a numeric"),
        ({"features_column_name": "nope"}, "column 'nope': expected a column of the DataFrame"),
        ({"input_mapping": ["age"], "datatypes": {"age": "INT8"}}, "fits (FP32, FP64, INT32"),
    ]
    for options, message in cases:
        with pytest.raises(SchemaValidationError, match=message.replace("(", r"\(")):
            serializer(**options)
    decimals = StructType([StructField("d", DecimalType(10, 2))])
    with pytest.raises(SchemaValidationError, match="cast the column to double"):
        serializer(decimals, input_mapping=["d"])
    for options, message in [
        ({"datatypes": {"other": "FP32"}}, "datatypes names input 'other', but the inputs are"),
        ({"datatypes": {"input-0": "FLOAT"}}, "V2 datatypes are BOOL, UINT8"),
        ({"input_mapping": {"a": "x", "b": "x"}}, "input names must differ"),
        ({"input_mapping": ["a"], "features_column_name": "f"}, "not both"),
    ]:
        with pytest.raises(ValueError, match=message):
            KServeV2RequestRowSerializer(**options)
    with pytest.raises(TypeError, match=r"e.g. \['predict'\]"):
        KServeV2RequestRowSerializer(outputs="predict")
    with pytest.raises(SerdeError, match=r"call set_schema\(df.schema\) first"):
        KServeV2RequestRowSerializer().serialize_batch(batch_of(ROWS))


# -- packing -----------------------------------------------------------------------------------


def test_packer_keeps_bodies_within_the_byte_limit_and_every_row_in_order():
    schema = StructType([StructField("features", ArrayType(DoubleType()))])
    rows = [([float(i), i / 3, -1e-300 * i],) for i in range(500)]
    rows[123] = ([1.0, float("inf"), 0.0],)
    ser = serializer(schema, outputs=["predict"])
    batch = batch_of(rows, schema)
    limit = 2_000
    items = list(RequestBatchIterator(ser, max_batch_bytes=limit).iter_arrow([batch]))
    bodies = [x for x in items if isinstance(x, RequestBody)]
    assert [x.index for x in items if isinstance(x, RowFailure)] == [123]
    assert all(len(x.body) <= limit for x in bodies)
    assert len(bodies) > 10  # cut by bytes, not by the 10,000-row default
    sent = np.concatenate([tensors(x.body)["input-0"] for x in bodies])
    expected = np.asarray([r[0] for i, r in enumerate(rows) if i != 123])
    assert sent.tolist() == expected.tolist()
    assert [x.start for x in bodies] == sorted(x.start for x in bodies)
    # the row sizes the packer plans with never undercount a body
    estimates = ser.serialize_batch(batch)
    framing = len(ser.body_prefix) + len(ser.body_suffix)
    for x in bodies:
        planned = framing + int(estimates.offsets[x.stop] - estimates.offsets[x.start])
        assert len(x.body) <= planned


# -- registry ------------------------------------------------------------------------------------


def test_registered_by_name_and_saved_as_options():
    ser = get_serializer("kserve-v2", input_mapping={"age": "a"}, outputs=["predict"])
    assert isinstance(ser, KServeV2RequestRowSerializer)
    ser.set_schema(SCHEMA)
    spec = serde_spec(ser)
    assert spec == {
        "name": "kserve-v2",
        "options": {"input_mapping": {"age": "a"}, "outputs": ["predict"]},
    }
    again = serializer_from_spec(orjson.loads(orjson.dumps(spec)))
    again.set_schema(SCHEMA)
    assert again.serialize_body(batch_of(ROWS)) == ser.serialize_body(batch_of(ROWS))
    des = get_deserializer("kserve-v2", schema="predict bigint", parameters_column_name="p")
    assert deserializer_from_spec(serde_spec(des)).schema == des.schema
    assert ("kserve-v2", "application/json") in {(i.name, i.media_type) for i in list_serializers()}
    assert "kserve-v2" in {i.name for i in list_deserializers()}


# -- responses -----------------------------------------------------------------------------------

MLSERVER_ANSWER = (
    b'{"model_name":"iris","id":"e3c5","parameters":{"b":1,"a":"x"},"outputs":['
    b'{"name":"predict","shape":[2,1],"datatype":"INT64","parameters":{"content_type":"np"},'
    b'"data":[0,2]},'
    b'{"name":"predict_proba","shape":[2,3],"datatype":"FP64","parameters":'
    b'{"content_type":"np"},"data":[0.98,0.02,1.4e-8,0.00005580142800680905,0.08,0.92]}]}'
)


def test_outputs_read_by_name_into_scalar_and_array_columns():
    des = KServeV2ResponseRowDeserializer("predict_proba array<double>, predict bigint")
    assert list(des.deserialize_response(MLSERVER_ANSWER)) == [
        ([0.98, 0.02, 1.4e-8], 0),
        ([5.580142800680905e-05, 0.08, 0.92], 2),
    ]
    batch = des.deserialize_batch(MLSERVER_ANSWER)
    assert batch.schema.types == [pa.list_(pa.float64()), pa.int64()]
    mapped = KServeV2ResponseRowDeserializer(
        "label int, probs vector", output_mapping={"predict": "label", "predict_proba": "probs"}
    )
    assert list(mapped.deserialize_response(MLSERVER_ANSWER)) == [
        (0, DenseVector([0.98, 0.02, 1.4e-8])),
        (2, DenseVector([5.580142800680905e-05, 0.08, 0.92])),
    ]


def test_outputs_the_schema_does_not_read_are_not_parsed():
    body = orjson.dumps(
        {
            "outputs": [
                {"name": "debug", "shape": "n/a", "datatype": "JSON", "data": {"x": 1}},
                {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            ]
        }
    )
    des = KServeV2ResponseRowDeserializer("predict bigint")
    assert list(des.deserialize_response(body)) == [(1,), (0,)]


def test_parameters_passed_through_where_asked():
    des = KServeV2ResponseRowDeserializer("predict double", parameters_column_name="params")
    assert des.schema.simpleString() == "struct<predict:double,params:string>"
    assert list(des.deserialize_response(MLSERVER_ANSWER)) == [
        (0.0, '{"a":"x","b":1}'),
        (2.0, '{"a":"x","b":1}'),
    ]
    no_parameters = b'{"outputs":[{"name":"predict","shape":[1],"datatype":"FP32","data":[1]}]}'
    assert list(des.deserialize_response(no_parameters)) == [(1.0, "{}")]
    with pytest.raises(ValueError, match="'predict' is already a column"):
        KServeV2ResponseRowDeserializer("predict double", parameters_column_name="predict")


def test_every_datatype_into_the_columns_it_fits():
    body = orjson.dumps(
        {
            "outputs": [
                {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["setosa", "x"]},
                {"name": "ok", "shape": [2, 1], "datatype": "BOOL", "data": [[True], [False]]},
                {"name": "n", "shape": [2], "datatype": "FP32", "data": [3.0, -1.0]},
                {"name": "u", "shape": [2], "datatype": "UINT8", "data": [255, 0]},
                {"name": "cube", "shape": [2, 2, 2], "datatype": "FP64", "data": list(range(8))},
                {"name": "tags", "shape": [2, 2], "datatype": "BYTES", "data": ["a", "b", "c", ""]},
            ]
        }
    )
    des = KServeV2ResponseRowDeserializer(
        "label string, ok boolean, n smallint, u int, cube array<array<double>>, tags array<string>"
    )
    assert list(des.deserialize_response(body)) == [
        ("setosa", True, 3, 255, [[0.0, 1.0], [2.0, 3.0]], ["a", "b"]),
        ("x", False, -1, 0, [[4.0, 5.0], [6.0, 7.0]], ["c", ""]),
    ]
    empty = b'{"outputs":[{"name":"label","shape":[0],"datatype":"BYTES","data":[]}]}'
    assert KServeV2ResponseRowDeserializer("label string").deserialize_batch(empty).num_rows == 0


def test_unreadable_answers_say_what_is_wrong_never_shift():
    des = KServeV2ResponseRowDeserializer("predict bigint, predict_proba array<double>")

    def answer(*outputs) -> bytes:
        return orjson.dumps({"outputs": list(outputs)})

    predict = {"name": "predict", "shape": [2, 1], "datatype": "INT64", "data": [0, 2]}
    cases = [
        (
            answer(predict),
            "output 'predict_proba' is missing; the response has outputs ['predict']. Ask for "
            "it with KServeV2RequestRowSerializer(outputs=[...])",
        ),
        (
            answer({**predict, "data": [0]}),
            "output 'predict' has shape [2, 1] (2 values) but its data holds 1",
        ),
        (
            answer(
                predict,
                {"name": "predict_proba", "shape": [3], "datatype": "FP64", "data": [1, 2, 3]},
            ),
            "outputs disagree on the row count: 'predict' has 2 rows, 'predict_proba' has "
            "shape [3]",
        ),
        (
            answer(
                predict, {"name": "predict_proba", "shape": [2], "datatype": "FP64", "data": [1, 2]}
            ),
            "output 'predict_proba' of shape [2] into column 'predict_proba' (array<double>): "
            "the column takes tensors of shape [rows, k]; declare it to match the output (a "
            "scalar type for [rows] or [rows, 1], one array<...> level per further dimension)",
        ),
        (
            answer({**predict, "datatype": "FP64", "data": [0.0, 2.5]}),
            "output 'predict' of shape [2, 1] into column 'predict' (bigint): row 1 is 2.5, not "
            "a whole number for an integer column; make the column double",
        ),
        (
            answer({**predict, "data": [0, None]}),
            "output 'predict' (INT64): expected integers, got null",
        ),
        (
            answer({**predict, "datatype": "BYTES", "data": ["a", "b"]}),
            "output 'predict' of shape [2, 1] into column 'predict' (bigint): BYTES (strings) "
            "into a bigint column; make it a string column",
        ),
        (answer({**predict, "datatype": "FLOAT"}), "datatype is string 'FLOAT'; expected one of"),
        (b'{"error":"Model iris not found"}', "the server answered with an error: 'Model iris"),
        (b'{"predictions":[1,2]}', 'expected a V2 inference response {"outputs": ['),
        (b"not json", "not valid JSON"),
    ]
    for body, message in cases:
        assert message in str(read_error(des, body)), message
    narrow = KServeV2ResponseRowDeserializer("predict tinyint")
    assert "row 1 is 300, outside tinyint (-128 to 127)" in str(
        read_error(narrow, answer({**predict, "data": [1, 300]}))
    )
    scalar = KServeV2ResponseRowDeserializer("predict_proba double")
    wide = answer({"name": "predict_proba", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]})
    assert "3 values per row for a scalar column; make it array<...> or vector" in str(
        read_error(scalar, wide)
    )


def test_result_schema_errors():
    with pytest.raises(ValueError, match="column 'm' is map<string,double>; a V2 output fills"):
        KServeV2ResponseRowDeserializer(
            StructType([StructField("m", MapType(StringType(), DoubleType()))])
        )
    with pytest.raises(ValueError, match="maps output 'p' to column 'x', which is not in"):
        KServeV2ResponseRowDeserializer("predict double", output_mapping={"p": "x"})
