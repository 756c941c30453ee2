"""A SageMaker built-in algorithm endpoint (KMeans-style), spoken to in RecordIO protobuf.

Built-in algorithms (KMeans, PCA, LDA, LinearLearner, FactorizationMachines) read and write
Amazon's "aialgs" Record protobuf framed in RecordIO. The local host serves a KMeans-like
model whose outputs are named like the algorithm's labels (``closest_cluster``,
``distance_to_cluster``); ``ProtobufRequestRowSerializer`` and
``KMeansProtobufResponseRowDeserializer`` do the rest, as in sagemaker_pyspark.
"""

from __future__ import annotations

import sys

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir

KMEANS = """
import numpy as np

CENTERS = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])

def predict(x):
    x = np.asarray(x, dtype=float)
    d = np.linalg.norm(x[:, None, :] - CENTERS[None, :, :], axis=2)
    return {"closest_cluster": d.argmin(axis=1).astype(float), "distance_to_cluster": d.min(axis=1)}
"""


def main() -> int:
    from pyspark.ml.linalg import Vectors

    from endpoints.local import LocalEndpointHost
    from endpoints.scoring.model import SageMakerModel
    from serde.protobuf import KMeansProtobufResponseRowDeserializer, ProtobufRequestRowSerializer

    spark = local_spark()
    model_dir = python_model_dir(KMEANS, "kmeans-model")
    points = [(0.5, -0.5), (9.0, 11.0), (-9.5, 4.0), (1.0, 1.0), (11.0, 9.5), (-12.0, 6.0)]
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        host.deploy_local(
            "kmeans-like",
            model_dir,
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        df = spark.createDataFrame(
            [(i, Vectors.dense(p)) for i, p in enumerate(points)], ["id", "features"]
        )
        model = SageMakerModel.from_endpoint(
            "kmeans-like",
            request_row_serializer=ProtobufRequestRowSerializer(),
            response_row_deserializer=KMeansProtobufResponseRowDeserializer(),
            endpoint_url=host.url,
            region="us-east-1",
        )
        rows = model.transform(df).orderBy("id").collect()
        for r in rows:
            print(
                f"id={r.id} features={r.features.toArray().tolist()} "
                f"closest_cluster={r.closest_cluster:.0f} "
                f"distance_to_cluster={r.distance_to_cluster:.3f}"
            )
    spark.stop()
    clusters = [int(r.closest_cluster) for r in rows]
    ok = clusters == [0, 1, 2, 0, 1, 2]
    print("protobuf example", "OK" if ok else f"FAILED: {clusters}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
