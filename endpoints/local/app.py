"""The ASGI application: routes each request to the control plane, the runtime, TF Serving
REST, the container contract, ``/metrics``, the fault controls or — requests signed for
S3 — the S3 API over the host's S3 root.

Hand-written and flat on purpose: one function per route, no framework, so the per-request
overhead stays a few microseconds on top of uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from endpoints.local import kserve_v2
from endpoints.local.control_plane import ControlPlane
from endpoints.local.errors import ApiError, Surface, render_error
from endpoints.local.faults import FaultInjector, FaultSpec
from endpoints.local.metrics import HostMetrics
from endpoints.local.origin import check_local_control, is_loopback_host, require_loopback_host
from endpoints.local.runtime_api import (
    DROP,
    MAX_BODY_BYTES,
    BodyTooLarge,
    InvocationService,
    Response,
    control_plane_fault,
    render,
)
from endpoints.local.s3_api import S3Api, is_s3_request

__all__ = ["LocalHostApp"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CONTROL_BODY_LIMIT = 1024 * 1024
_TF_SERVING = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(?::(\w+))?$")
_KSERVE_V2 = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(infer|ready))?$")
_JSON = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client disconnected before sending its whole body."""


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def drop_connection(receive: Receive) -> bool:
    """Close the TCP connection without any response (the ``drop_rate`` fault).

    uvicorn hands the app ``receive`` as a bound method of its request cycle, which holds
    the asyncio transport; aborting it closes the socket at once, and marking the cycle
    disconnected stops uvicorn from sending its own 500 afterwards.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    cycle.disconnected = True
    return True


class LocalHostApp:
    """ASGI app over a :class:`ControlPlane` and an :class:`InvocationService`."""

    def __init__(
        self,
        control: ControlPlane,
        invocations: InvocationService,
        metrics: HostMetrics,
        container_endpoint: str | None = None,
        s3_api: S3Api | None = None,
        *,
        loopback_only: bool = False,
    ) -> None:
        """``loopback_only``: answer only requests whose Host is a loopback name (the host
        is bound to one: any other name is a web page's, through DNS rebinding)."""
        self.loopback_only = loopback_only
        self.control = control
        self.invocations = invocations
        self.metrics = metrics
        self.container_endpoint = container_endpoint
        self.s3_api = s3_api
        self.control_faults: FaultInjector | None = None

    def _label(self, name: str) -> str:
        """The metrics label: the endpoint's name if it exists, so clients probing random
        names cannot grow the label set without bound."""
        return name if self.control.store.exists("endpoints", name) else "_unknown"

    def set_control_plane_faults(self, spec: FaultSpec | None) -> None:
        self.control_faults = FaultInjector(spec) if spec is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        addressed_here = not self.loopback_only or is_loopback_host(dict(scope["headers"]))
        if self.s3_api is not None and addressed_here and is_s3_request(scope):
            await self.s3_api(scope, receive, send)  # its own answers: HEAD, ranges, XML
            return
        started = time.perf_counter()
        label = "_other"
        try:
            label, response = await self._route(scope, receive)
        except ClientGone:
            return
        except ApiError as error:
            response = Response(*render_error(error, Surface.PLAIN))
        except Exception:  # a bug here must answer 500, never kill the worker
            logger.exception("unhandled error for %s %s", scope["method"], scope["path"])
            response = Response(500, _JSON, b'{"error": "internal error in the local host"}')
        if response is DROP:
            dropped = drop_connection(receive)
            if not dropped:
                response = Response(500, _JSON, b'{"error": "connection drop not possible"}')
        # counted and logged before the answer leaves: a client that has its answer can
        # rely on /metrics and the log already showing the request
        seconds = time.perf_counter() - started
        self.metrics.observe(label, response.status, seconds)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms",
                scope["method"],
                scope["path"],
                "dropped" if response is DROP else response.status,
                seconds * 1000,
            )
        if response is not DROP:
            headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": response.body})

    async def _route(self, scope: Scope, receive: Receive) -> tuple[str, Response]:
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        if self.loopback_only:
            require_loopback_host(headers, "this host")
        if path.startswith("/_local/"):
            check_local_control(method, path, headers)
        if method == "POST":
            if path.startswith("/endpoints/") and path.endswith("/invocations"):
                name = path[len("/endpoints/") : -len("/invocations")]
                response = await self._invoke(name, receive, headers, Surface.RUNTIME)
                return self._label(name), response
            if b"x-amz-target" in headers:
                return "_control", await self._control(receive, headers)
            if path == "/invocations" and self.container_endpoint:
                name = self.container_endpoint
                return name, await self._invoke(name, receive, headers, Surface.PLAIN)
            if path.startswith("/_local/"):
                return "_local", await self._local(path, receive)
        if path.startswith("/v1/models/"):
            return await self._tf_serving(method, path, receive, headers)
        if path == "/v2" or path.startswith("/v2/"):
            return await self._kserve_v2(method, path, receive, headers)
        if method == "GET":
            if path == "/ping":
                return "_ping", self._ping()
            if path == "/metrics":
                text = self.metrics.prometheus_text().encode()
                return "_metrics", Response(
                    200, [(b"content-type", b"text/plain; version=0.0.4")], text
                )
            if path == "/_local/metrics":  # the same counters as host.metrics(), as JSON
                return "_local", Response(200, _JSON, orjson.dumps(self.metrics.snapshot()))
        raise ApiError(404, "NotFound", f"No route for {method} {path} on the local host.")

    async def _invoke(
        self, name: str, receive: Receive, headers: dict[bytes, bytes], surface: str
    ) -> Response:
        try:
            _check_length(headers)
            body = await read_body(receive, MAX_BODY_BYTES)
        except BodyTooLarge as error:
            return Response(*render(error, surface))
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        accept = headers.get(b"accept", b"").decode("latin-1") or None
        return await self.invocations.invoke(name, body, content_type, accept, surface)

    async def _control(self, receive: Receive, headers: dict[bytes, bytes]) -> Response:
        request_id = str(uuid.uuid4()).encode()
        target = headers[b"x-amz-target"].decode("latin-1")
        service, _, operation = target.partition(".")
        try:
            if service != "SageMaker":
                raise ApiError(
                    400,
                    "UnknownOperationException",
                    f"X-Amz-Target {target!r}: this host serves SageMaker.<Operation> only.",
                )
            body = await read_body(receive, CONTROL_BODY_LIMIT)
            fault = self.control_faults.next_fault() if self.control_faults else None
            if fault is not None:
                if fault.spec.latency_ms:
                    await asyncio.sleep(fault.spec.latency_ms / 1000.0)
                if fault.kind is not None:
                    self.metrics.fault("_control", fault.kind)
                if fault.kind == "drop":
                    return DROP
                error = control_plane_fault(fault)
                if error is not None:
                    raise error
            try:
                params = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError as exc:
                raise ApiError(400, "SerializationException", f"Body is not JSON: {exc}") from None
            # DescribeEndpoint may wait for a load to settle: keep it off the event loop
            result = await asyncio.to_thread(self.control.dispatch, operation, params)
        except ApiError as error:
            status, error_headers, payload = render_error(error, Surface.CONTROL_PLANE)
            return Response(status, [*error_headers, (b"x-amzn-requestid", request_id)], payload)
        return Response(
            200,
            [(b"content-type", b"application/x-amz-json-1.1"), (b"x-amzn-requestid", request_id)],
            orjson.dumps(result),
        )

    async def _tf_serving(
        self, method: str, path: str, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[str, Response]:
        match = _TF_SERVING.match(path)
        if match is None:
            raise ApiError(404, "NotFound", f"Malformed TF Serving path {path!r}.")
        name, version, verb = match.groups()
        label = self._label(name)
        if method == "GET" and verb is None:
            return label, self._model_status(name, version)
        if method == "POST" and verb == "predict":
            headers = {
                **headers,
                b"content-type": b"application/json",
                b"accept": b"application/json",
            }
            return label, await self._invoke(name, receive, headers, Surface.PLAIN)
        raise ApiError(
            400 if method == "POST" else 405,
            "BadRequest",
            f"{method} {path}: this host serves POST /v1/models/<name>[/versions/<v>]:predict "
            "and GET /v1/models/<name>.",
        )

    async def _kserve_v2(
        self, method: str, path: str, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[str, Response]:
        """KServe V2 REST: inference on an InService endpoint by name, its readiness and
        metadata, and the server's health."""
        if method == "GET" and path in kserve_v2.SERVER_ANSWERS:
            return "_ping", Response(200, _JSON, kserve_v2.SERVER_ANSWERS[path])
        match = _KSERVE_V2.match(path)
        if match is None:
            raise ApiError(404, "NotFound", f"{method} {path}: {kserve_v2.ROUTES}")
        name, _version, verb = match.groups()
        label = self._label(name)
        if method == "POST" and verb == "infer":
            headers = {**headers, b"content-type": kserve_v2.INFER_MEDIA_TYPE.encode()}
            headers.pop(b"accept", None)  # a V2 answer is V2 JSON, whatever was asked
            return label, await self._invoke(name, receive, headers, Surface.PLAIN)
        if method == "GET" and verb != "infer":
            live = self.invocations.manager.live(name)
            if live is None:
                message = f"Model {name} is not ready: no InService endpoint of that name."
                return label, Response(404, _JSON, orjson.dumps({"error": message}))
            if verb == "ready":
                return label, Response(200, _JSON, b'{"ready":true}')
            return label, Response(200, _JSON, kserve_v2.model_metadata(name, live.runtime))
        raise ApiError(405, "MethodNotAllowed", f"{method} {path}: {kserve_v2.ROUTES}")

    def _model_status(self, name: str, version: str | None) -> Response:
        if self.invocations.manager.live(name) is None:
            return Response(
                404, _JSON, orjson.dumps({"error": f"Could not find any versions of model {name}"})
            )
        status = {
            "model_version_status": [
                {
                    "version": version or "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }
        return Response(200, _JSON, orjson.dumps(status))

    def _ping(self) -> Response:
        if (
            self.container_endpoint
            and self.invocations.manager.live(self.container_endpoint) is None
        ):
            return Response(503, _JSON, b'{"status": "loading"}')
        return Response(200, _JSON, b'{"status": "healthy"}')

    async def _local(self, path: str, receive: Receive) -> Response:
        body = await read_body(receive, CONTROL_BODY_LIMIT)
        try:
            data = orjson.loads(body) if body.strip() else None
            spec = FaultSpec.from_dict(data) if data else None
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise ApiError(400, "BadRequest", f"Expected a FaultSpec JSON object: {exc}") from None
        if path == "/_local/control-plane-faults":
            self.set_control_plane_faults(spec)
        elif path.startswith("/_local/faults/"):
            self.invocations.set_faults(path[len("/_local/faults/") :], spec)
        else:
            raise ApiError(404, "NotFound", f"No route for POST {path} on the local host.")
        return Response(200, _JSON, orjson.dumps({"faults": spec.to_dict() if spec else None}))


def _check_length(headers: dict[bytes, bytes]) -> None:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(int(declared))
