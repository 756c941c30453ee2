"""The local host's data plane over real HTTP: ONNX and Python models (predictions equal
the in-process model's), every content type, SageMaker runtime errors, TF Serving REST,
the container contract, the body cap, /metrics and each fault mode seen by a plain client."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import tarfile

import numpy as np
import orjson
import pytest
import urllib3
from botocore.exceptions import ClientError, ConnectionClosedError

from endpoints.local import FaultSpec, LocalEndpointHost
from endpoints.local.origin import CONTROL_HEADERS
from serde.proto import record_pb2
from serde.protobuf import ProtobufRequestRowSerializer  # noqa: F401 - the wire format's owner
from serde.recordio import read_recordio, write_recordio

KMEANS = """
import numpy as np

CENTERS = np.array([[0.0, 0.0], [10.0, 10.0]])

def predict(x):
    d = np.linalg.norm(np.asarray(x)[:, None, :] - CENTERS[None], axis=2)
    return {"closest_cluster": d.argmin(axis=1).astype(float), "distance_to_cluster": d.min(axis=1)}
"""
NAMED = """
import numpy as np

def predict(inputs):
    if isinstance(inputs, dict):
        age = np.asarray(inputs["age"], dtype=float).reshape(-1)
        income = np.asarray(inputs["income"], dtype=float).reshape(-1)
    else:
        age, income = inputs[:, 0], inputs[:, 1]
    risk = age / 100.0 - income / 1e6
    return {"risk": risk, "scores": np.stack([risk, 1.0 - risk], axis=1)}
"""
FAILING = "def predict(x):\n    raise RuntimeError('model exploded on purpose')\n"
SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
PY = "ENDPOINT_SERDE_PYTHON_HANDLER"


def model_dir(tmp_path_factory, name, source):
    directory = tmp_path_factory.mktemp(name)
    (directory / "model.py").write_text(source)
    return directory


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    clf = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    return clf, data.data


@pytest.fixture(scope="module")
def host(tmp_path_factory, iris):
    from skl2onnx import to_onnx

    clf, x = iris
    s3 = tmp_path_factory.mktemp("s3")
    onnx_bytes = to_onnx(
        clf, x[:1].astype(np.float32), options={"zipmap": False}
    ).SerializeToString()
    archive = s3 / "models" / "iris" / "model.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("model.onnx")
        info.size = len(onnx_bytes)
        tar.addfile(info, io.BytesIO(onnx_bytes))
    roots = [tmp_path_factory.getbasetemp()]
    with LocalEndpointHost(s3_root=s3, model_roots=roots, allow_python_models=True) as h:
        h.deploy_local(
            "iris",
            "s3://models/iris/model.tar.gz",
            environment={"ENDPOINT_SERDE_OUTPUTS": "label,probabilities"},
        )
        h.deploy_local("sum", model_dir(tmp_path_factory, "sum", SUM), "python")
        h.deploy_local("kmeans", model_dir(tmp_path_factory, "km", KMEANS), "python")
        h.deploy_local("named", model_dir(tmp_path_factory, "named", NAMED), "python")
        h.deploy_local(
            "failing", model_dir(tmp_path_factory, "fail", FAILING), "python", {PY: "model:predict"}
        )
        yield h


@pytest.fixture(scope="module")
def runtime(host):
    return host.runtime_client()


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))


def invoke(runtime, name, body, content_type, accept=None):
    kwargs = {"Accept": accept} if accept else {}
    response = runtime.invoke_endpoint(
        EndpointName=name, Body=body, ContentType=content_type, **kwargs
    )
    return response["Body"].read(), response["ContentType"]


def csv_rows(x):
    return "\n".join(",".join(repr(float(v)) for v in row) for row in x).encode()


def test_onnx_from_s3_tarball_matches_in_process_predictions(runtime, iris):
    clf, x = iris
    body, content_type = invoke(runtime, "iris", csv_rows(x), "text/csv", "application/json")
    assert content_type == "application/json"
    predictions = orjson.loads(body)["predictions"]
    assert len(predictions) == 150
    assert [p["label"] for p in predictions] == clf.predict(x).tolist()
    np.testing.assert_allclose(
        [p["probabilities"] for p in predictions], clf.predict_proba(x), rtol=1e-4, atol=1e-5
    )


def test_csv_in_csv_out_one_line_per_row(runtime, iris):
    clf, x = iris
    body, content_type = invoke(runtime, "iris", csv_rows(x[:3]), "text/csv")
    assert content_type == "text/csv"
    lines = body.decode().split("\n")
    assert len(lines) == 3
    label, *probabilities = lines[0].split(",")
    assert int(label) == clf.predict(x[:1])[0] and len(probabilities) == 3


def test_large_csv_body_parses_on_the_fast_path(runtime):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40_000, 5))
    body = csv_rows(x)
    assert len(body) > 16 * 1024  # over the small-body path
    answer, _ = invoke(runtime, "sum", body, "text/csv")
    np.testing.assert_allclose(np.array(answer.split(b"\n"), dtype=float), x.sum(axis=1))


def test_json_instances_inputs_and_named_outputs(runtime):
    body, _ = invoke(runtime, "sum", b'{"instances": [[1, 2], [3, 4]]}', "application/json")
    assert orjson.loads(body) == {"predictions": [3.0, 7.0]}
    body, _ = invoke(runtime, "sum", b"[[1, 2, 3]]", "application/json")
    assert orjson.loads(body) == {"predictions": [6.0]}
    body, _ = invoke(runtime, "sum", b'{"inputs": [[1, 1], [2, 2]]}', "application/json")
    assert orjson.loads(body) == {"outputs": [2.0, 4.0]}
    request = {"instances": [{"age": 30, "income": 50000}, {"age": 65, "income": 20000}]}
    body, _ = invoke(runtime, "named", orjson.dumps(request), "application/json")
    predictions = orjson.loads(body)["predictions"]
    assert predictions[0]["risk"] == pytest.approx(0.25)
    assert predictions[1]["scores"] == pytest.approx([0.63, 0.37])
    columnar = {"inputs": {"age": [30, 65], "income": [50000, 20000]}}
    body, _ = invoke(runtime, "named", orjson.dumps(columnar), "application/json")
    outputs = orjson.loads(body)["outputs"]
    assert outputs["risk"] == pytest.approx([0.25, 0.63])
    assert len(outputs["scores"]) == 2


def test_jsonlines_in_and_out(runtime):
    body, content_type = invoke(runtime, "kmeans", b"[0.5, 0.5]\n[9, 9]\n", "application/jsonlines")
    assert content_type == "application/jsonlines"
    lines = [orjson.loads(line) for line in body.split(b"\n")]
    assert [line["closest_cluster"] for line in lines] == [0.0, 1.0]
    assert lines[0]["distance_to_cluster"] == pytest.approx(2**0.5 / 2)


def test_libsvm_labeled_and_unlabeled_input(runtime):
    body, content_type = invoke(runtime, "sum", b"1.0 1:2.5 3:4\n2:1\n", "text/libsvm")
    assert content_type == "text/libsvm"
    assert body == b"6.5\n1.0"
    body, _ = invoke(runtime, "kmeans", b"0 1:9 2:9\n", "text/libsvm")
    assert body == b"1.0 1:1.4142135623730951"


def test_recordio_protobuf_in_kmeans_style_records_out(runtime):
    records = []
    for row in ([0.5, -0.5], [9.0, 11.0]):
        record = record_pb2.Record()
        record.features["values"].float32_tensor.values.extend(row)
        records.append(record.SerializeToString())
    sparse = record_pb2.Record()
    tensor = sparse.features["values"].float32_tensor
    tensor.values.extend([10.0])
    tensor.keys.extend([1])
    tensor.shape.extend([2])
    records.append(sparse.SerializeToString())
    body, content_type = invoke(
        runtime, "kmeans", write_recordio(records), "application/x-recordio-protobuf"
    )
    assert content_type == "application/x-recordio-protobuf"
    answers = []
    for payload in read_recordio(body):
        record = record_pb2.Record()
        record.ParseFromString(payload)
        answers.append({k: list(v.float32_tensor.values) for k, v in sorted(record.label.items())})
    assert [a["closest_cluster"] for a in answers] == [[0.0], [1.0], [0.0]]
    assert answers[2]["distance_to_cluster"] == pytest.approx([10.0])
    single, _ = invoke(
        runtime, "sum", write_recordio(records[:1]), "application/x-recordio-protobuf"
    )
    record = record_pb2.Record()
    record.ParseFromString(next(iter(read_recordio(single))))
    assert list(record.label) == ["score"]


def runtime_error(runtime, name, body, content_type="text/csv"):
    with pytest.raises(ClientError) as info:
        invoke(runtime, name, body, content_type)
    return info.value.response


def test_runtime_errors_have_sagemaker_shapes(runtime):
    unknown = runtime_error(runtime, "ghost", b"1")
    assert unknown["Error"] == {
        "Code": "ValidationError",
        "Message": "Endpoint ghost of account 123456789012 not found.",
    }
    failing = runtime_error(runtime, "failing", b"1,2")
    assert failing["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert failing["Error"]["Code"] == "ModelError"
    assert failing["OriginalStatusCode"] == 500
    assert failing["OriginalMessage"] == "RuntimeError: model exploded on purpose"
    assert failing["LogStreamArn"].startswith("arn:aws:logs:us-east-1:123456789012:log-group:")
    assert "Received server error (500) from primary" in failing["Error"]["Message"]
    bad = runtime_error(runtime, "sum", b"1,2\n3,oops")
    assert bad["Error"]["Code"] == "ModelError" and bad["OriginalStatusCode"] == 400
    assert "CSV values must be numbers" in bad["OriginalMessage"]
    ragged = runtime_error(runtime, "sum", b"1,2\n3")
    assert "CSV row 2 has 1 values, expected 2" in ragged["OriginalMessage"]
    unsupported = runtime_error(runtime, "sum", b"x", "image/png")
    assert unsupported["ResponseMetadata"]["HTTPStatusCode"] == 415
    assert "image/png" in unsupported["Error"]["Message"]
    bad_json = runtime_error(runtime, "sum", b'{"rows": []}', "application/json")
    assert 'Expected a JSON object {"instances"' in bad_json["OriginalMessage"]


def test_body_over_6_mb_is_rejected_with_a_clear_message(host, http):
    body = b"1.0," * (6 * 1024 * 1024 // 4) + b"1.0"
    response = http.request(
        "POST",
        f"{host.url}/endpoints/sum/invocations",
        body=body,
        headers={"Content-Type": "text/csv"},
    )
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationError"
    assert (
        "maximum for a real-time endpoint is 6291456 bytes"
        in orjson.loads(response.data)["message"]
    )
    # the worker is fine afterwards
    ok = http.request(
        "POST",
        f"{host.url}/endpoints/sum/invocations",
        body=b"1,2",
        headers={"Content-Type": "text/csv"},
    )
    assert ok.data == b"3.0"


def test_tf_serving_rest_predict_and_status(host, http):
    url = f"{host.url}/v1/models/named:predict"
    request = {"instances": [{"age": 30, "income": 50000}]}
    response = http.request("POST", url, body=orjson.dumps(request))
    assert response.status == 200
    assert orjson.loads(response.data)["predictions"][0]["risk"] == pytest.approx(0.25)
    versioned = http.request(
        "POST", f"{host.url}/v1/models/sum/versions/3:predict", body=b'{"instances": [[1, 2]]}'
    )
    assert orjson.loads(versioned.data) == {"predictions": [3.0]}
    bad = http.request("POST", f"{host.url}/v1/models/sum:predict", body=b"not json")
    assert bad.status == 400 and "not valid JSON" in orjson.loads(bad.data)["error"]
    failing = http.request("POST", f"{host.url}/v1/models/failing:predict", body=b"[[1]]")
    assert failing.status == 400
    assert orjson.loads(failing.data) == {"error": "RuntimeError: model exploded on purpose"}
    status = http.request("GET", f"{host.url}/v1/models/sum")
    assert orjson.loads(status.data)["model_version_status"][0]["state"] == "AVAILABLE"
    missing = http.request("GET", f"{host.url}/v1/models/ghost")
    assert missing.status == 404
    assert orjson.loads(missing.data) == {"error": "Could not find any versions of model ghost"}


def test_metrics_endpoint_counts_requests_and_faults(host, http, runtime):
    invoke(runtime, "sum", b"1", "text/csv")
    text = http.request("GET", f"{host.url}/metrics").data.decode()
    count = re.search(r'endpoints_local_requests_total\{endpoint="sum",status="200"\} (\d+)', text)
    assert count and int(count.group(1)) >= 1
    assert 'endpoints_local_request_seconds_bucket{endpoint="sum",le="+Inf"}' in text
    assert host.metrics()["requests"]["sum"]["200"] >= 1
    http.request("POST", f"{host.url}/endpoints/random-name-1/invocations", body=b"1")
    assert "random-name-1" not in host.metrics()["requests"]
    assert host.metrics()["requests"]["_unknown"]["400"] >= 1


# ------------------------------------------------------------------------------------ faults


@pytest.fixture
def faulty(host):
    yield host
    host.set_faults("sum", None)


def raw_invoke(http, host, body=b"1,2\n3,4", name="sum"):
    return http.request(
        "POST",
        f"{host.url}/endpoints/{name}/invocations",
        body=body,
        headers={"Content-Type": "text/csv"},
    )


def test_fault_throttling_exception_then_normal(faulty, http):
    faulty.set_faults("sum", FaultSpec(throttle_rate=1.0, seed=1, max_faults=2))
    statuses = [raw_invoke(http, faulty) for _ in range(3)]
    assert [r.status for r in statuses] == [400, 400, 200]
    assert statuses[0].headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert statuses[2].data == b"3.0\n7.0"


def test_fault_model_not_ready_and_plain_429_with_retry_after(faulty, http):
    faulty.set_faults(
        "sum", FaultSpec(throttle_rate=1.0, throttle_kind="ModelNotReady", retry_after_s=2)
    )
    response = raw_invoke(http, faulty)
    assert response.status == 429
    assert response.headers["x-amzn-ErrorType"] == "ModelNotReadyException"
    plain = http.request("POST", f"{faulty.url}/v1/models/sum:predict", body=b"[[1]]")
    assert plain.status == 429 and plain.headers["Retry-After"] == "2"


def test_fault_5xx(faulty, http, runtime):
    faulty.set_faults("sum", FaultSpec(error_rate=1.0, error_status=503, max_faults=1))
    assert raw_invoke(http, faulty).status == 503
    faulty.set_faults("sum", FaultSpec(error_rate=1.0, error_status=500, max_faults=1))
    with pytest.raises(ClientError) as info:
        invoke(runtime, "sum", b"1", "text/csv")
    assert info.value.response["Error"]["Code"] == "InternalFailure"


def test_fault_drop_closes_the_connection_without_a_response(faulty, http, runtime):
    faulty.set_faults("sum", FaultSpec(drop_rate=1.0, seed=3, max_faults=2))
    with socket.create_connection(("127.0.0.1", faulty.port), timeout=5) as sock:
        sock.sendall(
            b"POST /endpoints/sum/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: text/csv\r\nContent-Length: 3\r\n\r\n1,2"
        )
        assert sock.recv(1024) == b""  # closed, not a single byte of response
    with pytest.raises(ConnectionClosedError):
        invoke(runtime, "sum", b"1", "text/csv")
    assert raw_invoke(http, faulty).data == b"3.0\n7.0"  # max_faults reached: normal again
    assert faulty.metrics()["faults_by_endpoint"]["sum"]["drop"] >= 2


def test_fault_wrong_count_and_malformed(faulty, http):
    faulty.set_faults("sum", FaultSpec(wrong_count_rate=1.0, wrong_count_delta=-1, max_faults=1))
    assert raw_invoke(http, faulty).data == b"3.0"
    faulty.set_faults("sum", FaultSpec(wrong_count_rate=1.0, wrong_count_delta=1, max_faults=1))
    assert raw_invoke(http, faulty).data == b"3.0\n7.0\n7.0"
    faulty.set_faults("sum", FaultSpec(malformed_rate=1.0, max_faults=1))
    with pytest.raises(ValueError):
        np.array(raw_invoke(http, faulty).data.split(b"\n"), dtype=float)


def test_fault_latency_and_determinism(faulty, http):
    faulty.set_faults("sum", FaultSpec(latency_ms=50))
    response = http.request(
        "POST",
        f"{faulty.url}/endpoints/sum/invocations",
        body=b"1",
        headers={"Content-Type": "text/csv"},
        preload_content=True,
    )
    assert response.status == 200
    sequences = []
    for _ in range(2):
        faulty.set_faults("sum", FaultSpec(throttle_rate=0.5, seed=42, max_faults=100))
        sequences.append([raw_invoke(http, faulty).status for _ in range(12)])
    assert sequences[0] == sequences[1]
    assert set(sequences[0]) == {200, 400}


def test_faults_settable_over_http(faulty, http):
    spec = {"error_rate": 1.0, "error_status": 500, "max_faults": 1}
    url, headers = f"{faulty.url}/_local/faults/sum", CONTROL_HEADERS
    answer = http.request("POST", url, body=json.dumps(spec), headers=headers)
    assert answer.status == 200 and orjson.loads(answer.data)["faults"]["error_rate"] == 1.0
    assert raw_invoke(http, faulty).status == 500
    bad = http.request("POST", url, body=b'{"bogus": 1}', headers=headers)
    assert bad.status == 400 and "unknown FaultSpec fields ['bogus']" in bad.data.decode()
    http.request("POST", url, body=b"", headers=headers)
    assert raw_invoke(http, faulty).status == 200


# ------------------------------------------------------------------------------------- CLI


def start_cli(*args):
    process = subprocess.Popen(
        [sys.executable, "-m", "endpoints.local", *args, "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.fullmatch(r"endpoints-local listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert match, line
    return process, match.group(1)


def stop_cli(process):
    process.terminate()
    assert process.wait(timeout=15) == 0


def test_container_contract_from_the_cli(tmp_path_factory, http):
    directory = model_dir(tmp_path_factory, "container", SUM)
    process, url = start_cli("container", "--model", str(directory), "--runtime", "python")
    try:
        assert http.request("GET", f"{url}/ping").status == 200
        answer = http.request(
            "POST", f"{url}/invocations", body=b"1,2,3", headers={"Content-Type": "text/csv"}
        )
        assert (answer.status, answer.data) == (200, b"6.0")
        bad = http.request(
            "POST", f"{url}/invocations", body=b"1,x", headers={"Content-Type": "text/csv"}
        )
        assert bad.status == 400 and "CSV values must be numbers" in orjson.loads(bad.data)["error"]
    finally:
        stop_cli(process)


def test_serve_from_the_cli_with_boto3(tmp_path_factory):
    import boto3

    process, url = start_cli("serve", "--state-dir", str(tmp_path_factory.mktemp("state")))
    try:
        sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
        assert sm.list_endpoints()["Endpoints"] == []
    finally:
        stop_cli(process)


def test_host_starts_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from endpoints.local import LocalEndpointHost\n"
        "with LocalEndpointHost() as host:\n"
        "    assert host.port > 0\n"
        "print('tensorflow' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False False"


def test_small_responses_are_not_delayed_by_nagle(host):
    """Each answer is two writes (headers, body); without TCP_NODELAY on the accepted
    socket every one waits ~40 ms for a delayed ACK. 50 keep-alive requests take ~50 ms
    here; with the delay they would take over 2 s."""
    import http.client
    import time

    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    started = time.perf_counter()
    for _ in range(50):
        connection.request(
            "POST", "/endpoints/sum/invocations", body=b"1,2", headers={"Content-Type": "text/csv"}
        )
        assert connection.getresponse().read() == b"3.0"
    assert time.perf_counter() - started < 1.5
    connection.close()


def test_one_debug_line_per_request_and_never_credentials(host, http, caplog):
    import logging

    with caplog.at_level(logging.DEBUG, logger="endpoints.local.app"):
        http.request(
            "POST",
            f"{host.url}/endpoints/sum/invocations",
            body=b"1,2",
            headers={
                "Content-Type": "text/csv",
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIASECRETKEY/x, Signature=abc",
            },
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "endpoints.local.app"]
    assert len(lines) == 1
    assert re.fullmatch(r"POST /endpoints/sum/invocations -> 200 in \d+\.\d ms", lines[0])
    assert "AKIASECRETKEY" not in caplog.text
