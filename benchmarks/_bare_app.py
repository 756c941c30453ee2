"""A bare ASGI app on uvicorn + httptools, bound to 127.0.0.1: the baseline server of the
benchmarks, with nothing of the local host around it (no routing, metrics, faults or
thread-pool hop). Two answers:

- ``sum``: the local host's own CSV codec and a row sum, on the event loop — the same work
  as the host's trivial model, to measure what the host's machinery costs;
- ``count``: one ``0`` per request row, no parsing — a server that costs almost no CPU, so
  that on a small machine what is measured is the client, not a server sharing its cores.

``--latency-ms`` sleeps (without blocking the loop) before answering, like a model that
takes that long; ``--per-row-us`` adds that much per request row, like a model whose work
grows with the batch; ``--slots N`` serves at most N requests at once (the others queue),
like an endpoint with N workers; ``--capacity N`` refuses at once, not queued, a request
arriving while N are being served, with SageMaker's throttling answer (HTTP 400,
``x-amzn-ErrorType: ThrottlingException``, which botocore reads as the error code), like
an endpoint whose instances are all busy. ``GET /counts`` answers, as JSON, how many
requests were accepted and refused, how many are being served, and the most served at once
since the previous ``GET /counts`` (so each read covers one run of a benchmark).
``--separator comma`` joins the answers with commas on one line, the form
sagemaker_pyspark's ``XGBoostCSVRowDeserializer`` reads (it splits at commas only). Run as
a script; prints ``bare listening on <url>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

THROTTLED = (
    400,
    [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", b"ThrottlingException"),
    ],
    b'{"__type": "ThrottlingException", "message": "Rate exceeded"}',
)


def _row_count(body: bytes) -> int:
    return body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)


def _sum_answer(body: bytes) -> bytes:
    from endpoints.local.codecs import decode_csv, encode_csv

    x = decode_csv(body)
    return encode_csv({"score": x.sum(axis=1)}, x.shape[0])


def _count_answer(body: bytes) -> bytes:
    return b"0\n" * _row_count(body)


def _comma_separated(answer: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """One answer per line → the same answers on one line, comma-separated."""
    return lambda body: b",".join(answer(body).split())


@dataclass
class Counts:
    """Requests accepted and refused (``--capacity``), and the most in service at once.

    Touched only on the event loop, between awaits: no lock needed."""

    accepted: int = 0
    refused: int = 0
    serving: int = 0
    peak_serving: int = 0

    def admit(self, capacity: int) -> bool:
        if capacity and self.serving >= capacity:
            self.refused += 1
            return False
        self.accepted += 1
        self.serving += 1
        self.peak_serving = max(self.peak_serving, self.serving)
        return True


async def read_request(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer", choices=["sum", "count"], default="sum")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--per-row-us", type=float, default=0.0)
    parser.add_argument("--slots", type=int, default=0, help="0: no limit")
    parser.add_argument("--capacity", type=int, default=0, help="0: no limit")
    parser.add_argument("--separator", choices=["newline", "comma"], default="newline")
    args = parser.parse_args()
    answer = _sum_answer if args.answer == "sum" else _count_answer
    if args.separator == "comma":
        answer = _comma_separated(answer)
    latency_s = args.latency_ms / 1000.0
    per_row_s = args.per_row_us / 1e6

    import uvicorn

    def exit_with_parent() -> None:
        sys.stdin.buffer.read()  # the parent holds the other end: EOF when it exits or dies
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    slots = asyncio.Semaphore(args.slots) if args.slots > 0 else contextlib.nullcontext()

    counts = Counts()
    json_type = [(b"content-type", b"application/json")]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        request = await read_request(receive)
        if scope["method"] == "GET" and scope["path"] == "/counts":
            await respond(send, 200, json_type, json.dumps(asdict(counts)).encode())
            counts.peak_serving = counts.serving
            return
        if not counts.admit(args.capacity):
            await respond(send, *THROTTLED)
            return
        try:
            async with slots:
                delay = latency_s + (per_row_s * _row_count(request) if per_row_s else 0.0)
                if delay:
                    await asyncio.sleep(delay)
                body = answer(request)
        finally:
            counts.serving -= 1
        await respond(send, 200, [(b"content-type", b"text/csv")], body)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"bare listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app, http="httptools", loop="asyncio", lifespan="off", log_config=None,
        log_level="warning", access_log=False, timeout_keep_alive=75,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
