"""The whole story on one machine: train, deploy, score a million rows, clean up.

1. starts the local endpoint host (and stops it at the end, also on failure or Ctrl-C);
2. trains a real model on scikit-learn's wine data, exports it to ONNX and packs it as
   ``model.tar.gz`` under the host's local S3 root;
3. ``SageMakerModel.from_model_s3_path`` creates model, endpoint config and endpoint;
4. scores a DataFrame of 1,000,000 rows and checks every prediction against the model run
   in-process;
5. cleans up with ``SageMakerResourceCleanup`` and proves nothing it created is left;
6. when the ``tensorflow`` extra is installed, does 2-5 again with a Keras model served as a
   TensorFlow SavedModel, on a tenth of the rows.

Exits non-zero if any step fails. Run: ``make demo`` (or ``python examples/demo.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _local import local_spark

BUCKET = "demo-models"
ROLE = "arn:aws:iam::123456789012:role/demo"
ONNX_IMAGE = "local/onnxruntime:latest"
TF_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
#: The ONNX model's container environment: the runtime, and its two outputs renamed.
ONNX_ENVIRONMENT = {
    "ENDPOINT_SERDE_RUNTIME": "onnx",
    "ENDPOINT_SERDE_OUTPUTS": "label,probabilities",
}


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def train_and_export(s3_root: Path) -> tuple[object, str, np.ndarray]:
    """A logistic regression on the wine data, exported to ONNX, packed as model.tar.gz."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_wine()
    x = data.data.astype(np.float32)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, data.target)
    onnx_model = to_onnx(clf, x[:1], options={"zipmap": False}, target_opset=17)
    key = "wine/model.tar.gz"
    target = s3_root / BUCKET / key
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = onnx_model.SerializeToString()
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo("model.onnx")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    print(f"trained LogisticRegression on {len(x)} wine samples x {x.shape[1]} features")
    print(f"exported ONNX ({len(payload):,} bytes) -> s3://{BUCKET}/{key}")
    return clf, f"s3://{BUCKET}/{key}", x


def scoring_frame(spark, base: np.ndarray, rows: int, partitions: int):
    """The wine rows repeated with ±2% noise, generated inside Spark (not on the driver):
    row ``id`` is wine sample ``id % 178`` times a seeded random factor per value. The
    samples are one flat array literal (one py4j call) that each row slices its sample
    from, so scoring is the only job Spark runs: no broadcast job before it for the
    progress display to mistake for the scoring."""
    from pyspark.sql import functions as F

    width = base.shape[1]
    samples = F.lit(base.astype(np.float64).ravel())
    start = (F.col("id") % len(base) * width + 1).cast("int")
    noise = F.transform(
        F.slice(samples, start, F.lit(width)),
        lambda v, i: v * (1.0 + 0.02 * F.randn(seed=7) * (i + 1) / width),
    )
    return spark.range(0, rows, 1, partitions).select("id", noise.alias("features"))


@contextlib.contextmanager
def scoring_progress(spark, partitions: int, rows: int) -> Iterator[None]:
    """Prints a line each time another partition of the scoring stage (one task per
    partition) is done, from a thread polling Spark's status tracker, and the last one when
    the block ends without an error.

    The demo's one progress display: ``local_spark`` turns Spark's console progress bar
    off, which would otherwise redraw itself across these lines. A line per partition (not
    a line redrawn with ``\\r``) reads the same in a terminal and in a CI log.
    """
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()
    started = time.monotonic()
    shown = -1

    def show(done: int) -> None:
        nonlocal shown
        if done > shown:
            shown = done
            print(
                f"   scoring: {done}/{partitions} partitions done "
                f"({rows * done // partitions:,} rows, {time.monotonic() - started:.0f} s)",
                flush=True,
            )

    def poll() -> None:
        while not stop.wait(0.5):
            for stage_id in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage_id)
                if info is not None and info.numTasks == partitions:
                    show(info.numCompletedTasks)

    thread = threading.Thread(target=poll, name="scoring-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    show(partitions)


def clean_up_and_verify(sm, created) -> bool:
    """Deletes what ``created`` lists, then checks the List calls no longer show any of it."""
    from endpoints.lifecycle.cleanup import SageMakerResourceCleanup

    print(SageMakerResourceCleanup(sm).delete_resources(created))
    left = {
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "endpoint configs": [
            c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
        ],
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
    }
    mine = {created.model_name, created.endpoint_config_name, created.endpoint_name}
    clean = True
    for kind, names in left.items():
        leftovers = sorted(set(names) & mine)
        print(f"List check, {kind}: {leftovers or 'none left'}")
        clean = clean and not leftovers
    if not clean:
        print("FAILED: resources were left behind", file=sys.stderr)
    return clean


def keras_variant(sm, url: str, workdir: Path, base: np.ndarray, rows: int) -> bool:
    """The same story with a Keras model served as a TensorFlow SavedModel, when the
    ``tensorflow`` extra is installed (``make test`` installs it; ``make demo`` does not)."""
    try:
        import tensorflow as tf
    except ImportError:
        print("\n(tensorflow extra not installed: skipping the Keras -> SavedModel variant)")
        return True
    from sklearn.datasets import load_wine

    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer
    from serde.json import JSONPredictionsResponseRowDeserializer

    step(f"6. the same with Keras -> TensorFlow SavedModel, {rows:,} rows")
    data = load_wine()
    x, y = data.data.astype(np.float32), data.target
    tf.keras.utils.set_random_seed(1)
    norm = tf.keras.layers.Normalization()
    norm.adapt(x)
    net = tf.keras.Sequential(
        [
            tf.keras.Input((x.shape[1],)),
            norm,
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(x, y, epochs=40, verbose=0)
    export_dir = workdir / "keras-savedmodel"
    net.export(str(export_dir), verbose=False)
    key = "wine-keras/model.tar.gz"
    target = workdir / "s3" / BUCKET / key
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in export_dir.rglob("*"):
            tar.add(path, arcname=str(path.relative_to(export_dir)), recursive=False)
    print(f"trained a Keras MLP, exported a SavedModel -> s3://{BUCKET}/{key}")
    model = SageMakerModel.from_model_s3_path(
        f"s3://{BUCKET}/{key}",
        model_image=TF_IMAGE,
        model_execution_role_arn=ROLE,
        endpoint_instance_type="ml.m5.large",
        endpoint_initial_instance_count=1,
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=JSONPredictionsResponseRowDeserializer(
            "probabilities array<double>"
        ),
        sagemaker_client=sm,
        endpoint_url=url,
        region="us-east-1",
    )
    created = model.created_resources
    ok = False
    try:
        spark = local_spark("endpoint-serde-demo-keras")
        scored = model.transform(scoring_frame(spark, base, rows, 4))
        with scoring_progress(spark, 4, rows):
            result = scored.select("features", "probabilities").toArrow()
        spark.stop()
        features = result.column("features").combine_chunks().flatten().to_numpy()
        features = features.reshape(-1, base.shape[1]).astype(np.float32)
        probabilities = result.column("probabilities").combine_chunks().flatten().to_numpy()
        got = probabilities.reshape(-1, 3).argmax(axis=1)
        expected = net.predict(features, batch_size=8192, verbose=0).argmax(axis=1)
        agreement = float((got == expected).mean())
        print(f"rows scored: {result.num_rows:,}; agreement with Keras in-process: {agreement:.4%}")
        ok = result.num_rows == rows and agreement == 1.0
    finally:
        ok = clean_up_and_verify(sm, created) and ok
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    from endpoints.local import LocalHostProcess
    from endpoints.scoring.model import EndpointCreationPolicy, SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer
    from serde.json import JSONPredictionsResponseRowDeserializer

    workdir = Path(tempfile.mkdtemp(prefix="endpoint-serde-demo-"))
    step("1. start the local endpoint host")
    # its own process, as `endpoints-local serve` in a terminal: it shares no GIL with the
    # Spark driver; stopped on the way out, also on failure or Ctrl-C
    with LocalHostProcess(s3_root=workdir / "s3") as host:
        print(f"listening on {host.url} (SageMaker control plane + runtime), s3 root {workdir}")
        sm = host.sagemaker_client()

        step("2. train a real model and pack it like SageMaker does")
        clf, model_url, base = train_and_export(workdir / "s3")

        step("3. create model, endpoint config and endpoint; wait for InService")
        started = time.monotonic()
        model = SageMakerModel.from_model_s3_path(
            model_url,
            model_image=ONNX_IMAGE,
            model_execution_role_arn=ROLE,
            endpoint_instance_type="ml.m5.large",
            endpoint_initial_instance_count=1,
            request_row_serializer=UnlabeledCSVRequestRowSerializer(),
            response_row_deserializer=JSONPredictionsResponseRowDeserializer(
                "label bigint, probabilities array<double>"
            ),
            model_environment_variables=ONNX_ENVIRONMENT,
            endpoint_creation_policy=EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
            sagemaker_client=sm,
            endpoint_url=host.url,
            region="us-east-1",
            manifest_path=str(workdir / "created.json"),
        )
        created = model.created_resources
        print(
            f"InService after {time.monotonic() - started:.1f}s: model {created.model_name}, "
            f"endpoint config {created.endpoint_config_name}, endpoint {created.endpoint_name}"
        )

        try:
            step(f"4. score {args.rows:,} rows")
            spark = local_spark("endpoint-serde-demo")
            df = scoring_frame(spark, base, args.rows, args.partitions)
            scored = model.transform(df)
            scored.printSchema()
            t0 = time.monotonic()
            with scoring_progress(spark, args.partitions, args.rows):
                result = scored.select("id", "features", "label", "probabilities").toArrow()
            seconds = time.monotonic() - t0
            print(result.slice(0, 5).to_pandas().to_string(index=False, max_colwidth=60))
            width = base.shape[1]
            features = result.column("features").combine_chunks().flatten().to_numpy()
            # the endpoint reads float32, as ONNX models do; predict on the same values
            features = features.reshape(-1, width).astype(np.float32)
            labels = result.column("label").to_numpy()
            expected = clf.predict(features)
            agreement = float((labels == expected).mean())
            m = model.last_metrics
            print(
                f"\nrows scored:        {result.num_rows:,} in {seconds:.1f}s "
                f"({result.num_rows / seconds:,.0f} rows/s, generating the noisy rows and "
                "collecting every result to the driver included)"
            )
            print(f"agreement with in-process predictions: {agreement:.4%}")
            print(
                f"requests: {m.requests:,}  retries: {m.total_retries}  "
                f"bytes sent: {m.bytes_sent:,}"
            )
            lat = m.as_dict()["latency_ms"]
            # the host's own clock: from a request's headers to its answer, body read included
            served_s = host.metrics()["latency_seconds_sum"].get(created.endpoint_name, 0.0)
            print(
                f"latency p50/p90/p99: {lat['p50']:.1f} / {lat['p90']:.1f} / {lat['p99']:.1f} ms"
                f" (in the host: {1000 * served_s / max(m.requests, 1):.1f} ms per request on "
                "average)"
            )
            spark.stop()
            if result.num_rows != args.rows or agreement != 1.0:
                print("FAILED: results do not match the in-process model", file=sys.stderr)
                return 1
        finally:
            step("5. clean up what this run created, and prove it")
            clean = clean_up_and_verify(sm, created)
        if not clean:
            return 1
        if not keras_variant(sm, host.url, workdir, base, args.rows // 10):
            return 1
    print("\ndemo finished: everything created was deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
