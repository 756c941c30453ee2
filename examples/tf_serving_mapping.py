"""Input and output name mapping on TF Serving's REST API, like TensorFlowOnSpark's
Scala inference: DataFrame columns → model input names, model outputs → columns.

The model (served by the local host on ``/v1/models/{name}:predict``) has two named inputs
and two named outputs. The request is ``{"instances": [{"age": .., "income": ..}, ...]}``;
each prediction is an object ``{"risk": .., "scores": [..]}``, mapped back to columns.
"""

from __future__ import annotations

import sys

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir

MODEL = """
import numpy as np

def predict(inputs):
    age = np.asarray(inputs["age"], dtype=float).reshape(-1)
    income = np.asarray(inputs["income"], dtype=float).reshape(-1)
    risk = age / 100.0 - income / 1e6
    return {"risk": risk, "scores": np.stack([risk, 1.0 - risk], axis=1)}
"""


def main() -> int:

    from endpoints.clients.http import HttpEndpoint
    from endpoints.local import LocalEndpointHost
    from endpoints.scoring.model import SageMakerModel
    from serde.json import JSONPredictionsResponseRowDeserializer, JSONRequestRowSerializer

    spark = local_spark()
    model_dir = python_model_dir(MODEL, "tfs-mapping-model")
    people = [(1, 30.0, 50_000.0), (2, 65.0, 20_000.0), (3, 45.0, 250_000.0)]
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        host.deploy_local(
            "risk",
            model_dir,
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        df = spark.createDataFrame(people, ["customer_id", "customer_age", "yearly_income"])
        model = SageMakerModel(
            endpoint=HttpEndpoint.tf_serving(host.url, "risk"),
            request_row_serializer=JSONRequestRowSerializer(
                input_mapping={"customer_age": "age", "yearly_income": "income"}
            ),
            response_row_deserializer=JSONPredictionsResponseRowDeserializer(
                "risk_score double, class_scores array<double>",
                output_mapping={"risk": "risk_score", "scores": "class_scores"},
            ),
        )
        rows = model.transform(df).orderBy("customer_id").collect()
        for r in rows:
            print(
                f"customer {r.customer_id}: risk_score={r.risk_score:.4f} "
                f"class_scores={[round(v, 4) for v in r.class_scores]}"
            )
    spark.stop()
    expected = [age / 100.0 - income / 1e6 for _, age, income in people]
    ok = all(abs(r.risk_score - e) < 1e-9 for r, e in zip(rows, expected))
    print("tf serving mapping example", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
