"""Score a DataFrame with a Batch Transform job instead of a live endpoint, then clean up.

A transform job bills only while it runs: for a nightly job over many rows, no endpoint
stays up between runs. The same SerDes as on an endpoint; ``transform`` stages the rows to
S3, runs the job, waits, and returns the scored DataFrame. Here the local endpoint host plays
SageMaker and S3; on AWS, drop ``endpoint_url`` and use your bucket and role.
"""

from __future__ import annotations

import tempfile

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir

MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
ROWS = 100_000


def main() -> None:
    from pyspark.ml.feature import VectorAssembler

    from endpoints import SageMakerResourceCleanup
    from endpoints.batch import BatchTransform
    from endpoints.local import LocalEndpointHost
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    spark = local_spark()
    model_dir = python_model_dir(MODEL, "batch-transform-model")
    s3_root = tempfile.mkdtemp(prefix="batch-transform-s3-")  # the host's S3 (on AWS: S3)
    with LocalEndpointHost(
        s3_root=s3_root, model_roots=[MODEL_ROOT], allow_python_models=True
    ) as host:
        sm, s3 = host.sagemaker_client(), host.s3_client()
        s3.create_bucket(Bucket="nightly")
        raw = spark.range(ROWS).selectExpr("id", "id * 0.5 as a", "id % 7 as b")
        df = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(raw)

        model = SageMakerModel.from_batch_transform(
            BatchTransform(
                instance_type="ml.m5.xlarge",
                instance_count=1,
                staging_uri="s3://nightly/endpoint-serde/",
                poll_interval_s=1.0,
            ),
            UnlabeledCSVRequestRowSerializer(),
            XGBoostCSVRowDeserializer(),
            model_path=model_dir.as_uri(),  # on AWS: s3://.../model.tar.gz
            model_image="local/python:1",  # on AWS: the inference image
            model_execution_role_arn="arn:aws:iam::123456789012:role/SageMakerRole",
            model_environment_variables={"ENDPOINT_SERDE_RUNTIME": "python", **PYTHON_MODEL_ENV},
            sagemaker_client=sm,
            endpoint_url=host.url,  # omit on AWS
            region="us-east-1",
        )
        scored = model.transform(df)  # the job has run when this returns
        rows = scored.orderBy("id").collect()
        assert [r.prediction for r in rows[:3]] == [0.0, 1.5, 3.0]
        assert all(r.prediction == r.a + r.b for r in rows)
        created = model.created_resources
        print(f"scored {len(rows)} rows with transform job {created.transform_job_name}")
        scored.select("id", "prediction").show(5)

        report = SageMakerResourceCleanup(sm, s3_client=s3).delete_resources(created)
        print(report)
        assert sm.list_models(NameContains=created.model_name)["Models"] == []
        assert s3.list_objects_v2(Bucket="nightly").get("KeyCount", 0) == 0
    spark.stop()


if __name__ == "__main__":
    main()
