"""An endpoint answered by a plain function, for tests and examples (like httpx's
``MockTransport``): the engine's whole behaviour — order, retries, bisection, the count
check, the window — can be exercised without a server, a SparkSession or a clock.

>>> def echo_count(request: MockRequest) -> bytes:
...     return b"0\\n" * request.body.count(b"\\n")
>>> endpoint = MockEndpoint(echo_count)

A handler returns the response body, or a :class:`MockResponse` to answer with a status and
an error code — classified exactly as a real endpoint's answer is (``ThrottlingException``
with HTTP 400 is a throttle, 5xx a server error, ...) — or raises an
:mod:`endpoints.errors` exception itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from endpoints.clients.transport import Endpoint
from endpoints.failures import error_for_response

__all__ = ["MockEndpoint", "MockRequest", "MockResponse"]


@dataclass(frozen=True)
class MockRequest:
    body: bytes
    content_type: str
    accept: str


@dataclass(frozen=True)
class MockResponse:
    """An answer with a status; anything but 2xx becomes the matching InvocationError."""

    status: int = 200
    body: bytes = b""
    code: str | None = None
    retry_after: float | None = None


class MockEndpoint(Endpoint):
    """Calls ``handler(MockRequest)`` for every request. The handler may be called from
    several threads at once (the engine keeps requests in flight); it must be picklable to
    run inside Spark tasks (closures are, through cloudpickle)."""

    def __init__(
        self, handler: Callable[[MockRequest], bytes | MockResponse], name: str = "mock"
    ) -> None:
        self.handler = handler
        self.name = name

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        answer = self.handler(MockRequest(bytes(body), content_type, accept))
        if isinstance(answer, bytes):
            return answer
        if 200 <= answer.status < 300:
            return answer.body
        raise error_for_response(
            endpoint=self.name,
            status=answer.status,
            code=answer.code,
            message=answer.body.decode("utf-8", "replace") or f"HTTP {answer.status}",
            retry_after=answer.retry_after,
        )

    def __repr__(self) -> str:
        return f"MockEndpoint({getattr(self.handler, '__name__', 'handler')}, name={self.name!r})"
