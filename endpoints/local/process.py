"""The local endpoint host in its own process, for throughput.

``LocalEndpointHost`` runs in a thread of the caller's process: ideal for tests, but it
shares the GIL with whatever else that process does — in a Spark driver, collecting
results. ``LocalHostProcess`` starts ``endpoints-local serve`` as a child process instead
(what a user does in a terminal), reads the URL it prints, and stops it on ``stop()``,
on leaving the ``with`` block, or when the parent exits — even when it is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from endpoints.local.errors import LocalHostError
from endpoints.local.faults import FaultSpec
from endpoints.local.origin import CONTROL_HEADERS
from endpoints.local.server import deployment_requests, local_client, require_in_service

__all__ = ["LocalHostProcess"]

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class LocalHostProcess:
    """``endpoints-local serve --port 0`` as a child process; the model roots, the Python
    opt-in, the archive and connection limits mean what they mean for
    :class:`~endpoints.local.LocalEndpointHost`.

    >>> with LocalHostProcess(s3_root="s3") as host:  # doctest: +SKIP
    ...     host.sagemaker_client().list_endpoints()
    """

    def __init__(
        self,
        s3_root: str | Path | None = None,
        state_dir: str | Path | None = None,
        region: str = "us-east-1",
        *,
        model_roots: Iterable[str | Path] = (),
        allow_python_models: bool = False,
        max_archive_bytes: int | None = None,
        max_archive_members: int | None = None,
        read_timeout_s: float | None = None,
        max_connections: int | None = None,
        start_timeout_s: float = 60.0,
        log_level: str = "warning",
        inference_workers: int | None = None,
    ) -> None:
        self.region = region
        args = [sys.executable, "-m", "endpoints.local", "serve", "--port", "0"]
        # stdin is a pipe only this process holds: if it dies without stopping the host
        # (SIGKILL, a crashed test run), the pipe closes and the host stops by itself
        args += ["--region", region, "--log-level", log_level, "--stop-on-stdin-close"]
        if s3_root is not None:
            args += ["--s3-root", str(s3_root)]
        if inference_workers is not None:
            args += ["--inference-workers", str(inference_workers)]
        if state_dir is not None:
            args += ["--state-dir", str(state_dir)]
        for root in model_roots:
            args += ["--model-root", str(root)]
        if allow_python_models:
            args.append("--allow-python-models")
        if max_archive_bytes is not None:
            args += ["--max-archive-bytes", str(max_archive_bytes)]
        if max_archive_members is not None:
            args += ["--max-archive-members", str(max_archive_members)]
        if read_timeout_s is not None:
            args += ["--read-timeout", str(read_timeout_s)]
        if max_connections is not None:
            args += ["--max-connections", str(max_connections)]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        atexit.register(self.stop)
        self.url = self._read_url(start_timeout_s)

    def _read_url(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                return match.group(1)
        self.stop()
        raise LocalHostError(
            f"endpoints-local did not print its URL within {timeout_s:g}s "
            f"(exit code {self._proc.poll()}); run `endpoints-local serve` by hand to see why"
        )

    @property
    def pid(self) -> int:
        """The host process's id (to read its CPU time, as the benchmarks do)."""
        return self._proc.pid

    def sagemaker_client(self) -> Any:
        return local_client(self.url, "sagemaker", self.region)

    def runtime_client(self) -> Any:
        return local_client(self.url, "sagemaker-runtime", self.region)

    def s3_client(self) -> Any:
        """A boto3 ``s3`` client on the child's S3 API (its ``--s3-root``)."""
        return local_client(self.url, "s3", self.region)

    def set_faults(self, endpoint_name: str, spec: FaultSpec | None) -> None:
        """:meth:`LocalEndpointHost.set_faults
        <endpoints.local.LocalEndpointHost.set_faults>` through the child's
        ``POST /_local/faults/{endpoint}`` (``None`` clears them)."""
        body = orjson.dumps(spec.to_dict()) if spec is not None else b""
        self._local_request("POST", f"/_local/faults/{endpoint_name}", body)

    def set_control_plane_faults(self, spec: FaultSpec | None) -> None:
        """:meth:`LocalEndpointHost.set_control_plane_faults
        <endpoints.local.LocalEndpointHost.set_control_plane_faults>` through the child's
        ``POST /_local/control-plane-faults`` (``None`` clears them)."""
        body = orjson.dumps(spec.to_dict()) if spec is not None else b""
        self._local_request("POST", "/_local/control-plane-faults", body)

    def metrics(self) -> dict[str, Any]:
        """The child's counters, as :meth:`LocalEndpointHost.metrics
        <endpoints.local.LocalEndpointHost.metrics>` returns them."""
        return orjson.loads(self._local_request("GET", "/_local/metrics"))

    def _local_request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        # a POST needs the control header and JSON type, which no cross-origin page can send
        headers = CONTROL_HEADERS if method == "POST" else {}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        # no proxy: an HTTP_PROXY in the environment must not carry loopback calls elsewhere
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise LocalHostError(f"{method} {path} failed: HTTP {error.code} {detail}") from None

    def deploy_local(
        self,
        name: str,
        model_dir_or_url: str | Path,
        runtime: str | None = None,
        environment: dict[str, str] | None = None,
        *,
        image: str | None = None,
        instance_type: str = "ml.m5.large",
        timeout_s: float = 120.0,
    ) -> dict[str, Any]:
        """:meth:`LocalEndpointHost.deploy_local <endpoints.local.LocalEndpointHost.deploy_local>`
        through the child's SageMaker API: model, config and endpoint named ``name``, then
        wait for InService."""
        from botocore import xform_name
        from botocore.exceptions import ClientError

        sm = self.sagemaker_client()
        try:
            for operation, params in deployment_requests(
                name, model_dir_or_url, runtime, environment, image, instance_type
            ):
                getattr(sm, xform_name(operation))(**params)
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message", str(error))
            raise LocalHostError(f"deploy_local({name!r}) failed: {message}") from error
        deadline = time.monotonic() + timeout_s
        record = sm.describe_endpoint(EndpointName=name)
        while record["EndpointStatus"] in ("Creating", "Updating") and time.monotonic() < deadline:
            time.sleep(0.1)
            record = sm.describe_endpoint(EndpointName=name)
        return require_in_service(record)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(5)
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalHostProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
