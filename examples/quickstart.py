"""Quick start: score a DataFrame on an existing endpoint with the built-in CSV SerDes.

Against the local endpoint host (started here, with a small Python model deployed on it)
this runs anywhere; against AWS, drop ``endpoint_url`` and name your real endpoint.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


def main() -> None:
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession

    from endpoints.local import LocalEndpointHost
    from endpoints.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    model_dir = Path(tempfile.mkdtemp(prefix="quickstart-model-"))
    (model_dir / "model.py").write_text(MODEL)
    with LocalEndpointHost() as host:
        # an endpoint that already exists (here: deployed on the local host)
        host.deploy_local(
            "quickstart",
            model_dir,
            runtime="python",
            environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
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
