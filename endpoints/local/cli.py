"""``endpoints-local``: run the local endpoint host (``serve``) or one model behind the
SageMaker container contract (``container``).

``--port 0`` picks a free port; the first line on stdout is always
``endpoints-local listening on http://HOST:PORT`` so scripts can parse it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from endpoints.local.artifacts import ArchiveLimits
from endpoints.local.connections import ConnectionLimits

__all__ = ["main"]

CONTAINER_ENDPOINT = "model"


def _thread_count(text: str) -> int:
    """``--inference-workers``: a whole number of threads, at least one."""
    count = int(text) if text.strip().isdigit() else 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of threads, 1 or more; got {text!r}"
        )
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpoints-local",
        description="A local SageMaker-compatible endpoint host (127.0.0.1 by default).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, default_port: int) -> None:
        sub.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
        sub.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
        sub.add_argument(
            "--log-level",
            default="info",
            choices=["debug", "info", "warning", "error"],
            help="debug logs one line per request (never headers)",
        )
        sub.add_argument(
            "--stop-on-stdin-close",
            action="store_true",
            help="stop when standard input closes: a parent process that starts the host "
            "with a pipe on stdin takes it down with it, even if the parent is killed",
        )

    serve = commands.add_parser("serve", help="SageMaker control plane + runtime + TF Serving")
    common(serve, 8080)
    serve.add_argument(
        "--inference-workers",
        type=_thread_count,
        default=8,
        metavar="N",
        help="threads that decode requests, run models and encode answers (8); parsing, "
        "ONNX and TensorFlow release the GIL, so a few per core keep the cores busy",
    )
    serve.add_argument(
        "--s3-root",
        type=Path,
        help="the host's S3: s3://bucket/key is <s3-root>/bucket/key, for models and transform "
        "jobs, and served to boto3's s3 client on the host's port",
    )
    serve.add_argument(
        "--model-root",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder file:// model data may come from (repeatable); model data is read "
        "only from under these and the S3 root",
    )
    serve.add_argument(
        "--allow-python-models",
        action="store_true",
        help="load Python-callable models: their code runs inside the host",
    )
    serve.add_argument(
        "--max-archive-bytes",
        type=int,
        help=f"a model.tar.gz unpacks to at most this many bytes ({ArchiveLimits.max_bytes})",
    )
    serve.add_argument(
        "--max-archive-members",
        type=int,
        help=f"a model.tar.gz holds at most this many members ({ArchiveLimits.max_members})",
    )
    serve.add_argument(
        "--s3-endpoint-url",
        help="an S3 server (moto, MinIO) to fetch s3:// model data from and run transform "
        "jobs on, instead of the S3 root",
    )
    serve.add_argument("--state-dir", type=Path, help="persist resources here across restarts")
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=ConnectionLimits.read_timeout_s,
        metavar="SECONDS",
        help="a request's headers must arrive within this, its body without a longer pause "
        f"({ConnectionLimits.read_timeout_s:g}); else 408",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=ConnectionLimits.max_connections,
        metavar="N",
        help="open connections at most; idle and half-sent ones are closed first to make "
        f"room ({ConnectionLimits.max_connections})",
    )
    serve.add_argument("--region", default="us-east-1")

    container = commands.add_parser("container", help="one model on /ping and /invocations")
    common(container, 8080)
    container.add_argument("--model", required=True, help="model directory, file or URL")
    container.add_argument(
        "--runtime",
        choices=["onnx", "tensorflow", "python"],
        help="python runs the model's code inside the host (naming it is the opt-in)",
    )
    container.add_argument(
        "--allow-python-models",
        action="store_true",
        help="load the model if it turns out to be Python (its model.py runs in the host)",
    )
    container.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="container variable"
    )
    return parser


def _wait_for_signal(stop_on_stdin_close: bool) -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if stop_on_stdin_close:

        def watch_stdin() -> None:
            sys.stdin.buffer.read()  # returns at end of file: the parent closed it or died
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from endpoints.local.server import LocalEndpointHost

    if args.command == "serve":
        host = LocalEndpointHost(
            s3_root=args.s3_root,
            state_dir=args.state_dir,
            s3_endpoint_url=args.s3_endpoint_url,
            region=args.region,
            port=args.port,
            inference_workers=args.inference_workers,
            host=args.host,
            model_roots=args.model_root,
            allow_python_models=args.allow_python_models,
            max_archive_bytes=args.max_archive_bytes,
            max_archive_members=args.max_archive_members,
            read_timeout_s=args.read_timeout,
            max_connections=args.max_connections,
        )
    else:
        environment = dict(item.split("=", 1) for item in args.env)
        # the one model named on the command line is the host's only model root
        model = Path(args.model) if "://" not in args.model else None
        host = LocalEndpointHost(
            port=args.port,
            host=args.host,
            container_endpoint=CONTAINER_ENDPOINT,
            model_roots=[model] if model is not None else [],
            allow_python_models=args.allow_python_models or args.runtime == "python",
        )
        try:
            host.deploy_local(CONTAINER_ENDPOINT, args.model, args.runtime, environment)
        except Exception as exc:
            host.stop()
            print(f"endpoints-local: cannot load {args.model}: {exc}", file=sys.stderr)
            return 2
    print(f"endpoints-local listening on {host.url}", flush=True)
    try:
        _wait_for_signal(args.stop_on_stdin_close)
    finally:
        host.stop()
    return 0
