"""One request body through the endpoint: the window, retries, the count check, and —
when the endpoint rejects the body — bisection to find the rows it refuses.

Runs in the partition's request threads. What comes back is a list of :class:`Piece`:
contiguous row ranges, each with its results or its error, covering exactly the rows the
body carried. Nothing here knows about Spark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pyarrow as pa

from endpoints.clients.transport import Endpoint
from endpoints.clock import Clock
from endpoints.errors import (
    EndpointAccessError,
    InvocationError,
    RejectedError,
    ResultCountMismatchError,
    RetriesExhaustedError,
)
from endpoints.retry import RetryPolicy, call_with_retries
from endpoints.scoring.metrics import MetricsRecorder
from endpoints.scoring.window import AdaptiveWindow
from serde.base import ResponseRowDeserializer
from serde.errors import ResponseParseError

__all__ = ["BodySender", "Piece", "conform"]


@dataclass
class Piece:
    """Results (or one error) for the partition's rows ``[start, stop)``."""

    start: int
    stop: int
    results: pa.RecordBatch | None = None
    error: Exception | None = None
    attempts: int = 0

    @property
    def num_rows(self) -> int:
        return self.stop - self.start


class BodySender:
    """Sends bodies of one partition; shared by its request threads (it holds no
    per-request state)."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        content_type: str,
        deserializer: ResponseRowDeserializer,
        result_schema: pa.Schema,
        retry: RetryPolicy,
        window: AdaptiveWindow,
        recorder: MetricsRecorder,
        clock: Clock,
        bisect: bool,
        partition: int | None,
    ) -> None:
        self.endpoint = endpoint
        self.content_type = content_type
        self.deserializer = deserializer
        self.result_schema = result_schema
        self.retry = replace(retry, paced_throttles=True)  # the window paces throttles
        self.window = window
        self.recorder = recorder
        self.clock = clock
        self.bisect = bisect
        self.partition = partition

    def send(
        self,
        body: bytes,
        start: int,
        stop: int,
        number: int,
        body_for: Callable[[int, int], bytes],
    ) -> list[Piece]:
        """Scores rows ``[start, stop)`` sent as ``body`` (request ``number`` of the
        partition); ``body_for(a, b)`` rebuilds the body of a sub-range for bisection."""
        self.recorder.count("bodies")
        outcome = self._attempt(body, start, stop, number)
        if isinstance(outcome, RejectedError):
            return self._bisect(outcome, start, stop, number, body_for)
        return [outcome]

    def _attempt(self, body: bytes, start: int, stop: int, number: int) -> Piece | RejectedError:
        """One body, retried: its piece, or the rejection bisection may look into."""
        try:
            raw, attempts = self._invoke(body)
        except RejectedError as exc:
            if self.bisect and stop - start > 1 and not isinstance(exc, EndpointAccessError):
                return exc
            return Piece(start, stop, error=exc, attempts=exc.attempts)
        except (InvocationError, RetriesExhaustedError) as exc:
            return Piece(start, stop, error=exc, attempts=exc.attempts)
        try:
            results = self._results(raw, stop - start, number)
        except (ResultCountMismatchError, ResponseParseError) as exc:
            return Piece(start, stop, error=exc, attempts=attempts)
        return Piece(start, stop, results=results, attempts=attempts)

    def _bisect(
        self,
        rejection: RejectedError,
        start: int,
        stop: int,
        number: int,
        body_for: Callable[[int, int], bytes],
    ) -> list[Piece]:
        """Some row in ``[start, stop)`` upsets the endpoint: split until it is alone, so its
        neighbours still get results. When both halves are refused with the same error, no
        row holds it (a malformed prefix, a broken model): the whole range gets that one
        error, not one request per row."""
        self.recorder.count("bisections")
        middle = (start + stop) // 2
        left = self._attempt(body_for(start, middle), start, middle, number)
        right = self._attempt(body_for(middle, stop), middle, stop, number)
        if (
            isinstance(left, RejectedError)
            and isinstance(right, RejectedError)
            and left.same_failure(right)
        ):
            # each row went out in the body and in one half
            attempts = rejection.attempts + max(left.attempts, right.attempts)
            return [Piece(start, stop, error=left, attempts=attempts)]
        pieces: list[Piece] = []
        for half, (a, b) in ((left, (start, middle)), (right, (middle, stop))):
            if isinstance(half, RejectedError):
                pieces.extend(self._bisect(half, a, b, number, body_for))
            else:
                pieces.append(half)
        return pieces

    def _invoke(self, body: bytes) -> tuple[bytes, int]:
        """The response body and the attempts it took, the window held around each."""
        accept = self.deserializer.accepts
        attempts = 0

        def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            waiting_since = self.clock.monotonic()
            ticket = self.window.acquire()
            sent_at = self.clock.monotonic()
            self.recorder.waited(sent_at - waiting_since)
            try:
                raw = self.endpoint.invoke(body, self.content_type, accept)
            except InvocationError as exc:
                self.window.release(ticket, throttled=self.retry.is_throttle(exc))
                self.recorder.request(len(body), 0, self.clock.monotonic() - sent_at)
                raise
            latency = self.clock.monotonic() - sent_at
            self.window.release(ticket, ok=True, latency_s=latency)
            self.recorder.request(len(body), len(raw), latency)
            return raw

        def on_retry(error: InvocationError, delay: float, _state: object) -> None:
            self.recorder.retry(error.kind)
            if delay > 0:
                self.recorder.waited(delay)

        try:
            raw = call_with_retries(
                attempt,
                self.retry,
                sleep=self.clock.sleep,
                clock=self.clock.monotonic,
                on_retry=on_retry,
            )
        except (InvocationError, RetriesExhaustedError) as final:
            kind = final.last_error.kind if isinstance(final, RetriesExhaustedError) else final.kind
            self.recorder.error(kind)
            raise
        return raw, attempts

    def _results(self, raw: bytes, rows: int, number: int) -> pa.RecordBatch:
        try:
            results = self._deserialize(raw)
        except ResponseParseError:
            self.recorder.error("parse")
            raise
        if results.num_rows != rows:
            self.recorder.error("count_mismatch")
            raise ResultCountMismatchError(
                endpoint=self.endpoint.name,
                partition=self.partition,
                batch=number,
                sent=rows,
                received=results.num_rows,
            )
        return conform(results, self.result_schema)

    def _deserialize(self, raw: bytes) -> pa.RecordBatch:
        try:
            return self.deserializer.deserialize_batch(raw)
        except ResponseParseError:
            raise
        except Exception as exc:  # a user's deserializer: report it, with the body
            raise ResponseParseError(
                f"{type(self.deserializer).__name__} raised {type(exc).__name__}: {exc}",
                body=raw,
                accepts=self.deserializer.accepts,
            ) from exc


def conform(results: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``results`` as the declared ``schema`` (a deserializer may build a compatible type,
    say int64 for a declared double); one that cannot be cast is a parse error."""
    if results.schema == schema:
        return results
    try:
        columns = [results.column(i).cast(f.type) for i, f in enumerate(schema)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, IndexError) as exc:
        raise ResponseParseError(
            f"deserializer produced {results.schema} where {schema} was declared: {exc}"
        ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)
