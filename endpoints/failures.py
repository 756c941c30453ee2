"""How a backend's failure becomes one of :mod:`endpoints.errors`: the one classification.

Every endpoint client (boto3's ``sagemaker-runtime``, urllib3, a user's own) and the
control-plane calls of hosting and cleanup translate their backend's failures here, so
throttling, server errors, rejections and dropped connections mean the same thing
everywhere and one retry loop (:func:`endpoints.retry.call_with_retries`) serves them all.

Classification goes by error code first, status second, as botocore's retry handler does:
SageMaker's ThrottlingException arrives as HTTP 400, ModelNotReadyException as 429, and a
missing endpoint as a 400 ValidationError whose message says "not found".
"""

from __future__ import annotations

import math
import re
from typing import Any

from endpoints.errors import (
    EndpointAccessError,
    InvocationError,
    ModelError,
    RejectedError,
    RetriesExhaustedError,
    ServerError,
    ThrottledError,
    TransportError,
)

__all__ = [
    "ACCESS_CODES",
    "MODEL_ERROR_CODES",
    "THROTTLING_CODES",
    "THROTTLING_STATUSES",
    "error_code",
    "error_for_response",
    "error_message",
    "from_backend_error",
    "is_not_found",
    "parse_retry_after",
]

#: Codes AWS services (and servers that imitate them) use for "slow down", whatever status
#: they come with; the union of botocore's throttling codes and SageMaker's
#: ModelNotReadyException, which asks the same of the caller.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "ModelNotReadyException",
        "ServiceUnavailable",
        "SlowDown",
        "EC2ThrottledException",
    }
)
THROTTLING_STATUSES = frozenset({429, 503})
MODEL_ERROR_CODES = frozenset({"ModelError", "ModelStreamError"})
#: Codes that say "this caller may not use this endpoint", whatever the body held.
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "NotFound",
        "ResourceNotFound",
        "ResourceNotFoundException",
    }
)
#: Statuses that say the same for a plain HTTP server: no credentials, no right, no route,
#: no such method. 413 (payload too large) is not here: a smaller body may pass.
ACCESS_STATUSES = frozenset({401, 403, 404, 405, 407})
#: SageMaker's words for a missing endpoint ("Endpoint x of account y not found.") and
#: for missing hosting resources ("Could not find model ...").
_NOT_FOUND_MESSAGE = re.compile(r"\bnot found\b|\bcould not find\b", re.IGNORECASE)
_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
_MAX_MESSAGE = 500


def error_for_response(
    *,
    endpoint: str | None,
    status: int,
    code: str | None,
    message: str,
    retry_after: float | None = None,
) -> InvocationError:
    """The error for a failed answer: ``status`` with the service's ``code`` and message."""
    kwargs: dict[str, Any] = {"endpoint": endpoint, "status": status, "code": code}
    if code in THROTTLING_CODES or status in THROTTLING_STATUSES:
        return ThrottledError(message, retry_after=retry_after, **kwargs)
    if code in MODEL_ERROR_CODES or status == 424:
        return ModelError(message, **kwargs)
    if status >= 500:
        return ServerError(message, retry_after=retry_after, **kwargs)
    if _refuses_any_body(status, code, message):
        return EndpointAccessError(message, **kwargs)
    return RejectedError(message, **kwargs)


def _refuses_any_body(status: int, code: str | None, message: str) -> bool:
    if code in ACCESS_CODES or status in ACCESS_STATUSES:
        return True
    # SageMaker: 400 ValidationError "Endpoint x of account y not found."
    return (
        code in ("ValidationError", "ValidationException")
        and bool(_NOT_FOUND_MESSAGE.search(message))
        and "endpoint" in message.lower()
    )


def from_backend_error(exc: BaseException, endpoint: str | None = None) -> InvocationError | None:
    """botocore's ``ClientError`` and connection errors as :mod:`endpoints.errors`; ``None``
    for anything else (a bug, not a failure of the service: let it propagate)."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectionError,
        HTTPClientError,
    )

    if isinstance(exc, ClientError):
        response = exc.response or {}
        meta = response.get("ResponseMetadata", {}) or {}
        headers = meta.get("HTTPHeaders", {}) or {}
        message = error_message(exc)[:_MAX_MESSAGE]
        original = response.get("OriginalMessage")
        if original:
            message += f" (model said: {str(original)[:_MAX_MESSAGE]})"
        return error_for_response(
            endpoint=endpoint,
            status=int(meta.get("HTTPStatusCode") or 0),
            code=error_code(exc) or None,
            message=message,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if isinstance(exc, ConnectionClosedError):  # sent, then the connection dropped
        return TransportError(f"no response: {exc}", endpoint=endpoint)
    if isinstance(exc, ConnectionError):  # connect timeouts, refused: the request never left
        return TransportError(f"could not connect: {exc}", endpoint=endpoint, maybe_processed=False)
    if isinstance(exc, HTTPClientError):  # read timeouts, dropped connections
        return TransportError(f"no response: {exc}", endpoint=endpoint)
    return None


def error_code(exc: BaseException) -> str:
    """The service's error code of ``exc`` (a botocore ``ClientError`` or one of ours)."""
    if isinstance(exc, RetriesExhaustedError):
        return exc.last_error.code or ""
    if isinstance(exc, InvocationError):
        return exc.code or ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The service's message of ``exc``, or ``str(exc)`` when it gave none."""
    if isinstance(exc, RetriesExhaustedError):
        return exc.last_error.detail
    if isinstance(exc, InvocationError):
        return exc.detail
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    """SageMaker says "gone" as ``ValidationException: Could not find ...`` for hosting
    resources and ``ResourceNotFound`` elsewhere; both mean the resource does not exist."""
    code = error_code(exc)
    if code in _NOT_FOUND_CODES:
        return True
    return code == "ValidationException" and "could not find" in error_message(exc).lower()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
