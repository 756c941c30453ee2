"""The endpoint interface the engine talks to, like a transport beneath an HTTP client.

An :class:`Endpoint` is a small, picklable *description* of where requests go (a
SageMaker endpoint name and region, or a URL and headers): it sends a body
(:meth:`~Endpoint.invoke`), describes itself for a saved Pipeline (:meth:`~Endpoint.to_spec`)
and closes. The network client behind it (a boto3 client, a urllib3 pool) is built lazily,
once per Python worker process and sized for the engine's window, by
:mod:`endpoints.clients.client_cache`, so shipping an endpoint to executors ships no sockets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["Endpoint", "Secret"]


class Secret:
    """A string that never shows itself: ``repr``/``str`` print ``'**********'``.

    Used for credentials or headers a user passes explicitly; they must travel to the
    executors to be used, but no log line, error message or ``repr`` will carry them.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'**********'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


class Endpoint(ABC):
    """Sends one request body and returns the response body.

    Implementations translate their backend's failures into :mod:`endpoints.errors`
    (throttled, server error, transport error, rejected, model error) so the engine's
    retry and bisection logic never sees a backend-specific exception.
    """

    #: A short human name for messages and metrics ("sagemaker:my-endpoint").
    name: str = "endpoint"

    @abstractmethod
    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        """Sends ``body`` and returns the response body, or raises an InvocationError."""

    def to_spec(self) -> dict[str, Any]:
        """``{"kind", "options"}`` to save in a Pipeline, the kind registered with
        :func:`~endpoints.clients.specs.register_endpoint_kind`; secrets are left out."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def close(self) -> None:
        """Nothing to close by default: clients belong to the per-process cache."""

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
