"""``LocalEndpointHost``: the whole host (control plane, runtime, TF Serving REST, faults)
on uvicorn in a background thread, for tests, examples and the CLI.

The socket is bound before the thread starts, so ``port=0`` yields a known free port and
``url`` is valid as soon as the constructor's ``start()`` returns. ``stop()`` (or leaving
the ``with`` block, also on an exception) shuts uvicorn down and releases every model.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from endpoints.local.app import LocalHostApp
from endpoints.local.artifacts import ArchiveLimits, ArtifactStore
from endpoints.local.connections import ConnectionLimits, guarded_protocol
from endpoints.local.control_plane import ControlPlane
from endpoints.local.deployments import EndpointManager
from endpoints.local.errors import ApiError, LocalHostError
from endpoints.local.faults import FaultSpec
from endpoints.local.metrics import HostMetrics
from endpoints.local.object_store import FolderObjectStore, ObjectStore, RemoteObjectStore
from endpoints.local.origin import is_loopback_address
from endpoints.local.runtime_api import InvocationService
from endpoints.local.runtimes import RUNTIME_ENV
from endpoints.local.s3_api import S3Api
from endpoints.local.state import ResourceStore, now
from endpoints.local.transform_jobs import TransformJobService

__all__ = ["LocalEndpointHost"]

logger = logging.getLogger(__name__)

LOCAL_ROLE = "arn:aws:iam::123456789012:role/endpoints-local"


class LocalEndpointHost:
    """A local SageMaker-compatible endpoint host on ``127.0.0.1``.

    Model data is read only from under ``s3_root`` and ``model_roots``; Python models (code
    that runs in this process) load only with ``allow_python_models=True``; a model archive
    unpacks to at most ``max_archive_bytes`` in ``max_archive_members`` members (defaults:
    :class:`~endpoints.local.artifacts.ArchiveLimits`). A request's headers must arrive within
    ``read_timeout_s`` and its body without a longer pause; at most ``max_connections`` are
    open, idle and half-sent ones evicted first (:mod:`endpoints.local.connections`).

    >>> roots = {"model_roots": ["/models"], "allow_python_models": True}
    >>> with LocalEndpointHost(**roots) as host:  # doctest: +SKIP
    ...     host.deploy_local("ep", "/models/sum", runtime="python")
    ...     host.runtime_client().invoke_endpoint(EndpointName="ep", Body=b"1,2",
    ...                                           ContentType="text/csv")
    """

    def __init__(
        self,
        s3_root: str | Path | None = None,
        state_dir: str | Path | None = None,
        s3_endpoint_url: str | None = None,
        region: str = "us-east-1",
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        describe_wait_s: float = 2.0,
        inference_workers: int = 8,
        container_endpoint: str | None = None,
        clock: Callable[[], float] | None = None,
        model_roots: Iterable[str | Path] = (),
        allow_python_models: bool = False,
        max_archive_bytes: int | None = None,
        max_archive_members: int | None = None,
        read_timeout_s: float = 10.0,
        max_connections: int = 1024,
        start: bool = True,
    ) -> None:
        self.region = region
        self.host = host
        self._requested_port = port
        self.connection_limits = ConnectionLimits(read_timeout_s, max_connections)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._tmp_cache: str | None = None
        if self.state_dir is not None:
            cache_dir = self.state_dir / "cache"
        else:
            self._tmp_cache = tempfile.mkdtemp(prefix="endpoints-local-cache-")
            cache_dir = Path(self._tmp_cache)
        # clock: epoch seconds for CreationTime/LastModifiedTime (tests pass a ticking one)
        self.store = ResourceStore(self.state_dir, clock=clock or now)
        self.s3_root = Path(s3_root) if s3_root is not None else None
        self.artifacts = ArtifactStore(
            cache_dir,
            self.s3_root,
            s3_endpoint_url,
            region,
            model_roots=model_roots,
            allow_python_models=allow_python_models,
            archive_limits=_archive_limits(max_archive_bytes, max_archive_members),
        )
        self.manager = EndpointManager(self.store, self.artifacts)
        self.metrics_registry = HostMetrics()
        self.control = ControlPlane(self.store, self.manager, region, describe_wait_s)
        # S3 data: the --s3-root folder, which the S3 API serves (without one, it says how
        # to get one); transform jobs use the --s3-endpoint-url server instead if given,
        # where models are read from too
        folder = FolderObjectStore(self.s3_root) if self.s3_root is not None else None
        job_data: ObjectStore | None = folder
        if s3_endpoint_url:
            job_data = RemoteObjectStore(s3_endpoint_url, region)
        self.transform_jobs = TransformJobService(self.control, job_data)
        self.control.add_operations(self.transform_jobs.operations())
        self.invocations = InvocationService(
            self.manager, self.metrics_registry, region, inference_workers
        )
        self.app = LocalHostApp(
            self.control,
            self.invocations,
            self.metrics_registry,
            container_endpoint,
            S3Api(folder),
            loopback_only=is_loopback_address(host),
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        if start:
            self.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -------------------------------------------------------------------------- lifecycle

    def start(self, timeout_s: float = 15.0) -> LocalEndpointHost:
        import uvicorn

        if self._thread is not None:
            raise RuntimeError("LocalEndpointHost is already started")
        self.manager.restore()  # endpoints from --state-dir come back InService
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on accepted sockets whose
        # proto says TCP, and without it every response waits ~40 ms on delayed ACKs
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(1024)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            http=guarded_protocol(self.connection_limits),  # httptools, with the limits
            loop="asyncio",
            log_config=None,  # a library must not reconfigure the user's logging
            log_level="warning",
            access_log=False,
            timeout_keep_alive=75,
            backlog=1024,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"endpoints-local:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise LocalHostError(f"the local host did not start on {self.url}")
            time.sleep(0.005)
        logger.info("endpoints-local listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release models; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(5)
        self._thread = None
        self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self.transform_jobs.close()
        self.invocations.close()
        self.manager.close()
        if self._tmp_cache is not None:
            shutil.rmtree(self._tmp_cache, ignore_errors=True)
            self._tmp_cache = None

    def __enter__(self) -> LocalEndpointHost:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------------------- clients

    def _client(self, service: str) -> Any:
        return local_client(self.url, service, self.region)

    def sagemaker_client(self) -> Any:
        """A boto3 ``sagemaker`` client on this host (dummy credentials, no retries)."""
        return self._client("sagemaker")

    def runtime_client(self) -> Any:
        """A boto3 ``sagemaker-runtime`` client on this host (dummy credentials, no retries)."""
        return self._client("sagemaker-runtime")

    def s3_client(self) -> Any:
        """A boto3 ``s3`` client on this host's S3 API over its S3 root (dummy credentials,
        no retries): stage transform input, read ``.out`` objects, upload models."""
        return self._client("s3")

    # ----------------------------------------------------------------------------- control

    def set_faults(self, endpoint_name: str, spec: FaultSpec | None) -> None:
        """Inject faults into ``endpoint_name``'s invocations (``None`` clears them)."""
        self.invocations.set_faults(endpoint_name, spec)

    def set_control_plane_faults(self, spec: FaultSpec | None) -> None:
        """Inject faults into control-plane calls (``None`` clears them)."""
        self.app.set_control_plane_faults(spec)

    def register_training_job(
        self, name: str, model_data_url: str, image: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Make ``DescribeTrainingJob(name)`` answer a Completed job with this artifact."""
        return self.control.register_training_job(name, model_data_url, image, **extra)

    def metrics(self) -> dict[str, Any]:
        """Counters: requests by endpoint and status, faults injected by kind."""
        return self.metrics_registry.snapshot()

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
        """CreateModel + CreateEndpointConfig + CreateEndpoint named ``name``, then wait for
        InService. Returns DescribeEndpoint's answer; raises if the endpoint Failed."""
        try:
            for operation, params in deployment_requests(
                name, model_dir_or_url, runtime, environment, image, instance_type
            ):
                self.control.dispatch(operation, params)
        except ApiError as error:
            raise LocalHostError(f"deploy_local({name!r}) failed: {error.message}") from error
        self.manager.wait_settled(name, timeout_s)
        return require_in_service(self.control.dispatch("DescribeEndpoint", {"EndpointName": name}))


def _archive_limits(max_bytes: int | None, max_members: int | None) -> ArchiveLimits:
    defaults = ArchiveLimits()
    return ArchiveLimits(
        max_bytes if max_bytes is not None else defaults.max_bytes,
        max_members if max_members is not None else defaults.max_members,
    )


def deployment_requests(
    name: str,
    model_dir_or_url: str | Path,
    runtime: str | None = None,
    environment: dict[str, str] | None = None,
    image: str | None = None,
    instance_type: str = "ml.m5.large",
) -> list[tuple[str, dict[str, Any]]]:
    """The CreateModel, CreateEndpointConfig and CreateEndpoint calls (operation, params)
    that serve the model in ``model_dir_or_url`` as endpoint ``name``; every resource is
    named ``name``. Shared by the in-thread host and :class:`LocalHostProcess`."""
    url = str(model_dir_or_url)
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    env = dict(environment or {})
    if runtime:
        env.setdefault(RUNTIME_ENV, runtime)
    container = {
        "Image": image or f"local/endpoint-serde-{runtime or 'auto'}:latest",
        "ModelDataUrl": url,
        "Environment": env,
    }
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": instance_type,
    }
    return [
        (
            "CreateModel",
            {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": LOCAL_ROLE},
        ),
        ("CreateEndpointConfig", {"EndpointConfigName": name, "ProductionVariants": [variant]}),
        ("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name}),
    ]


def require_in_service(record: dict[str, Any]) -> dict[str, Any]:
    """A DescribeEndpoint answer, if the endpoint is InService; else why it is not."""
    if record["EndpointStatus"] != "InService":
        raise LocalHostError(
            f"endpoint {record['EndpointName']!r} is {record['EndpointStatus']}: "
            f"{record.get('FailureReason', 'still loading')}"
        )
    return record


def local_client(url: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client for ``service`` on a local host at ``url``: dummy credentials, no
    botocore retries (callers see every fault), a pool large enough for tests."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=region
    )
    return session.client(
        service,
        endpoint_url=url,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=120,
            max_pool_connections=32,
        ),
    )
