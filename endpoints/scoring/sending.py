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
    InvocationError,
    RejectedError,
    ResultCountMismatchError,
    RetriesExhaustedError,
    ThrottledError,
)
from endpoints.retry import RetryPolicy
from endpoints.scoring.metrics import MetricsRecorder
from endpoints.scoring.window import AdaptiveWindow
from serde.base import ResponseRowDeserializer
from serde.errors import ResponseParseError

__all__ = ["BodySender", "Piece"]


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
        try:
            results, attempts = self._invoke(body, stop - start, number)
            return [Piece(start, stop, results=results, attempts=attempts)]
        except RejectedError as exc:
            attempts = getattr(exc, "attempts", 1)
            if not self.bisect or stop - start == 1:
                return [Piece(start, stop, error=exc, attempts=attempts)]
            # Some row in here upsets the endpoint: split until it is alone, so its
            # neighbours still get results.
            self.recorder.count("bisections")
            middle = (start + stop) // 2
            return [
                *self.send(body_for(start, middle), start, middle, number, body_for),
                *self.send(body_for(middle, stop), middle, stop, number, body_for),
            ]
        except (
            RetriesExhaustedError,
            InvocationError,
            ResultCountMismatchError,
            ResponseParseError,
        ) as exc:
            return [Piece(start, stop, error=exc, attempts=getattr(exc, "attempts", 1))]

    def _invoke(self, body: bytes, rows: int, number: int) -> tuple[pa.RecordBatch, int]:
        state = self.retry.new_state(clock=self.clock.monotonic)
        accept = self.deserializer.accepts
        while True:
            waiting_since = self.clock.monotonic()
            ticket = self.window.acquire()
            sent_at = self.clock.monotonic()
            self.recorder.waited(sent_at - waiting_since)
            state.begin_attempt()
            try:
                raw = self.endpoint.invoke(body, self.content_type, accept)
            except InvocationError as exc:
                throttled = isinstance(exc, ThrottledError)
                self.window.release(ticket, throttled=throttled)
                self.recorder.request(len(body), 0, self.clock.monotonic() - sent_at)
                try:
                    delay = state.next_delay(exc)
                except (InvocationError, RetriesExhaustedError) as final:
                    final.attempts = state.attempts  # type: ignore[attr-defined]
                    self.recorder.error(exc.kind)
                    raise
                self.recorder.retry(exc.kind)
                if delay > 0:
                    self.clock.sleep(delay)
                    self.recorder.waited(delay)
                continue
            latency = self.clock.monotonic() - sent_at
            self.window.release(ticket, ok=True, latency_s=latency)
            self.recorder.request(len(body), len(raw), latency)
            return self._results(raw, rows, number, state.attempts), state.attempts

    def _results(self, raw: bytes, rows: int, number: int, attempts: int) -> pa.RecordBatch:
        try:
            results = self._deserialize(raw)
        except ResponseParseError as exc:
            exc.attempts = attempts  # type: ignore[attr-defined]
            self.recorder.error("parse")
            raise
        if results.num_rows != rows:
            error = ResultCountMismatchError(
                endpoint=self.endpoint.name,
                partition=self.partition,
                batch=number,
                sent=rows,
                received=results.num_rows,
            )
            error.attempts = attempts  # type: ignore[attr-defined]
            self.recorder.error("count_mismatch")
            raise error
        if results.schema != self.result_schema:
            results = _conform(results, self.result_schema)
        return results

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


def _conform(results: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    try:
        columns = [results.column(i).cast(f.type) for i, f in enumerate(schema)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, IndexError) as exc:
        raise ResponseParseError(
            f"deserializer produced {results.schema} where {schema} was declared: {exc}"
        ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)
