"""The local host as a capacity-limited endpoint: ``FaultSpec(max_concurrency=N)`` serves N
requests at once and refuses the next at once with SageMaker's throttling answer, which
boto3 reads as ``ThrottlingException``; ``latency_per_row_us`` makes a request's time grow
with its rows. Every test is bounded: latencies are at most ~1.5 s and clients time out."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import boto3
import orjson
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError

from endpoints.local import FaultSpec, LocalHostProcess
from endpoints.local.origin import CONTROL_HEADERS

SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
ENDPOINT = "capacity-sum"
HOLD_MS = 1500  # how long an admitted request holds its slot: every racer arrives within it


@pytest.fixture(scope="module")
def capacity_host(local_host, tmp_path_factory):
    model = tmp_path_factory.mktemp("capacity-model")
    (model / "model.py").write_text(SUM)
    local_host.deploy_local(ENDPOINT, model, "python")
    yield local_host
    local_host.set_faults(ENDPOINT, None)


@pytest.fixture
def runtime(capacity_host):
    """boto3's own client, retries off: each call is exactly one HTTP request."""
    config = Config(
        retries={"total_max_attempts": 1}, read_timeout=20, connect_timeout=5,
        max_pool_connections=16,
    )  # fmt: skip
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=capacity_host.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def invoke(runtime, body: bytes = b"1,2\n3,4") -> bytes:
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="text/csv")
    return response["Body"].read()


class Outcome(NamedTuple):
    """One call as botocore read it: ``("ok", 200, body)`` or ``(error code, status,
    message)``, and how long it took."""

    code: str
    status: int
    detail: bytes | str
    seconds: float


def outcome(runtime, start: threading.Barrier) -> Outcome:
    start.wait(timeout=10)
    started = time.monotonic()
    try:
        body = invoke(runtime)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
        return Outcome(code, status, message, time.monotonic() - started)
    return Outcome("ok", 200, body, time.monotonic() - started)


def race(runtime, requests: int) -> list[Outcome]:
    """``requests`` calls released together from as many threads."""
    start = threading.Barrier(requests)
    with ThreadPoolExecutor(requests) as pool:
        return list(pool.map(lambda _: outcome(runtime, start), range(requests)))


def over_capacity_count(host) -> int:
    return host.metrics()["faults_by_endpoint"].get(ENDPOINT, {}).get("over_capacity", 0)


def test_requests_beyond_capacity_are_refused_at_once_as_throttling(capacity_host, runtime):
    capacity_host.set_faults(ENDPOINT, FaultSpec(max_concurrency=2, latency_ms=HOLD_MS))
    refused_before = over_capacity_count(capacity_host)
    started = time.monotonic()
    outcomes = race(runtime, 6)
    assert time.monotonic() - started < HOLD_MS / 1000 + 10
    ok = [o for o in outcomes if o.code == "ok"]
    refused = [o for o in outcomes if o.code != "ok"]
    assert [(o.status, o.detail) for o in ok] == [(200, b"3.0\n7.0")] * 2
    assert [(o.code, o.status) for o in refused] == [("ThrottlingException", 400)] * 4
    assert over_capacity_count(capacity_host) - refused_before == 4
    assert invoke(runtime) == b"3.0\n7.0"  # the slots are free again


def test_refusals_take_no_time_and_show_in_prometheus_text(capacity_host, runtime):
    capacity_host.set_faults(ENDPOINT, FaultSpec(max_concurrency=1, latency_ms=HOLD_MS))
    refused = [o for o in race(runtime, 3) if o.code != "ok"]
    assert len(refused) == 2
    for call in refused:
        assert call.seconds < HOLD_MS / 1000 / 2  # refused at once, not queued
        assert call.detail.startswith("Rate exceeded (the endpoint serves 1 requests at once")
    text = urllib3.request("GET", f"{capacity_host.url}/metrics").data.decode()
    line = re.search(
        rf'endpoints_local_faults_injected_total\{{endpoint="{ENDPOINT}",kind="over_capacity"\}}'
        r" (\d+)",
        text,
    )
    assert line and int(line.group(1)) == over_capacity_count(capacity_host) >= 1


def test_over_capacity_status_429_still_reads_as_throttling(capacity_host, runtime):
    spec = FaultSpec(max_concurrency=1, latency_ms=HOLD_MS, over_capacity_status=429)
    capacity_host.set_faults(ENDPOINT, spec)
    outcomes = race(runtime, 3)
    assert sorted((o.code, o.status) for o in outcomes) == [
        ("ThrottlingException", 429),
        ("ThrottlingException", 429),
        ("ok", 200),
    ]


def test_plain_paths_answer_429_too_many_requests(capacity_host):
    capacity_host.set_faults(ENDPOINT, FaultSpec(max_concurrency=1, latency_ms=HOLD_MS))
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=20))
    url = f"{capacity_host.url}/v1/models/{ENDPOINT}:predict"
    start = threading.Barrier(3)

    def predict(_: int) -> int:
        start.wait(timeout=10)
        return http.request("POST", url, body=b'{"instances": [[1, 2]]}').status

    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(predict, range(3))) == [200, 429, 429]


def test_latency_per_row_grows_with_the_rows_of_a_request(capacity_host, runtime):
    capacity_host.set_faults(ENDPOINT, FaultSpec(latency_per_row_us=1000))
    started = time.monotonic()
    assert invoke(runtime, b"1\n" * 600) == b"1.0\n" * 599 + b"1.0"
    assert time.monotonic() - started >= 0.6  # 600 rows x 1 ms
    started = time.monotonic()
    assert invoke(runtime, b"1,1") == b"2.0"
    one_row = time.monotonic() - started
    assert one_row < 0.6


def test_capacity_is_settable_over_http_and_checked(capacity_host):
    http = urllib3.PoolManager(retries=False, headers=CONTROL_HEADERS)
    url = f"{capacity_host.url}/_local/faults/{ENDPOINT}"
    answer = http.request("POST", url, body=b'{"max_concurrency": 3, "latency_per_row_us": 50}')
    assert answer.status == 200
    assert orjson.loads(answer.data)["faults"]["max_concurrency"] == 3
    for bad, message in [
        (b'{"max_concurrency": 0}', "max_concurrency must be >= 1"),
        (b'{"over_capacity_status": 503}', "over_capacity_status must be 400 or 429"),
        (b'{"latency_per_row_us": -1}', "latency_per_row_us must be >= 0"),
    ]:
        refused = http.request("POST", url, body=bad)
        assert refused.status == 400 and message in refused.data.decode()


def test_a_host_process_takes_faults_and_reports_metrics(tmp_path):
    (tmp_path / "model.py").write_text(SUM)
    with LocalHostProcess(model_roots=[tmp_path], allow_python_models=True) as host:
        host.deploy_local("sum", tmp_path, "python")
        host.set_faults("sum", FaultSpec(throttle_rate=1.0, max_faults=1))
        runtime = host.runtime_client()
        with pytest.raises(ClientError, match="ThrottlingException"):
            runtime.invoke_endpoint(EndpointName="sum", Body=b"1", ContentType="text/csv")
        host.set_faults("sum", None)
        answer = runtime.invoke_endpoint(EndpointName="sum", Body=b"1", ContentType="text/csv")
        assert answer["Body"].read() == b"1.0"
        metrics = host.metrics()
        assert metrics["faults_by_endpoint"]["sum"] == {"throttle": 1}
        assert metrics["requests"]["sum"] == {"400": 1, "200": 1}
