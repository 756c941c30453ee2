"""The seed use case: your own SerDe for a TensorFlow Serving style model.

The model answers ``{"predictions": [[p0, p1], ...]}``. A user writes two small classes —
a CSV serializer whose rows end in "\\n" and a JSON deserializer into an array column —
registers them by name, and uses them in a Pipeline that is saved, loaded and applied again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from _local import PYTHON_MODEL_ENV, local_spark, python_model_dir
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from serde import (
    RequestRowSerializer,
    ResponseParseError,
    ResponseRowDeserializer,
    register_deserializer,
    register_serializer,
)


@register_serializer("example-csv")
class MyCSVSerializer(RequestRowSerializer):
    """One line per row: the features, comma-separated, ending in a newline."""

    content_type = "text/csv"

    def __init__(self, features_column_name: str = "features") -> None:
        self.features_column_name = features_column_name

    def serialize_row(self, row) -> bytes:
        values = row[self.features_column_name]
        if values is None:
            raise ValueError(f"{self.features_column_name} is null")
        return (",".join(repr(float(v)) for v in values) + "\n").encode()


@register_deserializer("example-predictions")
class MyPredictionsDeserializer(ResponseRowDeserializer):
    """``{"predictions": [[0.1, 0.9], ...]}`` → one ``array<double>`` per row."""

    accepts = "application/json"

    def __init__(self, column: str = "probabilities") -> None:
        self.column = column

    @property
    def schema(self) -> StructType:
        return StructType([StructField(self.column, ArrayType(DoubleType()))])

    def deserialize_response(self, body: bytes):
        try:
            predictions = orjson.loads(body)["predictions"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ResponseParseError(f"expected {{'predictions': [...]}}: {exc}", body) from exc
        for p in predictions:
            yield ([float(v) for v in p],)


# A softmax over two logits: a stand-in for a Keras classifier behind TF Serving.
MODEL = """
import numpy as np

def predict(x):
    x = np.asarray(x, dtype=float)
    logits = np.stack([x.sum(axis=1), -x.sum(axis=1)], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
"""


def main() -> None:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import VectorAssembler

    from endpoints.local import LocalEndpointHost
    from endpoints.scoring.model import SageMakerModel

    spark = local_spark()
    model_dir = python_model_dir(MODEL, "custom-serde-model")
    with LocalEndpointHost() as host:
        host.deploy_local(
            "tf-style-classifier",
            model_dir,
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        df = spark.createDataFrame(
            [(0.5, -0.25), (1.0, 1.0), (-2.0, 0.5), (0.0, 0.0)], ["height", "weight"]
        )
        pipeline = Pipeline(
            stages=[
                VectorAssembler(inputCols=["height", "weight"], outputCol="features"),
                SageMakerModel.from_endpoint(
                    "tf-style-classifier",
                    request_row_serializer=MyCSVSerializer(),
                    response_row_deserializer=MyPredictionsDeserializer(),
                    endpoint_url=host.url,
                    region="us-east-1",
                ),
            ]
        )
        fitted = pipeline.fit(df)
        first = fitted.transform(df).select("height", "weight", "probabilities").collect()
        path = str(Path(tempfile.mkdtemp(prefix="custom-serde-pipeline-")) / "pipeline")
        fitted.write().overwrite().save(path)
        print(f"saved pipeline to {path}; the SerDes are stored by their registered names")
        again = (
            PipelineModel.load(path)
            .transform(df)
            .select("height", "weight", "probabilities")
            .collect()
        )
        for row in again:
            print(
                f"height={row.height:5.2f} weight={row.weight:5.2f} "
                f"probabilities=[{row.probabilities[0]:.4f}, {row.probabilities[1]:.4f}]"
            )
        assert again == first, "the loaded pipeline must score exactly like the original"
        print("loaded pipeline scored the same rows identically")
    spark.stop()


if __name__ == "__main__":
    main()
