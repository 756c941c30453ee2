"""Quick start: score a DataFrame on an existing endpoint with the built-in CSV SerDes.

Against the local endpoint host (started here, with a small Python model deployed on it)
this runs anywhere; against AWS, drop ``endpoint_url`` and name your real endpoint.
"""

from __future__ import annotations

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir

MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


def main() -> None:
    from pyspark.ml.linalg import Vectors

    from endpoints.local import LocalEndpointHost
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    spark = local_spark()
    model_dir = python_model_dir(MODEL, "quickstart-model")
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        # an endpoint that already exists (here: deployed on the local host)
        host.deploy_local(
            "quickstart",
            model_dir,
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        df = spark.createDataFrame(
            [(i, Vectors.dense([float(i), 0.5, -1.0])) for i in range(10)], ["id", "features"]
        )
        model = SageMakerModel.from_endpoint(
            "quickstart",
            request_row_serializer=UnlabeledCSVRequestRowSerializer(),
            response_row_deserializer=XGBoostCSVRowDeserializer(),
            endpoint_url=host.url,  # omit on AWS
            region="us-east-1",
        )
        scored = model.transform(df)
        rows = scored.collect()
        assert [r.prediction for r in rows] == [i - 0.5 for i in range(10)]
        print(
            f"scored {len(rows)} rows in {df.rdd.getNumPartitions()} partition(s) with "
            f"{model.last_metrics.requests} request(s)"
        )
        scored.show(truncate=False)
    spark.stop()


if __name__ == "__main__":
    main()
