"""Rows/s on a 2-worker Spark standalone cluster vs ``local[2]``, same jobs, same run.

Two jobs over the same DataFrame (``--rows`` ids, 8 partitions, 10 features): a plain
mapInArrow pass (Spark's own ceiling) and ``SageMakerModel.transform`` against one local
endpoint host process. Each master gets its own driver subprocess (one SparkContext per
process); a warm-up action starts executors and Python workers before the timed action,
which writes to Spark's ``noop`` sink so nothing is collected.

Both masters share the same 2 cores here, so the ratio measures the cluster's overhead
(separate executor JVMs, task shipping), not a speed-up; on real machines workers add cores.

Run: ``.venv/bin/python benchmarks/bench_cluster.py [--rows N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import deploy_python_model, host_process, table
from spark_cluster import DEFAULT_ROOT, StandaloneCluster, start_driver

FEATURES = 10
PARTITIONS = 8
ENDPOINT = "bench-cluster-sum"


def features_df(spark, rows: int):
    cols = ", ".join(f"cast(id * {i + 1} % 97 as double) / 7.0" for i in range(FEATURES))
    return spark.range(0, rows, 1, PARTITIONS).selectExpr("id", f"array({cols}) as features")


def passthrough(batches):
    yield from batches


def bench_job(spark, params: dict) -> dict:
    """Runs in the driver subprocess: times each job after a warm-up."""
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    df = features_df(spark, params["rows"])
    model = SageMakerModel.from_endpoint(
        ENDPOINT,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=params["url"],
        region="us-east-1",
    )
    jobs = {
        "mapInArrow (no endpoint)": lambda d: d.mapInArrow(passthrough, d.schema),
        "transform (local endpoint host)": model.transform,
    }
    for build in jobs.values():
        build(features_df(spark, 20_000)).write.format("noop").mode("overwrite").save()
    # interleaved rounds, median per job: one action of a second or two is at the mercy of
    # a shared machine
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(params["rounds"]):
        for name, build in jobs.items():
            started = time.perf_counter()
            build(df).write.format("noop").mode("overwrite").save()
            times[name].append(time.perf_counter() - started)
    return {"seconds": {name: statistics.median(t) for name, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    with (
        host_process() as host,
        StandaloneCluster(DEFAULT_ROOT / "bench" / "cluster") as cluster,
    ):
        deploy_python_model(host, ENDPOINT)
        params = {"rows": args.rows, "url": host.url, "rounds": args.rounds}
        results = {}
        for label, master in (("local[2]", "local[2]"), ("cluster", cluster.master_url)):
            driver = start_driver(bench_job, master=master, params=params, work_dir=work_dir)
            results[label] = driver.wait(900)["seconds"]

    rows = []
    for job in results["local[2]"]:
        local_rate = args.rows / results["local[2]"][job]
        cluster_rate = args.rows / results["cluster"][job]
        rows.append([job, local_rate, cluster_rate, cluster_rate / local_rate])
    print(f"\n{args.rows:,} rows, {PARTITIONS} partitions, {FEATURES} features; 2 cores shared\n")
    print(table(["job", "local[2] rows/s", "2-worker cluster rows/s", "cluster / local"], rows))


if __name__ == "__main__":
    main()
