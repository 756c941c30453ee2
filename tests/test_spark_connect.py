"""Scoring through Spark Connect: a ``SparkConnectServer`` in its own JVM, a thin client
(``SparkSession.builder.remote``) in a driver subprocess, mapInArrow and
``SageMakerModel.transform`` with a registered custom SerDe, against the local endpoint host.

Everything the client sends — the scorer, the custom SerDe — is pickled on the client and
run by the server's Python workers, which never import this module.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import Row
from pyspark.sql.types import StructType
from spark_cluster import start_driver

from serde.base import RequestRowSerializer
from serde.csv import XGBoostCSVRowDeserializer
from serde.errors import SchemaValidationError
from serde.registry import register_serializer

pytestmark = pytest.mark.cluster

ROWS = 200_000
PARTITIONS = 8


@register_serializer("test-connect-scaled-csv")
class ScaledCSVSerializer(RequestRowSerializer):
    """A user's own SerDe: a CSV line of ``array<double>`` features, each times ``scale``."""

    content_type = "text/csv"

    def __init__(self, scale: float = 1.0, features_column_name: str = "features") -> None:
        self.scale = scale
        self.features_column_name = features_column_name

    def validate_schema(self, schema: StructType) -> None:
        if self.features_column_name not in schema.names:
            raise SchemaValidationError(
                f"expected a column {self.features_column_name!r} of array<double>, found "
                f"only {schema.names}; name the features column with features_column_name"
            )

    def serialize_row(self, row: Row) -> bytes:
        values = row[self.features_column_name]
        return (",".join(repr(float(v) * self.scale) for v in values) + "\n").encode()


def scaled_ids(batches):
    for batch in batches:
        ids = batch.column(0).to_numpy()
        yield pa.RecordBatch.from_arrays([pa.array(ids), pa.array(ids * 0.5)], ["id", "half"])


def connect_job(spark, params: dict) -> dict:
    """On a Spark Connect session: a plain mapInArrow job, then a transform with the custom
    SerDe; reports counts and exactness of both."""
    from pyspark.sql import functions as F

    from endpoints.scoring.model import SageMakerModel

    ids = spark.range(0, params["rows"], 1, params["partitions"])
    plain = ids.mapInArrow(scaled_ids, "id long, half double").toArrow()

    model = SageMakerModel.from_endpoint(
        params["endpoint"],
        ScaledCSVSerializer(scale=2.0),
        XGBoostCSVRowDeserializer(),
        endpoint_url=params["endpoint_url"],
        region="us-east-1",
        max_batch_records=1000,
    )
    features = ids.withColumn("features", F.array((F.col("id") % 1000).cast("double"), F.lit(0.25)))
    scored = model.transform(features).select("id", "prediction").toArrow()
    return {
        "session_class": type(spark).__module__,
        "plain": exactness(plain, "half", lambda i: i * 0.5),
        "transform": exactness(scored, "prediction", lambda i: 2.0 * (i % 1000) + 0.5),
        "metrics_available": model.last_metrics is not None,
    }


def exactness(table: pa.Table, column: str, expected) -> dict:
    ids = table.column("id").to_numpy()
    values = table.column(column).to_numpy()
    return {
        "rows": len(ids),
        "ids_in_order": bool(np.array_equal(ids, np.arange(len(ids)))),
        "max_abs_error": float(np.max(np.abs(values - expected(ids)))),
    }


SUM_MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x, float).sum(axis=1)\n"


@pytest.fixture(scope="module")
def connect_result(spark_connect_server, local_host, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("connect-sum-model")
    (model_dir / "model.py").write_text(SUM_MODEL)
    local_host.deploy_local(
        "connect-sum",
        model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    params = {
        "rows": ROWS,
        "partitions": PARTITIONS,
        "endpoint": "connect-sum",
        "endpoint_url": local_host.url,
    }
    driver = start_driver(
        connect_job,
        remote=spark_connect_server.url,
        params=params,
        work_dir=tmp_path_factory.mktemp("connect-driver"),
    )
    return driver.wait(240)


def test_client_is_a_spark_connect_session(connect_result, spark_connect_server):
    assert connect_result["session_class"] == "pyspark.sql.connect.session"
    assert spark_connect_server.url.startswith("sc://127.0.0.1:")


def test_map_in_arrow_through_spark_connect(connect_result):
    assert connect_result["plain"] == {"rows": ROWS, "ids_in_order": True, "max_abs_error": 0.0}


def test_transform_with_registered_custom_serde_through_spark_connect(connect_result):
    assert connect_result["transform"] == {
        "rows": ROWS,
        "ids_in_order": True,
        "max_abs_error": 0.0,
    }
    # Spark Connect has no accumulators: metrics are documented as unavailable there
    assert connect_result["metrics_available"] is False
