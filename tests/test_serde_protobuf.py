"""The RecordIO-protobuf SerDes: exact request bytes, per-row vs batch identity, and every
built-in algorithm's response deserializer on bodies built by hand with record_pb2."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml.linalg import DenseVector, SparseVector, Vectors, VectorUDT
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

from serde import get_deserializer, get_serializer, serde_spec
from serde.arrow_types import VECTOR_ARROW_TYPE, rows_from_record_batch, vector_to_struct
from serde.errors import ResponseParseError, RowSerializationError, SchemaValidationError
from serde.proto import record_pb2
from serde.protobuf import (
    PROTOBUF_CONTENT_TYPE,
    FactorizationMachinesBinaryClassifierDeserializer,
    FactorizationMachinesRegressorDeserializer,
    KMeansProtobufResponseRowDeserializer,
    LDAProtobufResponseRowDeserializer,
    LinearLearnerBinaryClassifierProtobufResponseRowDeserializer,
    LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer,
    LinearLearnerRegressorProtobufResponseRowDeserializer,
    PCAProtobufResponseRowDeserializer,
    ProtobufRequestRowSerializer,
    ProtobufResponseRowDeserializer,
    write_label_records,
)

MAGIC = struct.pack("<I", 0xCED7230A)


# ------------------------------------------------------------------ independent oracle


def frame(payload: bytes) -> bytes:
    """RecordIO framing written out by hand, independent of serde.recordio."""
    return MAGIC + struct.pack("<I", len(payload)) + payload + b"\x00" * (-len(payload) % 4)


def unframe(framed: bytes) -> record_pb2.Record:
    """The Record inside one hand-checked RecordIO frame."""
    assert framed[:4] == MAGIC
    (length,) = struct.unpack("<I", framed[4:8])
    assert len(framed) == 8 + length + (-length % 4)
    record = record_pb2.Record()
    record.ParseFromString(framed[8 : 8 + length])
    return record


def expected_request(values, keys=None, size=None) -> bytes:
    """What sagemaker_pyspark's ProtobufConverter sends, built field by field."""
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.SetInParent()
    for v in values:
        tensor.values.append(float(np.float32(v)))
    if keys is not None:
        tensor.keys.extend(int(k) for k in keys)
        tensor.shape.append(size)
    return frame(record.SerializeToString())


def label_body(*records: dict) -> bytes:
    """A response body as a built-in algorithm writes it: label map of Float32Tensors.
    A value of ("sparse", size, keys, values) writes a sparse tensor."""
    body = b""
    for labels in records:
        record = record_pb2.Record()
        for key, value in labels.items():
            tensor = record.label[key].float32_tensor
            if isinstance(value, tuple) and value[0] == "sparse":
                _, size, keys, vals = value
                tensor.values.extend(vals)
                tensor.keys.extend(keys)
                tensor.shape.append(size)
            else:
                tensor.values.extend(value if isinstance(value, list) else [value])
        body += frame(record.SerializeToString())
    return body


def vector_batch(vectors) -> pa.RecordBatch:
    column = pa.array([vector_to_struct(v) for v in vectors], type=VECTOR_ARROW_TYPE)
    return pa.record_batch([column], names=["features"])


def assert_batch_matches_rows(serializer, batch: pa.RecordBatch):
    """serialize_batch gives, row for row, the bytes serialize_row gives."""
    result = serializer.serialize_batch(batch)
    assert result.num_rows == batch.num_rows
    for i, row in enumerate(rows_from_record_batch(batch)):
        if i in result.errors:
            assert result.row(i) == b""
            with pytest.raises(RowSerializationError):
                serializer.serialize_row(row)
        else:
            assert result.row(i) == serializer.serialize_row(row), f"row {i}"
    return result


# ------------------------------------------------------------------ request bytes

serializer = ProtobufRequestRowSerializer()


def test_content_type_and_registry_name():
    assert serializer.content_type == "application/x-recordio-protobuf" == PROTOBUF_CONTENT_TYPE
    built = get_serializer("protobuf", features_column_name="x")
    assert isinstance(built, ProtobufRequestRowSerializer)
    assert built.features_column_name == "x"
    assert serde_spec(built) == {"name": "protobuf", "options": {"features_column_name": "x"}}


def test_dense_vector_golden_bytes():
    # Record{features: {"values": Value{float32_tensor: Float32Tensor{values: [1, 2]}}}}
    record = (
        b"\x0a\x16"  # Record.features (field 1), 22 bytes: one map entry
        b"\x0a\x06values"  # entry key
        b"\x12\x0c"  # entry value: Value, 12 bytes
        b"\x12\x0a"  # Value.float32_tensor (field 2), 10 bytes
        b"\x0a\x08" + struct.pack("<2f", 1.0, 2.0)  # Float32Tensor.values, packed
    )
    expected = MAGIC + b"\x18\x00\x00\x00" + record
    assert serializer.serialize_row(Row(features=Vectors.dense([1.0, 2.0]))) == expected


def test_sparse_vector_golden_bytes():
    # SparseVector(4, [1, 3], [1, 2]) -> values [1, 2], keys [1, 3], shape [4]
    tensor = b"\x0a\x08" + struct.pack("<2f", 1.0, 2.0) + b"\x12\x02\x01\x03" + b"\x1a\x01\x04"
    record = b"\x0a\x1d\x0a\x06values\x12\x13\x12\x11" + tensor
    expected = MAGIC + b"\x1f\x00\x00\x00" + record + b"\x00"  # 31 bytes -> 1 byte padding
    assert serializer.serialize_row(Row(features=Vectors.sparse(4, [1, 3], [1.0, 2.0]))) == expected


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        (Vectors.dense([0.5, -1.25, 3.0]), expected_request([0.5, -1.25, 3.0])),
        (Vectors.dense([]), expected_request([])),
        (Vectors.dense([-0.0, -7.5]), expected_request([-0.0, -7.5])),
        (Vectors.dense([1e-45, 1e-50, 3.4e38]), expected_request([1e-45, 0.0, 3.4e38])),
        (Vectors.dense([1e300, -1e300]), expected_request([np.inf, -np.inf])),
        (Vectors.dense([float("nan")]), expected_request([np.nan])),
        (Vectors.sparse(5, [0, 4], [-2.0, 9.0]), expected_request([-2.0, 9.0], [0, 4], 5)),
        (Vectors.sparse(7, [], []), expected_request([], [], 7)),
        (
            Vectors.sparse(300, [2, 200, 299], [1.0, 2.0, 3.0]),
            expected_request([1.0, 2.0, 3.0], [2, 200, 299], 300),
        ),
    ],
    ids=[
        "dense",
        "empty",
        "negative",
        "tiny-huge",
        "overflow",
        "nan",
        "sparse",
        "sparse-0nnz",
        "sparse-varint",
    ],
)
def test_request_bytes_match_independent_construction(vector, expected):
    assert serializer.serialize_row(Row(features=vector)) == expected
    assert serializer.serialize_batch(vector_batch([vector])).row(0) == expected


def test_empty_dense_vector_still_carries_the_tensor():
    record = unframe(serializer.serialize_row(Row(features=Vectors.dense([]))))
    assert record.features["values"].WhichOneof("value") == "float32_tensor"


def test_values_travel_as_float32_rounded_to_nearest():
    """Documented precision loss: the wire carries float32, as in sagemaker_pyspark."""
    body = serializer.serialize_row(Row(features=Vectors.dense([0.1, 16777217.0, 1 / 3])))
    record = unframe(body)
    assert list(record.features["values"].float32_tensor.values) == [
        0.10000000149011612,
        16777216.0,
        0.3333333432674408,
    ]


def test_array_column_is_written_as_a_dense_vector():
    assert serializer.serialize_row(Row(features=[1, 2, 3])) == expected_request([1, 2, 3])


def test_null_features_is_a_per_row_error():
    with pytest.raises(RowSerializationError, match="column 'features': features are null"):
        serializer.serialize_row(Row(features=None))
    result = serializer.serialize_batch(vector_batch([Vectors.dense([1.0]), None]))
    assert result.row(0) == expected_request([1.0])
    assert result.row(1) == b""
    error = result.errors[1]
    assert (error.row_index, error.column) == (1, "features")
    assert str(error) == "row 1, column 'features': features are null"


def test_missing_features_in_a_row_names_the_fields():
    with pytest.raises(RowSerializationError, match=r"its fields are \['other'\]"):
        serializer.serialize_row(Row(other=1))


def test_null_element_inside_an_array_is_isolated_to_its_row():
    batch = pa.record_batch([pa.array([[1.0, 2.0], [1.0, None], None])], names=["features"])
    result = serializer.serialize_batch(batch)
    assert result.row(0) == expected_request([1.0, 2.0])
    assert sorted(result.errors) == [1, 2]
    assert str(result.errors[1]) == (
        "row 1, column 'features': features hold a null element at position 1; "
        "fill or drop nulls before scoring"
    )


@pytest.mark.parametrize(
    ("schema", "column", "message"),
    [
        (
            StructType([StructField("features", StringType())]),
            "features",
            "column 'features': expected an ML Vector or array<float|double|int|long>, got string",
        ),
        (
            StructType([StructField("f", VectorUDT())]),
            "features",
            "column 'features': expected a column of the DataFrame, got no such column",
        ),
    ],
)
def test_schema_is_validated_before_any_row(schema, column, message):
    with pytest.raises(SchemaValidationError) as info:
        ProtobufRequestRowSerializer(schema=schema, features_column_name=column)
    assert str(info.value).startswith(message)


def test_batch_path_matches_row_path_on_mixed_vectors():
    vectors = [
        Vectors.dense([1.0, 2.0, 3.0]),
        Vectors.sparse(3, [1], [5.0]),
        None,
        Vectors.dense([0.1]),
        Vectors.dense([]),
        Vectors.sparse(10, [0, 9], [-1.0, 1e40]),
    ]
    result = assert_batch_matches_rows(serializer, vector_batch(vectors))
    assert sorted(result.errors) == [2]


def test_batch_path_matches_row_path_on_uniform_dense_vectors():
    rng = np.random.default_rng(7)
    vectors = [Vectors.dense(v) for v in rng.normal(size=(50, 10)) * 1e3] + [None]
    result = assert_batch_matches_rows(serializer, vector_batch(vectors))
    # every dense 10-value record has the same framed size: 8 + 55 + 1 padding
    assert set(np.diff(result.offsets[:-1]).tolist()) == {64}


@pytest.mark.parametrize(("offset", "length"), [(2, 3), (5, 4), (7, 2), (0, 0)])
def test_sliced_batches_keep_their_own_rows(offset, length):
    vectors = [Vectors.dense([i, i + 1.0]) for i in range(6)]
    vectors += [Vectors.sparse(3, [1], [9.0]), None, Vectors.dense([5.0, 6.0])]
    batch = vector_batch(vectors).slice(offset, length)
    result = assert_batch_matches_rows(serializer, batch)
    assert result.num_rows == length
    if offset == 2:
        assert result.row(0) == expected_request([2.0, 3.0])


def _df_batches(spark, rows, schema):
    df = spark.createDataFrame(rows, schema).repartition(1)
    batches = df._collect_as_arrow()
    assert sum(b.num_rows for b in batches) == len(rows)
    return df, batches


def _assert_dataframe_paths_identical(spark, rows, data_type):
    schema = StructType([StructField("id", IntegerType()), StructField("features", data_type)])
    df, batches = _df_batches(spark, rows, schema)
    ser = ProtobufRequestRowSerializer(schema=df.schema)
    per_row = [ser.serialize_row(r) if r.features is not None else b"" for r in df.collect()]
    batched = []
    for batch in batches:
        result = ser.serialize_batch(batch)
        batched += [result.row(i) for i in range(result.num_rows)]
    assert batched == per_row
    return per_row


def test_dataframe_vectors_per_row_and_batch_are_byte_identical(spark):
    rows = [(i, Vectors.dense([i, -i / 3, 1e-3 * i])) for i in range(40)]
    rows += [(40, Vectors.sparse(3, [2], [7.0])), (41, None)]
    out = _assert_dataframe_paths_identical(spark, rows, VectorUDT())
    assert out[1] == expected_request([1.0, -1 / 3, 1e-3])
    assert out[40] == expected_request([7.0], [2], 3)


@pytest.mark.parametrize(
    ("element", "values"),
    [
        (DoubleType(), [[0.25, -1.0], [3.5, 1e10]]),
        (FloatType(), [[0.25, -1.0], [3.5, 7.0]]),
        (IntegerType(), [[1, -2, 3], [4, 5, 6]]),
        (LongType(), [[2**40, -1], [7, 8]]),
    ],
)
def test_dataframe_arrays_per_row_and_batch_are_byte_identical(spark, element, values):
    rows = [(i, v) for i, v in enumerate(values)] + [(len(values), None), (99, [])]
    out = _assert_dataframe_paths_identical(spark, rows, ArrayType(element))
    assert out[0] == expected_request(values[0])
    assert out[-1] == expected_request([])


def test_serializer_pickles_for_executors():
    ser = ProtobufRequestRowSerializer(features_column_name="v")
    clone = pickle.loads(pickle.dumps(ser))
    assert clone.features_column_name == "v"
    assert clone.serialize_row(Row(v=[1.0])) == expected_request([1.0])


# ------------------------------------------------------------------ responses

ALGORITHMS = [
    (
        "kmeans-protobuf",
        KMeansProtobufResponseRowDeserializer,
        ["distance_to_cluster", "closest_cluster"],
        [DoubleType(), DoubleType()],
        {"distance_to_cluster": 1.5, "closest_cluster": 2.0},
        (1.5, 2.0),
    ),
    (
        "pca-protobuf",
        PCAProtobufResponseRowDeserializer,
        ["projection"],
        [VectorUDT()],
        {"projection": [0.5, -0.25, 4.0]},
        (DenseVector([0.5, -0.25, 4.0]),),
    ),
    (
        "lda-protobuf",
        LDAProtobufResponseRowDeserializer,
        ["topic_mixture"],
        [VectorUDT()],
        {"topic_mixture": [0.75, 0.25]},
        (DenseVector([0.75, 0.25]),),
    ),
    (
        "linear-learner-binary-protobuf",
        LinearLearnerBinaryClassifierProtobufResponseRowDeserializer,
        ["score", "predicted_label"],
        [DoubleType(), DoubleType()],
        {"score": 0.875, "predicted_label": 1.0},
        (0.875, 1.0),
    ),
    (
        "linear-learner-multiclass-protobuf",
        LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer,
        ["score", "predicted_label"],
        [VectorUDT(), DoubleType()],
        {"score": [0.125, 0.625, 0.25], "predicted_label": 1.0},
        (DenseVector([0.125, 0.625, 0.25]), 1.0),
    ),
    (
        "linear-learner-regressor-protobuf",
        LinearLearnerRegressorProtobufResponseRowDeserializer,
        ["score"],
        [DoubleType()],
        {"score": -3.5},
        (-3.5,),
    ),
    (
        "fm-binary-protobuf",
        FactorizationMachinesBinaryClassifierDeserializer,
        ["score", "predicted_label"],
        [DoubleType(), DoubleType()],
        {"score": 0.25, "predicted_label": 0.0},
        (0.25, 0.0),
    ),
    (
        "fm-regressor-protobuf",
        FactorizationMachinesRegressorDeserializer,
        ["score"],
        [DoubleType()],
        {"score": 42.0},
        (42.0,),
    ),
]


@pytest.mark.parametrize(
    ("name", "cls", "columns", "types", "labels", "expected"),
    ALGORITHMS,
    ids=[a[0] for a in ALGORITHMS],
)
def test_algorithm_deserializers(name, cls, columns, types, labels, expected):
    deserializer = cls()
    assert deserializer.accepts == PROTOBUF_CONTENT_TYPE
    assert deserializer.schema.names == columns
    assert [f.dataType for f in deserializer.schema] == types
    assert deserializer.protobuf_keys == columns
    other = {k: (v + 1 if isinstance(v, float) else [x * 2 for x in v]) for k, v in labels.items()}
    body = label_body(labels, other)
    rows = deserializer.deserialize_response(body)
    assert rows[0] == expected
    assert len(rows) == 2
    batch = deserializer.deserialize_batch(body)
    assert batch.schema.names == columns
    assert batch.num_rows == 2
    assert [tuple(r) for r in rows_from_record_batch(batch, deserializer.schema)] == rows
    built = get_deserializer(name)
    assert type(built) is cls
    assert built.schema == deserializer.schema


def test_custom_column_names_keep_the_algorithm_keys():
    deserializer = KMeansProtobufResponseRowDeserializer(
        distance_to_cluster_column_name="d", closest_cluster_column_name="c"
    )
    assert deserializer.schema.names == ["d", "c"]
    body = label_body({"closest_cluster": 3.0, "distance_to_cluster": 0.5})
    assert deserializer.deserialize_response(body) == [(0.5, 3.0)]
    spec = serde_spec(deserializer)
    assert spec == {
        "name": "kmeans-protobuf",
        "options": {"distance_to_cluster_column_name": "d", "closest_cluster_column_name": "c"},
    }
    assert get_deserializer(spec["name"], **spec["options"]).schema.names == ["d", "c"]
    lda = LDAProtobufResponseRowDeserializer(projection_column_name="mix")
    assert lda.deserialize_response(label_body({"topic_mixture": [1.0, 0.0]})) == [
        (DenseVector([1.0, 0.0]),)
    ]


def test_sparse_projection_reads_as_sparse_vector():
    deserializer = PCAProtobufResponseRowDeserializer()
    body = label_body({"projection": ("sparse", 6, [1, 4], [2.5, -1.0])})
    assert deserializer.deserialize_response(body) == [(SparseVector(6, [1, 4], [2.5, -1.0]),)]
    batch = deserializer.deserialize_batch(body)
    assert batch.column(0).to_pylist() == [
        {"type": 0, "size": 6, "indices": [1, 4], "values": [2.5, -1.0]}
    ]


def test_scalar_column_takes_the_first_value():
    deserializer = LinearLearnerRegressorProtobufResponseRowDeserializer()
    body = label_body({"score": [7.0, 8.0, 9.0]}, {"score": ("sparse", 3, [2], [5.0])})
    assert deserializer.deserialize_response(body) == [(7.0,), (0.0,)]


def test_generic_deserializer_with_keys_int_and_array_columns():
    schema = StructType(
        [
            StructField("cluster", IntegerType()),
            StructField("all_scores", ArrayType(DoubleType())),
            StructField("distance", DoubleType()),
        ]
    )
    deserializer = ProtobufResponseRowDeserializer(
        schema, protobuf_keys=["closest_cluster", "scores", "distance_to_cluster"]
    )
    body = label_body(
        {"closest_cluster": 2.0, "scores": [0.5, 1.5], "distance_to_cluster": 0.25},
        {"closest_cluster": 0.0, "scores": ("sparse", 3, [1], [4.0]), "distance_to_cluster": 9.0},
    )
    assert deserializer.deserialize_response(body) == [
        (2, [0.5, 1.5], 0.25),
        (0, [0.0, 4.0, 0.0], 9.0),
    ]
    assert deserializer.deserialize_batch(body).to_pylist() == [
        {"cluster": 2, "all_scores": [0.5, 1.5], "distance": 0.25},
        {"cluster": 0, "all_scores": [0.0, 4.0, 0.0], "distance": 9.0},
    ]


def test_float64_and_int32_tensors_are_read_too():
    record = record_pb2.Record()
    record.label["score"].float64_tensor.values.append(0.1)
    record.label["predicted_label"].int32_tensor.values.append(3)
    body = frame(record.SerializeToString())
    deserializer = LinearLearnerBinaryClassifierProtobufResponseRowDeserializer()
    assert deserializer.deserialize_response(body) == [(0.1, 3.0)]


def test_float32_response_values_read_as_their_exact_double():
    deserializer = LinearLearnerRegressorProtobufResponseRowDeserializer()
    assert deserializer.deserialize_response(label_body({"score": 0.1})) == [(0.10000000149011612,)]


def test_missing_key_names_the_key_and_the_keys_present():
    deserializer = KMeansProtobufResponseRowDeserializer()
    body = label_body({"distance_to_cluster": 1.0, "closest_cluster": 0.0}, {"score": 1.0})
    with pytest.raises(ResponseParseError) as info:
        deserializer.deserialize_response(body)
    message = str(info.value)
    assert message.startswith(
        "cannot read response as application/x-recordio-protobuf: record 1 has no label "
        "'distance_to_cluster' for column 'distance_to_cluster'; its labels are ['score']"
    )
    assert info.value.body_head == body[:200]


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"score": []}, "label 'score' for column 'score' holds an empty tensor"),
        ({"score": ("sparse", 3, [0, 1], [1.0])}, "has 2 keys for 1 values"),
    ],
)
def test_unusable_tensors_are_clear_errors(labels, fragment):
    with pytest.raises(ResponseParseError, match=fragment):
        LinearLearnerRegressorProtobufResponseRowDeserializer().deserialize_response(
            label_body(labels)
        )


def test_bytes_value_is_not_a_tensor():
    record = record_pb2.Record()
    record.label["score"].bytes.value.append(b"jpeg")
    with pytest.raises(ResponseParseError, match="holds no numeric tensor"):
        LinearLearnerRegressorProtobufResponseRowDeserializer().deserialize_response(
            frame(record.SerializeToString())
        )


def test_sparse_matrix_cannot_fill_a_vector_column():
    record = record_pb2.Record()
    tensor = record.label["projection"].float32_tensor
    tensor.values.extend([1.0])
    tensor.keys.extend([3])
    tensor.shape.extend([2, 2])
    with pytest.raises(ResponseParseError, match=r"sparse tensor of shape \[2, 2\]"):
        PCAProtobufResponseRowDeserializer().deserialize_response(frame(record.SerializeToString()))


def test_garbled_bodies_quote_the_body():
    deserializer = KMeansProtobufResponseRowDeserializer()
    with pytest.raises(ResponseParseError, match=r"starts b'1\.5,2\.0\\n'"):
        deserializer.deserialize_response(b"1.5,2.0\n")
    good = label_body({"distance_to_cluster": 1.0, "closest_cluster": 0.0})
    with pytest.raises(ResponseParseError, match="truncated RecordIO record"):
        deserializer.deserialize_response(good[:-6])
    with pytest.raises(ResponseParseError, match="record 0 is not an aialgs Record protobuf"):
        deserializer.deserialize_response(frame(b"\xff\xff\xff"))


def test_empty_body_has_no_rows():
    deserializer = PCAProtobufResponseRowDeserializer()
    assert deserializer.deserialize_response(b"") == []
    assert deserializer.deserialize_batch(b"").num_rows == 0


def test_keys_must_match_schema_length():
    schema = StructType([StructField("a", DoubleType()), StructField("b", DoubleType())])
    with pytest.raises(SchemaValidationError, match=r"one key per schema column \(2"):
        ProtobufResponseRowDeserializer(schema, protobuf_keys=["a"])
    with pytest.raises(SchemaValidationError, match="column 's': expected double"):
        ProtobufResponseRowDeserializer(StructType([StructField("s", StringType())]))


def test_deserializer_pickles_for_executors():
    clone = pickle.loads(pickle.dumps(PCAProtobufResponseRowDeserializer("p")))
    assert clone.deserialize_response(label_body({"projection": [1.0, 2.0]})) == [
        (DenseVector([1.0, 2.0]),)
    ]


# ------------------------------------------------------------------ response building


def test_write_label_records_exact_bytes():
    body = write_label_records([{"score": 0.5, "predicted_label": 1}, {"score": [1.0, 2.0]}])
    first = record_pb2.Record()
    first.label["predicted_label"].float32_tensor.values.append(1.0)
    first.label["score"].float32_tensor.values.append(0.5)
    second = record_pb2.Record()
    second.label["score"].float32_tensor.values.extend([1.0, 2.0])
    assert body == frame(first.SerializeToString()) + frame(second.SerializeToString())


def test_write_label_records_round_trips_through_each_algorithm():
    body = write_label_records(
        [
            {"score": np.array([0.25, 0.75]), "predicted_label": np.float64(1.0)},
            {"score": [0.5, 0.5], "predicted_label": 0},
        ]
    )
    rows = LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer().deserialize_response(
        body
    )
    assert rows == [(DenseVector([0.25, 0.75]), 1.0), (DenseVector([0.5, 0.5]), 0.0)]
