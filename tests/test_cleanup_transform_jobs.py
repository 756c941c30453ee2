"""Cleanup of what a Batch Transform run creates — its model, transform job and S3 prefixes —
on the local endpoint host over real HTTP (its SageMaker API runs the jobs, its S3 API
serves the objects), with moto's server as a second opinion on the SageMaker and S3 calls.

Runs are made here with plain boto3, as the Batch Transform backend makes them: objects
staged under ``s3://bucket/runs/<name>/input/``, a model and a job tagged with the run id,
output under ``.../output/``. Jobs are kept InProgress by models that hold a mini-batch
until the test releases it (an event, released by a hook on the client's own
StopTransformJob call) or that take 50 ms per record over thousands of records; never by
the test sleeping.
"""

from __future__ import annotations

import http.client
import io
import json
import sys
import threading
import types
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import WaiterError

from endpoints.errors import CleanupError
from endpoints.lifecycle.cleanup import Outcome, SageMakerResourceCleanup
from endpoints.lifecycle.cleanup_cli import main
from endpoints.lifecycle.resources import RUN_ID_TAG, CreatedResources, ResourceKind, ResourceRef
from endpoints.lifecycle.selection import S3_UNVERIFIED
from endpoints.local import LocalEndpointHost
from endpoints.local.server import local_client

ROLE = "arn:aws:iam::123456789012:role/test"
BUCKET = "cleanup-runs"
GATE = "cleanup_transform_jobs_test_gate"
RELEASE_TIMEOUT_S = 30
JOB_ENDED = "SageMaker keeps a finished job's record, which bills nothing"

# The first mini-batch passes; every later one waits in the model until the test releases
# the gate, so the job stays InProgress for as long as the test needs.
GATED_MODEL = f"""
import itertools
import numpy as np
import {GATE} as gate

CALLS = itertools.count(1)

def predict(x):
    if next(CALLS) > 1:
        gate.entered.set()
        if not gate.release.wait({RELEASE_TIMEOUT_S}):
            raise TimeoutError("the test never released the gate")
    return np.asarray(x).sum(axis=1)
"""

# A row starting with -1 fails its mini-batch (and so its object); the others are summed.
POISONED_MODEL = """
import numpy as np

def predict(x):
    x = np.asarray(x)
    if (x[:, 0] == -1).any():
        raise ValueError("poisoned row")
    return x.sum(axis=1)
"""

# 50 ms of work per mini-batch: over SingleRecord input of thousands of lines the job runs
# for minutes unless stopped, whatever clients (the CLI's own) stop it.
SLOW_MODEL = """
import time
import numpy as np

def predict(x):
    time.sleep(0.05)
    return np.asarray(x).sum(axis=1)
"""


# -- the local host and a run on it ---------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cleanup-models")


@pytest.fixture(scope="module")
def host(tmp_path_factory, models):
    with LocalEndpointHost(
        s3_root=tmp_path_factory.mktemp("cleanup-s3"),
        model_roots=[models],
        allow_python_models=True,
    ) as h:
        h.s3_client().create_bucket(Bucket=BUCKET)
        yield h


@pytest.fixture
def gate():
    module = types.ModuleType(GATE)
    module.entered = threading.Event()
    module.release = threading.Event()
    sys.modules[GATE] = module
    yield module
    module.release.set()
    sys.modules.pop(GATE, None)


def start_run(
    sm,
    s3,
    models: Path,
    source: str,
    *,
    label: str,
    lines: tuple[int, ...] = (1, 2, 2),
    name: str | None = None,
    run_id: str | None = None,
    poisoned: tuple[int, ...] = (),
) -> CreatedResources:
    """A model and a transform job over ``len(lines)`` staged CSV objects (one SingleRecord
    mini-batch per line, one at a time; the objects numbered in ``poisoned`` start with a
    -1 row), tagged with the run id and recorded as the backend records them."""
    run_id = run_id or uuid.uuid4().hex
    name = name or f"{label}-{run_id[:8]}"
    tag_list = [{"Key": RUN_ID_TAG, "Value": run_id}]
    base = f"runs/{name}/"
    for index, count in enumerate(lines):
        first = -1 if index in poisoned else 0
        body = "".join(f"{first if i == 0 else i},{i + 1}\n" for i in range(count)).encode()
        s3.put_object(Bucket=BUCKET, Key=f"{base}input/part-{index:04d}.csv", Body=body)
    directory = models / f"{name}-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    (directory / "model.py").write_text(source)
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "local/python:1",
            "ModelDataUrl": directory.as_uri(),
            "Environment": {"ENDPOINT_SERDE_RUNTIME": "python"},
        },
        Tags=tag_list,
    )
    sm.create_transform_job(**job_request(name, f"s3://{BUCKET}/{base}"), Tags=tag_list)
    created = CreatedResources(
        model_name=name,
        transform_job_name=name,
        s3_prefixes=[f"s3://{BUCKET}/{base}input/", f"s3://{BUCKET}/{base}output/"],
        region="us-east-1",
        run_id=run_id,
        tags={RUN_ID_TAG: run_id},
    )
    created.record_identity(ResourceKind.MODEL, sm.describe_model(ModelName=name))
    created.record_identity(
        ResourceKind.TRANSFORM_JOB, sm.describe_transform_job(TransformJobName=name)
    )
    return created


def job_request(name: str, base_uri: str) -> dict:
    return {
        "TransformJobName": name,
        "ModelName": name,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{base_uri}input/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"{base_uri}output/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "SingleRecord",
        "MaxConcurrentTransforms": 1,
    }


def keys(s3, prefix: str, bucket: str = BUCKET) -> list[str]:
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found


def status(sm, name: str) -> str:
    return sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]


def model_exists(sm, name: str) -> bool:
    return bool(sm.list_models(NameContains=name)["Models"])


def traced(client) -> list:
    """The operations ``client`` calls from now on, as botocore sends them; a DeleteObjects
    call as (name, number of keys)."""
    seen: list = []

    def record(model, params, **_):
        objects = (params.get("Delete") or {}).get("Objects")
        seen.append(model.name if objects is None else (model.name, len(objects)))

    client.meta.events.register("before-parameter-build", record)
    return seen


def release_on_stop(sm, gate) -> None:
    """Let the held mini-batch finish once StopTransformJob has been accepted, as a real
    job's in-flight work finishes after a stop."""
    sm.meta.events.register("after-call.sagemaker.StopTransformJob", lambda **_: gate.release.set())


def outcomes(report) -> list[tuple[str, str, Outcome, str | None]]:
    return [(o.ref.kind.value, o.ref.name, o.outcome, o.reason) for o in report.outcomes]


class FakeClock:
    """A clock that only ``sleep`` moves, so a wait's deadline passes without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- the library: stop, delete, wait, refuse --------------------------------------------------


def test_cleanup_stops_the_running_job_then_deletes_model_and_objects(host, models, gate):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    created = start_run(sm, s3, models, GATED_MODEL, label="stop")
    name = created.transform_job_name
    assert gate.entered.wait(RELEASE_TIMEOUT_S)  # the second mini-batch is in the model
    assert status(sm, name) == "InProgress"
    assert len(keys(s3, f"runs/{name}/input/")) == 3
    release_on_stop(sm, gate)
    sm_calls, s3_calls = traced(sm), traced(s3)

    report = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(created)

    input_uri, output_uri = created.s3_prefixes
    assert outcomes(report) == [
        ("transform-job", name, Outcome.STOPPED, None),
        ("model", name, Outcome.DELETED, None),
        ("s3-prefix", input_uri, Outcome.DELETED, "3 objects"),
        ("s3-prefix", output_uri, Outcome.DELETED, "1 object"),
    ]
    assert report.ok and report.retries == 0 and report.stopped == [report.outcomes[0].ref]
    assert str(report).splitlines()[0] == "cleanup: 3 deleted, 1 stopped, 0 already gone, 0 failed"
    # stopped first, then waited for until it ended; the object it was on got no .out, the
    # one it had finished did (the output prefix's 1 object)
    assert sm_calls[:2] == ["DescribeTransformJob", "StopTransformJob"]
    assert set(sm_calls[2:-1]) == {"DescribeTransformJob"} and sm_calls[-1] == "DeleteModel"
    assert s3_calls == [
        "ListObjectsV2",
        ("DeleteObjects", 3),
        "ListObjectsV2",
        ("DeleteObjects", 1),
    ]
    assert status(sm, name) == "Stopped"
    assert not model_exists(sm, name)
    assert keys(s3, f"runs/{name}/") == []

    again = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(created)
    assert outcomes(again) == [
        ("transform-job", name, Outcome.ALREADY_GONE, f"it had ended (Stopped); {JOB_ENDED}"),
        ("model", name, Outcome.ALREADY_GONE, None),
        ("s3-prefix", input_uri, Outcome.ALREADY_GONE, None),
        ("s3-prefix", output_uri, Outcome.ALREADY_GONE, None),
    ]
    assert str(again).splitlines()[0] == "cleanup: 0 deleted, 0 stopped, 4 already gone, 0 failed"


def test_a_job_that_failed_part_way_leaves_nothing_behind(host, models):
    """The job ended Failed on its own, after writing the .out of the objects it could
    transform: cleanup leaves the job (it bills nothing), deletes the model and every
    object, input and partial output alike."""
    sm, s3 = host.sagemaker_client(), host.s3_client()
    created = start_run(sm, s3, models, POISONED_MODEL, label="failed", poisoned=(1,))
    name = created.transform_job_name
    with pytest.raises(WaiterError, match='matched expected path: "Failed"'):  # botocore's
        sm.get_waiter("transform_job_completed_or_stopped").wait(  # own wait for the end
            TransformJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    job = sm.describe_transform_job(TransformJobName=name)
    assert job["TransformJobStatus"] == "Failed" and "poisoned row" in job["FailureReason"]
    assert sorted(keys(s3, f"runs/{name}/output/")) == [
        f"runs/{name}/output/part-0000.csv.out",
        f"runs/{name}/output/part-0002.csv.out",
    ]

    report = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(created)

    input_uri, output_uri = created.s3_prefixes
    assert outcomes(report) == [
        ("transform-job", name, Outcome.ALREADY_GONE, f"it had ended (Failed); {JOB_ENDED}"),
        ("model", name, Outcome.DELETED, None),
        ("s3-prefix", input_uri, Outcome.DELETED, "3 objects"),
        ("s3-prefix", output_uri, Outcome.DELETED, "2 objects"),
    ]
    running = sm.list_transform_jobs(NameContains=name, StatusEquals="InProgress")
    assert running["TransformJobSummaries"] == [] and not model_exists(sm, name)
    assert keys(s3, f"runs/{name}/") == []


def test_a_job_that_will_not_stop_in_time_keeps_its_prefixes_until_the_next_cleanup(
    host, models, gate
):
    """Its output may still be written: deleting the prefixes now would report them gone
    and leave objects billing. The model goes; the next cleanup finishes the rest."""
    sm, s3 = host.sagemaker_client(), host.s3_client()
    created = start_run(sm, s3, models, GATED_MODEL, label="slowstop")
    name = created.transform_job_name
    assert gate.entered.wait(RELEASE_TIMEOUT_S)
    clock = FakeClock()
    cleanup = SageMakerResourceCleanup(
        sm, s3_client=s3, deletion_timeout_s=5, sleep=clock.sleep, clock=clock
    )

    with pytest.raises(CleanupError) as info:
        cleanup.delete_resources(created)

    input_uri, output_uri = created.s3_prefixes
    held = (
        f"not deleted while transform job {name!r} may still write under it; run the "
        "cleanup again once the job has ended"
    )
    assert outcomes(info.value.report) == [
        (
            "transform-job",
            name,
            Outcome.FAILED,
            "StopTransformJob was accepted, but the job was still Stopping after 5s (it bills "
            "until it ends); run the cleanup again later",
        ),
        ("model", name, Outcome.DELETED, None),
        ("s3-prefix", input_uri, Outcome.FAILED, held),
        ("s3-prefix", output_uri, Outcome.FAILED, held),
    ]
    assert clock.sleeps == [0.5, 1.0, 2.0]  # polls at 0, 0.5, 1.5, 3.5; the next passes 5 s
    assert str(info.value).startswith(
        f"cleanup failed for 3 of 4 resources (transform-job {name!r}"
    )
    assert status(sm, name) == "Stopping"
    assert len(keys(s3, f"runs/{name}/input/")) == 3

    # the next cleanup finds it Stopping, and its held mini-batch finishes while it waits
    again = host.sagemaker_client()
    again.meta.events.register(
        "after-call.sagemaker.DescribeTransformJob", lambda **_: gate.release.set()
    )
    report = SageMakerResourceCleanup(again, s3_client=s3).delete_resources(created)
    assert outcomes(report) == [
        ("transform-job", name, Outcome.STOPPED, None),
        ("model", name, Outcome.ALREADY_GONE, None),
        ("s3-prefix", input_uri, Outcome.DELETED, "3 objects"),
        ("s3-prefix", output_uri, Outcome.DELETED, "1 object"),
    ]
    assert status(sm, name) == "Stopped" and keys(s3, f"runs/{name}/") == []


def test_without_an_s3_client_each_prefix_fails_saying_to_pass_one(host, models, gate):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    created = start_run(sm, s3, models, GATED_MODEL, label="nos3")
    name = created.transform_job_name
    assert gate.entered.wait(RELEASE_TIMEOUT_S)
    release_on_stop(sm, gate)

    with pytest.raises(CleanupError) as info:
        SageMakerResourceCleanup(sm).delete_resources(created)

    reason = (
        "no S3 client to delete its objects with: pass s3_client= (a boto3 's3' client for "
        "the bucket's account and region; the local endpoint host's is host.s3_client()) to "
        "SageMakerResourceCleanup"
    )
    assert [(kind, outcome, why) for kind, _, outcome, why in outcomes(info.value.report)] == [
        ("transform-job", Outcome.STOPPED, None),
        ("model", Outcome.DELETED, None),
        ("s3-prefix", Outcome.FAILED, reason),
        ("s3-prefix", Outcome.FAILED, reason),
    ]
    assert len(keys(s3, f"runs/{name}/")) == 4  # 3 inputs, the finished object's .out
    report = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(created)
    assert [o.reason for o in report.outcomes[2:]] == ["3 objects", "1 object"]
    assert keys(s3, f"runs/{name}/") == []


@pytest.mark.parametrize("prefix", ["s3://cleanup-runs/", "s3://cleanup-runs/runs"])
def test_a_prefix_wider_than_a_folder_is_refused_before_any_call(host, models, prefix):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    name = f"refused-{uuid.uuid4().hex[:8]}"
    s3.put_object(Bucket=BUCKET, Key=f"runs/{name}/keep.csv", Body=b"1,2\n")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "local/python:1", "ModelDataUrl": models.as_uri()},
    )
    sm_calls, s3_calls = traced(sm), traced(s3)
    cleanup = SageMakerResourceCleanup(sm, s3_client=s3)
    created = CreatedResources(model_name=name, s3_prefixes=[prefix])

    with pytest.raises(ValueError) as info:
        cleanup.delete_resources(created)
    with pytest.raises(ValueError):
        cleanup.delete_s3_prefix(prefix)

    assert str(info.value) == (
        "expected an S3 prefix such as 's3://bucket/run-1/input/' (a bucket, at least one "
        "folder, ending in '/'; cleanup deletes every object under it, so never a whole "
        f"bucket), got {prefix!r}"
    )
    assert (sm_calls, s3_calls) == ([], [])
    assert model_exists(sm, name) and keys(s3, f"runs/{name}/") == [f"runs/{name}/keep.csv"]
    cleanup.delete_model(name)
    cleanup.delete_s3_prefix(f"s3://{BUCKET}/runs/{name}/")


def test_thousands_of_objects_go_in_pages_and_batches_of_1000(host):
    """ListObjectsV2 pages and DeleteObjects batches of 1,000: 2,001 objects (written as
    files into the host's S3 root, which its S3 API serves) take three of each."""
    s3 = host.s3_client()
    folder = host.s3_root / BUCKET / "runs" / "many" / "input"
    folder.mkdir(parents=True)
    for index in range(2001):
        (folder / f"part-{index:05d}.csv").write_bytes(b"1,2\n")
    s3_calls = traced(s3)

    outcome = SageMakerResourceCleanup(None, s3_client=s3).delete_s3_prefix(
        f"s3://{BUCKET}/runs/many/"
    )

    assert (outcome.outcome, outcome.reason) == (Outcome.DELETED, "2001 objects")
    assert s3_calls == [
        "ListObjectsV2",
        ("DeleteObjects", 1000),
        "ListObjectsV2",
        ("DeleteObjects", 1000),
        "ListObjectsV2",
        ("DeleteObjects", 1),
    ]
    assert keys(s3, "runs/many/") == []


class S3SlowDownProxy:
    """A real HTTP server in front of an S3 API that answers the next requests of chosen
    operations with S3's ``503 SlowDown`` and forwards everything else."""

    SLOW_DOWN = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message></Error>"
    )

    def __init__(self, upstream_url: str) -> None:
        upstream = urllib.parse.urlsplit(upstream_url)
        proxy = self
        self.plan: Counter = Counter()
        self.hits: Counter = Counter()
        self.faults: Counter = Counter()
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = urllib.parse.urlsplit(self.path).query
                operation = {
                    ("GET", True): "ListObjectsV2",
                    ("POST", False): "DeleteObjects",
                }.get((self.command, "list-type=2" in query), self.command)
                if proxy._take(operation):
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(proxy.SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(proxy.SLOW_DOWN)
                    return
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = handle_any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _take(self, operation: str) -> bool:
        with self._lock:
            self.hits[operation] += 1
            if self.plan[operation] <= 0:
                return False
            self.plan[operation] -= 1
            self.faults[operation] += 1
            return True

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_s3_slow_down_is_retried_like_sagemaker_throttling(host):
    s3 = host.s3_client()
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"runs/throttled/input/{index}.csv", Body=b"1,2\n")
    proxy = S3SlowDownProxy(host.url)
    try:
        proxy.plan.update({"ListObjectsV2": 1, "DeleteObjects": 2})
        sleeps: list[float] = []
        cleanup = SageMakerResourceCleanup(
            None, s3_client=local_client(proxy.url, "s3"), sleep=sleeps.append
        )
        report = cleanup.delete_all(
            [ResourceRef(ResourceKind.S3_PREFIX, f"s3://{BUCKET}/runs/throttled/")]
        )
    finally:
        proxy.close()
    assert outcomes(report) == [
        ("s3-prefix", f"s3://{BUCKET}/runs/throttled/", Outcome.DELETED, "3 objects")
    ]
    assert report.retries == 3 and len(sleeps) == 3
    assert (proxy.faults, proxy.hits) == (
        Counter({"ListObjectsV2": 1, "DeleteObjects": 2}),
        Counter({"ListObjectsV2": 2, "DeleteObjects": 3}),
    )
    assert keys(s3, "runs/throttled/") == []


def test_a_missing_bucket_or_job_is_already_gone(host):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    report = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(
        CreatedResources(
            transform_job_name="never-created",
            s3_prefixes=["s3://no-such-bucket/runs/x/"],
        )
    )
    assert outcomes(report) == [
        ("transform-job", "never-created", Outcome.ALREADY_GONE, None),
        ("s3-prefix", "s3://no-such-bucket/runs/x/", Outcome.ALREADY_GONE, "no such bucket"),
    ]


# -- the CLI: manifests, namesakes, --prefix ----------------------------------------------------


def run_cli(url: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--endpoint-url", url, "--region", "us-east-1", *args], stdout=out)
    return code, out.getvalue()


def run_cli_json(url: str, *args: str) -> tuple[int, dict]:
    code, text = run_cli(url, "--json", *args)
    return code, json.loads(text)


def rows(report: dict) -> list[tuple[str, str, str, str | None]]:
    return [(r["kind"], r["name"], r["outcome"], r["reason"]) for r in report["resources"]]


def test_cli_replays_a_manifest_stopping_the_job_and_deleting_model_and_objects(
    host, models, tmp_path
):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    created = start_run(sm, s3, models, SLOW_MODEL, label="cli", lines=(2000, 2000))
    name = created.transform_job_name
    # one prefix for the whole run, input and output, as the backend records it
    created.s3_prefixes = [f"s3://{BUCKET}/runs/{name}/"]
    manifest = created.write_manifest(tmp_path / "run.json")
    assert CreatedResources.read_manifest(manifest) == created
    job = sm.describe_transform_job(TransformJobName=name)
    assert created.identities[ResourceKind.TRANSFORM_JOB].arn == job["TransformJobArn"]
    assert json.loads(manifest.read_text())["version"] == 2
    (prefix,) = created.s3_prefixes

    code, dry = run_cli_json(host.url, "--manifest", str(manifest), "--dry-run")
    assert code == 0 and (dry["selected"], dry["skipped"]) == (3, 0)
    assert rows(dry) == [
        ("transform-job", name, "would stop", None),
        ("model", name, "would delete", None),
        ("s3-prefix", prefix, "would delete", None),
    ]
    assert dry["resources"][2]["arn"] == f"arn:aws:s3:::{BUCKET}/runs/{name}/*"
    assert status(sm, name) == "InProgress" and len(keys(s3, f"runs/{name}/")) == 2

    code, report = run_cli_json(host.url, "--manifest", str(manifest))
    assert code == 0 and report["ok"]
    assert rows(report) == [
        ("transform-job", name, "stopped", None),
        ("model", name, "deleted", None),
        ("s3-prefix", prefix, "deleted", "2 objects"),
    ]
    assert status(sm, name) == "Stopped"
    assert not model_exists(sm, name) and keys(s3, f"runs/{name}/") == []

    code, text = run_cli(host.url, "--manifest", str(manifest))
    assert code == 0
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["transform-job", name]
    assert lines[1].endswith(f"already gone: it had ended (Stopped); {JOB_ENDED}")
    assert lines[-1] == "3 matched (3 already gone); done"


def test_cli_skips_a_namesake_job_and_leaves_the_prefix_it_cannot_verify(
    host, models, tmp_path, tmp_path_factory, gate
):
    """The run's job ended and the host's state is gone (another host, account or a reset);
    someone else runs a job under the same names there. Nothing of theirs is touched: not
    the job (another run id, another creation time), not the model, not their objects under
    the same prefix (S3 objects carry no tag: only a verified resource vouches for them)."""
    sm, s3 = host.sagemaker_client(), host.s3_client()
    release_on_stop(sm, gate)
    ours = start_run(sm, s3, models, GATED_MODEL, label="namesake")
    name = ours.transform_job_name
    assert gate.entered.wait(RELEASE_TIMEOUT_S)
    SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(ours)
    manifest = ours.write_manifest(tmp_path / "ours.json")

    with LocalEndpointHost(
        s3_root=tmp_path_factory.mktemp("namesake-s3"),
        model_roots=[models],
        allow_python_models=True,
    ) as other:
        other_sm, other_s3 = other.sagemaker_client(), other.s3_client()
        other_s3.create_bucket(Bucket=BUCKET)
        theirs = start_run(
            other_sm, other_s3, models, SLOW_MODEL, label="namesake", name=name, lines=(2000,)
        )

        code, report = run_cli_json(other.url, "--manifest", str(manifest))

        assert code == 0 and (report["selected"], report["skipped"]) == (0, 4)
        assert [row[:3] for row in rows(report)] == [
            ("transform-job", name, "skipped"),
            ("model", name, "skipped"),
            ("s3-prefix", ours.s3_prefixes[0], "skipped"),
            ("s3-prefix", ours.s3_prefixes[1], "skipped"),
        ]
        job_reason = report["resources"][0]["reason"]
        # the creation times may also differ, if more than a second apart: this test does
        # not make them, so only the run id (which always differs) is asserted
        assert job_reason.startswith(
            "not the resource the manifest recorded, maybe re-created under the same name: "
            f"its {RUN_ID_TAG} tag is {theirs.run_id!r} (recorded {ours.run_id!r})"
        )
        assert report["resources"][2]["reason"] == S3_UNVERIFIED
        assert status(other_sm, name) == "InProgress" and model_exists(other_sm, name)
        assert len(keys(other_s3, f"runs/{name}/input/")) == 1
        SageMakerResourceCleanup(other_sm, s3_client=other_s3).delete_resources(theirs)


def test_cli_deletes_a_manifests_prefixes_alone_only_with_force_unverified(host, models, tmp_path):
    """A run that staged its input and stopped before creating anything on SageMaker has
    nothing to verify its prefix by. Its manifest names nothing else, so nothing else is
    selected: not another run's tagged model (a manifest is never a listing)."""
    sm, s3 = host.sagemaker_client(), host.s3_client()
    bystander = f"bystander-{uuid.uuid4().hex[:8]}"
    sm.create_model(
        ModelName=bystander,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "local/python:1", "ModelDataUrl": models.as_uri()},
        Tags=[{"Key": RUN_ID_TAG, "Value": "another-run"}],
    )
    s3.put_object(Bucket=BUCKET, Key="runs/crashed/input/part-0000.csv", Body=b"1,2\n")
    prefix = f"s3://{BUCKET}/runs/crashed/"
    manifest = CreatedResources(
        s3_prefixes=[prefix], region="us-east-1", run_id="crashed-run"
    ).write_manifest(tmp_path / "crashed.json")
    empty = CreatedResources(region="us-east-1", run_id="r").write_manifest(tmp_path / "e.json")

    code, report = run_cli_json(host.url, "--manifest", str(manifest))
    assert code == 0 and rows(report) == [("s3-prefix", prefix, "skipped", S3_UNVERIFIED)]
    assert keys(s3, "runs/crashed/") == ["runs/crashed/input/part-0000.csv"]

    code, report = run_cli_json(host.url, "--manifest", str(manifest), "--force-unverified")
    assert code == 0 and rows(report) == [("s3-prefix", prefix, "deleted", "1 object")]
    assert keys(s3, "runs/crashed/") == []

    code, text = run_cli(host.url, "--manifest", str(empty))
    assert (code, text) == (0, "nothing matched the selectors; nothing to delete\n")
    assert model_exists(sm, bystander)
    SageMakerResourceCleanup(sm).delete_model(bystander)


def test_cli_prefix_and_tag_stop_only_running_tagged_jobs(host, models):
    sm, s3 = host.sagemaker_client(), host.s3_client()
    p = f"sel-{uuid.uuid4().hex[:6]}-"
    ours = start_run(sm, s3, models, SLOW_MODEL, label="x", name=f"{p}ours", lines=(2000,))
    theirs = start_run(sm, s3, models, SLOW_MODEL, label="x", name=f"{p}theirs", lines=(2000,))
    sm.delete_tags(
        ResourceArn=theirs.identities[ResourceKind.TRANSFORM_JOB].arn, TagKeys=[RUN_ID_TAG]
    )
    sm.delete_tags(ResourceArn=theirs.identities[ResourceKind.MODEL].arn, TagKeys=[RUN_ID_TAG])
    untagged = f"carries no {RUN_ID_TAG} tag, so endpoint-serde did not create it; "

    code, dry = run_cli_json(host.url, "--prefix", p, "--dry-run")
    assert code == 0 and [row[:3] for row in rows(dry)] == [
        ("transform-job", f"{p}ours", "would stop"),
        ("transform-job", f"{p}theirs", "skipped"),
        ("model", f"{p}ours", "would delete"),
        ("model", f"{p}theirs", "skipped"),
    ]
    assert dry["resources"][1]["reason"] == untagged + "--include-untagged selects it too"

    code, report = run_cli_json(host.url, "--prefix", p, "--tag", f"{RUN_ID_TAG}={ours.run_id}")
    assert code == 0 and rows(report) == [
        ("transform-job", f"{p}ours", "stopped", None),
        ("model", f"{p}ours", "deleted", None),
    ]
    assert (status(sm, f"{p}ours"), status(sm, f"{p}theirs")) == ("Stopped", "InProgress")
    assert model_exists(sm, f"{p}theirs")

    code, after = run_cli_json(host.url, "--prefix", p, "--dry-run")
    assert code == 0 and [row[:3] for row in rows(after)] == [  # a finished job: not listed
        ("transform-job", f"{p}theirs", "skipped"),
        ("model", f"{p}theirs", "skipped"),
    ]
    SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(theirs)
    SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(ours)


# -- moto's server as a second opinion -----------------------------------------------------------


@pytest.fixture
def moto_s3(moto_sagemaker_url):
    client = boto3.client(
        "s3",
        endpoint_url=moto_sagemaker_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return client


def moto_run(sm, s3, name: str, objects: int, *, run_id: str | None = None) -> CreatedResources:
    """A model, a transform job (moto's end Completed at once) and ``objects`` staged
    objects on moto's server."""
    run_id = run_id or uuid.uuid4().hex
    tags = [{"Key": RUN_ID_TAG, "Value": run_id}]
    for index in range(objects):
        s3.put_object(Bucket=BUCKET, Key=f"runs/{name}/input/{index:05d}.csv", Body=b"1,2\n")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "scorer:1", "ModelDataUrl": "s3://models/m.tar.gz"},
        Tags=tags,
    )
    sm.create_transform_job(**job_request(name, f"s3://{BUCKET}/runs/{name}/"), Tags=tags)
    created = CreatedResources(
        model_name=name,
        transform_job_name=name,
        s3_prefixes=[f"s3://{BUCKET}/runs/{name}/"],
        region="us-east-1",
        run_id=run_id,
        tags={RUN_ID_TAG: run_id},
    )
    created.record_identity(ResourceKind.MODEL, sm.describe_model(ModelName=name))
    created.record_identity(
        ResourceKind.TRANSFORM_JOB, sm.describe_transform_job(TransformJobName=name)
    )
    return created


def test_moto_a_finished_job_is_left_alone_and_its_objects_deleted(moto_sagemaker, moto_s3):
    name = f"moto-{uuid.uuid4().hex[:8]}"
    created = moto_run(moto_sagemaker, moto_s3, name, 3)
    assert set(created.identities) == {ResourceKind.MODEL, ResourceKind.TRANSFORM_JOB}
    sm_calls, s3_calls = traced(moto_sagemaker), traced(moto_s3)

    report = SageMakerResourceCleanup(moto_sagemaker, s3_client=moto_s3).delete_resources(created)

    (prefix,) = created.s3_prefixes
    assert outcomes(report) == [
        ("transform-job", name, Outcome.ALREADY_GONE, f"it had ended (Completed); {JOB_ENDED}"),
        ("model", name, Outcome.DELETED, None),
        ("s3-prefix", prefix, Outcome.DELETED, "3 objects"),
    ]
    assert sm_calls == ["DescribeTransformJob", "DeleteModel"]  # no stop for a finished job
    assert s3_calls == ["ListObjectsV2", ("DeleteObjects", 3)]
    assert keys(moto_s3, f"runs/{name}/") == []
    again = SageMakerResourceCleanup(moto_sagemaker, s3_client=moto_s3).delete_resources(created)
    assert [o.outcome for o in again.outcomes] == [Outcome.ALREADY_GONE] * 3


def test_moto_cli_manifest_replay_skips_a_re_created_namesake_job(
    moto_sagemaker, moto_s3, moto_sagemaker_url, tmp_path
):
    """moto lets a job name be used again (AWS does not): a job re-created under the run's
    name by another run is skipped, and so is the prefix nothing else vouches for."""
    name = f"moto-again-{uuid.uuid4().hex[:8]}"
    first = moto_run(moto_sagemaker, moto_s3, name, 2)
    manifest = first.write_manifest(tmp_path / "first.json")
    moto_sagemaker.delete_model(ModelName=name)
    second = moto_run(moto_sagemaker, moto_s3, name, 2, run_id="another-run")

    code, report = run_cli_json(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0 and [row[:3] for row in rows(report)] == [
        ("transform-job", name, "skipped"),
        ("model", name, "skipped"),
        ("s3-prefix", first.s3_prefixes[0], "skipped"),
    ]
    assert f"its {RUN_ID_TAG} tag is 'another-run'" in report["resources"][0]["reason"]
    assert report["resources"][2]["reason"] == S3_UNVERIFIED
    assert len(keys(moto_s3, f"runs/{name}/")) == 2

    code, report = run_cli_json(
        moto_sagemaker_url, "--manifest", str(second.write_manifest(tmp_path / "second.json"))
    )
    assert code == 0 and rows(report) == [
        ("transform-job", name, "already gone", f"it had ended (Completed); {JOB_ENDED}"),
        ("model", name, "deleted", None),
        ("s3-prefix", second.s3_prefixes[0], "deleted", "2 objects"),
    ]


def test_moto_prefix_selection_lists_no_finished_job(moto_sagemaker, moto_s3, moto_sagemaker_url):
    name = f"moto-sel-{uuid.uuid4().hex[:8]}"
    created = moto_run(moto_sagemaker, moto_s3, name, 1)
    code, dry = run_cli_json(moto_sagemaker_url, "--prefix", name, "--dry-run")
    assert code == 0 and rows(dry) == [("model", name, "would delete", None)]
    SageMakerResourceCleanup(moto_sagemaker, s3_client=moto_s3).delete_resources(created)
