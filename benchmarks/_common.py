"""Shared pieces of the benchmarks: a host process, a Spark session, Markdown tables.

Benchmarks print figures; they never assert them. Machines are shared and noisy, so every
table compares variants measured in the same run, and ratios are what to quote.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

SUM_MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


@contextlib.contextmanager
def host_process() -> Iterator[str]:
    """``endpoints-local serve --port 0`` in its own process (no GIL shared with Spark's
    driver); yields its URL and stops it afterwards."""
    from endpoints.local import LocalHostProcess

    with LocalHostProcess() as host:
        yield host.url


def deploy_python_model(url: str, name: str, source: str = SUM_MODEL) -> None:
    """Creates model, config and endpoint serving ``predict`` from ``source``; waits."""
    import boto3

    model_dir = Path(tempfile.mkdtemp(prefix="bench-model-"))
    (model_dir / "model.py").write_text(source)
    sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
        PrimaryContainer={
            "Image": "local/python",
            "ModelDataUrl": model_dir.as_uri(),
            "Environment": {
                "ENDPOINT_SERDE_RUNTIME": "python",
                "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict",
            },
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def spark_session(master: str = "local[2]", **conf: str):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = (
        builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def table(headers: list[str], rows: list[list[object]]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
