"""A job offered far more concurrency than its endpoint serves: it completes, every row
once and correct. The local endpoint host plays an endpoint that serves two requests at
once and refuses a third with SageMaker's ThrottlingException (HTTP 400)."""

from __future__ import annotations

from collections import Counter

import pytest
from test_engine_data_path import deploy_row_log_endpoint

from endpoints.local import FaultSpec
from endpoints.retry import RetryPolicy
from endpoints.scoring.model import SageMakerModel
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

CAPACITY = 2


@pytest.fixture(scope="module")
def small_endpoint(local_host, tmp_path_factory):
    """take_ids of a row-logging endpoint that serves CAPACITY requests at once."""
    take_ids = deploy_row_log_endpoint(local_host, "small", tmp_path_factory.mktemp("small"))
    local_host.set_faults("small", FaultSpec(max_concurrency=CAPACITY, latency_ms=30))
    yield take_ids
    local_host.set_faults("small", None)


def small_model(host, **options) -> SageMakerModel:
    return SageMakerModel.from_endpoint(
        "small",
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=host.url,
        region="us-east-1",
        max_batch_records=100,
        **options,
    )


def refused(host) -> int:
    return host.metrics()["faults_by_endpoint"].get("small", {}).get("over_capacity", 0)


def ids_df(spark, rows: int, partitions: int):
    return spark.range(0, rows, 1, partitions).selectExpr(
        "id", "array(cast(id as double), 0.5) as features"
    )


def test_a_job_8_times_bigger_than_its_endpoint_finishes_every_row_once(
    spark, local_host, small_endpoint
):
    take_ids = small_endpoint
    before = refused(local_host)
    # two attempts would fail at once if throttles counted: they never do
    model = small_model(local_host, retry_policy=RetryPolicy(max_attempts=2, max_elapsed_s=120))
    rows = model.transform(ids_df(spark, 4000, partitions=4)).collect()
    assert sorted((r.id, r.prediction) for r in rows) == [(i, i + 0.5) for i in range(4000)]
    assert take_ids() == Counter(range(4000))
    m = model.last_metrics
    refusals = refused(local_host) - before
    assert refusals > 0 and m.throttles == refusals  # the endpoint did push back
    assert m.requests == 40 + refusals and m.errors == Counter()
    assert m.window_lowest < 8 and m.window_decreases > 0
    assert m.mean_in_flight is not None and 0 < m.mean_in_flight <= 8


def test_a_job_cap_at_the_endpoints_capacity_is_never_refused(spark, local_host, small_endpoint):
    take_ids = small_endpoint
    before = refused(local_host)
    # local[2]: two tasks at once, one request each
    model = small_model(local_host, job_max_in_flight=CAPACITY)
    rows = model.transform(ids_df(spark, 2000, partitions=2)).collect()
    assert len(rows) == 2000 and take_ids() == Counter(range(2000))
    assert refused(local_host) == before
    m = model.last_metrics
    assert (m.throttles, m.requests, m.window_peak_in_flight) == (0, 20, 1)
