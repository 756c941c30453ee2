"""The KServe V2 SerDes against a real V2 server nobody here wrote: MLServer serving
scikit-learn models trained in the test, over real HTTP, scored from Spark through
``HttpEndpoint.kserve_v2``; predictions must equal scikit-learn's in-process ones, in order.

MLServer runs as a subprocess on 127.0.0.1 on free ports (HTTP and gRPC; its metrics server
off) with ``parallel_workers: 0``: its parallel inference workers die at start with uvloop
0.23 (``RuntimeError: There is no current event loop``) and the model never loads.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import urllib3
from pyspark.ml.feature import VectorAssembler

from endpoints.clients.http import HttpEndpoint
from endpoints.scoring.model import SageMakerModel
from serde.kserve_v2 import KServeV2RequestRowSerializer, KServeV2ResponseRowDeserializer

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
START_TIMEOUT_S = 180  # a loaded 2-core machine: MLServer imports a lot before it listens
README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass
class IrisModels:
    by_number: object  # LogisticRegression on a plain array, classes 0..2
    by_name: object  # LogisticRegression on a DataFrame of FEATURES, classes as species names
    features: np.ndarray  # rows to score: iris, repeated and jittered


@pytest.fixture(scope="module")
def iris() -> IrisModels:
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    by_number = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    frame = pd.DataFrame(data.data, columns=FEATURES)
    by_name = LogisticRegression(max_iter=1000).fit(frame, data.target_names[data.target])
    rng = np.random.default_rng(7)
    features = np.tile(data.data, (20, 1)) + rng.normal(0.0, 0.2, (20 * len(data.data), 4))
    return IrisModels(by_number, by_name, features.round(3))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_repository(root: Path, models: IrisModels) -> dict:
    import joblib

    for name, model in (("iris", models.by_number), ("iris-species", models.by_name)):
        (root / name).mkdir()
        joblib.dump(model, root / name / "model.joblib")
        settings = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        (root / name / "model-settings.json").write_text(json.dumps(settings))
    server = {
        "host": "127.0.0.1",
        "http_port": _free_port(),
        "grpc_port": _free_port(),
        "metrics_endpoint": None,  # no metrics server, no third port
        "parallel_workers": 0,
        "debug": False,
    }
    (root / "settings.json").write_text(json.dumps(server))
    return server


class MLServerProcess:
    """``mlserver start`` in a subprocess; its log is read by a thread, line by line."""

    def __init__(self, repository: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER")}
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from mlserver.cli import main; main()", "start", "."],
            cwd=repository,  # its .envs and .metrics folders land in the repository
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip())
        self._lines.put(None)

    def wait_ready(self, url: str, models: list[str], timeout_s: float) -> None:
        """Returns once every model answers ready; fails with the log if MLServer exits or
        the deadline passes. Readiness is checked on each log line, and at least every
        half second while the log is quiet."""
        pool = urllib3.PoolManager(retries=False, timeout=5)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                line = ""
            if line is None:
                pytest.fail(f"MLServer exited ({self.process.wait()}):\n" + self.tail())
            if line:
                self.log.append(line)
            if all(_ready(pool, f"{url}/v2/models/{m}/ready") for m in models):
                return
        pytest.fail(f"MLServer was not ready after {timeout_s} s:\n" + self.tail())

    def tail(self) -> str:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.log.append(line)
        return "\n".join(self.log[-40:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _ready(pool: urllib3.PoolManager, url: str) -> bool:
    try:
        return pool.request("GET", url).status == 200
    except urllib3.exceptions.HTTPError:
        return False


@pytest.fixture(scope="module")
def mlserver(iris, tmp_path_factory) -> Iterator[str]:
    """The base URL of an MLServer serving ``iris`` and ``iris-species``."""
    repository = tmp_path_factory.mktemp("mlserver")
    settings = _write_repository(repository, iris)
    url = f"http://127.0.0.1:{settings['http_port']}"
    server = MLServerProcess(repository)
    try:
        server.wait_ready(url, ["iris", "iris-species"], START_TIMEOUT_S)
        yield url
    finally:
        server.stop()


def _features_df(spark, features: np.ndarray, partitions: int = 3):
    """``id`` and the features, in order: partition p holds the p-th slice of the rows."""
    rows = [(i, *map(float, row)) for i, row in enumerate(features)]
    df = spark.sparkContext.parallelize(rows, partitions).toDF(["id", *FEATURES])
    return VectorAssembler(inputCols=FEATURES, outputCol="features").transform(df)


def test_scores_thousands_of_rows_as_scikit_learn_does_in_order(spark, mlserver, iris):
    rows = len(iris.features)
    assert rows == 3_000
    model = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(mlserver, "iris"),
        request_row_serializer=KServeV2RequestRowSerializer(outputs=["predict", "predict_proba"]),
        response_row_deserializer=KServeV2ResponseRowDeserializer(
            "predict bigint, predict_proba array<double>"
        ),
        max_batch_records=400,
    )
    out = model.transform(_features_df(spark, iris.features)).toArrow()
    ids = out.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(rows))
    expected = iris.by_number.predict(iris.features)
    assert out.column("predict").to_pylist() == expected.tolist()
    assert len(set(expected.tolist())) == 3  # every class is predicted somewhere
    np.testing.assert_array_equal(
        np.asarray(out.column("predict_proba").to_pylist()),
        iris.by_number.predict_proba(iris.features),
    )
    metrics = model.last_metrics
    assert (metrics.rows, metrics.rows_failed, metrics.bodies) == (rows, 0, 9)  # 3 x 400+400+200


def test_named_columns_as_a_dataframe_with_string_predictions(spark, mlserver, iris):
    import pandas as pd

    model = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(mlserver, "iris-species"),
        request_row_serializer=KServeV2RequestRowSerializer(
            input_mapping=FEATURES,  # one input per column, named as the column
            parameters={"content_type": "pd"},  # MLServer hands the model a DataFrame
        ),
        response_row_deserializer=KServeV2ResponseRowDeserializer(
            "species string", output_mapping={"predict": "species"}
        ),
        max_batch_records=250,
    )
    df = _features_df(spark, iris.features[:1000], partitions=2)
    out = model.transform(df).select("id", "species").toArrow()
    assert out.column("id").to_pylist() == list(range(1000))
    expected = iris.by_name.predict(pd.DataFrame(iris.features[:1000], columns=FEATURES))
    assert out.column("species").to_pylist() == expected.tolist()
    assert set(expected.tolist()) == {"setosa", "versicolor", "virginica"}


def test_the_readme_example_runs_as_written(spark, mlserver, iris):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [example] = [b for b in blocks if "HttpEndpoint.kserve_v2(" in b]
    assert '"http://127.0.0.1:8080"' in example
    namespace = {"df": _features_df(spark, iris.features[:300], partitions=1)}
    exec(example.replace("http://127.0.0.1:8080", mlserver), namespace)
    scored = namespace["scored"].select("id", "predict").toArrow()
    assert scored.column("id").to_pylist() == list(range(300))
    assert scored.column("predict").to_pylist() == (
        iris.by_number.predict(iris.features[:300]).tolist()
    )


def test_what_the_server_refuses_and_outputs_it_did_not_send(spark, mlserver, iris):
    df = _features_df(spark, iris.features[:20], partitions=1)
    asks_unknown = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(mlserver, "iris"),
        request_row_serializer=KServeV2RequestRowSerializer(outputs=["decision_function"]),
        response_row_deserializer=KServeV2ResponseRowDeserializer("decision_function double"),
    )
    with pytest.raises(Exception, match="HTTP 400") as refused:
        asks_unknown.transform(df).collect()
    assert (
        "SKLearnModel only supports 'predict', 'predict_proba' and 'transform' as outputs "
        "(decision_function was received)"
    ) in str(refused.value)
    # MLServer answers only "predict" unless asked: the missing output is a parse error per
    # row, never a silent null
    missing = SageMakerModel(
        endpoint=HttpEndpoint.kserve_v2(mlserver, "iris"),
        request_row_serializer=KServeV2RequestRowSerializer(),
        response_row_deserializer=KServeV2ResponseRowDeserializer(
            "predict bigint, predict_proba array<double>"
        ),
        on_error="column",
    )
    rows = missing.transform(df).collect()
    assert {(r.error.kind, r.predict) for r in rows} == {("parse", None)}
    assert (
        "output 'predict_proba' is missing; the response has outputs ['predict']"
        in rows[0].error.message
    )
