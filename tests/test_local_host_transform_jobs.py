"""Batch Transform on the local host through real boto3 clients over HTTP: data staged with
the host's S3 API, jobs created, described, listed and stopped with the ``sagemaker``
client, ``.out`` objects read back. CSV and RecordIO protobuf, several objects, mini-batches
packed to ``MaxPayloadInMB``, line alignment, a job that fails part-way, StopTransformJob,
``MaxConcurrentTransforms``, List filters and pages, AWS's validation, every answer
checked against botocore's output shape, and moto as a second opinion.

Jobs are waited for by polling DescribeTransformJob against a deadline; models that must
hold a mini-batch (stop, concurrency) wait on events the test sets, never on time.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import threading
import time
import types
import uuid
from itertools import count

import boto3
import orjson
import pytest
import urllib3
from botocore.exceptions import ClientError
from pyspark.ml.linalg import DenseVector
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, StructField, StructType

from endpoints.local import LocalEndpointHost, LocalHostProcess, api_shapes
from endpoints.local.transform_jobs import Records, RecordTooLarge, mini_batches
from serde.protobuf import ProtobufRequestRowSerializer, ProtobufResponseRowDeserializer

ROLE = "arn:aws:iam::123456789012:role/test"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
JSON_11 = "application/x-amz-json-1.1"
DEADLINE_S = 60
TERMINAL = ("Completed", "Failed", "Stopped")
# the test models are Python files under pytest's temporary folders
PYTHON_MODELS = {"allow_python_models": True, "model_roots": [tempfile.gettempdir()]}

# Each mini-batch the model sees gets a number: the answer is "sum,call" per row, so the
# .out shows how records were packed. A fresh module (and counter) is loaded per job.
COUNTING_MODEL = """
import itertools
import numpy as np

CALLS = itertools.count(1)

def predict(x):
    x = np.asarray(x)
    return {"sum": x.sum(axis=1), "call": np.full(len(x), float(next(CALLS)))}
"""

# Holds every mini-batch until the test releases it (StopTransformJob while one is in flight).
GATED_MODEL = """
import numpy as np
import transform_jobs_test_gate as gate

def predict(x):
    gate.entered.set()
    if not gate.release.wait(30):
        raise TimeoutError("the test never released the gate")
    return np.asarray(x).sum(axis=1)
"""

# Two mini-batches must be in the model at once to pass the barrier; each answers how many
# were in flight when it entered.
PAIRED_MODEL = """
import threading
import numpy as np
import transform_jobs_test_gate as gate

lock = threading.Lock()
inside = [0]

def predict(x):
    with lock:
        inside[0] += 1
        entered_with = inside[0]
    try:
        gate.barrier.wait()
    finally:
        with lock:
            inside[0] -= 1
    return {"sum": np.asarray(x).sum(axis=1), "inflight": np.full(len(x), float(entered_with))}
"""


def ticking_clock():
    """Distinct, increasing CreationTimes 10 ms apart, so time filters have known answers."""
    ticks = count()
    start = round(time.time(), 3)
    lock = threading.Lock()

    def now() -> float:
        with lock:
            return round(start + next(ticks) * 0.01, 3)

    return now


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    with LocalEndpointHost(
        s3_root=tmp_path_factory.mktemp("transform-s3"), clock=ticking_clock(), **PYTHON_MODELS
    ) as h:
        yield h


@pytest.fixture(scope="module")
def sm(host):
    return host.sagemaker_client()


@pytest.fixture(scope="module")
def s3(host):
    return host.s3_client()


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket="transform-data")
    return "transform-data"


@pytest.fixture
def gate():
    module = types.ModuleType("transform_jobs_test_gate")
    module.entered = threading.Event()
    module.release = threading.Event()
    module.barrier = threading.Barrier(2, timeout=20)
    sys.modules[module.__name__] = module
    yield module
    module.release.set()
    module.barrier.abort()
    sys.modules.pop(module.__name__, None)


def make_model(sm, tmp_path, source: str, name: str | None = None) -> str:
    name = name or f"model-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / name
    directory.mkdir(parents=True)
    (directory / "model.py").write_text(source)
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "local/python:1",
            "ModelDataUrl": directory.as_uri(),
            "Environment": {"ENDPOINT_SERDE_RUNTIME": "python"},
        },
    )
    return name


def job_request(name, model, input_uri, output_uri, **overrides):
    request = {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "MultiRecord",
    }
    for key, value in overrides.items():
        if key in ("SplitType", "ContentType", "CompressionType"):
            request["TransformInput"][key] = value
        elif key in ("Accept", "AssembleWith"):
            request["TransformOutput"][key] = value
        else:
            request[key] = value
    return request


def wire_answer(sm, operation: str, params: dict) -> dict:
    """``operation``'s answer as it travels (boto3 drops members its shape lacks, so the
    shape is checked on the wire), after checking it fits botocore's output shape."""
    response = urllib3.PoolManager(retries=False).request(
        "POST",
        sm.meta.endpoint_url + "/",
        body=orjson.dumps(params),
        headers={"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": JSON_11},
    )
    answer = orjson.loads(response.data)
    assert response.status == 200, answer
    violations = api_shapes.check(answer, api_shapes.output_shape(operation))
    assert not violations, f"{operation}: {api_shapes.validation_message(violations)}"
    return answer


def describe(sm, name) -> dict:
    wire_answer(sm, "DescribeTransformJob", {"TransformJobName": name})
    return sm.describe_transform_job(TransformJobName=name)


def wait_for(sm, name, statuses=TERMINAL) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        job = describe(sm, name)
        if job["TransformJobStatus"] in statuses:
            return job
        assert time.monotonic() < deadline, f"{name} still {job['TransformJobStatus']}"
        time.sleep(0.02)  # paces the polling; the deadline decides


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys_under(s3, bucket, prefix) -> list[str]:
    return [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


# ------------------------------------------------------------------------ records, batches


def packed(data: bytes, split: str, strategy: str, limit: int | None) -> list[tuple]:
    batches = mini_batches(Records.split(data, split), strategy, limit)
    return [(b.first, b.count, b.body) for b in batches]


def test_records_split_and_pack_at_their_edges():
    assert len(Records.split(b"", "Line")) == len(Records.split(b"", "None")) == 0
    assert packed(b"ab\ncd", "Line", "SingleRecord", None) == [(0, 1, b"ab\n"), (1, 1, b"cd")]
    assert packed(b"ab\n\ncd\n", "Line", "MultiRecord", None) == [(0, 3, b"ab\n\ncd\n")]
    # greedy: as many whole records as fit in 6 bytes, in order
    assert packed(b"aa\nbb\ncc\nd\n", "Line", "MultiRecord", 6) == [
        (0, 2, b"aa\nbb\n"),
        (2, 2, b"cc\nd\n"),
    ]
    assert packed(b"1234567", "None", "MultiRecord", 7) == [(0, 1, b"1234567")]
    with pytest.raises(RecordTooLarge) as big:
        list(mini_batches(Records.split(b"a\nbbbbbbbb\nc\n", "Line"), "MultiRecord", 4))
    assert (big.value.index, big.value.size, big.value.limit) == (1, 9, 4)
    frames = recordio_rows([[1.0], [2.0, 3.0]])
    records = Records.split(frames, "RecordIO")
    assert len(records) == 2 and records.data == frames  # whole records, framed as they came
    assert [b.body for b in mini_batches(records, "SingleRecord", None)] == [
        frames[: records.bounds[1]],
        frames[records.bounds[1] :],
    ]


# ------------------------------------------------------------------------------------ CSV


def test_csv_objects_in_mini_batches_of_max_payload_line_aligned(sm, s3, bucket, tmp_path):
    """Three objects; the big one (150,000 rows of 16 bytes, 2.3 MiB) is packed into
    mini-batches of at most 1 MiB = 65,536 rows; each .out line is its input line's answer."""
    run = unique("csv")
    objects = {
        f"{run}/in/part-00000.csv": [(i, 2 * i) for i in range(150_000)],
        f"{run}/in/part-00001.csv": [(7, 8), (9, 10)],
        f"{run}/in/sub/part-00002.csv": [(1_000_000 + i, i) for i in range(3)],
    }
    for key, rows in objects.items():
        s3.put_object(
            Bucket=bucket, Key=key, Body="".join(f"{a:07d},{b:07d}\n" for a, b in rows).encode()
        )
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    created = sm.create_transform_job(
        **job_request(
            run, model, f"s3://{bucket}/{run}/in/", f"s3://{bucket}/{run}/out", MaxPayloadInMB=1
        )
    )
    assert created["TransformJobArn"] == f"{ARN}:transform-job/{run}"
    job = wait_for(sm, run)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert "FailureReason" not in job
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    assert (job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (1, 1)

    assert keys_under(s3, bucket, f"{run}/out/") == [
        f"{run}/out/part-00000.csv.out",
        f"{run}/out/part-00001.csv.out",
        f"{run}/out/sub/part-00002.csv.out",
    ]
    for key, rows in objects.items():
        out_key = key.replace("/in/", "/out/") + ".out"
        lines = read(s3, bucket, out_key).decode().splitlines()
        assert len(lines) == len(rows), out_key
        assert [float(line.split(",")[0]) for line in lines] == [a + b for a, b in rows]
    big = read(s3, bucket, f"{run}/out/part-00000.csv.out").decode().splitlines()
    calls = [line.split(",")[1] for line in big]
    sizes = [calls.count(call) for call in dict.fromkeys(calls)]
    assert sizes == [65_536, 65_536, 18_928]  # 1 MiB / 16-byte rows, in order


def test_single_record_sends_one_line_per_request_and_assemble_none(sm, s3, bucket, tmp_path):
    run = unique("single")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/rows.csv", Body=b"1,1\n2,2\n3,3")
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/rows.csv",
            f"s3://{bucket}/{run}/out/",
            BatchStrategy="SingleRecord",
            AssembleWith="None",
        )
    )
    assert wait_for(sm, run)["TransformJobStatus"] == "Completed"
    # one request per record; answers concatenated as they came (no newline added)
    assert read(s3, bucket, f"{run}/out/rows.csv.out") == b"2.0,1.04.0,2.06.0,3.0"


def test_split_none_sends_objects_whole_gzip_and_too_large(sm, s3, bucket, tmp_path):
    run = unique("whole")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/a.csv.gz", Body=gzip.compress(b"1,2\n3,4\n"))
    s3.put_object(Bucket=bucket, Key=f"{run}/in/b.csv.gz", Body=gzip.compress(b"5,6\n" * 400_000))
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            SplitType="None",
            CompressionType="Gzip",
            MaxPayloadInMB=1,
        )
    )
    job = wait_for(sm, run)
    assert job["TransformJobStatus"] == "Failed"
    assert read(s3, bucket, f"{run}/out/a.csv.gz.out") == b"3.0,1.0\n7.0,1.0\n"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: See job logs for more information. 1 of 2 input")
    assert f"s3://{bucket}/{run}/in/b.csv.gz: ClientError: record 1 is 1600000 bytes" in reason
    assert "SplitType None sends each object whole" in reason
    assert keys_under(s3, bucket, f"{run}/out/") == [f"{run}/out/a.csv.gz.out"]


# ------------------------------------------------------------------------------- protobuf


def recordio_rows(rows) -> bytes:
    serializer = ProtobufRequestRowSerializer()
    return b"".join(serializer.serialize_row(Row(features=DenseVector(r))) for r in rows)


SUM_CALL = StructType([StructField("sum", DoubleType()), StructField("call", DoubleType())])


@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord"])
def test_recordio_protobuf_in_and_out(sm, s3, bucket, tmp_path, strategy):
    run = unique("proto")
    inputs = {"a.rec": [[1.0, 2.0], [3.0, 4.5], [-1.0, 0.25]], "b.rec": [[10.0, 20.0], [0.5, 0.5]]}
    for name, rows in inputs.items():
        s3.put_object(Bucket=bucket, Key=f"{run}/in/{name}", Body=recordio_rows(rows))
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            ContentType="application/x-recordio-protobuf",
            SplitType="RecordIO",
            Accept="application/x-recordio-protobuf",
            AssembleWith="None",
            BatchStrategy=strategy,
        )
    )
    assert wait_for(sm, run)["TransformJobStatus"] == "Completed"
    deserializer = ProtobufResponseRowDeserializer(SUM_CALL)
    answers = []
    for name, rows in inputs.items():
        got = list(deserializer.deserialize_response(read(s3, bucket, f"{run}/out/{name}.out")))
        assert [s for s, _ in got] == [sum(r) for r in rows]
        answers += got
    calls_a = [c for _, c in answers[:3]]
    calls_b = [c for _, c in answers[3:]]
    if strategy == "SingleRecord":  # five requests, one per record
        assert sorted(calls_a + calls_b) == [1.0, 2.0, 3.0, 4.0, 5.0]
    else:  # one request per object: both objects fit in 6 MB
        assert sorted({*calls_a, *calls_b}) == [1.0, 2.0]
        assert len(set(calls_a)) == 1 and len(set(calls_b)) == 1


# -------------------------------------------------------------------------------- failure


def test_a_job_that_fails_part_way_names_the_object_and_keeps_the_others(sm, s3, bucket, tmp_path):
    run = unique("fails")
    bodies = {
        "part-0.csv": b"1,2\n3,4\n",
        "part-1.csv": b"5,6\n7,abc\n9,10\n",
        "part-2.csv": b"1,1\n",
    }
    for name, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=f"{run}/in/{name}", Body=body)
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            BatchStrategy="SingleRecord",
        )
    )
    job = wait_for(sm, run)
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(
        "ClientError: See job logs for more information. 1 of 3 input objects could not be "
        "transformed and have no .out: "
    )
    assert (
        f"s3://{bucket}/{run}/in/part-1.csv: ClientError: 400: record 2: Message: CSV values"
        in reason
    )
    assert "abc" in reason
    assert keys_under(s3, bucket, f"{run}/out/") == [
        f"{run}/out/part-0.csv.out",
        f"{run}/out/part-2.csv.out",
    ]
    # one request per record, in order: part-0 took calls 1-2, part-1's first record call 3;
    # its bad record never reached the model and the record after it was not sent
    assert read(s3, bucket, f"{run}/out/part-2.csv.out") == b"2.0,4.0\n"
    summary = sm.list_transform_jobs(NameContains=run)["TransformJobSummaries"]
    assert [(s["TransformJobStatus"], s["FailureReason"]) for s in summary] == [("Failed", reason)]


def test_a_model_that_raises_is_an_algorithm_error_after_retries(sm, s3, bucket, tmp_path):
    run = unique("raises")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/x.csv", Body=b"1,2\n")
    model = make_model(
        sm,
        tmp_path,
        "CALLS = []\n\ndef predict(x):\n    CALLS.append(1)\n"
        "    raise RuntimeError(f'attempt {len(CALLS)}: weights missing')\n",
    )
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            ModelClientConfig={"InvocationsMaxRetries": 2},
        )
    )
    reason = wait_for(sm, run)["FailureReason"]
    assert reason.startswith("AlgorithmError: See job logs for more information. 1 of 1")
    assert "ServerError: 500: record 1: Message: RuntimeError: attempt 3: weights missing" in reason


def test_no_input_objects_and_unloadable_model(sm, s3, bucket, tmp_path):
    run = unique("empty")
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    sm.create_transform_job(
        **job_request(run, model, f"s3://{bucket}/{run}/nothing/", f"s3://{bucket}/{run}/out/")
    )
    reason = wait_for(sm, run)["FailureReason"]
    assert reason.startswith(
        f"ClientError: No S3 objects found under S3 URL 's3://{bucket}/{run}/nothing/'"
    )
    broken = make_model(sm, tmp_path, "def not_predict(x):\n    return x\n")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/x.csv", Body=b"1\n")
    sm.create_transform_job(
        **job_request(run + "-b", broken, f"s3://{bucket}/{run}/in/", f"s3://{bucket}/{run}/o/")
    )
    reason = wait_for(sm, run + "-b")["FailureReason"]
    assert reason.startswith(f"AlgorithmError: The model '{broken}' could not be loaded:")
    assert "no callable 'predict'" in reason


# ----------------------------------------------------------------------------------- stop


def test_stop_transform_job(sm, s3, bucket, tmp_path, gate):
    run = unique("stop")
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"{run}/in/part-{i}.csv", Body=f"{i},1\n".encode())
    model = make_model(sm, tmp_path, GATED_MODEL)
    sm.create_transform_job(
        **job_request(run, model, f"s3://{bucket}/{run}/in/", f"s3://{bucket}/{run}/out/")
    )
    assert gate.entered.wait(DEADLINE_S), "the first mini-batch never reached the model"
    assert describe(sm, run)["TransformJobStatus"] == "InProgress"
    assert sm.stop_transform_job(TransformJobName=run)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert describe(sm, run)["TransformJobStatus"] == "Stopping"
    stopping = sm.list_transform_jobs(StatusEquals="Stopping", NameContains=run)
    assert [s["TransformJobName"] for s in stopping["TransformJobSummaries"]] == [run]
    sm.stop_transform_job(TransformJobName=run)  # stopping a stopping job: nothing to do
    gate.release.set()
    job = wait_for(sm, run)
    assert job["TransformJobStatus"] == "Stopped"
    assert "FailureReason" not in job and job["TransformEndTime"] >= job["TransformStartTime"]
    # the object in flight finished and kept its .out; nothing after it was started
    assert keys_under(s3, bucket, f"{run}/out/") == [f"{run}/out/part-0.csv.out"]
    code, message = error_of(sm.stop_transform_job, TransformJobName=run)
    assert (code, message) == (
        "ValidationException",
        "The request was rejected because the transform job is in status Stopped.",
    )


def test_max_concurrent_transforms_runs_mini_batches_at_once(sm, s3, bucket, tmp_path, gate):
    run = unique("pairs")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/a.csv", Body=b"1,1\n2,2\n3,3\n4,4\n")
    model = make_model(sm, tmp_path, PAIRED_MODEL)
    sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            BatchStrategy="SingleRecord",
            MaxConcurrentTransforms=2,
        )
    )
    job = wait_for(sm, run)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, f"{run}/out/a.csv.out").decode().splitlines()
    assert [float(line.split(",")[0]) for line in lines] == [2.0, 4.0, 6.0, 8.0]  # in order
    assert max(float(line.split(",")[1]) for line in lines) == 2.0  # never more than two


# ------------------------------------------------------------------------ list, tags, shapes


def test_list_filters_sort_and_pages(sm, s3, bucket, tmp_path):
    run = unique("list")
    s3.put_object(Bucket=bucket, Key=f"{run}/good/x.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key=f"{run}/bad/x.csv", Body=b"oops\n")
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    names = [f"{run}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        source = "bad" if i in (1, 3) else "good"
        sm.create_transform_job(
            **job_request(
                name, model, f"s3://{bucket}/{run}/{source}/", f"s3://{bucket}/{run}/o{i}/"
            )
        )
        wait_for(sm, name)

    def listed(**kwargs):
        params = {"NameContains": run, **kwargs}
        for key, value in params.items():
            params[key] = value.timestamp() if hasattr(value, "timestamp") else value
        answer = wire_answer(sm, "ListTransformJobs", params)
        return [s["TransformJobName"] for s in answer["TransformJobSummaries"]]

    assert listed() == names[::-1]  # newest first, as AWS sorts by default
    assert listed(StatusEquals="Failed", SortOrder="Ascending") == [names[1], names[3]]
    assert listed(StatusEquals="Completed", SortBy="Name", SortOrder="Ascending") == [
        names[0],
        names[2],
        names[4],
    ]
    third = describe(sm, names[2])["CreationTime"]
    assert listed(CreationTimeAfter=third, SortOrder="Ascending") == names[3:]
    assert listed(CreationTimeBefore=third, SortOrder="Ascending") == names[:2]
    assert listed(SortBy="Status", SortOrder="Ascending") == [
        names[0],
        names[2],
        names[4],
        names[1],
        names[3],
    ]
    pages, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        page = sm.list_transform_jobs(
            NameContains=run, MaxResults=2, SortOrder="Ascending", **extra
        )
        pages.append([s["TransformJobName"] for s in page["TransformJobSummaries"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [names[:2], names[2:4], names[4:]]
    summary = sm.list_transform_jobs(NameContains=names[0])["TransformJobSummaries"][0]
    assert set(summary) == {
        "TransformJobName",
        "TransformJobArn",
        "CreationTime",
        "TransformEndTime",
        "LastModifiedTime",
        "TransformJobStatus",
    }
    code, message = error_of(sm.list_transform_jobs, StatusEquals="Done")
    assert code == "ValidationException" and "statusEquals" in message


def test_tags_on_create_and_after(sm, s3, bucket, tmp_path):
    run = unique("tags")
    s3.put_object(Bucket=bucket, Key=f"{run}/in/x.csv", Body=b"1,2\n")
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    arn = sm.create_transform_job(
        **job_request(
            run,
            model,
            f"s3://{bucket}/{run}/in/",
            f"s3://{bucket}/{run}/out/",
            Tags=[{"Key": "endpoint-serde:run-id", "Value": run}],
        )
    )["TransformJobArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "endpoint-serde:run-id", "Value": run},
        {"Key": "team", "Value": "ml"},
    ]
    wait_for(sm, run)


def test_create_validation_in_aws_wording(sm, bucket, tmp_path):
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    src, out = f"s3://{bucket}/v/in/", f"s3://{bucket}/v/out/"
    name = unique("valid")
    assert error_of(sm.create_transform_job, **job_request(name, "no-such-model", src, out)) == (
        "ValidationException",
        f'Could not find model "{ARN}:model/no-such-model".',
    )
    code, message = error_of(
        sm.create_transform_job, **job_request(name, model, src, out, MaxPayloadInMB=101)
    )
    assert (
        code == "ValidationException" and "MaxPayloadInMB must be at most 100; got 101" in message
    )
    code, message = error_of(
        sm.create_transform_job,
        **job_request(name, model, src, out, MaxPayloadInMB=20, MaxConcurrentTransforms=8),
    )
    assert code == "ValidationException" and "got 8 x 20 = 160" in message
    code, message = error_of(
        sm.create_transform_job, **job_request(name, model, src, out, SplitType="TFRecord")
    )
    assert code == "ValidationException"
    assert message.startswith("SplitType TFRecord is not supported by the local endpoint host")
    code, message = error_of(
        sm.create_transform_job,
        **job_request(name, model, src, out, DataCaptureConfig={"DestinationS3Uri": out}),
    )
    assert (code, message) == (
        "ValidationException",
        "DataCaptureConfig is not supported by the local endpoint host's transform jobs; it "
        "runs no data capture.",
    )
    code, message = error_of(
        sm.create_transform_job, **job_request(name, model, src, out, Accept="image/png")
    )
    assert code == "ValidationException" and "Accept 'image/png' is not supported" in message
    code, message = error_of(sm.create_transform_job, **job_request("bad_name", model, src, out))
    assert code == "ValidationException" and "transformJobName" in message
    with pytest.raises(ClientError):  # nothing was created by the refused calls
        sm.describe_transform_job(TransformJobName=name)
    sm.create_transform_job(**job_request(name, model, src, out))
    code, message = error_of(sm.create_transform_job, **job_request(name, model, src, out))
    assert code == "ResourceInUse"
    assert message.endswith(
        f"a transform job with this name already exists ({ARN}:transform-job/{name})"
    )
    wait_for(sm, name)
    for call in (sm.describe_transform_job, sm.stop_transform_job):
        assert error_of(call, TransformJobName="never-created") == (
            "ValidationException",
            "Could not find requested job with name never-created",
        )


def test_a_host_without_s3_data_refuses_jobs_saying_why(tmp_path):
    with LocalEndpointHost(**PYTHON_MODELS) as bare:
        sm = bare.sagemaker_client()
        model = make_model(sm, tmp_path, COUNTING_MODEL)
        code, message = error_of(
            sm.create_transform_job, **job_request("j", model, "s3://b/in/", "s3://b/out/")
        )
    assert code == "ValidationException" and "--s3-root" in message


def test_manifest_file_input(sm, s3, bucket, tmp_path):
    run = unique("manifest")
    s3.put_object(Bucket=bucket, Key=f"{run}/data/a.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key=f"{run}/data/skipped.csv", Body=b"100,200\n")
    s3.put_object(Bucket=bucket, Key=f"{run}/data/deep/b.csv", Body=b"3,4\n")
    manifest = f'[{{"prefix": "s3://{bucket}/{run}/data/"}}, "a.csv", "deep/b.csv"]'
    s3.put_object(Bucket=bucket, Key=f"{run}/input.manifest", Body=manifest.encode())
    model = make_model(sm, tmp_path, COUNTING_MODEL)
    request = job_request(
        run, model, f"s3://{bucket}/{run}/input.manifest", f"s3://{bucket}/{run}/out"
    )
    request["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile"
    sm.create_transform_job(**request)
    assert wait_for(sm, run)["TransformJobStatus"] == "Completed"
    assert keys_under(s3, bucket, f"{run}/out/") == [
        f"{run}/out/a.csv.out",
        f"{run}/out/deep/b.csv.out",
    ]


# ----------------------------------------------------------------------- restarts and moto


def test_a_job_interrupted_by_a_restart_is_failed_after_it(tmp_path):
    state = tmp_path / "state"
    first = LocalEndpointHost(s3_root=tmp_path / "s3", state_dir=state, start=False)
    with first, first.store.transaction() as store:
        store.resources["transform_jobs"]["cut-short"] = {
            "TransformJobName": "cut-short",
            "TransformJobArn": f"{ARN}:transform-job/cut-short",
            "TransformJobStatus": "InProgress",
            "ModelName": "m",
            "CreationTime": 1.0,
            "LastModifiedTime": 1.0,
        }
    with LocalEndpointHost(s3_root=tmp_path / "s3", state_dir=state) as second:
        job = second.sagemaker_client().describe_transform_job(TransformJobName="cut-short")
    assert job["TransformJobStatus"] == "Failed"
    assert "restarted while the job was running" in job["FailureReason"]


def test_a_job_on_a_host_in_its_own_process(tmp_path):
    """``endpoints-local serve --s3-root`` in a child process: staging, job and read-back all
    over its port, as a Spark job against LocalHostProcess would do it."""
    with LocalHostProcess(s3_root=tmp_path / "s3", **PYTHON_MODELS) as child:
        sm, s3 = child.sagemaker_client(), child.s3_client()
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="in/part-0.csv", Body=b"1,2\n3,4\n")
        model = make_model(sm, tmp_path, COUNTING_MODEL)
        sm.create_transform_job(**job_request("child", model, "s3://data/in/", "s3://data/out"))
        assert wait_for(sm, "child")["TransformJobStatus"] == "Completed"
        assert read(s3, "data", "out/part-0.csv.out") == b"3.0,1.0\n7.0,1.0\n"
    assert (tmp_path / "s3" / "data" / "out" / "part-0.csv.out").is_file()


def test_a_job_cut_short_by_the_host_stopping_ends_failed(tmp_path, gate):
    state = tmp_path / "state"
    host = LocalEndpointHost(s3_root=tmp_path / "s3", state_dir=state, **PYTHON_MODELS)
    with host:
        sm, s3 = host.sagemaker_client(), host.s3_client()
        s3.create_bucket(Bucket="data")
        for i in range(2):
            s3.put_object(Bucket="data", Key=f"in/part-{i}.csv", Body=b"1,2\n")
        model = make_model(sm, tmp_path, GATED_MODEL)
        sm.create_transform_job(**job_request("cut", model, "s3://data/in/", "s3://data/out/"))
        assert gate.entered.wait(DEADLINE_S)
        stopping = threading.Thread(target=host.stop)
        stopping.start()  # waits for the job, whose first mini-batch is held in the model
        run = host.transform_jobs._runs["cut"]
        assert run.stop.wait(DEADLINE_S)  # the shutdown reached the job
        gate.release.set()
        stopping.join(DEADLINE_S)
        assert not stopping.is_alive()
    with LocalEndpointHost(s3_root=tmp_path / "s3", state_dir=state, **PYTHON_MODELS) as again:
        job = again.sagemaker_client().describe_transform_job(TransformJobName="cut")
        assert job["TransformJobStatus"] == "Failed"
        assert job["FailureReason"].startswith(
            "InternalServerError: The local endpoint host stopped while the job was running"
        )
        assert keys_under(again.s3_client(), "data", "out/") == ["out/part-0.csv.out"]


def test_shapes_against_motos_and_a_job_on_motos_s3(tmp_path, moto_sagemaker_url):
    """moto as a second opinion: every key moto's Describe/List answer with a value is in
    ours; and a host whose S3 data is moto's S3 (--s3-endpoint-url) runs a job there."""
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    moto_sm = boto3.client(
        "sagemaker", endpoint_url=moto_sagemaker_url, region_name="us-east-1", **credentials
    )
    moto_s3 = boto3.client(
        "s3", endpoint_url=moto_sagemaker_url, region_name="us-east-1", **credentials
    )
    data = f"moto-{uuid.uuid4().hex[:8]}"
    moto_s3.create_bucket(Bucket=data)
    moto_s3.put_object(Bucket=data, Key="in/x.csv", Body=b"1,2\n3,4\n")
    with LocalEndpointHost(s3_endpoint_url=moto_sagemaker_url, **PYTHON_MODELS) as host:
        ours = host.sagemaker_client()
        name = unique("cmp")
        for side, client in enumerate((ours, moto_sm)):
            model = make_model(client, tmp_path / f"side-{side}", COUNTING_MODEL, name=name)
            client.create_transform_job(
                **job_request(name, model, f"s3://{data}/in/", f"s3://{data}/out/")
            )
        job = wait_for(ours, name)
        assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
        assert (
            moto_s3.get_object(Bucket=data, Key="out/x.csv.out")["Body"].read()
            == b"3.0,1.0\n7.0,1.0\n"
        )
        theirs = moto_sm.describe_transform_job(TransformJobName=name)
        set_by_moto = {
            k for k, v in theirs.items() if v not in ("", None) and k != "ResponseMetadata"
        }
        assert set_by_moto <= set(job), set_by_moto - set(job)
        for key in (
            "TransformJobArn",
            "TransformJobStatus",
            "ModelName",
            "BatchStrategy",
            "TransformInput",
            "TransformOutput",
            "TransformResources",
        ):
            assert job[key] == theirs[key], key
        mine = ours.list_transform_jobs(NameContains=name)["TransformJobSummaries"][0]
        theirs_summary = moto_sm.list_transform_jobs(NameContains=name)["TransformJobSummaries"][0]
        assert set(theirs_summary) <= set(mine)
        assert (
            error_of(ours.describe_transform_job, TransformJobName="nope")[0]
            == error_of(moto_sm.describe_transform_job, TransformJobName="nope")[0]
        )
