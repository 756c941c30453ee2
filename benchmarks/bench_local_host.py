"""Local host throughput vs a bare ASGI app on the same server stack.

Both run as separate processes on uvicorn + httptools, bound to 127.0.0.1 on a free port:
``endpoints-local serve`` serving a Python model that returns each row's sum, and a bare
ASGI app doing the same work (same CSV parser, same encoder, on the event loop) with no
routing, metrics, faults or thread-pool hop. A few client threads post pre-built bodies
with urllib3 for a bounded time per case. Prints a Markdown table; not a test.

    .venv/bin/python benchmarks/bench_local_host.py [--seconds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


# ------------------------------------------------------------------------------ bare server


def bare_app_main() -> None:
    """The baseline: one route, the host's own CSV codec, no framework around it."""
    import socket

    import uvicorn

    from endpoints.local.codecs import decode_csv, encode_csv

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        x = decode_csv(b"".join(chunks))
        body = encode_csv({"score": x.sum(axis=1)}, x.shape[0])
        headers = [(b"content-type", b"text/csv"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"bare listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app, http="httptools", loop="asyncio", lifespan="off", log_config=None,
        log_level="warning", access_log=False, timeout_keep_alive=75,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


# ----------------------------------------------------------------------------------- client


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    match = LISTENING.search(line)
    if not match:
        process.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return process, match.group(1)


def deploy(url: str, model_dir: Path) -> str:
    import boto3

    sm = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    env = {"ENDPOINT_SERDE_RUNTIME": "python", "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
    sm.create_model(
        ModelName="bench",
        PrimaryContainer={"Image": "local", "ModelDataUrl": model_dir.as_uri(), "Environment": env},
    )
    sm.create_endpoint_config(
        EndpointConfigName="bench",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "bench"}],
    )
    sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName="bench", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return f"{url}/endpoints/bench/invocations"


def hammer(url: str, body: bytes, expected_first: bytes, seconds: float, threads: int) -> float:
    """Requests per second over ``seconds`` from ``threads`` urllib3 clients."""
    import urllib3

    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    check = pool.request("POST", url, body=body, headers={"Content-Type": "text/csv"})
    if check.status != 200 or not check.data.startswith(expected_first):
        raise RuntimeError(f"unexpected answer {check.status}: {check.data[:80]!r}")
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def run(index: int) -> None:
        while time.perf_counter() < deadline:
            response = pool.request("POST", url, body=body, headers={"Content-Type": "text/csv"})
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            counts[index] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - started)


def csv_body(rows: int, width: int = 10) -> tuple[bytes, bytes]:
    x = np.random.default_rng(0).normal(size=(rows, width)).round(6)
    body = "\n".join(",".join(map(repr, row)) for row in x.tolist()).encode()
    return body, repr(float(x[0].sum())).encode()[:6]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_app_main()
        return 0

    model_dir = Path(tempfile.mkdtemp(prefix="bench-local-host-"))
    (model_dir / "model.py").write_text(MODEL)
    one_row = csv_body(1)
    thousand = csv_body(1_000)
    big_rows = 5 * 1024 * 1024 // len(csv_body(100)[0]) * 100
    big = csv_body(big_rows)
    cases = [
        ("1-row CSV request", one_row, 1, "requests/s"),
        ("1,000-row CSV body", thousand, 1_000, "rows/s"),
        (f"{len(big[0]) / 2**20:.1f} MiB CSV body ({big_rows:,} rows)", big, big_rows, "rows/s"),
    ]
    host, host_url = start([sys.executable, "-m", "endpoints.local", "serve", "--port", "0",
                            "--log-level", "warning"])  # fmt: skip
    bare, bare_url = start([sys.executable, __file__, "--bare-server"])
    try:
        invoke_url = deploy(host_url, model_dir)
        rows_out = []
        for label, (body, first), rows, unit in cases:
            host_rate = hammer(invoke_url, body, first, args.seconds, args.threads) * rows
            bare_rate = hammer(bare_url, body, first, args.seconds, args.threads) * rows
            rows_out.append((label, unit, host_rate, bare_rate))
    finally:
        for process in (host, bare):
            process.terminate()
            process.wait(timeout=15)
    print(f"\nLocal host vs bare ASGI app (uvicorn+httptools, {args.threads} client threads, "
          f"{args.seconds:g} s per case, {os.cpu_count()} CPUs)\n")  # fmt: skip
    print("| case | unit | endpoints-local | bare ASGI app | host / bare |")
    print("|---|---|---:|---:|---:|")
    for label, unit, host_rate, bare_rate in rows_out:
        print(
            f"| {label} | {unit} | {host_rate:,.0f} | {bare_rate:,.0f} | "
            f"{host_rate / bare_rate:.0%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
