"""SerDes against careless and hostile input: what each format does with an empty or null
features row, deserializers that raise only the library's parse error (fuzzed), protobuf
sparse tensors that are checked before anything is built from them, and batch limits that
fail where they are written.

What an empty row becomes, per format (both serializer paths agree on every cell):

    format                    empty vector / array        null features
    CSV (features)            per-row error (blank line)  per-row error
    named CSV, one column     (null value) per-row error
    LibSVM                    ``label\\n`` (valid)         per-row error
    JSON, JSON Lines          ``[]`` (a record)           per-row error
    protobuf                  an empty tensor (as the     per-row error
                              reference writes it)

A row is refused only where the format cannot carry it as a record of its own: CSV readers
skip a blank line, so the endpoint would answer one result fewer than the rows sent and
the whole body would fail on the count. Everywhere else the row reaches the model, which
decides what shapes it takes; a refusal there is isolated to the row by the engine.
"""

from __future__ import annotations

import json
import math
import struct
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)
from serde_helpers import assert_same_errors

from endpoints.clients.mock import MockEndpoint, MockRequest
from endpoints.errors import ConfigurationError
from endpoints.scoring.model import SageMakerModel
from endpoints.scoring.options import EngineOptions
from serde import get_deserializer, serde_spec
from serde.arrow_types import record_batch_from_rows
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.batching import RequestBatchIterator, RequestBody, RowFailure
from serde.csv import EMPTY_FEATURES, UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer
from serde.errors import ResponseParseError, RowSerializationError
from serde.features import MAX_DENSE_VALUES
from serde.json import JSONPredictionsResponseRowDeserializer, JSONRequestRowSerializer
from serde.jsonlines import JSONLinesRequestRowSerializer, JSONLinesResponseRowDeserializer
from serde.kserve_v2 import KServeV2ResponseRowDeserializer
from serde.libsvm import (
    LibSVMRequestRowSerializer,
    LibSVMResponseRowDeserializer,
    UnlabeledLibSVMRequestRowSerializer,
)
from serde.named_csv import CSVResponseRowDeserializer, NamedCSVRequestRowSerializer
from serde.proto import record_pb2
from serde.protobuf import (
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
from serde.registry import deserializer_from_spec

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAGIC = struct.pack("<I", 0xCED7230A)
PROTOBUF = "application/x-recordio-protobuf"


# ------------------------------------------------------- empty and null features, per format

VECTORS = StructType([StructField("label", DoubleType()), StructField("features", VectorUDT())])
ARRAYS = StructType(
    [StructField("label", DoubleType()), StructField("features", ArrayType(DoubleType()))]
)

SERIALIZERS: dict[str, Callable[[], RequestRowSerializer]] = {
    "csv": UnlabeledCSVRequestRowSerializer,
    "libsvm": LibSVMRequestRowSerializer,
    "unlabeled-libsvm": UnlabeledLibSVMRequestRowSerializer,
    "json": JSONRequestRowSerializer,
    "json-object": lambda: JSONRequestRowSerializer(input_mapping={"features": "x"}),
    "jsonlines": JSONLinesRequestRowSerializer,
    "protobuf": ProtobufRequestRowSerializer,
}

NULL_MESSAGE = {
    "json-object": "row 0, column 'features': value is null",
}


def protobuf_record(values=(), keys=(), shape=()) -> bytes:
    """One framed Record with ``features["values"]`` set, written field by field."""
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.SetInParent()
    tensor.values.extend(values)
    tensor.keys.extend(keys)
    tensor.shape.extend(shape)
    payload = record.SerializeToString()
    return MAGIC + struct.pack("<I", len(payload)) + payload + b"\x00" * (-len(payload) % 4)


#: (features value, schema) -> what each format writes for it; a str is the row's error.
EMPTY_CASES = {
    "empty dense vector": (
        Vectors.dense([]),
        VECTORS,
        {
            "csv": EMPTY_FEATURES,
            "libsvm": b"1.0\n",
            "unlabeled-libsvm": b"0.0\n",
            "json": b"[]",
            "json-object": b'{"x":[]}',
            "jsonlines": b"[]\n",
            "protobuf": protobuf_record(),
        },
    ),
    "sparse vector of size 0": (
        Vectors.sparse(0, [], []),
        VECTORS,
        {
            "csv": EMPTY_FEATURES,
            "libsvm": b"1.0\n",
            "unlabeled-libsvm": b"0.0\n",
            "json": b"[]",
            "json-object": b'{"x":[]}',
            "jsonlines": b"[]\n",
            "protobuf": protobuf_record(shape=[0]),
        },
    ),
    "sparse vector storing nothing": (
        Vectors.sparse(3, [], []),
        VECTORS,
        {
            "csv": b"0.0,0.0,0.0\n",
            "libsvm": b"1.0\n",
            "unlabeled-libsvm": b"0.0\n",
            "json": b"[0.0,0.0,0.0]",
            "json-object": b'{"x":[0.0,0.0,0.0]}',
            "jsonlines": b"[0.0,0.0,0.0]\n",
            "protobuf": protobuf_record(shape=[3]),
        },
    ),
    "empty array": (
        [],
        ARRAYS,
        {
            "csv": EMPTY_FEATURES,
            "libsvm": b"1.0\n",
            "unlabeled-libsvm": b"0.0\n",
            "json": b"[]",
            "json-object": b'{"x":[]}',
            "jsonlines": b"[]\n",
            "protobuf": protobuf_record(),
        },
    ),
    "null vector": (None, VECTORS, {}),
    "null array": (None, ARRAYS, {}),
}


def written_both_ways(name: str, schema: StructType, values: list) -> SerializedRows:
    """``serialize_batch`` over rows ``(1.0, value)``, after checking that every row is
    what ``serialize_row`` writes for it (vectorized JSON ends rows with their separator)
    and that both paths refuse the same rows with the same messages."""
    serializer = SERIALIZERS[name]()
    serializer.set_schema(schema)
    batch = record_batch_from_rows([(1.0, v) for v in values], schema)
    fast = serializer.serialize_batch(batch)
    slow = RequestRowSerializer.serialize_batch(serializer, batch)
    assert_same_errors(fast, slow)
    end = serializer.row_separator if fast.trailing_separator else b""
    for i in range(fast.num_rows):
        expected = b"" if i in slow.errors else slow.row(i) + end
        assert fast.row(i) == expected
    return fast


@pytest.mark.parametrize("case", list(EMPTY_CASES))
@pytest.mark.parametrize("name", list(SERIALIZERS))
def test_what_each_format_writes_for_an_empty_or_null_row(name, case):
    value, schema, expected = EMPTY_CASES[case]
    # the row alone, and between two ordinary rows: neighbours are written whatever it is
    result = written_both_ways(name, schema, [value])
    around = written_both_ways(name, schema, [[1.0, 2.0], value, [3.0, 4.0]])
    if value is None:
        assert list(result.errors) == [0]
        message = NULL_MESSAGE.get(name, "row 0, column 'features': features are null")
        assert str(result.errors[0]) == message
    elif isinstance(expected[name], str):
        assert list(result.errors) == [0]
        assert str(result.errors[0]) == f"row 0, column 'features': {expected[name]}"
        assert result.row(0) == b""
    else:
        assert result.errors == {}
        end = b"," if name.startswith("json") and name != "jsonlines" else b""
        assert result.row(0) == expected[name] + end
    assert list(around.errors) == list(result.errors and [1])
    assert around.row(0) != b"" and around.row(2) != b""


def test_a_csv_row_never_serializes_to_a_blank_line():
    """The invariant the empty-row rule keeps: every CSV body holds exactly as many
    non-blank lines as it carries rows, so the endpoint's count matches."""
    values = [Vectors.dense([1.0]), Vectors.dense([]), Vectors.sparse(0, [], []), None]
    values += [Vectors.sparse(2, [1], [5.0]), Vectors.dense([])]
    batch = record_batch_from_rows([(1.0, v) for v in values], VECTORS)
    packer = RequestBatchIterator(UnlabeledCSVRequestRowSerializer(), max_batch_records=2)
    items = list(packer.iter_arrow([batch]))
    bodies = [item for item in items if isinstance(item, RequestBody)]
    failures = {item.index: str(item.error) for item in items if isinstance(item, RowFailure)}
    assert [(b.body, b.start, b.stop) for b in bodies] == [
        (b"1.0\n", 0, 1),
        (b"0.0,5.0\n", 4, 5),
    ]
    assert failures == {
        1: f"row 1, column 'features': {EMPTY_FEATURES}",
        2: f"row 2, column 'features': {EMPTY_FEATURES}",
        3: "row 3, column 'features': features are null",
        5: f"row 5, column 'features': {EMPTY_FEATURES}",
    }
    for body in bodies:
        lines = [line for line in body.body.split(b"\n") if line.strip()]
        assert len(lines) == body.num_rows


@pytest.mark.parametrize(
    ("columns", "schema", "values", "rows", "errors"),
    [
        (  # one column: a null is the whole line; an empty string is quoted, not blank
            ["city"],
            StructType([StructField("city", StringType())]),
            [("Oslo",), (None,), ("",)],
            [b"Oslo\n", b"", b'""\n'],
            [1],
        ),
        (  # two columns: two empty fields still make a line
            ["age", "city"],
            StructType([StructField("age", IntegerType()), StructField("city", StringType())]),
            [(30, "Oslo"), (None, None)],
            [b"30,Oslo\n", b",\n"],
            [],
        ),
    ],
)
def test_named_csv_refuses_only_a_line_that_would_be_blank(columns, schema, values, rows, errors):
    serializer = NamedCSVRequestRowSerializer(columns)
    batch = record_batch_from_rows(values, schema)
    fast = serializer.serialize_batch(batch)
    slow = RequestRowSerializer.serialize_batch(serializer, batch)
    assert fast.data == slow.data and fast.offsets.tolist() == slow.offsets.tolist()
    assert_same_errors(fast, slow)
    assert [fast.row(i) for i in range(fast.num_rows)] == rows
    assert list(fast.errors) == errors
    for i in errors:
        assert str(fast.errors[i]) == (
            f"row {i}, column 'city': value is null, and a one-column CSV line holding a null "
            "is a blank line, which CSV readers skip (the endpoint would answer one result "
            "fewer than the rows sent); fill or drop nulls in this column before scoring"
        )


SUM_MODEL = """
import numpy as np

def predict(x):
    return np.asarray(x, dtype=float).sum(axis=1)
"""


@pytest.fixture(scope="module")
def sum_endpoint(local_host, tmp_path_factory):
    """A Python model that sums each row's features, on the session's local host."""
    model_dir = tmp_path_factory.mktemp("hardening-sum-model")
    (model_dir / "model.py").write_text(SUM_MODEL)
    local_host.deploy_local(
        "hardening-sum",
        model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    return "hardening-sum"


def test_an_empty_vector_fails_only_its_row_and_its_body_is_scored(spark, local_host, sum_endpoint):
    """The issue's case end to end: before, the empty row became a blank line the host
    skipped, and the whole body failed as a count mismatch (299 results for 300 rows)."""
    rows = 300
    df = spark.range(0, rows, 1, 1).select(
        "id",
        F.when(F.col("id") == 41, F.array().cast("array<double>"))
        .otherwise(F.array(F.col("id").cast("double"), F.lit(0.5)))
        .alias("features"),
    )
    model = SageMakerModel.from_endpoint(
        sum_endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=local_host.url,
        region="us-east-1",
        on_error="column",
    )
    out = sorted(model.transform(df).collect(), key=lambda r: r.id)
    assert len(out) == rows
    failed = [r for r in out if r.error is not None]
    assert [r.id for r in failed] == [41]
    assert failed[0].error.kind == "serialization"
    assert failed[0].error.message.endswith(EMPTY_FEATURES)
    assert failed[0].prediction is None
    assert [r.prediction for r in out if r.id != 41] == [i + 0.5 for i in range(rows) if i != 41]
    metrics = model.last_metrics
    # the other 299 rows, in the two bodies around the refused row (a body carries a
    # contiguous range of rows), each answered in full at the first attempt
    assert (metrics.bodies, metrics.requests) == (2, 2)
    assert "count_mismatch" not in metrics.errors


@pytest.mark.parametrize(
    ("serializer", "schema"),
    [
        (UnlabeledLibSVMRequestRowSerializer(), VECTORS),
        (ProtobufRequestRowSerializer(), VECTORS),
    ],
    ids=["libsvm", "protobuf"],
)
def test_an_empty_row_the_format_carries_is_one_record_on_the_server(
    local_host, sum_endpoint, serializer, schema
):
    """LibSVM's label-only line and protobuf's empty tensor reach the host as rows of
    their own: three rows in, three predictions out, the empty one summing to 0."""
    values = [Vectors.dense([1.0, 2.0]), Vectors.dense([]), Vectors.sparse(2, [1], [4.0])]
    batch = record_batch_from_rows([(1.0, v) for v in values], schema)
    (body,) = RequestBatchIterator(serializer).iter_arrow([batch])
    answer = local_host.runtime_client().invoke_endpoint(
        EndpointName=sum_endpoint,
        Body=body.body,
        ContentType=serializer.content_type,
        Accept="text/csv",
    )
    predictions = XGBoostCSVRowDeserializer().deserialize_response(answer["Body"].read())
    assert predictions == [(3.0,), (0.0,), (4.0,)]


# ---------------------------------------------------------- protobuf responses, checked


def label_record(**labels) -> bytes:
    """One framed Record; each label is (values, keys, shape) of a Float32Tensor."""
    record = record_pb2.Record()
    for key, (values, keys, shape) in labels.items():
        tensor = record.label[key].float32_tensor
        tensor.SetInParent()
        tensor.values.extend(values)
        tensor.keys.extend(keys)
        tensor.shape.extend(shape)
    payload = record.SerializeToString()
    return MAGIC + struct.pack("<I", len(payload)) + payload + b"\x00" * (-len(payload) % 4)


def parse_error_both_ways(deserializer: ResponseRowDeserializer, body: bytes) -> str:
    """The reason both read paths give for ``body``; they must give the same one."""
    with pytest.raises(ResponseParseError) as per_row:
        list(deserializer.deserialize_response(body))
    with pytest.raises(ResponseParseError) as batch:
        deserializer.deserialize_batch(body)
    assert per_row.value.reason == batch.value.reason
    assert str(per_row.value).startswith(f"cannot read response as {deserializer.accepts}: ")
    return per_row.value.reason


MALFORMED = "the endpoint wrote a malformed sparse tensor"


@pytest.mark.parametrize(
    ("keys", "shape", "reason"),
    [
        (
            [3, 1],
            [5],
            "has key 1 at position 1, which follows key 3; a Vector's indices must increase "
            f"(sorted, no repeats); {MALFORMED}",
        ),
        (
            [1, 1],
            [5],
            "has key 1 at position 1, which repeats key 1; a Vector's indices must increase "
            f"(sorted, no repeats); {MALFORMED}",
        ),
        ([1, 9], [5], f"has key 9 at position 1, outside its shape [5] (keys 0..4); {MALFORMED}"),
        (
            [2**64 - 1, 0],
            [5],
            f"has key 18446744073709551615 at position 0, outside its shape [5] (keys 0..4); "
            f"{MALFORMED}",
        ),
        (
            [0, 1],
            [2**31],
            "is a sparse tensor of shape [2147483648]; a Spark Vector holds at most "
            "2,147,483,647 elements; check what the endpoint writes under this key",
        ),
    ],
    ids=["unsorted", "duplicate", "out-of-range", "past-int64", "wider-than-spark"],
)
@pytest.mark.parametrize(
    ("deserializer", "key"),
    [
        (PCAProtobufResponseRowDeserializer(), "projection"),
        (LDAProtobufResponseRowDeserializer(), "topic_mixture"),
    ],
    ids=["pca", "lda"],
)
def test_pca_and_lda_refuse_sparse_indices_a_vector_cannot_hold(
    deserializer, key, keys, shape, reason
):
    good = label_record(**{key: ([0.5], [0], [5])})
    bad = label_record(**{key: ([1.0, 2.0], keys, shape)})
    message = parse_error_both_ways(deserializer, good + bad)
    assert message == f"record 1: label {key!r} for column {key!r} {reason}"


def test_a_valid_sparse_vector_of_any_declared_size_stays_sparse():
    body = label_record(projection=([1.0, 2.0], [5, 2**30], [2**31 - 1]))
    deserializer = PCAProtobufResponseRowDeserializer()
    tracemalloc.start()
    try:
        (row,) = deserializer.deserialize_response(body)
        batch = deserializer.deserialize_batch(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert row == (SparseVector(2**31 - 1, [5, 2**30], [1.0, 2.0]),)
    vector = batch.column(0)[0].as_py()
    assert (vector["size"], vector["indices"], vector["values"]) == (2**31 - 1, [5, 2**30], [1, 2])
    assert peak < 1 << 20


def test_a_44_byte_response_cannot_make_an_array_column_allocate():
    """The issue's case: a sparse tensor declaring 25M elements, read into an array column
    (filled dense), allocated 192 MiB. Now the shape is checked against the cap first."""
    body = label_record(projection=([1.0], [0], [25_000_000]))
    assert len(body) == 44
    deserializer = ProtobufResponseRowDeserializer("projection array<double>")
    tracemalloc.start()
    try:
        reason = parse_error_both_ways(deserializer, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert reason == (
        "record 0: label 'projection' for column 'projection' is a sparse tensor of shape "
        "[25000000] (25,000,000 elements); an array column is filled dense, and over "
        f"{MAX_DENSE_VALUES:,} elements is refused rather than allocated. Read the label into "
        "a vector column, which keeps it sparse"
    )
    # at the cap it is read, dense
    at_cap = label_record(projection=([7.0], [MAX_DENSE_VALUES - 1], [MAX_DENSE_VALUES]))
    (row,) = deserializer.deserialize_response(at_cap)
    assert len(row[0]) == MAX_DENSE_VALUES and row[0][-1] == 7.0 and sum(row[0]) == 7.0


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (
            {"a": ([1.0, 2.0], [1, 1], [3])},
            f"label 'a' for column 'a' has key 1 twice (again at position 1); {MALFORMED}",
        ),
        (
            {"a": ([1.0], [3], [3])},
            f"label 'a' for column 'a' has key 3 at position 0, outside its shape [3] (keys "
            f"0..2); {MALFORMED}",
        ),
        (
            {"a": ([1.0], [0], [])},
            "label 'a' for column 'a' is a sparse tensor without a shape, so its size is "
            "unknown; an array column is filled dense and needs it. Read the label into a "
            "vector column",
        ),
    ],
    ids=["duplicate", "out-of-range", "no-shape"],
)
def test_an_array_column_refuses_keys_it_cannot_place(labels, reason):
    deserializer = ProtobufResponseRowDeserializer("a array<double>")
    assert parse_error_both_ways(deserializer, label_record(**labels)) == f"record 0: {reason}"


def test_an_array_column_places_unsorted_keys():
    # a sparse matrix's keys come in storage order (column by column): not sorted, valid
    deserializer = ProtobufResponseRowDeserializer("a array<double>")
    body = label_record(a=([1.0, 2.0, 3.0], [4, 0, 2], [2, 3]))
    assert list(deserializer.deserialize_response(body)) == [([2.0, 0.0, 3.0, 0.0, 1.0, 0.0],)]
    assert deserializer.deserialize_batch(body).to_pylist() == [
        {"a": [2.0, 0.0, 3.0, 0.0, 1.0, 0.0]}
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "holds nan, which a int column cannot hold"),
        (math.inf, "holds inf, which a int column cannot hold"),
        (2.0**31, "holds 2147483648.0, which a int column cannot hold"),
    ],
)
def test_an_integral_column_refuses_what_it_cannot_hold(value, reason):
    deserializer = ProtobufResponseRowDeserializer("n int")
    body = label_record(n=([value], [], []))
    assert parse_error_both_ways(deserializer, body) == (
        f"record 0: label 'n' for column 'n' {reason} (integers from -2147483648 to "
        "2147483647); declare the column double"
    )


def test_protobuf_response_schema_may_be_ddl_and_saves_as_written():
    ddl = "score double, probs array<double>, v vector"
    deserializer = ProtobufResponseRowDeserializer(ddl, protobuf_keys=["s", "p", "v"])
    assert deserializer.schema == StructType(
        [
            StructField("score", DoubleType()),
            StructField("probs", ArrayType(DoubleType())),
            StructField("v", VectorUDT()),
        ]
    )
    body = label_record(s=([0.25], [], []), p=([0.5, 0.5], [], []), v=([2.0], [1], [3]))
    expected = [(0.25, [0.5, 0.5], SparseVector(3, [1], [2.0]))]
    assert list(deserializer.deserialize_response(body)) == expected
    spec = serde_spec(deserializer)
    assert spec == {
        "name": "protobuf-response",
        "options": {"schema": ddl, "protobuf_keys": ["s", "p", "v"]},
    }
    rebuilt = deserializer_from_spec(spec)
    assert list(rebuilt.deserialize_response(body)) == expected
    assert get_deserializer("protobuf-response", schema="score double").schema.names == ["score"]


def test_a_framing_error_names_the_content_type_like_every_parse_error():
    body = label_record(score=([1.0], [], []))
    reason = parse_error_both_ways(KMeansProtobufResponseRowDeserializer(), body[:-5])
    assert reason.startswith("truncated RecordIO record at byte 0: header announces ")


def test_write_label_records_names_a_key_that_is_not_a_string():
    with pytest.raises(RowSerializationError) as info:
        write_label_records([{"score": 1.0}, {"score": 1.0, 0: 2.0}])
    assert str(info.value) == (
        "row 1: label names must be strings (a Record's label map is keyed by string), got 0 "
        "(int); name every output with a string"
    )
    with pytest.raises(RowSerializationError) as info:
        write_label_records([{"score": "high"}])
    assert str(info.value) == "row 0, column 'score': label 'score' must hold numbers, got 'high'"


# --------------------------------------------------- fuzz: only the library's parse error

DESERIALIZERS: dict[str, ResponseRowDeserializer] = {
    "xgboost-csv": XGBoostCSVRowDeserializer(),
    "libsvm": LibSVMResponseRowDeserializer(6),
    "csv-scalars": CSVResponseRowDeserializer("a tinyint, b bigint, c float, d boolean, e string"),
    "csv-line": CSVResponseRowDeserializer("v vector"),
    "json-columns": JSONPredictionsResponseRowDeserializer("a double, b array<double>"),
    "json-mixed": JSONPredictionsResponseRowDeserializer("a tinyint, b string, c vector"),
    "json-single-array": JSONPredictionsResponseRowDeserializer("probs array<array<float>>"),
    "jsonlines": JSONLinesResponseRowDeserializer("a bigint, b array<double>"),
    "protobuf": ProtobufResponseRowDeserializer(
        "a array<double>, i int, f float, v vector, b tinyint", ["a", "i", "f", "v", "b"]
    ),
    "kmeans": KMeansProtobufResponseRowDeserializer(),
    "pca": PCAProtobufResponseRowDeserializer(),
    "lda": LDAProtobufResponseRowDeserializer(),
    "linear-learner-binary": LinearLearnerBinaryClassifierProtobufResponseRowDeserializer(),
    "linear-learner-multiclass": (
        LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer()
    ),
    "linear-learner-regressor": LinearLearnerRegressorProtobufResponseRowDeserializer(),
    "fm-binary": FactorizationMachinesBinaryClassifierDeserializer(),
    "fm-regressor": FactorizationMachinesRegressorDeserializer(),
    "kserve-v2": KServeV2ResponseRowDeserializer("predict bigint, proba array<double>"),
}

#: A valid answer for each, several results long: cut short or flipped, it must still
#: either read or raise the library's parse error.
VALID_BODIES = {
    "xgboost-csv": b"0.25,1.5e-3\n",
    "libsvm": b"-1 1:0.5 6:2e-3\n0.0\n",
    "csv-scalars": b'1,-9000000000,0.5,true,"a, b"\n-3,7,NaN,false,\n',
    "csv-line": b"0.1,0.9\n1,2,3\n",
    "json-columns": b'{"predictions": [[0.5, [1.0, 2.0]], {"a": 1, "b": []}]}',
    "json-mixed": b'{"outputs": {"a": [1, -128], "b": ["x", null], "c": [[1.5], [2, 3]]}}',
    "json-single-array": b'{"predictions": [[[0.5, 1]], [[2.5], []]]}',
    "jsonlines": b'[1, [0.5]]\n{"a": -4, "b": [1e300]}\n\n',
    "protobuf": write_label_records([{"a": [1.0, 2.0], "i": 3, "f": 0.5, "v": [1.0], "b": -2}] * 2),
    "kmeans": write_label_records([{"distance_to_cluster": 1.5, "closest_cluster": 2.0}] * 2),
    "pca": label_record(projection=([1.0, 2.0], [0, 3], [4])) * 2,
    "lda": write_label_records([{"topic_mixture": [0.25, 0.75]}] * 2),
    "linear-learner-binary": write_label_records([{"score": 0.5, "predicted_label": 1}] * 2),
    "linear-learner-multiclass": write_label_records(
        [{"score": [0.2, 0.8], "predicted_label": 1}] * 2
    ),
    "linear-learner-regressor": write_label_records([{"score": -3.5}] * 2),
    "fm-binary": write_label_records([{"score": 0.9, "predicted_label": 1}] * 2),
    "fm-regressor": write_label_records([{"score": 12.0}] * 2),
    "kserve-v2": b'{"outputs": [{"name": "predict", "shape": [2], "datatype": "INT64", '
    b'"data": [1, 0]}, {"name": "proba", "shape": [2, 2], "datatype": "FP64", '
    b'"data": [0.1, 0.9, 0.5, 0.5]}]}',
}


def reads_or_raises_parse_error(name: str, body: bytes) -> None:
    """Both read paths either read ``body`` (the same number of results) or raise
    :class:`ResponseParseError` worded for the deserializer's content type — never a
    ``TypeError``, ``IndexError``, ``OverflowError``, Arrow error or memory blow-up."""
    deserializer = DESERIALIZERS[name]
    prefix = f"cannot read response as {deserializer.accepts}: "
    outcomes = []
    for read in (
        lambda: len(list(deserializer.deserialize_response(body))),
        lambda: deserializer.deserialize_batch(body).num_rows,
    ):
        try:
            outcomes.append(read())
        except ResponseParseError as exc:
            assert str(exc).startswith(prefix), str(exc)
            outcomes.append("parse error")
    assert outcomes[0] == outcomes[1]


def test_every_valid_body_reads():
    for name, body in VALID_BODIES.items():
        deserializer = DESERIALIZERS[name]
        assert len(list(deserializer.deserialize_response(body))) == 2, name
        assert deserializer.deserialize_batch(body).num_rows == 2, name


@FUZZ
@given(st.sampled_from(list(DESERIALIZERS)), st.binary(max_size=300))
def test_random_bytes_raise_only_parse_errors(name, body):
    reads_or_raises_parse_error(name, body)


@FUZZ
@given(st.sampled_from(list(DESERIALIZERS)), st.data())
def test_truncated_or_flipped_valid_bodies_raise_only_parse_errors(name, data):
    body = VALID_BODIES[name]
    cut = data.draw(st.integers(0, len(body)), label="cut")
    reads_or_raises_parse_error(name, body[:cut])
    position = data.draw(st.integers(0, len(body) - 1), label="position")
    byte = data.draw(st.integers(0, 255), label="byte")
    reads_or_raises_parse_error(name, body[:position] + bytes([byte]) + body[position + 1 :])


@st.composite
def tensors(draw) -> tuple[str, list, list[int], list[int]]:
    """A label value of any kind, with keys and shapes from plausible to hostile."""
    kind = draw(st.sampled_from(["float32_tensor", "float64_tensor", "int32_tensor", "bytes"]))
    count = draw(st.integers(0, 4))
    if kind == "int32_tensor":
        values = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=count, max_size=count))
    else:
        width = 32 if kind == "float32_tensor" else 64
        values = draw(st.lists(st.floats(width=width), min_size=count, max_size=count))
    key = st.integers(0, 9) | st.integers(0, 2**64 - 1)
    keys = draw(st.just([]) | st.lists(key, min_size=count, max_size=count) | st.lists(key))
    size = st.integers(0, 9) | st.integers(2**21, 2**33) | st.integers(0, 2**64 - 1)
    shape = draw(st.lists(size, max_size=3))
    return kind, values, keys, shape


def records_body(records: list[dict]) -> bytes:
    body = b""
    for labels in records:
        record = record_pb2.Record()
        for key, (kind, values, keys, shape) in labels.items():
            if kind == "bytes":
                record.label[key].bytes.value.append(b"x")
                continue
            tensor = getattr(record.label[key], kind)
            tensor.SetInParent()
            tensor.values.extend(values)
            tensor.keys.extend(keys)
            tensor.shape.extend(shape)
        payload = record.SerializeToString()
        body += MAGIC + struct.pack("<I", len(payload)) + payload + b"\x00" * (-len(payload) % 4)
    return body


LABEL_KEYS = ["a", "i", "f", "v", "b", "projection", "topic_mixture", "score"]
LABEL_KEYS += ["predicted_label", "distance_to_cluster", "closest_cluster"]
PROTOBUF_NAMES = [n for n, d in DESERIALIZERS.items() if d.accepts == PROTOBUF]


@FUZZ
@given(
    st.sampled_from(PROTOBUF_NAMES),
    st.lists(st.dictionaries(st.sampled_from(LABEL_KEYS), tensors(), min_size=1), max_size=3),
)
def test_hostile_protobuf_records_raise_only_parse_errors(name, records):
    reads_or_raises_parse_error(name, records_body(records))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "b", "c", "predictions", "outputs"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)
JSON_NAMES = [n for n, d in DESERIALIZERS.items() if "json" in d.accepts]


@FUZZ
@given(st.sampled_from(JSON_NAMES), JSON_VALUES)
def test_any_json_document_raises_only_parse_errors(name, document):
    # Python's encoder, as Python model servers answer: NaN, Infinity, integers past 64 bits
    reads_or_raises_parse_error(name, json.dumps(document).encode())
    if isinstance(document, list):  # JSON Lines: one document per line
        lines = b"\n".join(json.dumps(item).encode() for item in document)
        reads_or_raises_parse_error(name, lines)


@pytest.mark.parametrize(
    ("deserializer", "body", "reason"),
    [
        (  # a label key that is not UTF-8 reads as bytes, which do not sort with str
            LinearLearnerBinaryClassifierProtobufResponseRowDeserializer(),
            write_label_records([{"score": 0.5, "predicted_label": 1}]).replace(
                b"score", b"\x80core"
            ),
            "record 0 has no label 'score' for column 'score'; its labels are "
            "['predicted_label', b'\\x80core']. Pass protobuf_keys naming the endpoint's "
            "output keys",
        ),
        (  # Python's parser reads any integer; no double holds this one
            JSONPredictionsResponseRowDeserializer("a double"),
            b'{"predictions": [' + b"1" * 400 + b"]}",
            "prediction 0, output 'a': expected double (a number a double can hold), got "
            "number 11111111111111111111... (400 digits)",
        ),
        (  # orjson stops at 1024 levels, Python's parser then recursed past its limit
            JSONPredictionsResponseRowDeserializer("a double"),
            b"[" * 5000 + b"]" * 5000,
            "not valid JSON (depth limit exceeded: line 1 column 1026 (char 1025)): nested "
            "deeper than any prediction is",
        ),
    ],
    ids=["bytes-label-key", "integer-past-any-double", "deep-nesting"],
)
def test_escapes_found_by_fuzzing_are_parse_errors(deserializer, body, reason):
    assert parse_error_both_ways(deserializer, body) == reason


# ------------------------------------------------------ batch limits fail at construction

BAD_LIMITS = [
    (0, ValueError, "{name} must be at least 1, got 0"),
    (-5, ValueError, "{name} must be at least 1, got -5"),
    (2.5, TypeError, "{name} must be a whole number (at least 1), got 2.5 (float); pass an int"),
    ("10", TypeError, "{name} must be a whole number (at least 1), got '10' (str); pass an int"),
    (True, TypeError, "{name} must be a whole number (at least 1), got True (bool); pass an int"),
    (
        None,
        TypeError,
        "{name} must be a whole number (at least 1), got None (NoneType); pass an int",
    ),
    (
        math.nan,
        TypeError,
        "{name} must be a whole number (at least 1), got nan (float); pass an int",
    ),
]


@pytest.mark.parametrize("name", ["max_batch_records", "max_batch_bytes"])
@pytest.mark.parametrize(("value", "error", "message"), BAD_LIMITS)
def test_request_batch_iterator_refuses_a_limit_that_cannot_work(name, value, error, message):
    with pytest.raises(error) as info:
        RequestBatchIterator(UnlabeledCSVRequestRowSerializer(), **{name: value})
    assert str(info.value) == message.format(name=name)


def test_request_batch_iterator_takes_numpy_integers():
    packer = RequestBatchIterator(
        UnlabeledCSVRequestRowSerializer(),
        max_batch_records=np.int64(2),
        max_batch_bytes=np.int32(64),
    )
    assert (packer.max_batch_records, packer.max_batch_bytes) == (2, 64)
    assert type(packer.max_batch_records) is int


def never_called(request: MockRequest) -> bytes:
    raise AssertionError(f"no request may be sent, got {request.body[:40]!r}")


@pytest.mark.parametrize("param", ["max_batch_records", "max_batch_bytes"])
@pytest.mark.parametrize("value", [0, -1])
def test_sagemaker_model_refuses_a_limit_below_one_at_construction(param, value):
    expected = f"{param} must be at least 1, got {value}"
    with pytest.raises(ConfigurationError, match=expected):
        SageMakerModel(endpoint=MockEndpoint(never_called), **{param: value})
    with pytest.raises(ConfigurationError, match=expected):
        SageMakerModel.from_endpoint(
            "some-endpoint",
            UnlabeledCSVRequestRowSerializer(),
            XGBoostCSVRowDeserializer(),
            region="us-east-1",
            **{param: value},
        )
    with pytest.raises(ConfigurationError, match=expected):
        EngineOptions(**{param: value})


@pytest.mark.parametrize("param", ["max_batch_records", "max_batch_bytes"])
@pytest.mark.parametrize("value", [2.5, True, math.nan])
def test_sagemaker_model_refuses_a_limit_that_is_not_an_int_at_construction(param, value):
    with pytest.raises(ConfigurationError) as info:
        SageMakerModel(endpoint=MockEndpoint(never_called), **{param: value})
    assert str(info.value) == (
        f"{param} must be a whole number (at least 1), got {value!r} "
        f"({type(value).__name__}); pass an int"
    )
    with pytest.raises(ConfigurationError, match=f"{param} must be a whole number"):
        EngineOptions(**{param: "10"})


def test_a_limit_set_as_a_param_fails_before_any_request(spark):
    model = SageMakerModel(
        endpoint=MockEndpoint(never_called),
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
    )
    df = spark.createDataFrame([Row(features=[1.0, 2.0])])
    with pytest.raises(ConfigurationError, match="max_batch_records must be at least 1, got 0"):
        model.transform(df, {model.maxBatchRecords: 0})
    with pytest.raises(TypeError) as info:
        model.copy({model.maxBatchBytes: 2.5})
    assert 'param "maxBatchBytes". Could not convert 2.5 to int' in str(info.value)
