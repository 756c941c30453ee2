"""A bare ASGI app on uvicorn + httptools, bound to 127.0.0.1: the baseline server of the
benchmarks, with nothing of the local host around it (no routing, metrics, faults or
thread-pool hop). Two answers:

- ``sum``: the local host's own CSV codec and a row sum, on the event loop — the same work
  as the host's trivial model, to measure what the host's machinery costs;
- ``count``: one ``0`` per request row, no parsing — a server that costs almost no CPU, so
  that on a small machine what is measured is the client, not a server sharing its cores.

``--latency-ms`` sleeps (without blocking the loop) before answering, like a model that
takes that long. Run as a script; prints ``bare listening on <url>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading


def _sum_answer(body: bytes) -> bytes:
    from endpoints.local.codecs import decode_csv, encode_csv

    x = decode_csv(body)
    return encode_csv({"score": x.sum(axis=1)}, x.shape[0])


def _count_answer(body: bytes) -> bytes:
    rows = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    return b"0\n" * rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer", choices=["sum", "count"], default="sum")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    answer = _sum_answer if args.answer == "sum" else _count_answer
    latency_s = args.latency_ms / 1000.0

    import uvicorn

    def exit_with_parent() -> None:
        sys.stdin.buffer.read()  # the parent holds the other end: EOF when it exits or dies
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if latency_s:
            await asyncio.sleep(latency_s)
        body = answer(b"".join(chunks))
        headers = [(b"content-type", b"text/csv"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

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
