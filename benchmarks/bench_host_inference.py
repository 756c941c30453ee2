"""The local host alone, on the demo's model: what its inference path serves.

``make demo`` scores against ``endpoints-local serve`` on the same two cores as Spark, so
its rows/s are the library's only while the host keeps up. This measures the host without
Spark: the demo's ONNX logistic regression (trained and packed by ``examples/demo.py``,
deployed through the SageMaker API with the demo's container environment) fed the bodies
the engine sends for the demo — 10,000 rows x 13 features of CSV written by
``UnlabeledCSVRequestRowSerializer``, packed by ``RequestBatchIterator`` — and answered as
JSON (label + probabilities). Client threads, one keep-alive connection each, post a fixed
number of requests per case (bounded in count, not timed); every answer is checked against
scikit-learn's predictions. Each case prints rows/s, latency p50/p99 and the host's own CPU
time per request, read from ``/proc``: on a shared machine wall time moves with the load,
CPU time much less. Cases: 1, 4 and 16 requests in flight (the demo keeps up to 16: two
tasks x 8), with the host's inference pool at 1 thread and at its default 8. Prints a
Markdown table; not a test.

    .venv/bin/python benchmarks/bench_host_inference.py [--requests 48]
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # demo.py

from _common import table
from _proc_cpu import read_stat
from demo import ONNX_ENVIRONMENT, train_and_export

ENDPOINT = "demo-model"
HEADERS = {"Content-Type": "text/csv", "Accept": "application/json"}


def demo_body(base: np.ndarray, rows: int) -> tuple[bytes, np.ndarray]:
    """One request body as the engine writes it for the demo, and the rows it carries (the
    wine samples repeated with the demo's ±2% noise, drawn here with numpy)."""
    import pyarrow as pa

    from serde.batching import RequestBatchIterator, RequestBody
    from serde.csv import UnlabeledCSVRequestRowSerializer

    rng = np.random.default_rng(7)
    width = base.shape[1]
    ramp = (np.arange(width) + 1) / width
    features = base[np.arange(rows) % len(base)] * (
        1.0 + 0.02 * rng.standard_normal((rows, width)) * ramp
    )
    batch = pa.record_batch({"features": pa.array(list(features.astype(np.float64)))})
    packer = RequestBatchIterator(UnlabeledCSVRequestRowSerializer(), max_batch_records=rows)
    (body,) = [item for item in packer.iter_arrow([batch]) if isinstance(item, RequestBody)]
    assert body.num_rows == rows, f"one body of {rows} rows expected, got {body.num_rows}"
    return body.body, features


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> bytes:
    conn.request("POST", path, body=body, headers=HEADERS)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
    return answer


def run_case(host, body: bytes, expected: bytes, clients: int, requests: int) -> dict:
    """``requests`` posts of ``body`` from ``clients`` threads; every answer must be
    ``expected``."""
    port = int(host.url.rsplit(":", 1)[1])
    path = f"/endpoints/{ENDPOINT}/invocations"
    remaining = [requests]
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[BaseException] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    if remaining[0] == 0 or failures:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                answer = post(conn, path, body)
                latencies.append(time.perf_counter() - started)
                if answer != expected:
                    raise RuntimeError("an answer differs from the first one")
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu_before = read_stat(host.pid).own_seconds
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu = read_stat(host.pid).own_seconds - cpu_before
    if failures:
        raise failures[0]
    latencies.sort()
    return {
        "seconds": seconds,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cpu_ms": cpu / requests * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="requests per case")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per request body")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8], help="host pools")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()

    import orjson

    from endpoints.local import LocalHostProcess

    s3_root = Path(tempfile.mkdtemp(prefix="bench-host-inference-")) / "s3"
    clf, model_url, base = train_and_export(s3_root)
    body, features = demo_body(base, args.rows)
    labels = clf.predict(features.astype(np.float32))
    results = []
    for workers in args.threads:
        with LocalHostProcess(s3_root=s3_root, inference_workers=workers) as host:
            host.deploy_local(ENDPOINT, model_url, environment=ONNX_ENVIRONMENT)
            conn = http.client.HTTPConnection("127.0.0.1", int(host.url.rsplit(":", 1)[1]))
            expected = post(conn, f"/endpoints/{ENDPOINT}/invocations", body)
            conn.close()
            got = [row["label"] for row in orjson.loads(expected)["predictions"]]
            if got != labels.tolist():
                raise RuntimeError("the host's labels differ from scikit-learn's")
            for clients in args.in_flight:
                case = run_case(host, body, expected, clients, args.requests)
                rows_per_s = args.requests * args.rows / case["seconds"]
                results.append(
                    [workers, clients, rows_per_s, case["p50"], case["p99"], case["cpu_ms"]]
                )
                print(
                    f"  threads {workers}, in flight {clients}: {rows_per_s:,.0f} rows/s",
                    flush=True,
                )
    print(
        f"\nThe local host alone on the demo's model ({args.rows:,}-row CSV bodies, JSON "
        f"answers, {args.requests} requests per case, {os.cpu_count()} CPUs; every answer "
        "checked)\n"
    )
    headers = [
        "inference threads",
        "in flight",
        "rows/s",
        "p50 ms",
        "p99 ms",
        "host CPU ms/request",
    ]
    print(table(headers, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
