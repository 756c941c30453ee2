"""SageMakerModel.transform end to end: local SparkSession + the local endpoint host over
real HTTP, a real Python model. Order, values, prepend, faults, bisection, back-pressure."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pyspark.sql import functions as F

from endpoints.errors import ConfigurationError
from endpoints.local import FaultSpec
from endpoints.retry import RetryPolicy
from endpoints.scoring.model import SageMakerModel
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

FAST_RETRY = RetryPolicy(max_attempts=12, backoff_base_s=0.005, backoff_max_s=0.05)
POISON = -999.0

SUM_MODEL = f"""
import numpy as np

def predict(x):
    x = np.asarray(x, dtype=float)
    if (x == {POISON}).any():
        raise ValueError("poisoned row: feature value {POISON}")
    return x.sum(axis=1)
"""


@pytest.fixture(scope="module")
def sum_endpoint(local_host, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("sum-model")
    (model_dir / "model.py").write_text(SUM_MODEL)
    local_host.deploy_local(
        "engine-sum",
        model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    yield "engine-sum"
    local_host.set_faults("engine-sum", None)


@pytest.fixture
def clean_faults(local_host, sum_endpoint):
    local_host.set_faults(sum_endpoint, None)
    yield
    local_host.set_faults(sum_endpoint, None)


def make_model(host, endpoint, **options):
    options.setdefault("retry_policy", FAST_RETRY)
    return SageMakerModel.from_endpoint(
        endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=host.url,
        region="us-east-1",
        **options,
    )


def features_df(spark, rows, partitions=4, poison_ids=()):
    df = spark.range(0, rows, 1, partitions).withColumn(
        "features",
        F.array(
            (F.col("id") % 101).cast("double") / 4.0,
            (F.col("id") % 7).cast("double") - 3.0,
            F.lit(0.125),
        ),
    )
    if poison_ids:
        df = df.withColumn(
            "features",
            F.when(
                F.col("id").isin(list(poison_ids)), F.array(F.lit(POISON), F.lit(0.0), F.lit(0.0))
            ).otherwise(F.col("features")),
        )
    return df


def expected_sum(ids):
    ids = np.asarray(ids)
    return (ids % 101) / 4.0 + (ids % 7) - 3.0 + 0.125


def test_order_and_values_over_many_partitions(spark, local_host, sum_endpoint, clean_faults):
    rows = 120_000
    model = make_model(local_host, sum_endpoint, max_batch_records=700)
    out = model.transform(features_df(spark, rows, partitions=8)).select("id", "prediction")
    table = out.toArrow()
    ids = table.column("id").to_numpy()
    # same order as the input (range is ordered), nothing lost, nothing duplicated
    assert np.array_equal(ids, np.arange(rows))
    np.testing.assert_allclose(table.column("prediction").to_numpy(), expected_sum(ids))
    m = model.last_metrics
    assert m.rows == rows and m.rows_failed == 0
    assert m.requests == m.bodies >= rows // 700
    assert m.partitions == 8


def test_prepend_result_rows_false_returns_only_results(spark, local_host, sum_endpoint):
    model = make_model(local_host, sum_endpoint, prepend_result_rows=False)
    out = model.transform(features_df(spark, 1000, partitions=2))
    assert out.columns == ["prediction"]
    values = [r.prediction for r in out.collect()]
    np.testing.assert_allclose(values, expected_sum(np.arange(1000)))


def test_output_column_clash_is_a_clear_error_before_any_job(spark, local_host, sum_endpoint):
    model = make_model(local_host, sum_endpoint)
    df = features_df(spark, 10).withColumn("prediction", F.lit(1.0))
    with pytest.raises(ConfigurationError, match=r"\['prediction'\] already exist"):
        model.transform(df)


def test_schema_error_names_the_column_before_any_job(spark, local_host, sum_endpoint):
    model = make_model(local_host, sum_endpoint)
    df = spark.range(3).withColumn("features", F.lit("text"))
    with pytest.raises(ValueError, match="features"):
        model.transform(df)


def test_bisection_isolates_one_poisoned_row_among_10000(spark, local_host, sum_endpoint):
    rows, bad = 10_000, 4321
    model = make_model(local_host, sum_endpoint, on_error="column", max_batch_records=1000)
    out = model.transform(features_df(spark, rows, partitions=2, poison_ids=[bad])).toArrow()
    assert out.num_rows == rows
    ids = out.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(rows))
    errors = out.column("error").to_pylist()
    failed = [i for i, e in enumerate(errors) if e is not None]
    assert failed == [bad]
    assert errors[bad]["kind"] == "model"
    assert errors[bad]["status"] == 424
    assert "poisoned row" in errors[bad]["message"]
    predictions = out.column("prediction").to_pylist()
    assert predictions[bad] is None
    good = np.array([i for i in range(rows) if i != bad])
    np.testing.assert_allclose(np.array(predictions)[good].astype(float), expected_sum(good))
    assert model.last_metrics.bisections >= 10  # log2(1000) splits down to one row


def test_poisoned_row_fails_the_task_by_default_naming_rows(spark, local_host, sum_endpoint):
    model = make_model(local_host, sum_endpoint, max_batch_records=100)
    df = features_df(spark, 500, partitions=1, poison_ids=[250])
    with pytest.raises(Exception, match=r"partition 0, rows 200\.\.299") as info:
        model.transform(df).collect()
    assert "poisoned row" in str(info.value)


def test_null_features_row_goes_to_the_error_column(spark, local_host, sum_endpoint):
    df = features_df(spark, 300, partitions=1).withColumn(
        "features", F.when(F.col("id") == 7, F.lit(None)).otherwise(F.col("features"))
    )
    model = make_model(local_host, sum_endpoint, on_error="column")
    rows = model.transform(df).collect()
    assert len(rows) == 300
    assert [r.id for r in rows if r.error is not None] == [7]
    assert rows[7].error.kind == "serialization"
    assert "null" in rows[7].error.message
    assert rows[8].prediction == pytest.approx(float(expected_sum([8])[0]))


FAULTS = [
    pytest.param(FaultSpec(latency_ms=5, seed=1), id="latency"),
    pytest.param(
        FaultSpec(throttle_rate=0.3, throttle_kind="ThrottlingException", seed=2, max_faults=60),
        id="throttling-exception",
    ),
    pytest.param(
        FaultSpec(throttle_rate=0.3, throttle_kind="ModelNotReady", seed=3, max_faults=60),
        id="model-not-ready",
    ),
    pytest.param(FaultSpec(error_rate=0.3, error_status=500, seed=4, max_faults=60), id="500"),
    pytest.param(FaultSpec(error_rate=0.3, error_status=503, seed=5, max_faults=60), id="503"),
    pytest.param(FaultSpec(drop_rate=0.2, seed=6, max_faults=30), id="dropped-connection"),
]


@pytest.mark.parametrize("faults", FAULTS)
def test_transient_faults_are_retried_and_nothing_is_lost(
    spark, local_host, sum_endpoint, clean_faults, faults
):
    rows = 20_000
    local_host.set_faults(sum_endpoint, faults)
    model = make_model(local_host, sum_endpoint, max_batch_records=250)
    table = model.transform(features_df(spark, rows, partitions=2)).toArrow()
    ids = table.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(rows))
    np.testing.assert_allclose(table.column("prediction").to_numpy(), expected_sum(ids))
    m = model.last_metrics
    if faults.latency_ms:
        assert m.total_retries == 0
    else:
        assert m.total_retries > 0
        assert m.requests == m.bodies + m.total_retries


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        (FaultSpec(wrong_count_rate=1.0, wrong_count_delta=-1, seed=7, max_faults=1), "count"),
        (FaultSpec(wrong_count_rate=1.0, wrong_count_delta=1, seed=8, max_faults=1), "count"),
        (FaultSpec(malformed_rate=1.0, seed=9, max_faults=1), "parse"),
    ],
    ids=["one-too-few", "one-too-many", "malformed"],
)
def test_bad_responses_never_shift_rows(
    spark, local_host, sum_endpoint, clean_faults, faults, kind
):
    rows = 2_000
    local_host.set_faults(sum_endpoint, faults)
    model = make_model(local_host, sum_endpoint, on_error="column", max_batch_records=500)
    out = model.transform(features_df(spark, rows, partitions=1)).toArrow()
    assert out.num_rows == rows
    errors = out.column("error").to_pylist()
    bad = [i for i, e in enumerate(errors) if e is not None]
    assert len(bad) == 500 and bad == list(range(bad[0], bad[0] + 500))  # exactly one body
    expected_kind = "count_mismatch" if kind == "count" else "parse"
    assert {errors[i]["kind"] for i in bad} == {expected_kind}
    good = np.array([i for i in range(rows) if errors[i] is None])
    np.testing.assert_allclose(
        out.column("prediction").to_numpy(zero_copy_only=False)[good], expected_sum(good)
    )


def test_wrong_count_fails_the_task_with_counts(spark, local_host, sum_endpoint, clean_faults):
    local_host.set_faults(
        sum_endpoint, FaultSpec(wrong_count_rate=1.0, wrong_count_delta=-1, seed=1, max_faults=1)
    )
    model = make_model(local_host, sum_endpoint, max_batch_records=100)
    with pytest.raises(Exception, match=r"with 99 results for 100 rows") as info:
        model.transform(features_df(spark, 300, partitions=1)).collect()
    assert "engine-sum" in str(info.value) and "partition 0" in str(info.value)


def test_window_shrinks_under_throttling_and_recovers(
    spark, local_host, sum_endpoint, clean_faults
):
    rows = 40_000
    local_host.set_faults(
        sum_endpoint,
        FaultSpec(throttle_rate=0.5, throttle_kind="ThrottlingException", seed=11, max_faults=40),
    )
    model = make_model(local_host, sum_endpoint, max_batch_records=100, max_in_flight=8)
    table = model.transform(features_df(spark, rows, partitions=1)).toArrow()
    assert table.num_rows == rows
    m = model.last_metrics
    assert m.retries["throttled"] > 0
    assert m.window_decreases >= 1
    assert m.window_lowest < 8
    assert m.throttles == m.retries["throttled"] and m.errors == {}
    # how far it grows back depends on the thread scheduler; test_window checks the rule


def test_retries_exhausted_reports_attempts(spark, local_host, sum_endpoint, clean_faults):
    local_host.set_faults(sum_endpoint, FaultSpec(error_rate=1.0, error_status=500, seed=1))
    model = make_model(
        local_host,
        sum_endpoint,
        on_error="column",
        retry_policy=RetryPolicy(max_attempts=3, backoff_base_s=0.001, backoff_max_s=0.002),
    )
    rows = model.transform(features_df(spark, 10, partitions=1)).collect()
    assert {r.error.kind for r in rows} == {"retries_exhausted:server"}
    assert {r.error.attempts for r in rows} == {3}
    assert {r.error.status for r in rows} == {500}


def test_model_pickles_without_secrets(local_host, sum_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "driver-secret-value-123")
    model = make_model(local_host, sum_endpoint)
    from endpoints.scoring.engine import PartitionScorer

    scorer = PartitionScorer(
        model.endpoint,
        model.request_row_serializer,
        model.response_row_deserializer,
        model.engine_options(),
    )
    blob = pickle.dumps(scorer)
    assert b"driver-secret-value-123" not in blob
    assert b"testing" not in blob  # the conftest's dummy key id never travels either

    explicit = SageMakerModel.from_endpoint(
        sum_endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=local_host.url,
    )
    from endpoints.clients.sagemaker_runtime import SageMakerEndpoint

    ep = SageMakerEndpoint("x", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="s3cr3t")
    explicit.set_endpoint(ep)
    assert "s3cr3t" not in repr(ep) and "AKIAEXAMPLE" not in repr(ep)
    assert "s3cr3t" not in explicit.getOrDefault(explicit.endpointSpec)


def features_df_schema():
    from pyspark.sql.types import ArrayType, DoubleType, LongType, StructField, StructType

    return StructType(
        [StructField("id", LongType()), StructField("features", ArrayType(DoubleType()))]
    )


def test_clients_are_reused_across_partitions(spark, local_host, sum_endpoint, clean_faults):
    model = make_model(local_host, sum_endpoint)
    model.transform(features_df(spark, 8_000, partitions=16)).collect()
    m = model.last_metrics
    assert m.partitions == 16
    # one client per Python worker, not one per partition. How many workers Spark starts
    # (and which, reused from earlier tests, already hold a client) is its scheduler's
    # choice; the count of clients built per worker is proven in test_endpoint_kinds.py
    assert m.client_constructions < m.partitions


def test_a_failing_user_deserializer_is_reported_with_the_body(spark, local_host, sum_endpoint):
    class BrokenDeserializer(XGBoostCSVRowDeserializer):
        """A user's deserializer with a bug: it indexes past the end of its input."""

        def deserialize_batch(self, body):
            return [][0]

    model = make_model(local_host, sum_endpoint, on_error="column")
    model.set_response_row_deserializer(BrokenDeserializer())
    rows = model.transform(features_df(spark, 20, partitions=1)).collect()
    assert len(rows) == 20
    assert {r.error.kind for r in rows} == {"parse"}
    message = rows[0].error.message
    assert "BrokenDeserializer raised IndexError: list index out of range" in message
    assert "body (" in message and "starts b'" in message


def test_rows_a_user_serializer_cannot_read_are_per_row_errors():
    from pyspark.sql import Row

    from serde.base import RequestRowSerializer, serialize_rows

    class NeedsAge(RequestRowSerializer):
        content_type = "text/csv"

        def serialize_row(self, row):
            return f"{int(row['age'])}\n".encode()

    rows = [Row(age=1), Row(name="x"), Row(age="old"), Row(age=4)]
    out = serialize_rows(NeedsAge(), rows)
    assert out.row(0) == b"1\n" and out.row(3) == b"4\n"
    assert sorted(out.errors) == [1, 2]
    assert str(out.errors[1]).startswith("row 1: ") and "age" in str(out.errors[1])
    assert str(out.errors[2]) == "row 2: invalid literal for int() with base 10: 'old'"
