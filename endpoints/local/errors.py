"""Errors the local host answers with, and how each API surface renders them.

::

    LocalHostError
    ├── ApiError            an HTTP error answer (status, AWS error code, message)
    │   └── BadInput        the request body does not parse in its content type (400)
    └── ModelLoadError      an artifact or runtime could not be loaded (endpoint → Failed)

The same failure looks different on each surface, as it does on AWS: the control plane
(JSON 1.1) puts the code in ``__type``, the runtime (REST-JSON) in ``x-amzn-ErrorType`` with
extra members (``OriginalStatusCode`` ...) in the body, and plain HTTP paths (TF Serving,
the container contract) answer ``{"error": "..."}`` like TF Serving does.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["ApiError", "BadInput", "LocalHostError", "ModelLoadError", "Surface", "render_error"]

ACCOUNT_ID = "123456789012"


class LocalHostError(Exception):
    """Root of every error the local endpoint host raises."""


class ModelLoadError(LocalHostError):
    """A model artifact or runtime could not be loaded; the endpoint goes to ``Failed``."""


class ApiError(LocalHostError):
    """An error answer: HTTP status, AWS error code, message, optional extra body members."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


class BadInput(ApiError):
    """The request body does not parse in the content type it claims."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "ValidationError", message)


class Surface:
    """Which API surface an error is rendered for."""

    CONTROL_PLANE = "json-1.1"
    RUNTIME = "rest-json"
    PLAIN = "plain"


def render_error(error: ApiError, surface: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, headers, body)`` for ``error`` in the shape ``surface`` uses."""
    headers = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if surface == Surface.PLAIN:
        body = orjson.dumps({"error": error.message})
        return error.status, [(b"content-type", b"application/json"), *headers], body
    if surface == Surface.CONTROL_PLANE:
        payload: dict[str, Any] = {"__type": error.code, "message": error.message}
        content_type = b"application/x-amz-json-1.1"
    else:
        payload = {"message": error.message, **error.extra}
        content_type = b"application/json"
    headers = [
        (b"content-type", content_type),
        (b"x-amzn-errortype", error.code.encode()),
        *headers,
    ]
    return error.status, headers, orjson.dumps(payload)
