"""The transform's data path on Spark: only the serializer's columns cross into Python,
ML vectors as the format needs them, results beside the input columns — and every row sent
exactly once per action, counted by the server (a real local endpoint host whose model
writes down each row id it scores)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StructField, StructType

from endpoints.clients.mock import MockEndpoint
from endpoints.scoring.model import SageMakerModel
from endpoints.scoring.spark_plan import declared_vector_width
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer
from serde.libsvm import UnlabeledLibSVMRequestRowSerializer

ROW_LOG_MODEL = """
import numpy as np

def predict(x):
    x = np.asarray(x, dtype=float)
    with open({log!r}, "a") as f:
        f.write("".join(f"{{int(v)}}\\n" for v in x[:, 0]))
    return x.sum(axis=1)
"""


def deploy_row_log_endpoint(host, name: str, folder) -> Callable[[], Counter]:
    """Deploys ``name``: a model that appends the first feature (the row id) of every row
    it scores to a file. Returns a function reading and clearing the ids logged so far."""
    log = folder / "ids.log"
    (folder / "model.py").write_text(ROW_LOG_MODEL.format(log=str(log)))
    host.deploy_local(
        name,
        folder,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )

    def take_ids() -> Counter:
        ids = Counter(int(v) for v in log.read_text().split()) if log.exists() else Counter()
        log.unlink(missing_ok=True)
        return ids

    return take_ids


@pytest.fixture(scope="module")
def logged(local_host, tmp_path_factory):
    """(endpoint name, take_ids) of a row-logging endpoint."""
    return "row-log", deploy_row_log_endpoint(
        local_host, "row-log", tmp_path_factory.mktemp("row-log-model")
    )


def vectors_df(spark, rows: int, partitions: int = 3):
    """id, note, and ``features`` = VectorAssembler([id, id % 5, 0.25]), cached."""
    df = spark.range(0, rows, 1, partitions).selectExpr(
        "id", "cast(id as double) as x0", "cast(id % 5 as double) as x1", "0.25 as x2",
        "concat('row-', id) as note",
    )  # fmt: skip
    assembled = VectorAssembler(inputCols=["x0", "x1", "x2"], outputCol="features").transform(df)
    return assembled.select("id", "note", "features").cache()


def model_on(host, endpoint: str, **options) -> SageMakerModel:
    return SageMakerModel.from_endpoint(
        endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=host.url,
        region="us-east-1",
        **options,
    )


def test_vectors_are_scored_in_order_each_row_once(spark, local_host, logged):
    endpoint, take_ids = logged
    df = vectors_df(spark, 5000)
    # sorted on the driver: orderBy would score twice (Spark's sampling job runs the plan)
    rows = sorted(model_on(local_host, endpoint).transform(df).collect())
    assert [r.prediction for r in rows] == [i + i % 5 + 0.25 for i in range(5000)]
    assert [r.note for r in rows] == [f"row-{i}" for i in range(5000)]
    assert take_ids() == Counter(range(5000))


def test_only_the_features_cross_into_python_and_narrow_vectors_as_arrays(spark, local_host):
    df = vectors_df(spark, 10)
    assert declared_vector_width(df.schema["features"]) == 3
    scored = model_on(local_host, "row-log").transform(df)
    plan = scored._jdf.queryExecution().executedPlan().toString()
    assert "ArrowEvalPython" in plan
    python_inputs = plan.split("ArrowEvalPython")[1].split("\n")[0]
    assert "features" in python_inputs and "note" not in python_inputs
    assert "vector_to_array" in python_inputs or "UDF(features" in python_inputs
    assert scored.columns == ["id", "note", "features", "prediction"]


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda out: out.select("id", "prediction").collect(), id="some-columns"),
        pytest.param(lambda out: out.filter("prediction > 100").collect(), id="filter-after"),
        pytest.param(lambda out: out.groupBy().sum("prediction").collect(), id="aggregate"),
    ],
)
def test_each_action_sends_each_row_exactly_once(spark, local_host, logged, action):
    endpoint, take_ids = logged
    out = model_on(local_host, endpoint).transform(vectors_df(spark, 3000))
    action(out)
    assert take_ids() == Counter(range(3000))


def test_a_cached_result_is_scored_once_for_many_actions(spark, local_host, logged):
    endpoint, take_ids = logged
    model = model_on(local_host, endpoint)
    out = model.transform(vectors_df(spark, 2000)).cache()
    assert out.count() == 2000
    assert out.filter("prediction > 1000").count() == sum(
        1 for i in range(2000) if i + i % 5 + 0.25 > 1000
    )
    assert take_ids() == Counter(range(2000))
    assert model.last_metrics.rows == 2000
    out.unpersist()


def test_without_prepend_only_results_come_back_in_order(spark, local_host, logged):
    endpoint, take_ids = logged
    df = vectors_df(spark, 500, partitions=1)
    out = model_on(local_host, endpoint, prepend_result_rows=False).transform(df)
    assert out.columns == ["prediction"]
    assert [r.prediction for r in out.collect()] == [i + i % 5 + 0.25 for i in range(500)]
    assert take_ids() == Counter(range(500))


def test_wide_sparse_vectors_cross_sparse_for_libsvm(spark):
    def count_pairs(request):  # defined here: pickled by value for the Python workers
        """A model answering, per line, how many ``index:value`` pairs it was sent."""
        lines = request.body.decode().splitlines()
        return "".join(f"{len(line.split()) - 1}\n" for line in lines).encode()

    width = 2**20
    data = [(i, SparseVector(width, [i, width - 1 - i], [1.0, 2.0])) for i in range(50)]
    data.append((50, SparseVector(width, [], [])))
    schema = StructType([StructField("id", LongType()), StructField("features", VectorUDT())])
    df = spark.createDataFrame(data, schema)
    model = SageMakerModel(
        endpoint=MockEndpoint(count_pairs),
        request_row_serializer=UnlabeledLibSVMRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
    )
    rows = model.transform(df).orderBy("id").collect()
    # the whole path kept each vector's two entries: nothing was densified on the way
    assert [r.prediction for r in rows] == [2.0] * 50 + [0.0]


def test_vectors_of_unknown_width_reach_dense_formats_intact(spark):
    """No ML attribute metadata (createDataFrame): the JVM must not densify, the
    serializer does, sparse and dense rows alike."""

    def first_three(request):
        lines = request.body.decode().splitlines()
        return "".join(f"{sum(map(float, line.split(',')[:3]))}\n" for line in lines).encode()

    df = spark.createDataFrame(
        [(0, Vectors.dense([1.0, 2.0, 3.0, 4.0])), (1, Vectors.sparse(4, [1], [5.0]))],
        StructType([StructField("id", LongType()), StructField("features", VectorUDT())]),
    )
    assert declared_vector_width(df.schema["features"]) is None
    model = SageMakerModel(
        endpoint=MockEndpoint(first_three),
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
    )
    assert [r.prediction for r in model.transform(df).orderBy("id").collect()] == [6.0, 5.0]


def test_array_features_and_other_columns_keep_their_values(spark, local_host, logged):
    endpoint, take_ids = logged
    df = spark.range(0, 100, 1, 2).select(
        "id",
        F.array(F.col("id").cast(DoubleType()), F.lit(1.0)).alias("features"),
        F.struct(F.col("id").alias("inner")).alias("nested"),
    )
    rows = sorted(model_on(local_host, endpoint).transform(df).collect())
    assert [(r.nested.inner, r.prediction) for r in rows] == [(i, i + 1.0) for i in range(100)]
    assert take_ids() == Counter(range(100))


def test_two_input_columns_and_a_struct_of_results_with_errors(spark):
    """Labeled LibSVM reads two columns (two UDF arguments); an error column makes the
    UDF return a struct, expanded beside the input columns."""
    from serde.libsvm import LibSVMRequestRowSerializer

    def label_plus_pairs(request):  # the label, plus how many pairs the line carries
        lines = request.body.decode().splitlines()
        return "".join(f"{float(ln.split()[0]) + len(ln.split()) - 1}\n" for ln in lines).encode()

    df = spark.createDataFrame(
        [(i, float(i), Vectors.sparse(8, [i % 8], [1.0])) for i in range(20)]
        + [(20, None, Vectors.dense([1.0] * 8))],
        StructType(
            [
                StructField("id", LongType()),
                StructField("label", DoubleType()),
                StructField("features", VectorUDT()),
            ]
        ),
    )
    model = SageMakerModel(
        endpoint=MockEndpoint(label_plus_pairs),
        request_row_serializer=LibSVMRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
        on_error="column",
    )
    out = model.transform(df)
    assert out.columns == ["id", "label", "features", "prediction", "error"]
    rows = sorted(out.collect())
    assert [r.prediction for r in rows[:20]] == [i + 1.0 for i in range(20)]
    assert rows[20].prediction is None and rows[20].error.kind == "serialization"
    assert all(r.error is None for r in rows[:20])
