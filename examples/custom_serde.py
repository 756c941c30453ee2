"""The seed use case: your own SerDe for a TensorFlow Serving style model, written two ways.

The model answers ``{"predictions": [[p0, p1], ...]}``. A user writes two small classes —
a CSV serializer whose rows end in "\\n" and a JSON deserializer into an array column —
registers them by name, and uses them in a Pipeline that is saved, loaded and applied again.

The per-row way (``serialize_row``, ``deserialize_response``) is the shortest to write.
The batch way (``FeatureMatrixSerializer.serialize_matrix`` over a numpy matrix,
``ColumnsDeserializer.deserialize_columns`` into columns) is as short and runs at close to
the built-ins' speed (``benchmarks/bench_serde_custom.py``); both score the same rows alike.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import orjson
from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from serde import (
    ColumnsDeserializer,
    FeatureMatrixSerializer,
    RequestRowSerializer,
    ResponseParseError,
    ResponseRowDeserializer,
    register_deserializer,
    register_serializer,
)


def probabilities_schema(column: str) -> StructType:
    return StructType([StructField(column, ArrayType(DoubleType()))])


# -- the per-row way: one call per row ---------------------------------------------------


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
        return probabilities_schema(self.column)

    def deserialize_response(self, body: bytes):
        try:
            predictions = orjson.loads(body)["predictions"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ResponseParseError(f"expected {{'predictions': [...]}}: {exc}", body) from exc
        for p in predictions:
            yield ([float(v) for v in p],)


# -- the batch way: one call per batch of rows -------------------------------------------


@register_serializer("example-csv-batch")
class MyBatchCSVSerializer(FeatureMatrixSerializer):
    """The same lines for a whole batch: one orjson call spells every number (as repr()
    does, but for exponents: ``1e-7`` for ``1e-07``, the same double). Null or NaN
    features never reach serialize_matrix: the library reports those rows on their own."""

    content_type = "text/csv"
    records_end_with = b"\n"  # so serialize_matrix may return all lines as one bytes

    def serialize_matrix(self, features: np.ndarray) -> bytes:
        matrix = orjson.dumps(features, option=orjson.OPT_SERIALIZE_NUMPY)  # b"[[0.5,1.0],[...]]"
        return matrix[2:-2].replace(b"],[", b"\n") + b"\n"


@register_deserializer("example-predictions-batch")
class MyBatchPredictionsDeserializer(ColumnsDeserializer):
    """``{"predictions": [[0.1, 0.9], ...]}`` → the ``array<double>`` column, in one call;
    the library builds the Arrow column and turns any exception into a parse error."""

    accepts = "application/json"

    def __init__(self, column: str = "probabilities") -> None:
        self.column = column

    @property
    def schema(self) -> StructType:
        return probabilities_schema(self.column)

    def deserialize_columns(self, body: bytes) -> dict:
        return {self.column: orjson.loads(body)["predictions"]}


# A softmax over two logits: a stand-in for a Keras classifier behind TF Serving.
MODEL = """
import numpy as np

def predict(x):
    x = np.asarray(x, dtype=float)
    logits = np.stack([x.sum(axis=1), -x.sum(axis=1)], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
"""


def score_saved_and_loaded(df, host, serializer, deserializer) -> list:
    """Scores ``df`` with a fitted Pipeline, saves it, loads it and scores again."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import VectorAssembler

    from endpoints.scoring.model import SageMakerModel

    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=["height", "weight"], outputCol="features"),
            SageMakerModel.from_endpoint(
                "tf-style-classifier",
                request_row_serializer=serializer,
                response_row_deserializer=deserializer,
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
        PipelineModel.load(path).transform(df).select("height", "weight", "probabilities")
    ).collect()
    assert again == first, "the loaded pipeline must score exactly like the original"
    return again


def main() -> None:
    from endpoints.local import LocalEndpointHost

    spark = local_spark()
    model_dir = python_model_dir(MODEL, "custom-serde-model")
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        host.deploy_local(
            "tf-style-classifier",
            model_dir,
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        df = spark.createDataFrame(
            [(0.5, -0.25), (1.0, 1.0), (-2.0, 0.5), (0.0, 0.0)], ["height", "weight"]
        )
        per_row = score_saved_and_loaded(df, host, MyCSVSerializer(), MyPredictionsDeserializer())
        for row in per_row:
            print(
                f"height={row.height:5.2f} weight={row.weight:5.2f} "
                f"probabilities=[{row.probabilities[0]:.4f}, {row.probabilities[1]:.4f}]"
            )
        print("loaded pipeline scored the same rows identically")
        batch = score_saved_and_loaded(
            df, host, MyBatchCSVSerializer(), MyBatchPredictionsDeserializer()
        )
        assert batch == per_row, "the batch-way SerDes must score like the per-row ones"
        print("the batch-way SerDes scored every row as the per-row ones did")
    spark.stop()


if __name__ == "__main__":
    main()
