"""The same transform on a Structured Streaming DataFrame, over TF Serving's REST path with
a JSON SerDe, and inside a Pipeline that is saved and loaded with registered SerDes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

from endpoints.clients.http import HttpEndpoint
from endpoints.retry import RetryPolicy
from endpoints.scoring.model import SageMakerModel
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer
from serde.json import JSONPredictionsResponseRowDeserializer, JSONRequestRowSerializer

DOUBLE_MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1) * 2\n"


@pytest.fixture(scope="module")
def double_endpoint(local_host, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("double-model")
    (model_dir / "model.py").write_text(DOUBLE_MODEL)
    local_host.deploy_local(
        "engine-double",
        model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    return "engine-double"


def test_streaming_query_scores_every_micro_batch(spark, local_host, double_endpoint, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for part in range(3):
        lines = [json.dumps({"id": part * 100 + i, "x": float(i), "y": 0.5}) for i in range(100)]
        (source / f"part-{part}.json").write_text("\n".join(lines))
    stream = (
        spark.readStream.schema("id long, x double, y double")
        .option("maxFilesPerTrigger", 1)
        .json(str(source))
    )
    model = SageMakerModel.from_endpoint(
        double_endpoint,
        UnlabeledCSVRequestRowSerializer(features_column_name=["x", "y"]),
        XGBoostCSVRowDeserializer(),
        endpoint_url=local_host.url,
        region="us-east-1",
    )
    query = (
        model.transform(stream)
        .writeStream.format("memory")
        .queryName("scored_stream")
        .outputMode("append")
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    rows = spark.sql("select id, x, y, prediction from scored_stream order by id").collect()
    assert [r.id for r in rows] == list(range(300))
    assert all(r.prediction == pytest.approx((r.x + r.y) * 2) for r in rows)
    assert model.last_metrics.rows == 300


def test_tf_serving_rest_path_with_json_serde(spark, local_host, double_endpoint):
    endpoint = HttpEndpoint.tf_serving(local_host.url, double_endpoint)
    model = SageMakerModel(
        endpoint=endpoint,
        request_row_serializer=JSONRequestRowSerializer(features_column_name="features"),
        response_row_deserializer=JSONPredictionsResponseRowDeserializer("score double"),
        retry_policy=RetryPolicy(max_attempts=3, backoff_base_s=0.01),
    )
    df = spark.range(0, 5000, 1, 3).withColumn(
        "features", F.array(F.col("id").cast("double"), F.lit(1.5))
    )
    table = model.transform(df).select("id", "score").toArrow()
    ids = table.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(5000))
    np.testing.assert_allclose(table.column("score").to_numpy(), (ids + 1.5) * 2)


def test_pipeline_with_registered_serdes_saves_loads_and_scores(
    spark, local_host, double_endpoint, tmp_path
):
    df = spark.createDataFrame([(float(i), float(i) / 2) for i in range(200)], "a double, b double")
    assembler = VectorAssembler(inputCols=["a", "b"], outputCol="features")
    model = SageMakerModel.from_endpoint(
        double_endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(prediction_column_name="doubled"),
        endpoint_url=local_host.url,
        region="us-east-1",
        max_in_flight=3,
    )
    fitted = Pipeline(stages=[assembler, model]).fit(df)
    before = [r.doubled for r in fitted.transform(df).collect()]
    path = str(tmp_path / "pipeline")
    fitted.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    stage = loaded.stages[1]
    assert isinstance(stage, SageMakerModel)
    assert stage.getOrDefault(stage.maxInFlight) == 3
    assert stage.response_row_deserializer.schema.names == ["doubled"]
    after = [r.doubled for r in loaded.transform(df).collect()]
    assert after == before == [(i + i / 2) * 2 for i in range(200)]
