"""The SageMaker SDK adapters (``serde.sagemaker_sdk``) with the real SDK classes.

Bodies written through the adapters are compared byte for byte with what the SDK writes
for the same rows; a Spark transform then scores real rows through the adapters against a
small HTTP model server on 127.0.0.1. The module runs with whichever SDK the environment
has: ``sagemaker-core`` (what the ``sagemaker`` extra installs) or the full ``sagemaker``
package, which contains it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml.linalg import SparseVector, Vectors
from pyspark.sql import Row
from sagemaker.core.deserializers import (
    CSVDeserializer,
    JSONDeserializer,
    NumpyDeserializer,
    RecordDeserializer,
)
from sagemaker.core.serializers import (
    CSVSerializer,
    JSONLinesSerializer,
    JSONSerializer,
    NumpySerializer,
    RecordSerializer,
)

from endpoints.clients.http import HttpEndpoint
from endpoints.sagemaker_sdk import image_uri
from endpoints.scoring.model import SageMakerModel
from serde import sagemaker_sdk as serde_sagemaker_sdk
from serde.batching import RequestBatchIterator, RequestBody
from serde.errors import (
    ResponseParseError,
    RowSerializationError,
    SchemaValidationError,
    SerdeError,
)
from serde.registry import deserializer_from_spec, serde_spec, serializer_from_spec
from serde.sagemaker_sdk import SDKDeserializerAdapter, SDKSerializerAdapter

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
    requests = 0  # answered so far, by every instance

    def log_message(self, *args):
        pass

    def do_POST(self):
        type(self).requests += 1
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


def run_python(code: str, timeout_s: float = 120) -> str:
    """``code`` in a fresh interpreter of this environment; its stdout (stderr on failure)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_serde_registers_the_adapters_without_importing_the_sdk():
    """``serde`` registers "sagemaker-sdk" itself (no entry point), and the SDK is imported
    only when a saved SDK object is rebuilt."""
    out = run_python(
        "import sys\n"
        "import serde\n"
        "from serde.registry import get_serializer, list_deserializers, list_serializers\n"
        "def loaded(top):\n"
        "    return sorted(m for m in sys.modules if m.split('.')[0] == top)\n"
        "print(loaded('sagemaker'), loaded('endpoints'))\n"
        "print([i.qualified_name for i in list_serializers() if i.name == 'sagemaker-sdk'])\n"
        "print([i.qualified_name for i in list_deserializers() if i.name == 'sagemaker-sdk'])\n"
        "print(serde.SDKSerializerAdapter.__module__, loaded('sagemaker'))\n"
        "s = get_serializer('sagemaker-sdk', sdk_serializer={'class': "
        "'sagemaker.core.serializers.CSVSerializer', 'init': {}})\n"
        "print(type(s).__name__, s.content_type, 'sagemaker.core' in sys.modules)\n"
        "print(loaded('endpoints'))\n"
    )
    assert out.splitlines() == [
        "[] []",
        "['serde.sagemaker_sdk.SDKSerializerAdapter']",
        "['serde.sagemaker_sdk.SDKDeserializerAdapter']",
        "serde.sagemaker_sdk []",
        "SDKSerializerAdapter text/csv True",
        "[]",
    ]


def test_old_import_path_warns_and_names_the_new_one():
    import endpoints.sagemaker_sdk as old

    for name in ("SDKSerializerAdapter", "SDKDeserializerAdapter", "sdk_object_spec"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            moved = getattr(old, name)
        assert moved is getattr(serde_sagemaker_sdk, name)
        assert [(w.category, str(w.message)) for w in caught] == [
            (
                DeprecationWarning,
                f"endpoints.sagemaker_sdk.{name} moved to serde.sagemaker_sdk.{name}; "
                f"import it with: from serde.sagemaker_sdk import {name}",
            )
        ]
        assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what stayed does not warn
        assert old.image_uri is image_uri
    with pytest.raises(AttributeError, match=r"'endpoints\.sagemaker_sdk' has no attribute 'Nope'"):
        old.Nope  # noqa: B018


#: A SageMakerModel saved with the adapters while they lived in endpoints.sagemaker_sdk
#: (and were found through entry points), by the release before the move.
SAVED_BEFORE_THE_MOVE = Path(__file__).parent / "data/saved_models/sdk_adapters_before_serde_move"


def test_a_model_saved_before_the_move_loads_and_scores_in_a_fresh_process(sum_server):
    """The saved specs name "sagemaker-sdk", not a module: they load through serde's own
    registration, in a process that never imports endpoints.sagemaker_sdk."""
    out = run_python(
        "import os, sys, warnings\n"
        "os.environ['PYSPARK_PYTHON'] = sys.executable\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "from pyspark.sql import SparkSession\n"
        "from endpoints.clients.http import HttpEndpoint\n"
        "from endpoints.scoring.model import SageMakerModel\n"
        "spark = (SparkSession.builder.master('local[1]')\n"
        "    .config('spark.ui.enabled', 'false')\n"
        "    .config('spark.driver.bindAddress', '127.0.0.1')\n"
        "    .config('spark.driver.host', '127.0.0.1')\n"
        "    .config('spark.sql.shuffle.partitions', '1').getOrCreate())\n"
        "spark.sparkContext.setLogLevel('ERROR')\n"
        f"model = SageMakerModel.load({str(SAVED_BEFORE_THE_MOVE)!r})\n"
        "print(repr(model.request_row_serializer))\n"
        "print(repr(model.response_row_deserializer))\n"
        f"model.set_endpoint(HttpEndpoint({sum_server!r}))\n"
        "df = spark.range(5).selectExpr('id', 'array(cast(id as double), 0.5) as features')\n"
        "print(sorted((r.id, r.total) for r in model.transform(df).collect()))\n"
        "print('endpoints.sagemaker_sdk' in sys.modules)\n"
        "spark.stop()\n",
        timeout_s=300,  # a JVM and a Python worker of its own
    )
    assert out.splitlines() == [
        "SDKSerializerAdapter(CSVSerializer(), features_column_name='features')",
        "SDKDeserializerAdapter(JSONDeserializer(), 'struct<total:double>', "
        "results_key='predictions')",
        "[(0, 0.5), (1, 1.5), (2, 2.5), (3, 3.5), (4, 4.5)]",
        "False",
    ]


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
    out = run_python(
        "import sys; sys.modules['sagemaker'] = None; sys.modules['sagemaker.core'] = None\n"
        "import serde, endpoints, endpoints.lifecycle.cleanup, endpoints.lifecycle.hosting\n"
        "import endpoints.sagemaker_sdk as s\n"
        "from serde.registry import get_deserializer\n"
        "try:\n    s.image_uri(region='us-east-1')\nexcept ImportError as e:\n    print(e)\n"
        "try:\n"
        "    get_deserializer('sagemaker-sdk', schema='x double', sdk_deserializer={\n"
        "        'class': 'sagemaker.core.deserializers.JSONDeserializer', 'init': {}})\n"
        "except ImportError as e:\n    print(e)\n"
    )
    image, saved = out.splitlines()
    assert image.startswith(
        "endpoints.sagemaker_sdk needs the SageMaker SDK (sagemaker.core.image_uris could not "
        "be imported: "
    )
    assert saved.startswith(
        "serde.sagemaker_sdk needs the SageMaker SDK (sagemaker.core.deserializers could not "
        "be imported: "
    )
    assert image.endswith("Install it with: pip install 'endpoint-serde[sagemaker]'")
    assert saved.endswith("Install it with: pip install 'endpoint-serde[sagemaker]'")


# -- what the SDK only stubs ----------------------------------------------------------------


def installed_sdk() -> str:
    found = []
    for dist in ("sagemaker", "sagemaker-core"):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


RECORD_SERIALIZER_STUB = (
    f"RecordSerializer.serialize is not implemented in the installed SageMaker SDK "
    f"({installed_sdk()}) (write_numpy_to_dense_tensor raised NotImplementedError); use "
    "serde's ProtobufRequestRowSerializer / ProtobufResponseRowDeserializer, which speak "
    "application/x-recordio-protobuf"
)
RECORD_DESERIALIZER_STUB = (
    f"RecordDeserializer.deserialize is not implemented in the installed SageMaker SDK "
    f"({installed_sdk()}) (read_records raised NotImplementedError); use "
    "serde's ProtobufRequestRowSerializer / ProtobufResponseRowDeserializer, which speak "
    "application/x-recordio-protobuf"
)


def test_a_stubbed_sdk_serializer_is_a_row_error_that_names_it():
    adapter = SDKSerializerAdapter(RecordSerializer())
    assert (adapter.content_type, adapter.row_separable) == (
        "application/x-recordio-protobuf",
        False,
    )
    with pytest.raises(RowSerializationError) as info:
        adapter.serialize_row(Row(features=[1.0, 2.0]))
    assert str(info.value) == RECORD_SERIALIZER_STUB
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_a_stubbed_sdk_deserializer_is_a_parse_error_that_names_it():
    adapter = SDKDeserializerAdapter(RecordDeserializer(), "score double")
    with pytest.raises(ResponseParseError) as info:
        adapter.deserialize_response(b"\x0a\x01\x02")
    assert str(info.value) == (
        f"cannot read response as application/x-recordio-protobuf: {RECORD_DESERIALIZER_STUB}"
        "; body (3 bytes) starts b'\\n\\x01\\x02'"
    )


def test_serializer_returning_a_stream_sends_its_bytes():
    """The SDK documents ``io.BytesIO`` as RecordSerializer's result: its bytes are sent."""

    class StreamSerializer(CSVSerializer):
        def serialize(self, data):
            return io.BytesIO(super().serialize(data).encode())

    adapter = SDKSerializerAdapter(StreamSerializer())
    assert adapter.serialize_row(Row(features=[1.0, 2.5])) == b"1.0,2.5"


def test_stubbed_sdk_serializer_in_spark_error_column_keeps_every_row(spark, sum_server):
    """on_error="column": each row carries the stub's error; no request is sent, no task
    fails. on_error="fail": the job fails with the same message."""
    df = spark.range(40).selectExpr("id", "array(cast(id as double), 1.0) as features")
    requests_before = _SumServer.requests
    model = SageMakerModel(
        endpoint=HttpEndpoint(sum_server),
        request_row_serializer=SDKSerializerAdapter(RecordSerializer()),
        response_row_deserializer=SDKDeserializerAdapter(JSONDeserializer(), "total double"),
        on_error="column",
    )
    rows = model.transform(df.repartition(2)).orderBy("id").collect()
    assert [r.id for r in rows] == list(range(40))
    assert {r.total for r in rows} == {None}
    assert {r.error.kind for r in rows} == {"serialization"}
    # "row <index in its partition>: <the stub's message>"
    assert {r.error.message.split(": ", 1)[1] for r in rows} == {RECORD_SERIALIZER_STUB}
    assert all(r.error.message.startswith("row ") for r in rows)
    assert _SumServer.requests == requests_before
    failing = SageMakerModel(
        endpoint=HttpEndpoint(sum_server),
        request_row_serializer=SDKSerializerAdapter(RecordSerializer()),
        response_row_deserializer=SDKDeserializerAdapter(JSONDeserializer(), "total double"),
    )
    with pytest.raises(Exception) as info:
        failing.transform(df).collect()
    assert RECORD_SERIALIZER_STUB in str(info.value)
    assert _SumServer.requests == requests_before
