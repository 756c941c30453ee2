"""Scoring on a real Spark standalone cluster (master + 2 workers, separate executor JVMs):
the same results as local mode over 1,000,000 rows, and every row exactly once when an
executor is killed mid-job.

Jobs on the cluster run in driver subprocesses (one SparkContext per process; the test
session already owns a ``local[2]`` one). Job functions live here at module level and are
shipped to executors by value.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from spark_cluster import StandaloneCluster, run_job_in_process, start_driver

pytestmark = pytest.mark.cluster

ROWS = 1_000_000
PARTITIONS = 16
DRIVER_TIMEOUT_S = 300


def expected_values(ids: np.ndarray) -> np.ndarray:
    """What scoring row ``id`` must give (exact in binary floating point)."""
    return (ids % 101) / 4.0 + (ids % 7) - 3.0 + 0.125


def tag_rows(params: dict):
    """A mapInArrow function recording, per row, where it ran (the Python worker's working
    directory is its executor's work directory) and in which task attempt. With
    ``marker_dir`` every task attempt also leaves a marker file and lingers ``linger_s``,
    so a test can see it start and kill its executor while it runs."""

    def run(batches):
        from pyspark import TaskContext

        context = TaskContext.get()
        where = os.getcwd()
        marker_dir = params.get("marker_dir")
        if marker_dir:
            name = f"p{context.partitionId():03d}-a{context.attemptNumber()}"
            Path(marker_dir, name).write_text(json.dumps({"executor_dir": where}))
            time.sleep(params.get("linger_s", 0.0))
        for batch in batches:
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column(0),
                    pa.array([where] * batch.num_rows),
                    pa.array([context.attemptNumber()] * batch.num_rows, pa.int32()),
                ],
                names=["id", "executor_dir", "attempt"],
            )

    return run


def features_of(df):
    """Three features whose sum is ``expected_values(id)``."""
    from pyspark.sql import functions as F

    return df.withColumn(
        "features",
        F.array(
            (F.col("id") % 101).cast("double") / 4.0,
            (F.col("id") % 7).cast("double") - 3.0,
            F.lit(0.125),
        ),
    )


def summarize(table: pa.Table, value_column: str) -> dict:
    """What a driver reports about a scored table: counts, exactness, a digest of
    (id, value) in id order, and which executors did the work."""
    ids = table.column("id").to_numpy()
    values = table.column(value_column).to_numpy()
    order = np.argsort(ids, kind="stable")
    sorted_ids, sorted_values = ids[order], values[order]
    digest = hashlib.sha256(sorted_ids.tobytes() + sorted_values.tobytes()).hexdigest()
    return {
        "rows": len(ids),
        "distinct_ids": len(np.unique(ids)),
        "ids_are_range": bool(np.array_equal(sorted_ids, np.arange(len(ids)))),
        "in_input_order": bool(np.array_equal(ids, sorted_ids)),
        "max_abs_error": float(np.max(np.abs(sorted_values - expected_values(sorted_ids)))),
        "digest": digest,
        "executor_dirs": sorted(set(table.column("executor_dir").to_pylist())),
        "max_attempt": int(pa.compute.max(table.column("attempt")).as_py()),
    }


def transform_job(spark, params: dict) -> dict:
    """``SageMakerModel.transform`` over ``rows`` ids in ``partitions`` partitions against
    the local endpoint host, collected as Arrow; reports the summary and the metrics."""
    from endpoints.retry import RetryPolicy
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    ids = spark.range(0, params["rows"], 1, params["partitions"])
    tagged = ids.mapInArrow(tag_rows(params), "id long, executor_dir string, attempt int")
    model = SageMakerModel.from_endpoint(
        params["endpoint"],
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=params["endpoint_url"],
        region="us-east-1",
        max_batch_records=params["max_batch_records"],
        retry_policy=RetryPolicy(max_attempts=8, backoff_base_s=0.01, backoff_max_s=0.2),
    )
    scored = model.transform(features_of(tagged))
    table = scored.select("id", "prediction", "executor_dir", "attempt").toArrow()
    result = summarize(table, "prediction")
    metrics = model.last_metrics
    result["metrics"] = metrics.as_dict() if metrics is not None else None
    return result


def undisturbed_then_executor_lost_job(spark, params: dict) -> dict:
    """One driver, two runs of the same transform (executors start once): undisturbed,
    then with task markers, so the test can kill an executor during the second."""
    undisturbed = transform_job(spark, {k: v for k, v in params.items() if k != "marker_dir"})
    lost = transform_job(spark, dict(params, linger_s=0.5))
    return {"undisturbed": undisturbed, "executor_lost": lost}


SUM_MODEL = """
import numpy as np

def predict(x):
    return np.asarray(x, dtype=float).sum(axis=1)
"""


@pytest.fixture(scope="module")
def sum_endpoint(local_host, tmp_path_factory):
    """A Python model summing its features, on the session's local endpoint host (in this
    process: executors reach it over 127.0.0.1 like any endpoint)."""
    model_dir = tmp_path_factory.mktemp("cluster-sum-model")
    (model_dir / "model.py").write_text(SUM_MODEL)
    local_host.deploy_local(
        "cluster-sum",
        model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    return "cluster-sum"


@pytest.fixture(scope="module")
def job_params(local_host, sum_endpoint) -> dict:
    return {
        "rows": ROWS,
        "partitions": PARTITIONS,
        "endpoint": sum_endpoint,
        "endpoint_url": local_host.url,
        "max_batch_records": 2000,
    }


@pytest.fixture(scope="module")
def local_reference(spark, job_params):
    """The same transform in local mode (the test session's ``local[2]``)."""
    return run_job_in_process(transform_job, spark, job_params)


@pytest.fixture(scope="module")
def cluster_runs(spark_cluster, job_params, tmp_path_factory):
    """Runs the two-run driver on the cluster and kills the executor of a running task of
    the second run once 3 of its tasks have started. Returns the driver's results and the
    killed task's marker name."""
    work_dir = tmp_path_factory.mktemp("cluster-driver")
    marker_dir = work_dir / "markers"
    marker_dir.mkdir()
    driver = start_driver(
        undisturbed_then_executor_lost_job,
        master=spark_cluster.master_url,
        params=dict(job_params, marker_dir=str(marker_dir)),
        work_dir=work_dir,
    )
    try:
        marker, pid = wait_for_running_task(
            spark_cluster, marker_dir, after=3, timeout_s=DRIVER_TIMEOUT_S
        )
        spark_cluster.kill_executor(pid)
        results = driver.wait(DRIVER_TIMEOUT_S)
    finally:
        driver.kill()
    results["killed_marker"] = marker
    results["markers"] = sorted(m.name for m in marker_dir.iterdir())
    return results


@pytest.mark.timeout(2 * DRIVER_TIMEOUT_S)
def test_transform_on_cluster_matches_local_mode(
    spark_cluster, cluster_runs, local_reference, job_params
):
    result = cluster_runs["undisturbed"]
    assert result["rows"] == result["distinct_ids"] == ROWS
    assert result["ids_are_range"] and result["in_input_order"]
    assert result["max_abs_error"] == 0.0
    assert result["digest"] == local_reference["digest"]
    assert local_reference["rows"] == ROWS and local_reference["max_abs_error"] == 0.0
    assert workers_used(spark_cluster, result) == {"worker-0", "worker-1"}
    assert result["max_attempt"] == 0
    metrics = result["metrics"]
    assert metrics["rows"] == ROWS and metrics["rows_failed"] == 0
    assert metrics["partitions"] == PARTITIONS
    bodies_per_partition = math.ceil(ROWS / PARTITIONS / job_params["max_batch_records"])
    assert metrics["requests"] == metrics["bodies"] == PARTITIONS * bodies_per_partition
    # clients are built on executors, once per Python worker process, never shipped
    assert 2 <= metrics["client_constructions"] <= PARTITIONS
    assert metrics["requests_in_retried_tasks"] == 0


def workers_used(cluster: StandaloneCluster, result: dict) -> set[str]:
    """Which workers' executors scored rows (executor dirs are work/<worker>/<app>/<id>)."""
    return {Path(d).relative_to(cluster.base_dir).parts[1] for d in result["executor_dirs"]}


def wait_for_running_task(cluster: StandaloneCluster, marker_dir: Path, after: int, timeout_s):
    """Waits until ``after`` task attempts have started, then returns (partition marker,
    executor pid) of the newest one — a task that is still running on that executor."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        markers = sorted(marker_dir.iterdir(), key=lambda p: p.stat().st_mtime)
        if len(markers) >= after:
            newest = markers[-1]
            executor_dir = Path(json.loads(newest.read_text())["executor_dir"])
            pid = cluster.executor_pid_in(executor_dir)
            if pid is not None:
                return newest.name, pid
        time.sleep(0.05)
    raise AssertionError(f"fewer than {after} tasks started within {timeout_s} s")


@pytest.mark.timeout(2 * DRIVER_TIMEOUT_S)
def test_executor_killed_mid_transform_every_row_exactly_once(cluster_runs, local_reference):
    result = cluster_runs["executor_lost"]
    killed_partition = cluster_runs["killed_marker"].split("-")[0]
    attempts = [m for m in cluster_runs["markers"] if m.startswith(killed_partition)]
    assert len(attempts) >= 2, f"partition {killed_partition} was not retried: {attempts}"
    assert result["max_attempt"] >= 1
    assert result["rows"] == result["distinct_ids"] == ROWS
    assert result["ids_are_range"] and result["in_input_order"]
    assert result["max_abs_error"] == 0.0
    assert result["digest"] == local_reference["digest"]
    # the re-run task sent its rows again: requests are at-least-once, results exactly once
    metrics = result["metrics"]
    assert metrics["rows"] >= ROWS and metrics["rows_failed"] == 0
    assert metrics["requests_in_retried_tasks"] >= 1
