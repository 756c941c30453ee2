"""The sagemaker_pyspark side of ``bench_vs_reference.py``: runs INSIDE ``.venv-reference``
(sagemaker_pyspark 1.4.5, pyspark 3.3.0, Java 17), never in the project's venv.

It builds the benchmark's DataFrame once (``id`` and 10 doubles assembled by
``VectorAssembler`` into ``features``, cached and materialized), then waits for commands on
stdin, one JSON object per line, so that its runs interleave with the other side's in one
warm JVM, as the other side's runs share one warm SparkSession:

    {"url": "http://127.0.0.1:PORT", "endpoint": "fast", "out": "/tmp/dir", "warmup": false}

For each it scores the DataFrame (or, with ``"warmup": true``, a small one built the same
way, to load classes and compile hot code before timing) with sagemaker_pyspark's
``SageMakerModel`` (``DO_NOT_CREATE``, every other setting at its default), writes ``id``
and ``prediction`` to Parquet at ``out`` (the parent checks every row there), and answers
one line ``RESULT {"seconds": ..., "cpu": {"driver": ..., "jvm": ..., "workers": ...}}``.

The runtime client: sagemaker_pyspark sends every request through one static field,
``RequestBatchIterator.sagemakerRuntime`` (a Scala companion-object ``var``), built from
the default chain, which would call AWS. Under ``local[N]`` the executors live in the
driver's JVM, so a client assigned there through py4j, pointed at 127.0.0.1, is the one
they use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc_cpu import difference, spark_client_cpu

# The AWS Java SDK reads AWS_REGION (not AWS_DEFAULT_REGION); the static client above is
# built when its class loads and fails without a region.
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

FEATURES = 10
REGION = "us-east-1"
ITERATOR_CLASS = (
    "com.amazonaws.services.sagemaker.sparksdk.transformation.util.RequestBatchIterator"
)


def reference_spark(master: str):
    """A SparkSession with sagemaker_pyspark's JARs, configured as the other side's."""
    import sagemaker_pyspark
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .config("spark.driver.extraClassPath", ":".join(sagemaker_pyspark.classpath_jars()))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def feature_columns() -> list[str]:
    """Column ``c{i}`` of row ``id`` is ``(id * (i + 1) % 97) / 7.0``: the parent computes
    the same doubles with numpy to know every expected answer."""
    return [f"cast(id * {i + 1} % 97 as double) / 7.0 as c{i}" for i in range(FEATURES)]


def vector_frame(spark, rows: int, partitions: int):
    from pyspark.ml.feature import VectorAssembler

    raw = spark.range(0, rows, 1, partitions).selectExpr("id", *feature_columns())
    assembler = VectorAssembler(inputCols=[f"c{i}" for i in range(FEATURES)], outputCol="features")
    df = assembler.transform(raw).select("id", "features").cache()
    df.count()
    return df


def point_runtime_client_at(spark, url: str) -> None:
    """Replaces the static runtime client with one whose endpoint is ``url`` (plain HTTP,
    static dummy credentials, the same 80 s socket timeout as the library's own)."""
    jvm = spark._jvm
    endpoint_configuration = jvm.com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration
    credentials = jvm.com.amazonaws.auth.AWSStaticCredentialsProvider(
        jvm.com.amazonaws.auth.BasicAWSCredentials("bench", "bench")
    )
    client = (
        jvm.com.amazonaws.services.sagemakerruntime.AmazonSageMakerRuntimeClientBuilder.standard()
        .withClientConfiguration(jvm.com.amazonaws.ClientConfiguration().withSocketTimeout(80_000))
        .withEndpointConfiguration(endpoint_configuration(url, REGION))
        .withCredentials(credentials)
        .build()
    )
    # Scala compiles the companion object's accessors to static forwarders on the class.
    iterator = _java_class(spark, ITERATOR_CLASS)
    previous = iterator.sagemakerRuntime()
    getattr(iterator, "sagemakerRuntime_$eq")(client)
    previous.shutdown()  # its pooled connections would otherwise stay open to old servers


def _java_class(spark, dotted: str):
    target = spark._jvm
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


def reference_model(endpoint: str):
    from sagemaker_pyspark import EndpointCreationPolicy, SageMakerModel
    from sagemaker_pyspark.transformation.deserializers import XGBoostCSVRowDeserializer
    from sagemaker_pyspark.transformation.serializers import UnlabeledCSVRequestRowSerializer

    return SageMakerModel(
        endpointInstanceType=None,
        endpointInitialInstanceCount=None,
        requestRowSerializer=UnlabeledCSVRequestRowSerializer(),
        responseRowDeserializer=XGBoostCSVRowDeserializer(),
        existingEndpointName=endpoint,
        endpointCreationPolicy=EndpointCreationPolicy.DO_NOT_CREATE,
    )


def score(spark, df, command: dict) -> dict:
    """One timed run: transform, then write ``id`` and ``prediction`` to Parquet."""
    point_runtime_client_at(spark, command["url"])
    out = reference_model(command["endpoint"]).transform(df).select("id", "prediction")
    writer = out.write.mode("overwrite").option("compression", "none")
    before = spark_client_cpu()
    start = time.perf_counter()
    writer.parquet(command["out"])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu": difference(spark_client_cpu(), before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--warmup-rows", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    spark = reference_spark(args.master)
    frames = {
        False: vector_frame(spark, args.rows, args.partitions),
        True: vector_frame(spark, args.warmup_rows, args.partitions),
    }
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip():
            command = json.loads(line)
            result = score(spark, frames[bool(command.get("warmup"))], command)
            print("RESULT " + json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
