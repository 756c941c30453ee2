"""Shared fixtures: one real local SparkSession per test run."""

from __future__ import annotations

import os
import sys

import pytest

# Spark's Python workers must run this interpreter (the venv's), or they miss pyarrow.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# The session binds 127.0.0.1 (below); said before the JVM starts, Spark also skips
# resolving the machine's name to a loopback address and warning that it binds elsewhere.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Tests never reach a real AWS account: dummy credentials, a fixed region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("endpoint-serde-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# --- SageMaker control plane for hosting/cleanup tests: moto's server, and a fault proxy ---


class SageMakerFaultProxy:
    """A real HTTP server in front of a SageMaker control plane that answers chosen calls
    with an AWS-style error instead of forwarding them (throttling, access denied...).

    ``fail("DeleteModel", times=2)`` makes the next two DeleteModel calls fail with
    ``ThrottlingException``; every other request is forwarded unchanged. ``hits`` counts
    requests per action, ``faults`` the ones answered with an error.
    """

    def __init__(self, upstream_url: str) -> None:
        import http.client
        import json
        import threading
        import urllib.parse
        from collections import Counter
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        upstream = urllib.parse.urlsplit(upstream_url)
        proxy = self
        self._lock = threading.Lock()
        self._plan: list[list] = []  # [action or None, status, payload, code, remaining]
        self.hits: Counter = Counter()
        self.faults: Counter = Counter()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output readable
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = (self.headers.get("X-Amz-Target") or ".").rsplit(".", 1)[-1]
                fault = proxy._take_fault(action)
                if fault is not None:
                    status, payload, code = fault
                    payload = json.dumps(payload, default=str).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    if code:
                        self.send_header("x-amzn-ErrorType", code)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(
        self,
        action: str | None,
        times: int,
        code: str = "ThrottlingException",
        message: str = "Rate exceeded",
        status: int = 400,
    ) -> None:
        """The next ``times`` calls of ``action`` (None: any call) get this AWS error."""
        self.respond(action, times, {"__type": code, "message": message}, status, code)

    def respond(
        self, action: str | None, times: int, payload: dict, status: int = 200, code: str = ""
    ) -> None:
        """The next ``times`` calls of ``action`` are answered with ``payload`` as JSON."""
        with self._lock:
            self._plan.append([action, status, payload, code, times])

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()
            self.hits.clear()
            self.faults.clear()

    def _take_fault(self, action: str):
        with self._lock:
            self.hits[action] += 1
            for entry in self._plan:
                if entry[0] in (None, action) and entry[4] > 0:
                    entry[4] -= 1
                    self.faults[action] += 1
                    return entry[1], entry[2], entry[3]
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def moto_sagemaker_url():
    """URL of a moto server (SageMaker control plane) on 127.0.0.1, for the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_sagemaker_client(url: str, *, boto_retries: bool = True):
    """A real boto3 ``sagemaker`` client for ``url``; ``boto_retries=False`` turns off
    botocore's own retries so a test sees every fault the server sends."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1} if not boto_retries else {"mode": "standard"})
    return boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1", config=config)


@pytest.fixture(scope="session")
def sagemaker_client_for():
    """``sagemaker_client_for(url, boto_retries=True)``: a boto3 client for that server."""
    return make_sagemaker_client


@pytest.fixture
def moto_sagemaker(moto_sagemaker_url):
    return make_sagemaker_client(moto_sagemaker_url)


@pytest.fixture
def fault_proxy(moto_sagemaker_url):
    proxy = SageMakerFaultProxy(moto_sagemaker_url)
    yield proxy
    proxy.close()


# --- a real Spark standalone cluster and a Spark Connect server (tests/spark_cluster.py) ---


def _stopped_with_the_session(request, daemon):
    """Starts ``daemon`` and stops it when the session ends, pass or fail (the harness also
    stops it at interpreter exit, and ``scripts/spark_cluster.py down`` by pid files)."""

    def stop_and_clean() -> None:
        import contextlib
        import shutil

        daemon.stop()
        shutil.rmtree(daemon.base_dir, ignore_errors=True)  # logs, executors' work dirs
        with contextlib.suppress(OSError):  # the session's pytest-<pid> dir, once empty
            daemon.base_dir.parent.rmdir()

    request.addfinalizer(stop_and_clean)
    return daemon.start()


@pytest.fixture(scope="session")
def spark_cluster(request, tmp_path_factory):
    """Master + 2 workers (1 core, 1 GiB each) on 127.0.0.1 for this test session."""
    from spark_cluster import DEFAULT_ROOT, StandaloneCluster

    cluster = StandaloneCluster(DEFAULT_ROOT / f"pytest-{os.getpid()}" / "cluster")
    return _stopped_with_the_session(request, cluster)


@pytest.fixture(scope="session")
def spark_connect_server(request):
    """A Spark Connect server in its own JVM (local[2] inside) on 127.0.0.1."""
    from spark_cluster import DEFAULT_ROOT, ConnectServer

    server = ConnectServer(DEFAULT_ROOT / f"pytest-{os.getpid()}" / "connect")
    return _stopped_with_the_session(request, server)


@pytest.fixture(scope="session")
def local_host(tmp_path_factory):
    """One local endpoint host (SageMaker control plane + runtime) for the whole run. Its
    model root is the run's temporary folder, where tests write their models; Python models
    (test code) are allowed."""
    from endpoints.local import LocalEndpointHost

    with LocalEndpointHost(
        s3_root=tmp_path_factory.mktemp("local-host-s3"),
        model_roots=[tmp_path_factory.getbasetemp()],
        allow_python_models=True,
    ) as host:
        yield host


def pytest_collection_finish(session):
    """Starts building the full-SageMaker-SDK environment as soon as its test is collected,
    so its install overlaps the tests that run first."""
    for item in session.items:
        if item.path.name == "test_sagemaker_full_sdk.py":
            from install_helpers import in_background

            in_background("sagemaker-full", item.module.layered_env_with_full_sdk)
            return
