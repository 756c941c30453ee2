"""The per-partition scoring loop that ``SageMakerModel.transform`` runs in ``mapInArrow``.

For each Arrow batch of a partition: serialize (vectorized where the serializer can), pack
into bodies, send up to ``max_in_flight`` of them at once through the endpoint under an
adaptive window, retry what is worth retrying, split bodies the endpoint rejects to find
the bad rows, and put the results back next to their input rows — in order, one output row
per input row, always. Memory stays bounded: at most ``2 * max_in_flight`` bodies are
queued or in flight (one window being sent, one prepared), plus the input batches they
belong to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from endpoints.clients.client_cache import client_cache
from endpoints.clients.transport import Endpoint
from endpoints.errors import (
    ConfigurationError,
    EndpointsError,
    InvocationError,
    RejectedError,
    ResultCountMismatchError,
    RetriesExhaustedError,
    ThrottledError,
)
from endpoints.retry import RetryPolicy
from endpoints.scoring.metrics import TransformMetrics
from endpoints.scoring.window import AdaptiveWindow
from serde.arrow_types import to_arrow_schema
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.batching import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_RECORDS,
    RequestBatchIterator,
    RequestBody,
    RowFailure,
)
from serde.errors import ResponseParseError, RowSerializationError

__all__ = [
    "ERROR_COLUMN_TYPE",
    "EngineOptions",
    "PartitionScorer",
    "output_schema",
]

log = logging.getLogger("endpoints.scoring.engine")

#: The error column: why a row has no results, and how hard we tried.
ERROR_COLUMN_TYPE = StructType(
    [
        # all nullable: a null error struct has null children in Arrow, and Spark's
        # toArrow refuses to view those as non-nullable
        StructField("kind", StringType(), True),
        StructField("status", IntegerType(), True),
        StructField("message", StringType(), True),
        StructField("attempts", IntegerType(), True),
    ]
)
ON_ERROR_CHOICES = ("fail", "column")


@dataclass(frozen=True)
class EngineOptions:
    """How a transform talks to its endpoint (see the README's configuration table)."""

    max_in_flight: int = 8
    max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    on_error: str = "fail"
    error_column_name: str = "error"
    prepend_result_rows: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR_CHOICES:
            raise ConfigurationError(
                f"on_error must be one of {ON_ERROR_CHOICES}, got {self.on_error!r}"
            )
        if self.max_in_flight < 1:
            raise ConfigurationError(f"max_in_flight must be at least 1, got {self.max_in_flight}")


def output_schema(
    input_schema: StructType, deserializer: ResponseRowDeserializer, options: EngineOptions
) -> StructType:
    """Input columns (if prepended), result columns, and the error column if asked for.

    A result column named like an input column would silently shadow it, so it is an error.
    """
    result_fields = list(deserializer.schema.fields)
    if options.on_error == "column":
        result_fields.append(StructField(options.error_column_name, ERROR_COLUMN_TYPE, True))
    if not options.prepend_result_rows:
        return StructType([_nullable(f) for f in result_fields])
    clashes = sorted(set(input_schema.names) & {f.name for f in result_fields})
    if clashes:
        raise ConfigurationError(
            f"output column(s) {clashes} already exist in the input DataFrame; rename the "
            "input columns or choose other result column names in the deserializer "
            "(e.g. prediction_column_name=...)"
        )
    return StructType(list(input_schema.fields) + [_nullable(f) for f in result_fields])


def _nullable(f: StructField) -> StructField:
    # a row whose request failed has null results
    return StructField(f.name, f.dataType, True, f.metadata)


@dataclass
class _Piece:
    """Results (or one error) for rows ``[start, stop)`` of one input batch."""

    start: int
    stop: int
    results: pa.RecordBatch | None = None
    error: Exception | None = None
    attempts: int = 0


@dataclass
class _BatchState:
    number: int
    first_row: int  # position of the batch's first row in the partition
    batch: pa.RecordBatch
    serialized: SerializedRows
    pieces: list[_Piece] = field(default_factory=list)


class _SharedMetrics:
    """Metrics updated from the worker threads of one partition."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.m = TransformMetrics(partitions=1)


class PartitionScorer:
    """The picklable function given to ``mapInArrow``; one call scores one partition."""

    def __init__(
        self,
        endpoint: Endpoint,
        serializer: RequestRowSerializer,
        deserializer: ResponseRowDeserializer,
        input_schema: StructType,
        options: EngineOptions,
        accumulator: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.serializer = serializer
        self.deserializer = deserializer
        self.input_schema = input_schema
        self.options = options
        self.accumulator = accumulator
        self.output_arrow_schema = to_arrow_schema(
            output_schema(input_schema, deserializer, options)
        )
        self.result_arrow_schema = to_arrow_schema(deserializer.schema)

    # -- the partition loop -------------------------------------------------------------

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else None
        retried_task = context is not None and context.attemptNumber() > 0
        shared = _SharedMetrics()
        constructions_before = client_cache.constructions
        self.serializer.set_schema(self.input_schema)
        self.endpoint.set_pool_size(self.options.max_in_flight)
        window = AdaptiveWindow(self.options.max_in_flight)
        packer = RequestBatchIterator(
            self.serializer,
            max_batch_records=self.options.max_batch_records,
            max_batch_bytes=self.options.max_batch_bytes,
        )
        pool = ThreadPoolExecutor(self.options.max_in_flight, thread_name_prefix="endpoint")
        pending: deque[tuple[_BatchState, RequestBody | RowFailure | None, Future | None]] = deque()
        in_queue = 0
        # Bodies are prepared up to one window ahead of the requests in flight: when a
        # request ends, the next body is already queued, instead of waiting while this
        # thread reads and serializes the next input batch (measured: the window's gain
        # under 20 ms of latency on one partition rose from 6.0x to 6.5x).
        max_queued = 2 * self.options.max_in_flight
        started = time.monotonic()
        first_row = 0
        try:
            for number, batch in enumerate(batches):
                if batch.num_rows == 0:
                    continue
                state = _BatchState(
                    number, first_row, batch, self.serializer.serialize_batch(batch)
                )
                first_row += batch.num_rows
                for item in packer.pack(state.serialized, batch):
                    future = None
                    if isinstance(item, RequestBody):
                        future = pool.submit(
                            self._score_body, packer, state, item, window, shared, partition
                        )
                        in_queue += 1
                    pending.append((state, item, future))
                    while in_queue > max_queued:
                        done, freed = self._advance(pending, partition, shared)
                        in_queue -= freed
                        if done is not None:
                            yield done
                pending.append((state, None, None))  # end of this batch
                while pending and pending[0][1] is None:
                    yield self._assemble(pending.popleft()[0], partition, shared)
            while pending:
                done, freed = self._advance(pending, partition, shared)
                in_queue -= freed
                if done is not None:
                    yield done
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            m = shared.m
            m.client_constructions = client_cache.constructions - constructions_before
            m.window_decreases = window.decreases
            m.window_lowest = window.lowest
            m.window_peak_in_flight = window.peak_in_flight
            if retried_task:
                m.requests_in_retried_tasks = m.requests
            if self.accumulator is not None:
                self.accumulator.add(m)
            log.info(
                "partition %s of %s done in %.2fs: %s",
                partition,
                self.endpoint.name,
                time.monotonic() - started,
                m.summary(),
            )

    def _advance(
        self, pending: deque, partition: int | None, shared: _SharedMetrics
    ) -> tuple[pa.RecordBatch | None, int]:
        """Settles the oldest queued entry, waiting for it if it is a request.

        Returns the finished output batch when the entry closed one, and how many
        requests it took off the queue (1 for a request, 0 otherwise).
        """
        state, item, future = pending.popleft()
        if item is None:  # end-of-batch marker: everything before it is settled
            return self._assemble(state, partition, shared), 0
        if future is None:
            state.pieces.append(_Piece(item.index, item.index + 1, error=item.error))
            return None, 0
        state.pieces.extend(future.result())
        return None, 1

    def _assemble(
        self, state: _BatchState, partition: int | None, shared: _SharedMetrics
    ) -> pa.RecordBatch:
        pieces = sorted(state.pieces, key=lambda p: p.start)
        n = state.batch.num_rows
        _check_coverage(pieces, n)
        errors = [p for p in pieces if p.error is not None]
        with shared.lock:
            shared.m.rows += n
            shared.m.rows_failed += sum(p.stop - p.start for p in errors)
        if errors and self.options.on_error == "fail":
            first = errors[0]
            raise _task_error(first.error, self.endpoint.name, partition, state, first) from (
                first.error
            )
        columns: list[pa.Array] = []
        for j, f in enumerate(self.result_arrow_schema):
            parts = [
                p.results.column(j) if p.results is not None else pa.nulls(p.stop - p.start, f.type)
                for p in pieces
            ]
            columns.append(pa.concat_arrays(parts) if len(parts) != 1 else parts[0])
        if self.options.on_error == "column":
            columns.append(_error_column(pieces))
        if self.options.prepend_result_rows:
            columns = list(state.batch.columns) + columns
        return pa.RecordBatch.from_arrays(columns, schema=self.output_arrow_schema)

    # -- one body, in a worker thread ----------------------------------------------------

    def _score_body(
        self,
        packer: RequestBatchIterator,
        state: _BatchState,
        body: RequestBody,
        window: AdaptiveWindow,
        shared: _SharedMetrics,
        partition: int | None,
    ) -> list[_Piece]:
        with shared.lock:
            shared.m.bodies += 1
        return self._score_range(
            packer, state, body.body, body.start, body.stop, window, shared, partition
        )

    def _score_range(
        self,
        packer: RequestBatchIterator,
        state: _BatchState,
        body: bytes,
        start: int,
        stop: int,
        window: AdaptiveWindow,
        shared: _SharedMetrics,
        partition: int | None,
    ) -> list[_Piece]:
        attempts = 0
        try:
            results, attempts = self._invoke(body, stop - start, window, shared, partition, state)
            return [_Piece(start, stop, results=results, attempts=attempts)]
        except RejectedError as exc:
            attempts = getattr(exc, "attempts", 1)
            if self.options.on_error != "column" or stop - start == 1:
                return [_Piece(start, stop, error=exc, attempts=attempts)]
            # Some row in here upsets the endpoint: split until it is alone, so its
            # neighbours still get results.
            with shared.lock:
                shared.m.bisections += 1
            middle = (start + stop) // 2
            pieces = []
            for a, b in ((start, middle), (middle, stop)):
                sub_body = packer.body_for(state.serialized, state.batch, a, b)
                pieces += self._score_range(
                    packer, state, sub_body, a, b, window, shared, partition
                )
            return pieces
        except (
            RetriesExhaustedError,
            InvocationError,
            ResultCountMismatchError,
            ResponseParseError,
        ) as exc:
            attempts = getattr(exc, "attempts", attempts)
            return [_Piece(start, stop, error=exc, attempts=attempts)]

    def _invoke(
        self,
        body: bytes,
        rows: int,
        window: AdaptiveWindow,
        shared: _SharedMetrics,
        partition: int | None,
        state: _BatchState,
    ) -> tuple[pa.RecordBatch, int]:
        retry = self.options.retry.new_state()
        while True:
            ticket = window.acquire()
            retry.begin_attempt()
            sent_at = time.monotonic()
            try:
                raw = self.endpoint.invoke(
                    body, self.serializer.content_type, self.deserializer.accepts
                )
            except InvocationError as exc:
                window.release(ticket, throttled=isinstance(exc, ThrottledError))
                self._count_request(shared, len(body), 0, time.monotonic() - sent_at)
                try:
                    delay = retry.next_delay(exc)
                except (InvocationError, RetriesExhaustedError) as final:
                    final.attempts = retry.attempts  # type: ignore[attr-defined]
                    with shared.lock:
                        shared.m.errors[exc.kind] += 1
                    raise
                with shared.lock:
                    shared.m.retries[exc.kind] += 1
                time.sleep(delay)
                continue
            window.release(ticket, ok=True)
            self._count_request(shared, len(body), len(raw), time.monotonic() - sent_at)
            break
        try:
            try:
                results = self.deserializer.deserialize_batch(raw)
            except ResponseParseError:
                raise
            except Exception as exc:  # a user's deserializer: report it, with the body
                raise ResponseParseError(
                    f"{type(self.deserializer).__name__} raised {type(exc).__name__}: {exc}",
                    body=raw,
                    accepts=self.deserializer.accepts,
                ) from exc
        except ResponseParseError as exc:
            exc.attempts = retry.attempts  # type: ignore[attr-defined]
            with shared.lock:
                shared.m.errors["parse"] += 1
            raise
        if results.num_rows != rows:
            error = ResultCountMismatchError(
                endpoint=self.endpoint.name,
                partition=partition,
                batch=state.number,
                sent=rows,
                received=results.num_rows,
            )
            error.attempts = retry.attempts  # type: ignore[attr-defined]
            with shared.lock:
                shared.m.errors["count_mismatch"] += 1
            raise error
        if results.schema != self.result_arrow_schema:
            results = _conform(results, self.result_arrow_schema)
        return results, retry.attempts

    @staticmethod
    def _count_request(shared: _SharedMetrics, sent: int, received: int, seconds: float) -> None:
        with shared.lock:
            m = shared.m
            m.requests += 1
            m.bytes_sent += sent
            m.bytes_received += received
            m.latency.record(seconds)


def _conform(results: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    try:
        columns = [results.column(i).cast(f.type) for i, f in enumerate(schema)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, IndexError) as exc:
        raise ResponseParseError(
            f"deserializer produced {results.schema} where {schema} was declared: {exc}"
        ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _check_coverage(pieces: list[_Piece], n: int) -> None:
    """Every input row is covered exactly once; anything else is a bug, never output."""
    position = 0
    for p in pieces:
        if p.start != position:
            raise AssertionError(f"rows {position}..{p.start} lost or duplicated in assembly")
        position = p.stop
    if position != n:
        raise AssertionError(f"assembled {position} rows for a batch of {n}")


_ERROR_ARROW_TYPE = to_arrow_schema(StructType([StructField("e", ERROR_COLUMN_TYPE)])).field(0).type


def _error_kind(error: Exception) -> str:
    if isinstance(error, RowSerializationError):
        return "serialization"
    if isinstance(error, ResultCountMismatchError):
        return "count_mismatch"
    if isinstance(error, ResponseParseError):
        return "parse"
    if isinstance(error, RetriesExhaustedError):
        return f"retries_exhausted:{error.last_error.kind}"
    if isinstance(error, InvocationError):
        return error.kind
    return type(error).__name__


def _error_status(error: Exception) -> int | None:
    if isinstance(error, RetriesExhaustedError):
        return error.last_error.status
    return getattr(error, "status", None)


def _error_column(pieces: list[_Piece]) -> pa.Array:
    parts = []
    for p in pieces:
        k = p.stop - p.start
        if p.error is None:
            parts.append(pa.nulls(k, _ERROR_ARROW_TYPE))
        else:
            value = {
                "kind": _error_kind(p.error),
                "status": _error_status(p.error),
                "message": str(p.error),
                "attempts": p.attempts,
            }
            parts.append(pa.array([value] * k, type=_ERROR_ARROW_TYPE))
    return pa.concat_arrays(parts) if len(parts) != 1 else parts[0]


def _task_error(
    error: Exception, endpoint: str, partition: int | None, state: _BatchState, piece: _Piece
) -> EndpointsError:
    if isinstance(error, ResultCountMismatchError):
        return error
    start, stop = state.first_row + piece.start, state.first_row + piece.stop
    rows = f"row {start}" if stop - start == 1 else f"rows {start}..{stop - 1}"
    return EndpointsError(
        f"scoring failed on endpoint {endpoint!r}, partition {partition}, batch "
        f"{state.number}, {rows}: {error}. Use on_error='column' to keep going and get an "
        "error column instead of failing the job"
    )
