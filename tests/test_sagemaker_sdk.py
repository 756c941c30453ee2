"""The optional SageMaker SDK bridges with the real sagemaker-core classes.

Bodies written through the adapters are compared byte for byte with what the SDK writes
for the same rows; a Spark transform then scores real rows through the adapters against a
small HTTP model server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from pyspark.ml.linalg import SparseVector, Vectors
from sagemaker.core.deserializers import CSVDeserializer, JSONDeserializer, NumpyDeserializer
from sagemaker.core.serializers import (
    CSVSerializer,
    JSONLinesSerializer,
    JSONSerializer,
    NumpySerializer,
)

from endpoints.clients.http import HttpEndpoint
from endpoints.sagemaker_sdk import SDKDeserializerAdapter, SDKSerializerAdapter, image_uri
from endpoints.scoring.model import SageMakerModel
from serde.batching import RequestBatchIterator, RequestBody
from serde.errors import (
    ResponseParseError,
    RowSerializationError,
    SchemaValidationError,
    SerdeError,
)
from serde.registry import deserializer_from_spec, serde_spec, serializer_from_spec

ROWS = [
    (0, Vectors.dense([1.0, 2.5, -3.0])),
    (1, SparseVector(3, {1: 4.0})),
    (2, Vectors.dense([0.1, 0.2, 0.3])),
]
DENSE = [[1.0, 2.5, -3.0], [0.0, 4.0, 0.0], [0.1, 0.2, 0.3]]


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(ROWS, ["id", "features"])


def bodies(serializer, df, **limits) -> list[bytes]:
    serializer.set_schema(df.schema)
    packer = RequestBatchIterator(
        serializer,
        max_batch_records=limits.get("records", 100),
        max_batch_bytes=limits.get("bytes", 1 << 20),
    )
    return [item.body for item in packer.iter_rows(df.collect()) if isinstance(item, RequestBody)]


def test_image_uri_comes_from_the_sdk_tables_offline():
    assert image_uri("tensorflow", "2.16", region="us-east-1") == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
    )
    assert image_uri("tensorflow", "2.16", region="eu-west-1", instance_type="ml.g5.xlarge") == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.16-gpu"
    )


def test_image_uri_unknown_version_is_a_clear_error():
    with pytest.raises(ValueError) as info:
        image_uri("tensorflow", "0.1", region="us-east-1")
    assert str(info.value).startswith(
        "image_uri: the SageMaker SDK has no inference image for tensorflow 0.1 on ml.m5.large"
    )


@pytest.mark.parametrize(
    "sdk",
    [CSVSerializer(), JSONSerializer(), JSONLinesSerializer()],
    ids=lambda s: type(s).__name__,
)
def test_row_separable_bodies_equal_what_the_sdk_writes(frame, sdk):
    adapter = SDKSerializerAdapter(sdk)
    assert adapter.content_type == sdk.CONTENT_TYPE
    whole = bodies(adapter, frame)
    assert whole == [sdk.serialize(DENSE).encode()]
    split = bodies(adapter, frame, records=2)
    assert split == [sdk.serialize(DENSE[:2]).encode(), sdk.serialize(DENSE[2:]).encode()]


def test_exact_bytes_for_csv_and_json():
    rows = [{"features": [1.0, 2.5]}, {"features": [3.0, 4.0]}]
    csv_adapter = SDKSerializerAdapter(CSVSerializer())
    json_adapter = SDKSerializerAdapter(JSONSerializer())
    assert [csv_adapter.serialize_row(r) for r in rows] == [b"1.0,2.5", b"3.0,4.0"]
    assert (csv_adapter.body_prefix, csv_adapter.row_separator) == (b"", b"\n")
    assert [json_adapter.serialize_row(r) for r in rows] == [b"[1.0, 2.5]", b"[3.0, 4.0]"]
    assert (json_adapter.body_prefix, json_adapter.body_suffix) == (b"[", b"]")


def test_scalar_feature_columns(spark):
    df = spark.createDataFrame([(1.5, 2), (3.0, 4)], ["a", "b"])
    adapter = SDKSerializerAdapter(CSVSerializer(), features_column_name=["a", "b"])
    assert bodies(adapter, df) == [b"1.5,2\n3.0,4"]


def test_numpy_serializer_gets_the_whole_batch(frame):
    adapter = SDKSerializerAdapter(NumpySerializer())
    assert adapter.row_separable is False and adapter.content_type == "application/x-npy"
    adapter.set_schema(frame.schema)
    batch = frame.toArrow().combine_chunks().to_batches()[0]
    body = adapter.serialize_body(batch)
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), np.asarray(DENSE))
    assert body == NumpySerializer().serialize(np.asarray(DENSE))


def test_null_features_and_bad_schema_are_clear(spark):
    adapter = SDKSerializerAdapter(CSVSerializer())
    with pytest.raises(RowSerializationError, match="column 'features': features are null"):
        adapter.serialize_row({"features": None})
    df = spark.createDataFrame([("x",)], ["features"])
    with pytest.raises(SchemaValidationError, match="column 'features': expected an ML Vector"):
        adapter.set_schema(df.schema)
    with pytest.raises(TypeError, match="expected a SageMaker SDK serializer"):
        SDKSerializerAdapter(object())


def test_json_deserializer_unwraps_predictions_and_maps_fields():
    scalar = SDKDeserializerAdapter(JSONDeserializer(), "score double")
    assert scalar.accepts == "application/json"
    assert list(scalar.deserialize_response(b'{"predictions": [0.5, 1, 2.25]}')) == [
        (0.5,),
        (1.0,),
        (2.25,),
    ]
    objects = SDKDeserializerAdapter(JSONDeserializer(), "label bigint, probs array<double>")
    body = b'{"predictions": [{"label": 1, "probs": [0.2, 0.8]}, {"label": 0, "probs": [1, 0]}]}'
    assert list(objects.deserialize_response(body)) == [(1, [0.2, 0.8]), (0, [1.0, 0.0])]
    positional = SDKDeserializerAdapter(JSONDeserializer(), "a double, b bigint")
    assert list(positional.deserialize_response(b"[[1.5, 2], [3, 4]]")) == [(1.5, 2), (3.0, 4)]
    vector = SDKDeserializerAdapter(JSONDeserializer(), "embedding array<double>")
    assert list(vector.deserialize_response(b"[[1, 2], [3, 4]]")) == [([1.0, 2.0],), ([3.0, 4.0],)]


def test_csv_deserializer_parses_text_as_field_types():
    adapter = SDKDeserializerAdapter(CSVDeserializer(), "score double, label int")
    assert adapter.accepts == "text/csv"
    rows = list(adapter.deserialize_response(b"0.25,1\n1e-3,0\n"))
    assert rows == [(0.25, 1), (0.001, 0)]


def test_numpy_deserializer_rows():
    adapter = SDKDeserializerAdapter(NumpyDeserializer(), "a double, b double")
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert list(adapter.deserialize_response(buffer.getvalue())) == [(1.0, 2.0), (3.0, 4.0)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "cannot read response as application/json: JSONDeserializer:"),
        (b'{"a": 1}', "expected one list of results in the object, got keys ['a']"),
        (b"[[1, 2, 3]]", "expected 2 values (a, b), got 3 values"),
        (b"7", "expected a list of results (one per row), got int"),
    ],
)
def test_unreadable_responses_are_parse_errors_quoting_the_body(body, message):
    adapter = SDKDeserializerAdapter(JSONDeserializer(), "a double, b double")
    with pytest.raises(ResponseParseError) as info:
        list(adapter.deserialize_response(body))
    assert message in str(info.value)
    assert f"body ({len(body)} bytes) starts {body!r}" in str(info.value)


class _SumServer(BaseHTTPRequestHandler):
    """A model server: the sum and length of each row, as JSON or CSV per Accept."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers["Content-Type"] == "text/csv":
            rows = [[float(v) for v in line.split(",")] for line in data.decode().splitlines()]
        else:
            rows = json.loads(data)
        if self.headers.get("Accept") == "text/csv":
            out = "".join(f"{sum(r)},{len(r)}\n" for r in rows).encode()
        else:
            out = json.dumps({"predictions": [{"total": sum(r), "n": len(r)} for r in rows]})
            out = out.encode()
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Accept") or "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture(scope="module")
def sum_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SumServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/invocations"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("serializer", "deserializer"),
    [(CSVSerializer(), JSONDeserializer()), (JSONSerializer(), CSVDeserializer())],
    ids=["csv-in-json-out", "json-in-csv-out"],
)
def test_spark_transform_through_sdk_adapters(spark, sum_server, serializer, deserializer):
    n = 500
    df = spark.range(n).selectExpr("id", "array(cast(id as double), 0.5, 1.0) as features")
    model = SageMakerModel(
        endpoint=HttpEndpoint(sum_server),
        request_row_serializer=SDKSerializerAdapter(serializer),
        response_row_deserializer=SDKDeserializerAdapter(deserializer, "total double, n int"),
        max_batch_records=64,
    )
    out = model.transform(df.repartition(3)).orderBy("id").collect()
    assert len(out) == n
    assert [(r["id"], r["total"], r["n"]) for r in out[:3]] == [
        (0, 1.5, 3),
        (1, 2.5, 3),
        (2, 3.5, 3),
    ]
    assert all(r["total"] == r["id"] + 1.5 and r["n"] == 3 for r in out)


# -- saving SDK adapters by name ------------------------------------------------------------


@pytest.mark.parametrize(
    "sdk", [CSVSerializer(), JSONSerializer(), JSONLinesSerializer(content_type="text/x-lines")]
)
def test_serializer_spec_round_trip_writes_the_same_bytes(frame, sdk):
    adapter = SDKSerializerAdapter(sdk, features_column_name="features")
    spec = serde_spec(adapter)
    assert spec["name"] == "sagemaker-sdk"
    assert spec["options"]["sdk_serializer"]["init"] == {"content_type": sdk.CONTENT_TYPE}
    rebuilt = serializer_from_spec(json.loads(json.dumps(spec)))  # what a saved Pipeline holds
    assert type(rebuilt.sdk_serializer) is type(sdk)
    assert rebuilt.content_type == adapter.content_type
    assert bodies(rebuilt, frame) == bodies(adapter, frame)


def test_deserializer_spec_round_trip_reads_the_same_rows():
    adapter = SDKDeserializerAdapter(JSONDeserializer(), "total double, n int", "predictions")
    rebuilt = deserializer_from_spec(json.loads(json.dumps(serde_spec(adapter))))
    body = b'{"predictions": [{"total": 1.5, "n": 3}, {"total": 2.0, "n": 1}]}'
    assert rebuilt.schema == adapter.schema
    assert rebuilt.results_key == "predictions"
    assert repr(rebuilt) == (
        "SDKDeserializerAdapter(JSONDeserializer(), 'struct<total:double,n:int>', "
        "results_key='predictions')"
    )
    assert list(rebuilt.deserialize_response(body)) == [(1.5, 3), (2.0, 1)]


def test_sdk_specs_that_cannot_be_saved_or_loaded_say_why():
    unsavable = SDKSerializerAdapter(NumpySerializer(dtype=np.float32))
    assert repr(unsavable) == (
        "SDKSerializerAdapter(NumpySerializer(), features_column_name='features')"
    )
    with pytest.raises(SerdeError, match=r"cannot save NumpySerializer: dtype=.* not a JSON"):
        serde_spec(unsavable)
    evil = {"class": "os.system", "init": {}}
    with pytest.raises(SerdeError, match="must name a class of the sagemaker package"):
        SDKSerializerAdapter(evil)
    with pytest.raises(SerdeError, match="not a class of the installed SageMaker SDK"):
        SDKDeserializerAdapter({"class": "sagemaker.core.NoSuchThing"}, "x double")


def test_a_fresh_process_finds_the_adapters_through_entry_points():
    """A saved Pipeline loads where nobody imported endpoints.sagemaker_sdk first."""
    code = (
        "import sys\n"
        "from serde.registry import get_serializer\n"
        "assert 'endpoints.sagemaker_sdk' not in sys.modules\n"
        "s = get_serializer('sagemaker-sdk', sdk_serializer={'class': "
        "'sagemaker.core.serializers.CSVSerializer', 'init': {}})\n"
        "print(type(s).__name__, s.content_type)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SDKSerializerAdapter text/csv"


def test_model_with_sdk_adapters_saves_loads_and_scores(spark, sum_server, tmp_path):
    df = spark.range(100).selectExpr("id", "array(cast(id as double), 0.5) as features")
    model = SageMakerModel(
        endpoint=HttpEndpoint(sum_server),
        request_row_serializer=SDKSerializerAdapter(CSVSerializer()),
        response_row_deserializer=SDKDeserializerAdapter(JSONDeserializer(), "total double"),
    )
    before = [r["total"] for r in model.transform(df).orderBy("id").collect()]
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = SageMakerModel.load(str(tmp_path / "model"))
    assert isinstance(loaded.request_row_serializer.sdk_serializer, CSVSerializer)
    after = [r["total"] for r in loaded.transform(df).orderBy("id").collect()]
    assert after == before == [i + 0.5 for i in range(100)]


def test_core_imports_without_the_sdk_and_explains_the_extra():
    code = (
        "import sys; sys.modules['sagemaker'] = None; sys.modules['sagemaker.core'] = None\n"
        "import endpoints, endpoints.lifecycle.cleanup, endpoints.lifecycle.hosting\n"
        "import endpoints.sagemaker_sdk as s\n"
        "try:\n    s.image_uri(region='us-east-1')\nexcept ImportError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'endpoint-serde[sagemaker]'" in result.stdout
    assert result.stdout.startswith("endpoints.sagemaker_sdk needs the SageMaker SDK")
