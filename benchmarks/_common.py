"""Shared pieces of the benchmarks: a host process, a bare app, a Spark session, the
engine's model, the expected answers and the check of every written row, Markdown tables.

Benchmarks print figures; they never assert them. Machines are shared and noisy, so every
table compares variants measured in the same run, and ratios are what to quote.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _reference_runner import FEATURES

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

SUM_MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
#: Where the benchmarks' models are written: the hosts' model root (they read nothing else).
MODEL_ROOT = Path(tempfile.mkdtemp(prefix="bench-models-"))


@contextlib.contextmanager
def host_process() -> Iterator[Any]:
    """``endpoints-local serve --port 0`` in its own process (no GIL shared with Spark's
    driver); yields the :class:`~endpoints.local.LocalHostProcess` and stops it afterwards.
    It serves the benchmarks' own Python models from :data:`MODEL_ROOT`."""
    from endpoints.local import LocalHostProcess

    with LocalHostProcess(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        yield host


_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@contextlib.contextmanager
def bare_app(answer: str = "sum", latency_ms: float = 0.0, *options: str) -> Iterator[str]:
    """``benchmarks/_bare_app.py`` in its own process; yields its URL. Its stdin is a pipe
    only this process holds, so it stops with us even if we are killed. ``options`` are
    more of its flags (``"--slots", "8"``)."""
    script = Path(__file__).resolve().parent / "_bare_app.py"
    command = [sys.executable, str(script), "--answer", answer, "--latency-ms", str(latency_ms)]
    command += options
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = process.stdout.readline()
        match = _LISTENING.search(line)
        if not match:
            raise RuntimeError(f"bare app did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=15)


def deploy_python_model(host, name: str, source: str = SUM_MODEL) -> None:
    """Serves ``predict`` from ``source`` as endpoint ``name`` on ``host`` (a
    :class:`~endpoints.local.LocalHostProcess`) and waits until it is InService."""
    model_dir = Path(tempfile.mkdtemp(prefix="bench-model-", dir=MODEL_ROOT))
    (model_dir / "model.py").write_text(source)
    host.deploy_local(name, model_dir, "python", {"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"})


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


def engine_model(url: str, endpoint: str, **options: Any):
    """endpoint-serde's model on ``endpoint`` at ``url``, through the public API only: CSV
    rows out, one prediction per row back; ``options`` are ``SageMakerModel``'s keywords."""
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    return SageMakerModel.from_endpoint(
        endpoint,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        endpoint_url=url,
        region="us-east-1",
        **options,
    )


def expected_sums(rows: int) -> np.ndarray:
    """What the server answers for row ``id``: the sum of its features, computed as the
    server computes it (numpy, float64, one row of 10 at a time)."""
    return feature_matrix(np.arange(rows, dtype=np.int64)).sum(axis=1)


def feature_matrix(ids: np.ndarray) -> np.ndarray:
    """The doubles Spark computes in ``feature_columns``: integer modulo, then / 7.0."""
    return np.stack(
        [((ids * (i + 1)) % 97).astype(np.float64) / 7.0 for i in range(FEATURES)], axis=1
    )


def check_parquet(path: str, expected: np.ndarray) -> str | None:
    """``None`` if ``path`` holds every id in ``[0, rows)`` exactly once, each with the
    expected prediction; otherwise what is wrong."""
    import pyarrow.parquet as pq

    written = pq.read_table(path, columns=["id", "prediction"])
    ids = written["id"].to_numpy()
    predictions = written["prediction"].to_numpy(zero_copy_only=False)
    return check_rows(ids, predictions, expected)


def check_rows(ids: np.ndarray, predictions: np.ndarray, expected: np.ndarray) -> str | None:
    if len(ids) != len(expected):
        return f"{len(ids):,} rows written, {len(expected):,} expected"
    order = np.argsort(ids, kind="stable")
    ids, predictions = ids[order], predictions[order]
    if not np.array_equal(ids, np.arange(len(expected))):
        missing = len(expected) - len(np.unique(ids))
        return f"ids not each present once ({missing:,} missing or duplicated)"
    wrong = np.flatnonzero(predictions != expected)
    if len(wrong):
        first = wrong[0]
        return (
            f"{len(wrong):,} predictions differ (id {first}: {float(predictions[first])!r}, "
            f"expected {float(expected[first])!r})"
        )
    return None


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
