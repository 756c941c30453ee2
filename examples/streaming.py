"""Structured Streaming: score micro-batches from a file source while the endpoint changes.

Files arrive in a folder; each micro-batch is scored on a SageMaker endpoint of the local
host. Halfway through, the endpoint is updated to a new model version (UpdateEndpoint) —
no row fails or goes missing during the swap — and throttling is injected so the
back-pressure window can be seen shrinking and growing back.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, local_spark, python_model_dir

V1 = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
V2 = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1) + 1000.0\n"
FILES, ROWS_PER_FILE = 6, 2_000


def drop_file(folder: Path, index: int) -> None:
    lines = (
        json.dumps({"id": index * ROWS_PER_FILE + i, "a": float(i % 10), "b": 0.5})
        for i in range(ROWS_PER_FILE)
    )
    tmp = folder.parent / f".part-{index}.json"
    tmp.write_text("\n".join(lines))
    tmp.rename(folder / f"part-{index}.json")  # atomic: the source never sees half a file


def main() -> int:

    from endpoints.local import FaultSpec, LocalEndpointHost
    from endpoints.retry import RetryPolicy
    from endpoints.scoring.model import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    spark = local_spark()
    inbox = Path(tempfile.mkdtemp(prefix="streaming-inbox-")) / "in"
    inbox.mkdir()
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        sm = host.sagemaker_client()
        host.deploy_local(
            "streaming-ep",
            python_model_dir(V1, "streaming-v1"),
            runtime="python",
            environment=PYTHON_MODEL_ENV,
        )
        model = SageMakerModel.from_endpoint(
            "streaming-ep",
            UnlabeledCSVRequestRowSerializer(features_column_name=["a", "b"]),
            XGBoostCSVRowDeserializer(),
            endpoint_url=host.url,
            region="us-east-1",
            max_batch_records=100,
            on_error="column",
            retry_policy=RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.2),
        )
        stream = (
            spark.readStream.schema("id long, a double, b double")
            .option("maxFilesPerTrigger", 1)
            .json(str(inbox))
        )
        seen: list[dict] = []

        def on_batch(batch_df, batch_id: int) -> None:
            rows = batch_df.collect()
            m = model.last_metrics
            seen.extend(r.asDict() for r in rows)
            failed = sum(r.error is not None for r in rows)
            print(
                f"micro-batch {batch_id}: {len(rows)} rows, {failed} failed, "
                f"retries so far {m.total_retries if m else 0}, "
                f"window lowest {m.window_lowest if m else '-'}"
            )

        query = model.transform(stream).writeStream.foreachBatch(on_batch).start()
        try:
            for index in range(FILES):
                if index == 2:
                    print("-> injecting throttling (ThrottlingException, 40% of requests)")
                    host.set_faults(
                        "streaming-ep",
                        FaultSpec(throttle_rate=0.4, seed=1, max_faults=30),
                    )
                if index == 3:
                    print("-> UpdateEndpoint to model v2 while the stream runs")
                    _update_to_v2(sm, host)
                drop_file(inbox, index)
                query.processAllAvailable()
            host.set_faults("streaming-ep", None)
        finally:
            query.stop()
    spark.stop()
    ids = sorted(r["id"] for r in seen)
    failed = [r for r in seen if r["error"] is not None]
    v2_rows = sum(r["prediction"] >= 1000 for r in seen if r["prediction"] is not None)
    print(f"\nrows in: {FILES * ROWS_PER_FILE}, rows out: {len(seen)}, failed: {len(failed)}")
    print(f"rows scored by model v2: {v2_rows}")
    ok = ids == list(range(FILES * ROWS_PER_FILE)) and not failed and v2_rows > 0
    print("streaming example", "OK" if ok else "FAILED")
    return 0 if ok else 1


def _update_to_v2(sm, host) -> None:
    v2_dir = python_model_dir(V2, "streaming-v2")
    sm.create_model(
        ModelName="streaming-v2",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/demo",
        PrimaryContainer={
            "Image": "local/python",
            "ModelDataUrl": v2_dir.as_uri(),
            "Environment": {"ENDPOINT_SERDE_RUNTIME": "python", **PYTHON_MODEL_ENV},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="streaming-v2",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "streaming-v2",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.update_endpoint(EndpointName="streaming-ep", EndpointConfigName="streaming-v2")
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName="streaming-ep")["EndpointStatus"] != "InService":
        if time.monotonic() > deadline:
            raise TimeoutError("UpdateEndpoint did not finish in 60 s")
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
