"""Endpoint or transform job? The same 1,000,000 rows scored both ways on the local host.

Both paths use the same model (the row sum, a Python model on the local endpoint host, in
its own process), the same SerDes (CSV out, one prediction per row back) and the same
input (Spark ML vectors from VectorAssembler, cached, 4 partitions). Every prediction of
both is checked against numpy's. Rounds alternate the two paths; the table shows medians
and the ratio within the run. The transform-job time is split into staging (a Spark job
writing the rows to S3), the job itself (CreateTransformJob to Completed) and reading the
answers back (the action that writes the scored DataFrame).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    MODEL_ROOT,
    SUM_MODEL,
    check_parquet,
    deploy_python_model,
    engine_model,
    expected_sums,
    spark_session,
    table,
)
from _reference_runner import vector_frame

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROUNDS = 3
PARTITIONS = 4
BUCKET = "bench-staging"


def batch_model(host, model_dir: Path):
    from endpoints.batch import BatchTransform
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    return SageMakerModel.from_batch_transform(
        BatchTransform(
            instance_type="ml.m5.xlarge",
            staging_uri=f"s3://{BUCKET}/runs/",
            max_concurrent_transforms=4,
            poll_interval_s=0.25,
        ),
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        model_path=model_dir.as_uri(),
        model_image="local/python:1",
        model_execution_role_arn="arn:aws:iam::123456789012:role/bench",
        model_environment_variables={
            "ENDPOINT_SERDE_RUNTIME": "python",
            "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict",
        },
        sagemaker_client=host.sagemaker_client(),
        endpoint_url=host.url,
        region="us-east-1",
    )


def main() -> None:
    spark = spark_session()
    expected = expected_sums(ROWS)
    df = vector_frame(spark, ROWS, PARTITIONS)
    endpoint_s: list[float] = []
    batch_s: list[float] = []
    phases: list[tuple[float, float, float]] = []
    from endpoints.local import LocalHostProcess

    s3_root = tempfile.mkdtemp(prefix="bench-batch-s3-")
    with LocalHostProcess(s3_root, model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        deploy_python_model(host, "bench-batch-endpoint")
        host.s3_client().create_bucket(Bucket=BUCKET)
        model_dir = Path(tempfile.mkdtemp(prefix="bench-batch-model-", dir=MODEL_ROOT))
        (model_dir / "model.py").write_text(SUM_MODEL)
        out = tempfile.mkdtemp(prefix="bench-batch-out-")
        for round_number in range(ROUNDS):
            online = engine_model(host.url, "bench-batch-endpoint")
            started = time.perf_counter()
            online.transform(df).write.mode("overwrite").parquet(f"{out}/endpoint")
            endpoint_s.append(time.perf_counter() - started)
            problem = check_parquet(f"{out}/endpoint", expected)
            if problem:
                raise SystemExit(f"endpoint path, round {round_number}: {problem}")

            batch = batch_model(host, model_dir)
            started = time.perf_counter()
            scored = batch.transform(df)  # stages, runs the job, waits
            ran = time.perf_counter()
            scored.write.mode("overwrite").parquet(f"{out}/batch")
            done = time.perf_counter()
            batch_s.append(done - started)
            problem = check_parquet(f"{out}/batch", expected)
            if problem:
                raise SystemExit(f"transform job, round {round_number}: {problem}")
            job = host.sagemaker_client().describe_transform_job(
                TransformJobName=batch.created_resources.transform_job_name
            )
            job_s = (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds()
            phases.append((ran - started - job_s, job_s, done - ran))
    spark.stop()

    endpoint_median = statistics.median(endpoint_s)
    batch_median = statistics.median(batch_s)
    staging, job, readback = (statistics.median(p[i] for p in phases) for i in range(3))
    print(
        f"\n{ROWS:,} rows x 10 doubles (VectorAssembler, cached, {PARTITIONS} partitions), "
        f"CSV, row-sum Python model on the local host; median of {ROUNDS} alternating rounds, "
        "every prediction checked\n"
    )
    print(
        table(
            ["path", "seconds", "rows/s", "vs endpoint"],
            [
                [
                    "endpoint (invoke_endpoint, 8 in flight per partition)",
                    endpoint_median,
                    ROWS / endpoint_median,
                    "1.00",
                ],
                [
                    "transform job (stage + job + read back)",
                    batch_median,
                    ROWS / batch_median,
                    f"{endpoint_median / batch_median:.2f}",
                ],
            ],
        )
    )
    print(
        f"\ntransform job phases (median): staging {staging:.2f} s, job {job:.2f} s "
        f"(MaxConcurrentTransforms 4), read back {readback:.2f} s"
    )


if __name__ == "__main__":
    main()
