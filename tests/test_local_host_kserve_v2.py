"""The local host speaks KServe V2: its routes over real HTTP, and the V2 SerDes scoring a
DataFrame through ``HttpEndpoint.kserve_v2`` against it, faults included."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import urllib3
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

from endpoints.clients.http import HttpEndpoint
from endpoints.local import FaultSpec
from endpoints.retry import RetryPolicy
from endpoints.scoring.model import SageMakerModel
from serde.kserve_v2 import KServeV2RequestRowSerializer, KServeV2ResponseRowDeserializer

# One array in: a label and two scores per row. Named inputs: a sum and a string output.
MODEL = """
import numpy as np

def predict(x):
    if isinstance(x, dict):
        return {"total": x["age"] + x["income"], "city": np.char.upper(x["city"])}
    sums = x.sum(axis=1)
    return {"label": (sums > 10).astype(np.int64), "scores": np.column_stack([sums, x[:, 0] * 2])}
"""


@pytest.fixture(scope="module")
def v2_endpoint(local_host):
    model_dir = local_host.s3_root / "v2-models" / "python"  # the host reads under its roots
    model_dir.mkdir(parents=True)
    (model_dir / "model.py").write_text(MODEL)
    for name in ("v2-model", "v2-faulty"):
        local_host.deploy_local(
            name,
            model_dir,
            runtime="python",
            environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
        )
    return "v2-model"


@pytest.fixture(scope="module")
def http():
    pool = urllib3.PoolManager(retries=False, timeout=30)
    yield lambda method, path, body=None: pool.request(
        method, path, body=body, headers={"Content-Type": "application/json"}
    )
    pool.clear()


def test_infer_answers_every_output_as_a_tensor_of_its_shape(local_host, v2_endpoint, http):
    request = {
        "id": "req-1",
        "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 9, 9, 9]}],
    }
    answer = http("POST", f"{local_host.url}/v2/models/{v2_endpoint}/infer", orjson.dumps(request))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert orjson.loads(answer.data) == {
        "model_name": v2_endpoint,
        "id": "req-1",
        "outputs": [
            {"name": "label", "shape": [2], "datatype": "INT64", "data": [0, 1]},
            {"name": "scores", "shape": [2, 2], "datatype": "FP64", "data": [6.0, 2.0, 27.0, 18.0]},
        ],
    }
    request["outputs"] = [{"name": "scores"}]  # only what is asked for; nested data reads too
    request["inputs"][0]["data"] = [[1, 2, 3], [9, 9, 9]]
    versioned = f"{local_host.url}/v2/models/{v2_endpoint}/versions/1/infer"
    assert [
        o["name"]
        for o in orjson.loads(http("POST", versioned, orjson.dumps(request)).data)["outputs"]
    ] == ["scores"]


def test_named_inputs_including_strings(local_host, v2_endpoint, http):
    request = {
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "INT32", "data": [30, 41]},
            {"name": "income", "shape": [2], "datatype": "FP32", "data": [0.5, 1.5]},
            {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["oslo", "rome"]},
        ]
    }
    answer = http("POST", f"{local_host.url}/v2/models/{v2_endpoint}/infer", orjson.dumps(request))
    assert orjson.loads(answer.data)["outputs"] == [
        {"name": "total", "shape": [2], "datatype": "FP64", "data": [30.5, 42.5]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["OSLO", "ROME"]},
    ]


def test_health_readiness_and_metadata(local_host, v2_endpoint, http):
    url = local_host.url
    assert orjson.loads(http("GET", f"{url}/v2/health/ready").data) == {"ready": True}
    assert orjson.loads(http("GET", f"{url}/v2/health/live").data) == {"live": True}
    assert http("GET", f"{url}/v2/models/{v2_endpoint}/ready").status == 200
    metadata = orjson.loads(http("GET", f"{url}/v2/models/{v2_endpoint}").data)
    assert metadata == {
        "name": v2_endpoint,
        "versions": [],
        "platform": "python",
        "inputs": [],
        "outputs": [],
    }
    missing = http("GET", f"{url}/v2/models/no-such-model/ready")
    assert (missing.status, orjson.loads(missing.data)) == (
        404,
        {"error": "Model no-such-model is not ready: no InService endpoint of that name."},
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"instances": [[1, 2]]}', 400, 'Expected a V2 inference request {"inputs": ['),
        (
            b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2]}]}',
            400,
            "Input 'x' has shape [2, 2] (4 values) but its data holds 2.",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": ["a"]}]}',
            400,
            "Input 'x' is INT64: its data must be integers.",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1]}],'
            b' "outputs": [{"name": "proba"}]}',
            400,
            "The request asks for outputs ['proba']; the model's outputs are ['label', 'scores'].",
        ),
        (b"{", 400, "Request body is not valid JSON"),
    ],
)
def test_bad_requests_get_4xx_with_what_was_expected(
    local_host, v2_endpoint, http, body, status, message
):
    answer = http("POST", f"{local_host.url}/v2/models/{v2_endpoint}/infer", body)
    assert answer.status == status
    assert message in orjson.loads(answer.data)["error"]


def test_unknown_model_and_route(local_host, v2_endpoint, http):
    unknown = http("POST", f"{local_host.url}/v2/models/nope/infer", b"{}")
    assert unknown.status == 404
    wrong_method = http("DELETE", f"{local_host.url}/v2/models/{v2_endpoint}")
    assert wrong_method.status == 405
    assert (
        "this host serves POST /v2/models/<name>[/versions/<v>]/infer"
        in (orjson.loads(wrong_method.data)["error"])
    )


# -- scoring a DataFrame -------------------------------------------------------------------


def _features_df(spark, rows: int):
    df = spark.range(0, rows, 1, 3).select(
        "id",
        (F.col("id") % 7).cast("double").alias("a"),
        (F.col("id") / 1000).alias("b"),
        F.lit(0.25).alias("c"),
    )
    return VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(df)


def test_spark_scores_a_dataframe_through_the_v2_serdes(spark, local_host, v2_endpoint):
    rows = 3_000
    model = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(local_host.url, v2_endpoint),
        request_row_serializer=KServeV2RequestRowSerializer(outputs=["label", "scores"]),
        response_row_deserializer=KServeV2ResponseRowDeserializer(
            "label bigint, scores array<double>"
        ),
        max_batch_records=400,
    )
    out = model.transform(_features_df(spark, rows)).select("id", "label", "scores").toArrow()
    ids = out.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(rows))  # order kept
    a, b = (ids % 7).astype(float), ids / 1000
    sums = a + b + 0.25
    assert out.column("label").to_pylist() == (sums > 10).astype(int).tolist()
    assert out.column("scores").to_pylist() == np.column_stack([sums, a * 2]).tolist()
    assert model.last_metrics.rows == rows
    assert model.last_metrics.bodies >= rows // 400


def test_spark_input_per_column_and_per_row_errors(spark, local_host, v2_endpoint):
    df = spark.createDataFrame(
        [(i, i, float(i) / 4, "oslo" if i % 2 else "rome") for i in range(40)]
        + [(40, 40, float("nan"), "x"), (41, 41, 1.0, None)],
        "id long, age int, income double, city string",
    )
    model = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(local_host.url, v2_endpoint),
        request_row_serializer=KServeV2RequestRowSerializer(
            input_mapping=["age", "income", "city"]
        ),
        response_row_deserializer=KServeV2ResponseRowDeserializer(
            "total double, city_upper string", output_mapping={"city": "city_upper"}
        ),
        on_error="column",
        max_batch_records=16,
    )
    rows = model.transform(df).collect()  # in input order: partitions keep it
    assert [(r.id, r.total, r.city_upper) for r in rows[:40]] == [
        (i, i + i / 4, "OSLO" if i % 2 else "ROME") for i in range(40)
    ]
    assert all(r.error is None for r in rows[:40])
    # messages name the row by its place in its partition: "row 19, column ..."
    assert [(r.error.kind, r.error.message.split(", ", 1)[1]) for r in rows[40:]] == [
        (
            "serialization",
            "column 'income': value is nan; JSON has no NaN or Infinity: fill or drop such "
            "values before scoring",
        ),
        ("serialization", "column 'city': value is null"),
    ]
    assert all(r.total is None and r.city_upper is None for r in rows[40:])


def test_a_short_v2_answer_is_a_count_mismatch_never_a_shift(spark, local_host, v2_endpoint):
    faulty = "v2-faulty"
    local_host.set_faults(faulty, FaultSpec(wrong_count_rate=1.0, seed=1, max_faults=1))
    try:
        model = SageMakerModel(
            endpoint=HttpEndpoint.kserve_v2(local_host.url, faulty),
            request_row_serializer=KServeV2RequestRowSerializer(),
            response_row_deserializer=KServeV2ResponseRowDeserializer("label bigint"),
            on_error="column",
            max_batch_records=100,
            max_in_flight=1,
            retry_policy=RetryPolicy(max_attempts=2, backoff_base_s=0.01),
        )
        df = _features_df(spark, 300).coalesce(1)
        out = model.transform(df).select("id", "label", "error").toArrow()
    finally:
        local_host.set_faults(faulty, None)
    errors = out.column("error").to_pylist()
    assert [e["kind"] if e else None for e in errors] == ["count_mismatch"] * 100 + [None] * 200
    assert "99 results for 100 rows" in errors[0]["message"]
    ids = out.column("id").to_numpy()
    sums = (ids % 7) + ids / 1000 + 0.25
    assert out.column("label").to_pylist()[100:] == (sums[100:] > 10).astype(int).tolist()
    assert model.last_metrics.errors["count_mismatch"] == 1
