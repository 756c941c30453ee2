"""Invocations: one request body → the endpoint's model → one response body, with faults.

The same service answers SageMaker's runtime (``/endpoints/{name}/invocations``, errors in
REST-JSON with ``x-amzn-ErrorType``), TF Serving's REST predict and the container contract
(plain ``{"error": ...}`` bodies). Decoding, the model call and encoding all run on a
thread pool, so a 5 MiB CSV body never blocks the event loop.

Error choices (documented in the README): a body that does not parse, or a model that
raises, answers SageMaker's 424 ModelError — what a real container's 400/500 turns into
behind SageMaker — with ``OriginalStatusCode`` 400 (bad input) or 500 (model failure) and
the container's message in ``OriginalMessage``. On plain paths both are 400
``{"error": ...}``, as TF Serving answers an inference it cannot run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from endpoints.local import codecs, kserve_v2
from endpoints.local.deployments import EndpointManager, LiveModel
from endpoints.local.errors import ACCOUNT_ID, ApiError, BadInput, Surface, render_error
from endpoints.local.faults import Fault, FaultInjector, FaultSpec
from endpoints.local.metrics import HostMetrics
from endpoints.local.runtimes import ModelRuntime

__all__ = [
    "DROP",
    "MAX_BODY_BYTES",
    "BodyTooLarge",
    "InvocationService",
    "ModelFailure",
    "Response",
    "control_plane_fault",
    "predict_body",
    "render",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoints: 6 MB


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


DROP = Response(0, [], b"")  # sentinel: close the connection without answering


class BodyTooLarge(ApiError):
    """A body over SageMaker's 6 MB limit: 400 ValidationError (413 on plain paths)."""

    def __init__(self, size: int) -> None:
        super().__init__(
            400,
            "ValidationError",
            f"Received a request body of {size} bytes or more; the maximum for a real-time "
            f"endpoint is {MAX_BODY_BYTES} bytes (6 MB). Send fewer rows per request.",
        )


def _throttle_error(spec: FaultSpec, surface: str) -> ApiError:
    retry_after = {"Retry-After": f"{spec.retry_after_s:g}"}
    if surface != Surface.RUNTIME:
        return ApiError(
            429, "TooManyRequests", "Too many requests (injected).", headers=retry_after
        )
    if spec.throttle_kind == "ModelNotReady":
        return ApiError(
            429,
            "ModelNotReadyException",
            "Model is not ready to serve requests (injected); wait and try again.",
            headers=retry_after,
        )
    return ApiError(400, "ThrottlingException", "Rate exceeded (injected).")


def _over_capacity_error(spec: FaultSpec, surface: str) -> ApiError:
    """A request beyond ``max_concurrency``: SageMaker's throttling answer, with no
    Retry-After (SageMaker sends none), so the client's own backoff decides."""
    message = (
        f"Rate exceeded (the endpoint serves {spec.max_concurrency} requests at once; "
        "local host capacity limit)."
    )
    if surface != Surface.RUNTIME:
        return ApiError(429, "TooManyRequests", message)
    return ApiError(spec.over_capacity_status, "ThrottlingException", message)


def _server_error(spec: FaultSpec) -> ApiError:
    if spec.error_status == 503:
        return ApiError(503, "ServiceUnavailable", "The service is unavailable (injected).")
    return ApiError(500, "InternalFailure", "An internal failure occurred (injected).")


def control_plane_fault(fault: Fault) -> ApiError | None:
    """The control plane's answer to an injected fault (``None``: no error)."""
    if fault.kind == "throttle":
        return ApiError(400, "ThrottlingException", "Rate exceeded")
    if fault.kind == "error":
        if fault.spec.error_status == 503:
            return ApiError(503, "ServiceUnavailable", "Service Unavailable")
        return ApiError(500, "InternalFailure", "An internal failure occurred.")
    return None


class InvocationService:
    """Scores request bodies on the endpoints' live models."""

    def __init__(
        self,
        manager: EndpointManager,
        metrics: HostMetrics,
        region: str = "us-east-1",
        workers: int = 8,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.region = region
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="endpoints-local-infer")
        self._pool.submit(codecs.warm_up)
        self._faults: dict[str, FaultInjector] = {}
        self._faults_lock = threading.Lock()

    # -------------------------------------------------------------------------------- faults

    def set_faults(self, endpoint: str, spec: FaultSpec | None) -> None:
        with self._faults_lock:
            if spec is None:
                self._faults.pop(endpoint, None)
            else:
                self._faults[endpoint] = FaultInjector(spec)

    # ------------------------------------------------------------------------------- invoke

    def _not_found(self, name: str, surface: str) -> ApiError:
        if surface == Surface.RUNTIME:
            record = self.manager.store.get("endpoints", name)
            if record is not None:
                return ApiError(
                    400,
                    "ValidationError",
                    f"Endpoint {name} of account {ACCOUNT_ID} is not InService (status "
                    f"{record['EndpointStatus']}); wait for InService before invoking it.",
                )
            return ApiError(
                400, "ValidationError", f"Endpoint {name} of account {ACCOUNT_ID} not found."
            )
        return ApiError(404, "NotFound", f"Servable not found for request: Latest({name})")

    async def invoke(
        self,
        name: str,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        surface: str,
    ) -> Response:
        """Answer one invocation of endpoint ``name`` (``DROP``: drop the connection)."""
        try:
            live = self.manager.live(name)
            if live is None:
                raise self._not_found(name, surface)
            injector = self._faults.get(name)
            if injector is None:
                return await self._scored(live, body, content_type, accept, None)
            if not injector.admit():
                self.metrics.fault(name, "over_capacity")
                raise _over_capacity_error(injector.spec, surface)
            try:
                fault = injector.next_fault()
                if await self._apply_fault(name, fault, surface):
                    return DROP
                return await self._scored(live, body, content_type, accept, fault)
            finally:
                injector.release()
        except ApiError as error:
            return Response(*render(error, surface))

    async def _apply_fault(self, name: str, fault: Fault, surface: str) -> bool:
        """Wait ``latency_ms``, count the fault, raise its error; ``True``: drop instead."""
        if fault.spec.latency_ms:
            await asyncio.sleep(fault.spec.latency_ms / 1000.0)
        if fault.kind is not None:
            self.metrics.fault(name, fault.kind)
        if fault.kind == "throttle":
            raise _throttle_error(fault.spec, surface)
        if fault.kind == "error":
            raise _server_error(fault.spec)
        return fault.kind == "drop"

    async def _scored(
        self,
        live: LiveModel,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        fault: Fault | None,
    ) -> Response:
        """The model's answer to ``body``, altered by ``fault``'s count and body faults and
        delayed by its per-row latency; raises ApiError."""
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(len(body))
        media = codecs.normalize_media_type(content_type) or codecs.CSV
        out_type = codecs.resolve_accept(accept, media)
        loop = asyncio.get_running_loop()
        kind = fault.kind if fault is not None else None
        payload, rows = await loop.run_in_executor(
            self._pool, self._score, live, body, media, out_type, kind, fault
        )
        if fault is not None and fault.spec.latency_per_row_us:
            await asyncio.sleep(rows * fault.spec.latency_per_row_us / 1e6)
        wire_type = codecs.JSON if out_type == kserve_v2.INFER_MEDIA_TYPE else out_type
        headers = [
            (b"content-type", wire_type.encode()),
            (b"x-amzn-invoked-production-variant", live.variant_name.encode()),
        ]
        return Response(200, headers, payload)

    def _score(
        self,
        live: LiveModel,
        body: bytes,
        media: str,
        out_type: str,
        kind: str | None,
        fault: Fault | None,
    ) -> tuple[bytes, int]:
        """The response body and the number of rows the request carried."""
        try:
            outputs, request = predict_body(live.runtime, body, media)
        except BadInput as error:
            raise self._model_error(400, error.message, live) from None
        except ApiError:
            raise
        except Exception as exc:  # the model's own failure, whatever it raised
            logger.info("model of %s raised %r", live.endpoint_config_name, exc)
            raise self._model_error(500, f"{type(exc).__name__}: {exc}", live) from None
        rows = request.rows
        if kind == "wrong_count" and fault is not None:
            outputs, rows = _wrong_count(outputs, rows, fault.spec.wrong_count_delta)
        if kind == "malformed":
            return codecs.malformed_body(out_type), request.rows
        if isinstance(request, kserve_v2.InferRequest):
            return kserve_v2.encode_infer_response(outputs, request, live.model_name), request.rows
        return codecs.encode_response(outputs, rows, out_type, request.columnar), request.rows

    def _model_error(self, status: int, message: str, live: LiveModel) -> ApiError:
        return ModelFailure(status, message, live.model_name, self.region)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ModelFailure(ApiError):
    """The container's own error, carried as SageMaker's 424 ModelError.

    Rendered on plain paths (TF Serving, container contract) as 400 ``{"error": ...}``;
    :func:`render_error` handles that through ``status``, so the app swaps it per surface.
    """

    def __init__(self, original_status: int, message: str, model_name: str, region: str) -> None:
        kind = "client" if original_status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{model_name}"
        super().__init__(
            424,
            "ModelError",
            f"Received {kind} error ({original_status}) from primary with message "
            f'"{message}". See https://{region}.console.aws.amazon.com/cloudwatch/home?'
            f"region={region}#logEventViewer:group={log_group} in account {ACCOUNT_ID} "
            "for more information.",
            extra={
                "OriginalStatusCode": original_status,
                "OriginalMessage": message,
                "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{log_group}",
            },
        )
        self.original_message = message


def predict_body(
    runtime: ModelRuntime, body: bytes, media: str
) -> tuple[codecs.Outputs, codecs.ModelInput]:
    """Decode ``body`` (in the normalized ``media`` type), run the model on it and check
    that it answered one result per row: the one path from a request body to predictions,
    shared by invocations and transform jobs so both read and score data alike.

    Raises :class:`~endpoints.local.errors.BadInput` for a body that does not parse (or
    that the model refuses as input), ``ApiError`` for a content type no codec reads, and
    whatever the model itself raised (a count mismatch is a ``ValueError``).
    """
    if media == kserve_v2.INFER_MEDIA_TYPE:  # the V2 route's requests, typed tensors
        request: codecs.ModelInput = kserve_v2.decode_infer_request(body)
    else:
        request = codecs.decode_request(body, media, runtime.input_width)
    outputs = runtime.predict(request.data)
    _check_counts(outputs, request.rows)
    return outputs, request


def _check_counts(outputs: dict[str, np.ndarray], rows: int) -> None:
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != rows:
            got = "a scalar" if array.ndim == 0 else f"{array.shape[0]} results"
            raise ValueError(
                f"the model returned {got} in output {name!r} for {rows} input rows; it must "
                "return one result per row"
            )


def _wrong_count(
    outputs: dict[str, np.ndarray], rows: int, delta: int
) -> tuple[dict[str, np.ndarray], int]:
    if delta < 0:
        return {k: v[: max(rows - 1, 0)] for k, v in outputs.items()}, max(rows - 1, 0)
    return {k: np.concatenate([v, v[-1:]]) for k, v in outputs.items()}, rows + 1


def plain_error(error: ApiError) -> ApiError:
    """The same error as TF Serving / a container would state it on a plain path."""
    if isinstance(error, ModelFailure):
        return ApiError(400, error.code, error.original_message)
    if isinstance(error, BodyTooLarge):
        return ApiError(413, error.code, error.message)
    return error


def render(error: ApiError, surface: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if surface == Surface.PLAIN:
        error = plain_error(error)
    return render_error(error, surface)
