"""transform(df) as a Batch Transform job on the local endpoint host, over real HTTP: rows
staged to the host's S3 API, CreateTransformJob, the job's .out objects read back beside
their rows. Equal to the endpoint path, in order; CSV and protobuf; per-row and per-object
errors; a job that fails part-way; what is recorded for cleanup."""

from __future__ import annotations

import uuid

import pytest
from pyspark.ml.feature import VectorAssembler

from endpoints.batch import BatchTransform
from endpoints.errors import ConfigurationError, TransformJobError
from endpoints.lifecycle.naming import NamePolicy
from endpoints.scoring.model import SageMakerModel
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer
from serde.json import JSONRequestRowSerializer
from serde.protobuf import ProtobufRequestRowSerializer, ProtobufResponseRowDeserializer

ROLE = "arn:aws:iam::123456789012:role/test"
PYTHON_ENV = {"ENDPOINT_SERDE_RUNTIME": "python"}
BUCKET = "batch-staging"

#: Each row's sum, and -1 as a poison value the model refuses (its whole mini-batch fails).
SUM_MODEL = """
import numpy as np

def predict(x):
    x = np.asarray(x)
    if (x[:, 0] == -1).any():
        raise ValueError("poisoned row")
    return x.sum(axis=1)
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("batch-model")
    (directory / "model.py").write_text(SUM_MODEL)
    return directory


@pytest.fixture(scope="module")
def staging(local_host):
    local_host.s3_client().create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/runs/"


def batch_model(
    local_host, model_dir, staging, serializer=None, deserializer=None, backend=None, **kwargs
):
    backend = {"poll_interval_s": 0.5, **(backend or {})}
    backend = BatchTransform(instance_type="ml.m5.large", staging_uri=staging, **backend)
    return SageMakerModel.from_batch_transform(
        backend,
        serializer or UnlabeledCSVRequestRowSerializer(),
        deserializer or XGBoostCSVRowDeserializer(),
        model_path=model_dir.as_uri(),
        model_image="local/python:1",
        model_execution_role_arn=ROLE,
        model_environment_variables=PYTHON_ENV,
        sagemaker_client=local_host.sagemaker_client(),
        endpoint_url=local_host.url,
        name_policy=NamePolicy(f"bt-{uuid.uuid4().hex[:6]}"),
        **kwargs,
    )


def keys(local_host, prefix: str) -> list[str]:
    page = local_host.s3_client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in page.get("Contents", ()))


def test_vectors_scored_by_a_job_equal_the_endpoint_path_in_order(
    spark, local_host, model_dir, staging
):
    raw = spark.createDataFrame(
        [(i, float(i), float(i % 7), 0.5) for i in range(8_000)], ["id", "a", "b", "c"]
    ).repartition(4)
    df = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(raw).cache()
    model = batch_model(local_host, model_dir, staging, backend={"max_object_mb": 1})
    scored = model.transform(df)  # the job has run when this returns
    created = model.created_resources
    job = local_host.sagemaker_client().describe_transform_job(
        TransformJobName=created.transform_job_name
    )
    assert job["TransformJobStatus"] == "Completed"
    assert job["TransformInput"]["SplitType"] == "Line"
    rows = scored.collect()
    assert [r.id for r in rows] == [r.id for r in df.collect()]  # the input's own order
    assert all(r.prediction == r.id + r.id % 7 + 0.5 for r in rows)
    # actions that read some rows get theirs: a filter Spark pushes below the read-back
    # UDF, a limit that stops a partition early
    picked = scored.filter("id % 997 = 3").collect()
    assert [r.id for r in picked] == [r.id for r in rows if r.id % 997 == 3]
    assert all(r.prediction == r.id + r.id % 7 + 0.5 for r in picked)
    assert all(r.prediction == r.id + r.id % 7 + 0.5 for r in scored.limit(7).collect())
    assert "__endpoint_serde_row" not in scored.columns
    # the endpoint path, on an endpoint serving the same model, answers the same
    local_host.deploy_local("batch-vs-endpoint", model_dir, environment=PYTHON_ENV)
    online = SageMakerModel.from_endpoint(
        "batch-vs-endpoint",
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=local_host.url,
        region="us-east-1",
    ).transform(df)
    assert [r.prediction for r in online.collect()] == [r.prediction for r in rows]
    # what was created: the model, the job, and one prefix holding input and output
    assert created.model_name and created.run_id
    (prefix,) = created.s3_prefixes
    assert prefix == f"s3://{BUCKET}/runs/{created.transform_job_name}/"
    staged = keys(local_host, f"runs/{created.transform_job_name}/")
    inputs = [k for k in staged if "/input/" in k]
    assert len(inputs) >= 4  # one object per partition at least; 1 MiB objects split more
    assert sorted(k for k in staged if "/output/" in k) == sorted(
        k.replace("/input/", "/output/") + ".out" for k in inputs
    )


def test_protobuf_records_through_a_job(spark, local_host, model_dir, staging):
    df = spark.createDataFrame(
        [(i, [float(i), 2.0]) for i in range(3_000)], ["id", "features"]
    ).repartition(3)
    model = batch_model(
        local_host,
        model_dir,
        staging,
        serializer=ProtobufRequestRowSerializer(),
        deserializer=ProtobufResponseRowDeserializer("score double", protobuf_keys=["score"]),
    )
    rows = model.transform(df).collect()
    assert [r.score for r in rows] == [r.id + 2.0 for r in rows]
    assert [r.id for r in rows] == [r.id for r in df.collect()]
    job = local_host.sagemaker_client().describe_transform_job(
        TransformJobName=model.created_resources.transform_job_name
    )
    assert (job["TransformInput"]["SplitType"], job["TransformOutput"]["AssembleWith"]) == (
        "RecordIO",
        "None",
    )


def test_a_job_that_fails_part_way_names_its_reason_and_objects(
    spark, local_host, model_dir, staging
):
    # partition 1 holds the poisoned row: its object gets no .out, the others do
    df = spark.createDataFrame(
        [(i, [-1.0 if i == 1_500 else float(i), 1.0]) for i in range(3_000)], ["id", "features"]
    ).repartition(3, "id")
    failing = batch_model(local_host, model_dir, staging)
    with pytest.raises(TransformJobError) as info:
        failing.transform(df)
    error = info.value
    assert "ended Failed" in str(error) and "Input objects without output (1 of 3)" in str(error)
    assert len(error.objects) == 1 and error.objects[0].startswith(f"s3://{BUCKET}/runs/")
    assert "Use on_error='column'" in str(error)

    kept = batch_model(local_host, model_dir, staging, on_error="column")
    rows = kept.transform(df).collect()
    failed = [r for r in rows if r.error is not None]
    poisoned = next(r for r in rows if r.id == 1_500)
    assert poisoned in failed
    assert {r.error.kind for r in failed} == {"transform_job"}
    assert all("wrote no output for s3://" in r.error.message for r in failed)
    assert {r.prediction for r in failed} == {None}
    good = [r for r in rows if r.error is None]
    assert len(good) + len(failed) == 3_000 and len(good) >= 1_000
    assert all(r.prediction == r.id + 1.0 for r in good)


def test_rows_the_format_cannot_carry_are_their_own_errors(spark, local_host, model_dir, staging):
    df = spark.createDataFrame(
        [(i, None if i in (3, 40) else [float(i), 1.0]) for i in range(60)],
        "id long, features array<double>",
    ).coalesce(1)
    model = batch_model(local_host, model_dir, staging, on_error="column")
    rows = model.transform(df).collect()
    assert [r.id for r in rows] == list(range(60))
    assert [r.id for r in rows if r.error is not None] == [3, 40]
    assert {r.error.kind for r in rows if r.error is not None} == {"serialization"}
    assert all(r.prediction == r.id + 1.0 for r in rows if r.error is None)


def test_formats_a_job_cannot_split_are_refused_before_anything_is_created(
    spark, local_host, model_dir, staging
):
    df = spark.createDataFrame([(1, [1.0, 2.0])], ["id", "features"])
    model = batch_model(local_host, model_dir, staging, serializer=JSONRequestRowSerializer())
    with pytest.raises(ConfigurationError, match="cannot split into one record per row"):
        model.transform(df)
    assert not model.created_resources
    with pytest.raises(ConfigurationError, match="expected an S3 URI"):
        BatchTransform(instance_type="ml.m5.large", staging_uri="bucket/prefix")
    with pytest.raises(ConfigurationError, match="max_payload_mb"):
        BatchTransform(instance_type="ml.m5.large", staging_uri=staging, max_payload_mb=0)


SLOW_MODEL = """
import time
import numpy as np

def predict(x):
    time.sleep(0.5)  # each mini-batch: the job outlives a short wait_timeout_s
    return np.asarray(x).sum(axis=1)
"""


def test_a_job_past_its_wait_timeout_is_stopped_and_the_transform_fails(
    spark, local_host, staging, tmp_path, caplog
):
    (tmp_path / "model.py").write_text(SLOW_MODEL)
    model = batch_model(
        local_host,
        tmp_path,
        staging,
        # 40 records, 0.5 s each: 20 s of work
        backend={"batch_strategy": "SingleRecord", "wait_timeout_s": 1.0, "poll_interval_s": 0.25},
    )
    df = spark.createDataFrame([(i, [float(i)]) for i in range(40)], ["id", "features"])
    df = df.coalesce(1)  # one object
    caplog.set_level("INFO", logger="endpoints.batch")
    with pytest.raises(TransformJobError, match=r"still InProgress after \d+s.*it was stopped"):
        model.transform(df)
    name = model.created_resources.transform_job_name
    sm = local_host.sagemaker_client()
    status = sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]
    assert status in ("Stopping", "Stopped")  # nothing left running
    progress = [r.getMessage() for r in caplog.records if "objects answered" in r.getMessage()]
    assert (
        progress and progress[0] == f"transform job {name}: InProgress, 0 of 1 objects answered, 0s"
    )
