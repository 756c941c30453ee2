"""Transform engine throughput, local[2], against two servers in their own processes: the
local endpoint host serving a trivial model, and a bare ASGI app that answers without one.

(a) this engine at default settings; (b) the raw ceiling: 16 threads posting, with boto3,
the very bodies the engine sends, built beforehand; (c) what users write today: a
pandas_udf calling ``invoke_endpoint`` once per Arrow batch, sequentially; (d) Spark alone.
Then the in-flight window under 20 ms of latency per request, and a Python worker's peak
memory at 1M vs 10M rows.

On a small machine the server, Spark's JVM and the Python workers share the same cores:
against the local host, the CPU its model work takes is CPU the engine's serialization
cannot use, while the ceiling serializes nothing. The bare app costs almost nothing, so
against it the table measures the client side: the engine's own overhead.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--rows N] [--skip-memory]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd  # resolved by pandas_udf's type hints

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bare_app,
    deploy_python_model,
    engine_model,
    host_process,
    spark_session,
    table,
    timed,
)

FEATURES = 10


def features_df(spark, rows: int, partitions: int = 2):
    cols = ", ".join(f"cast(id * {i + 1} % 97 as double) / 7.0" for i in range(FEATURES))
    return spark.range(0, rows, 1, partitions).selectExpr("id", f"array({cols}) as features")


def run_engine(
    spark, url: str, endpoint: str, rows: int, partitions: int = 2, **options
) -> tuple[float, object]:
    model = engine_model(url, endpoint, **options)
    df = model.transform(features_df(spark, rows, partitions))
    seconds = timed(lambda: df.write.format("noop").mode("overwrite").save())
    return seconds, model.last_metrics


def run_spark_floor(spark, rows: int) -> float:
    """The same DataFrame through a mapInArrow that returns its input: what Spark alone
    costs on this machine, before any serialization or request."""
    df = features_df(spark, rows)
    out = df.mapInArrow(lambda batches: batches, df.schema)
    return timed(lambda: out.write.format("noop").mode("overwrite").save())


def engine_bodies(spark, rows: int) -> list[bytes]:
    """The very bodies the engine sends for this DataFrame (same serializer, same packing),
    built once before any timing, so the ceiling posts exactly the same bytes."""
    from serde.batching import RequestBatchIterator
    from serde.csv import UnlabeledCSVRequestRowSerializer

    df = features_df(spark, rows)
    serializer = UnlabeledCSVRequestRowSerializer()
    serializer.set_schema(df.schema)
    packer = RequestBatchIterator(serializer)
    return [
        item.body
        for batch in df.toArrow().to_batches(max_chunksize=10_000)
        for item in packer.pack(serializer.serialize_batch(batch), batch)
    ]


def run_raw_ceiling(url: str, endpoint: str, bodies: list[bytes], threads: int = 16) -> float:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(max_pool_connections=threads, retries={"total_max_attempts": 1}),
    )

    def send(body: bytes) -> int:
        out = client.invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv"
        )
        return len(out["Body"].read())

    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(send, bodies))
        return time.perf_counter() - start


def run_pandas_udf_baseline(spark, url: str, endpoint: str, rows: int) -> float:
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def score(features: pd.Series) -> pd.Series:
        import boto3

        client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1")
        body = "".join(",".join(map(str, f)) + "\n" for f in features).encode()
        out = client.invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv"
        )["Body"].read()
        return pd.Series([float(v) for v in out.split()])

    df = features_df(spark, rows).select("id", score("features").alias("prediction"))
    return timed(lambda: df.write.format("noop").mode("overwrite").save())


class MeasuredScorer:
    """Runs a partition through the engine, then appends the worker's peak RSS to a file.
    Defined here (pickled by value), so workers need nothing but the installed package."""

    def __init__(self, scorer, marker: str) -> None:
        self.scorer = scorer
        self.serializer = scorer.serializer
        self.marker = marker

    def __call__(self, batches):
        yield from self.scorer(batches)
        with open(self.marker, "a") as f:
            f.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")


def peak_worker_memory(spark, url: str, endpoint: str, df, serializer=None) -> int:
    """Peak RSS (KiB) of the Python workers that scored ``df``."""
    from endpoints.scoring.engine import PartitionScorer
    from endpoints.scoring.results import result_struct_type
    from endpoints.scoring.spark_plan import crossing_columns, score_dataframe

    model = engine_model(url, endpoint)
    serializer = serializer or model.request_row_serializer
    serializer.set_schema(df.schema)
    marker = Path(tempfile.mkdtemp()) / "rss"
    options = model.engine_options()
    scorer = PartitionScorer(model.endpoint, serializer, model.response_row_deserializer, options)
    out = score_dataframe(
        df,
        MeasuredScorer(scorer, str(marker)),
        result_struct_type(model.response_row_deserializer, options),
        prepend_result_rows=True,
        crossing=crossing_columns(df, serializer),
    )
    out.write.format("noop").mode("overwrite").save()
    return max(int(v) for v in marker.read_text().split())


def sparse_df(spark, rows: int, width: int = 2**20):
    """``rows`` sparse vectors ``width`` wide with 10 non-zeros each."""
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql.types import LongType, StructField, StructType

    def vectors(part):
        for i in part:
            indices = sorted({(i * 7919 + k * 104729) % width for k in range(10)})
            yield (i, SparseVector(width, indices, [1.0] * len(indices)))

    schema = StructType([StructField("id", LongType()), StructField("features", VectorUDT())])
    return spark.createDataFrame(
        spark.sparkContext.range(rows, numSlices=2).mapPartitions(vectors), schema
    )


ENDPOINT = "bench-sum"


def throughput_table(spark, url: str, server: str, rows: int, bodies: list[bytes], rounds: int):
    """(a)-(d) against one server, median of interleaved rounds (the machine is shared and
    noisy: drift hits every variant alike)."""
    times: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    for _ in range(rounds):
        seconds, metrics = run_engine(spark, url, ENDPOINT, rows)
        times["a"].append(seconds)
        times["b"].append(run_raw_ceiling(url, ENDPOINT, bodies))
        times["c"].append(run_pandas_udf_baseline(spark, url, ENDPOINT, rows))
        times["d"].append(run_spark_floor(spark, rows))
    medians = {k: statistics.median(v) for k, v in times.items()}
    labels = {
        "a": "(a) engine, defaults",
        "b": "(b) raw ceiling: 16 threads posting the engine's bodies, pre-built",
        "c": "(c) pandas_udf + invoke_endpoint per batch",
        "d": "(d) Spark alone: the same DataFrame, identity mapInArrow",
    }
    print(
        f"\n### Engine throughput against the {server}: {rows:,} rows x {FEATURES} doubles, "
        f"CSV, local[2] (median of {rounds} interleaved rounds)\n"
    )
    print(
        table(
            ["variant", "seconds", "rows/s", "vs raw ceiling", "vs pandas_udf"],
            [
                [labels[k], t, rows / t, medians["b"] / t, medians["c"] / t]
                for k, t in medians.items()
            ],
        )
    )
    print(f"\nengine metrics (last round): {metrics.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = args.rows
    with (
        host_process() as host,
        bare_app("count") as bare_url,
        bare_app("count", latency_ms=20) as slow_bare_url,
    ):
        deploy_python_model(host, ENDPOINT)
        host_url = host.url
        servers = [
            ("local endpoint host (trivial model: row sum)", host_url),
            ("bare ASGI app (answers without a model)", bare_url),
        ]
        spark = spark_session()
        for _, url in servers:
            run_engine(spark, url, ENDPOINT, 20_000)  # warm up workers and clients
        bodies = engine_bodies(spark, rows)
        print(
            f"\nbodies: {len(bodies):,}, {statistics.mean(map(len, bodies)):,.0f} bytes on average"
        )
        for server, url in servers:
            throughput_table(spark, url, server, rows, bodies, args.rounds)
        del bodies

        _set_latency(host_url, ENDPOINT, 20)
        window_table(spark, host_url, "local endpoint host", args.window_rows)
        _set_latency(host_url, ENDPOINT, 0)
        window_table(spark, slow_bare_url, "bare ASGI app", args.window_rows)
        if not args.skip_memory:
            spark.stop()
            # fresh Python workers per task: a peak belongs to one partition's scoring
            spark = spark_session(**{"spark.python.worker.reuse": "false"})
            small = peak_worker_memory(spark, bare_url, ENDPOINT, features_df(spark, 1_000_000))
            big = peak_worker_memory(spark, bare_url, ENDPOINT, features_df(spark, 10_000_000))
            from serde.libsvm import UnlabeledLibSVMRequestRowSerializer

            wide = peak_worker_memory(
                spark,
                bare_url,
                ENDPOINT,
                sparse_df(spark, 100_000),
                UnlabeledLibSVMRequestRowSerializer(),
            )
            wide_csv = peak_worker_memory(
                spark, bare_url, ENDPOINT, sparse_df(spark, 2_000, width=2**17)
            )
            print("\n### Python worker peak memory (streaming, not collecting)\n")
            print(
                table(
                    ["input", "peak RSS MiB", "vs 1M rows"],
                    [
                        ["1,000,000 rows x 10 doubles, CSV", small / 1024, 1.0],
                        ["10,000,000 rows x 10 doubles, CSV", big / 1024, big / small],
                        ["100,000 sparse vectors 2^20 wide, LibSVM", wide / 1024, wide / small],
                        [
                            "2,000 sparse vectors 2^17 wide, CSV (dense rows)",
                            wide_csv / 1024,
                            wide_csv / small,
                        ],
                    ],
                )
            )
        spark.stop()


def window_table(spark, url: str, server: str, rows: int) -> None:
    """Window 1 vs 8 with 20 ms of latency per request, on one partition (one Python
    worker: the latency, not the 2-core machine's CPU, is what the window has to hide) and
    on two."""
    results = [
        (
            partitions,
            window,
            run_engine(
                spark, url, ENDPOINT, rows, partitions, max_in_flight=window, max_batch_records=1000
            )[0],
        )
        for partitions in (1, 2)
        for window in (1, 8)
    ]
    print(
        f"\n### In-flight window, {server}, 20 ms latency per request, {rows:,} rows, "
        "1,000 per request\n"
    )
    base = {p: s for p, w, s in results if w == 1}
    print(
        table(
            ["partitions", "window", "seconds", "rows/s", "vs window 1"],
            [[p, w, s, rows / s, base[p] / s] for p, w, s in results],
        )
    )


def _set_latency(url: str, endpoint: str, ms: int) -> None:
    import urllib3

    from endpoints.local.origin import CONTROL_HEADERS

    urllib3.request(
        "POST",
        f"{url}/_local/faults/{endpoint}",
        json={"latency_ms": ms} if ms else {},
        headers=CONTROL_HEADERS,
    )


if __name__ == "__main__":
    main()
