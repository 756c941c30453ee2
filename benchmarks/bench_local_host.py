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
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bare_app, deploy_python_model, host_process


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
    args = parser.parse_args()

    one_row = csv_body(1)
    thousand = csv_body(1_000)
    big_rows = 5 * 1024 * 1024 // len(csv_body(100)[0]) * 100
    big = csv_body(big_rows)
    cases = [
        ("1-row CSV request", one_row, 1, "requests/s"),
        ("1,000-row CSV body", thousand, 1_000, "rows/s"),
        (f"{len(big[0]) / 2**20:.1f} MiB CSV body ({big_rows:,} rows)", big, big_rows, "rows/s"),
    ]
    with host_process() as host, bare_app("sum") as bare_url:
        deploy_python_model(host, "bench")
        invoke_url = f"{host.url}/endpoints/bench/invocations"
        rows_out = []
        for label, (body, first), rows, unit in cases:
            host_rate = hammer(invoke_url, body, first, args.seconds, args.threads) * rows
            bare_rate = hammer(bare_url, body, first, args.seconds, args.threads) * rows
            rows_out.append((label, unit, host_rate, bare_rate))
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
