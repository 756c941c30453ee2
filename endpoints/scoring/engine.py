"""The per-partition scoring loop that the transformer's Arrow UDF runs.

Arrow batches of the columns the serializer reads come in; for each: serialize
(vectorized where the serializer can), pack into bodies — a body may span batches: rows
left at the end of one batch wait for the next — send up to ``max_in_flight`` bodies at
once under an adaptive window (:mod:`endpoints.scoring.sending`), and hand the results back
as struct arrays in input order (:mod:`endpoints.scoring.results`), one struct per input
row, always. Memory stays bounded: at most ``2 * max_in_flight`` bodies are queued or in
flight (one window being sent, one prepared), plus one body's worth of held-back rows.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from endpoints.clients.client_cache import client_cache
from endpoints.clients.transport import Endpoint
from endpoints.clock import SYSTEM_CLOCK, Clock
from endpoints.scoring.metrics import MetricsRecorder, TransformMetrics
from endpoints.scoring.options import EngineOptions
from endpoints.scoring.results import ResultAssembler
from endpoints.scoring.sending import BodySender, Piece
from endpoints.scoring.window import AdaptiveWindow
from serde.arrow_types import to_arrow_schema
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.batching import RequestBatchIterator, RequestBody
from serde.features import dense_widths
from serde.row_chunks import row_runs

__all__ = ["PartitionRun", "PartitionScorer"]

log = logging.getLogger("endpoints.scoring.engine")

#: Settled rows are handed back to Spark once this many are ready (or before the loop
#: waits for a request), so output batches are neither tiny nor held back.
FLUSH_ROWS = 4096

#: What a full window of successes adds to the in-flight limit. TCP adds one; measured
#: against an endpoint smaller than the cluster, a quarter keeps the tasks' probing from
#: refusing more than a fraction of what is accepted, and still regains the limit quickly
#: (from 1 to 8 in about 60 requests).
WINDOW_INCREASE = 0.25
#: What a throttle multiplies the limit by: TCP's half. Measured on the back-pressure
#: benchmark (16 tasks, 8 requests each, against an endpoint serving 16): a half gave 0.92
#: of the goodput of a window set by hand with 0.22 refusals per accepted request; CUBIC's
#: 0.7 gave 0.89 with 0.35 refusals.
WINDOW_DECREASE = 0.5
#: The lowest share of one request in flight a task falls to (see AdaptiveWindow): a
#: task there sends one request, then pauses about seven latencies. Measured on the
#: back-pressure benchmark, 1/64 let a few tasks sink into pauses of seconds while the
#: endpoint had room (0.70 of a hand-set window's goodput); 1/8 gave 0.82-0.85 with the
#: same refusals (0.20-0.24 per accepted request). Below it, job_max_in_flight is the tool.
WINDOW_FLOOR = 1 / 8

#: A dense format (CSV, JSON) is given at most this many elements of an Arrow batch at a
#: time: Spark hands over 10,000 rows at once, and 10,000 sparse vectors 2^20 wide would
#: be 40 GB of CSV text. One slice of 2^20 elements writes at least 4 MiB, under a body.
DENSE_SLICE_CELLS = 1 << 20


class PartitionScorer:
    """The picklable function behind the scoring UDF; one call scores one partition.

    It holds configuration only; everything a run needs lives in a :class:`PartitionRun`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        serializer: RequestRowSerializer,
        deserializer: ResponseRowDeserializer,
        options: EngineOptions,
        accumulator: Any = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.endpoint = endpoint
        self.serializer = serializer
        self.deserializer = deserializer
        self.options = options
        self.accumulator = accumulator
        self.clock = clock
        self.result_schema = to_arrow_schema(deserializer.schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.StructArray]:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else None
        retried_task = context is not None and context.attemptNumber() > 0
        run = PartitionRun(self, partition)
        try:
            yield from run.run(batches)
        finally:
            metrics = run.close()
            if retried_task:
                metrics.requests_in_retried_tasks = metrics.requests
            if self.accumulator is not None:
                self.accumulator.add(metrics)
            log.info(
                "partition %s of %s done in %.2fs: %s",
                partition,
                self.endpoint.name,
                run.elapsed(),
                metrics.summary(),
            )


@dataclass(frozen=True)
class Segment:
    """Serialized rows not yet packed, starting at the partition's row ``first_row``.
    ``batch`` is kept only for serializers that build whole bodies from Arrow."""

    first_row: int
    rows: SerializedRows
    batch: pa.RecordBatch | None

    @property
    def stop(self) -> int:
        return self.first_row + self.rows.num_rows

    def rest(self, first_row: int) -> Segment:
        """The rows from the partition's row ``first_row`` on."""
        local = first_row - self.first_row
        batch = None if self.batch is None else self.batch.slice(local)
        return Segment(first_row, self.rows.tail(local), batch)

    def then(self, rows: SerializedRows, batch: pa.RecordBatch | None) -> Segment:
        """These rows followed by the next batch's."""
        if self.batch is not None and batch is not None:
            batch = pa.Table.from_batches([self.batch, batch]).combine_chunks().to_batches()[0]
        return Segment(self.first_row, SerializedRows.concat(self.rows, rows), batch)


class PartitionRun:
    """One partition's scoring: the packer, window, request pool, sender, assembler,
    metrics and clock it needs, and the loop over its batches."""

    def __init__(self, scorer: PartitionScorer, partition: int | None) -> None:
        options = scorer.options
        self.options = options
        self.serializer = scorer.serializer
        self.clock = scorer.clock
        self.started = self.clock.monotonic()
        self.constructions_before = client_cache.constructions
        self.keep_batches = not self.serializer.row_separable
        self.recorder = MetricsRecorder()
        self.window = AdaptiveWindow(
            options.window_max,
            min_limit=min(WINDOW_FLOOR, options.window_max),
            increase=WINDOW_INCREASE,
            decrease=WINDOW_DECREASE,
            clock=self.clock,
        )
        self.packer = RequestBatchIterator(
            self.serializer,
            max_batch_records=options.max_batch_records,
            max_batch_bytes=options.max_batch_bytes,
        )
        slots = max(1, math.ceil(options.window_max))
        client_cache.reserve(slots)
        self.sender = BodySender(
            endpoint=scorer.endpoint,
            content_type=self.serializer.content_type,
            deserializer=scorer.deserializer,
            result_schema=scorer.result_schema,
            retry=options.retry,
            window=self.window,
            recorder=self.recorder,
            clock=self.clock,
            bisect=options.on_error == "column",
            partition=partition,
        )
        self.assembler = ResultAssembler(
            scorer.deserializer, options, scorer.endpoint.name, partition
        )
        self.pool = ThreadPoolExecutor(slots, thread_name_prefix="endpoint")
        # queued requests (futures) and rows that cannot be sent (pieces), in row order
        self.pending: deque[Future | Piece] = deque()
        self.in_queue = 0
        # Bodies are prepared up to one window ahead of the requests in flight: when a
        # request ends, the next body is already queued, instead of waiting while this
        # thread reads and serializes the next input batch.
        self.max_queued = 2 * slots
        self.ready: list[Piece] = []
        self.ready_rows = 0
        self.bodies = 0

    def run(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.StructArray]:
        held: Segment | None = None
        next_row = 0
        for batch in self._slices(batches):
            rows = self.serializer.serialize_batch(batch)
            kept = batch if self.keep_batches else None
            segment = Segment(next_row, rows, kept) if held is None else held.then(rows, kept)
            next_row += batch.num_rows
            held = yield from self._pack(segment, final=False)
            yield from self._settle(self.max_queued)
        if held is not None:
            yield from self._pack(held, final=True)
        yield from self._settle(0)
        if self.ready:
            yield self._flush()

    def _slices(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The non-empty batches, cut for dense formats so that no slice spells more
        than :data:`DENSE_SLICE_CELLS` elements, whatever size its vectors declare."""
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if not self.serializer.writes_vectors_dense or not any(
                pa.types.is_struct(t) for t in batch.schema.types
            ):
                yield batch
                continue
            cells = sum(dense_widths(column) for column in batch.columns)
            for start, stop in row_runs(cells, DENSE_SLICE_CELLS):
                yield batch.slice(start, stop - start)

    def _pack(self, segment: Segment, *, final: bool) -> Iterator[pa.StructArray]:
        """Queues the bodies of ``segment``; returns the rows held back for the next batch
        (a last body that is not full yet), unless ``final``."""
        for item in self.packer.pack(segment.rows, segment.batch, base_index=segment.first_row):
            if isinstance(item, RequestBody):
                if (
                    not final
                    and item.stop == segment.stop
                    and item.num_rows < self.options.max_batch_records
                ):
                    return segment.rest(item.start)
                self._submit(segment, item)
                yield from self._settle(self.max_queued)
            else:
                self.pending.append(Piece(item.index, item.index + 1, error=item.error))
        return None

    def _submit(self, segment: Segment, body: RequestBody) -> None:
        def body_for(start: int, stop: int) -> bytes:
            first = segment.first_row
            return self.packer.body_for(segment.rows, segment.batch, start - first, stop - first)

        future = self.pool.submit(
            self.sender.send, body.body, body.start, body.stop, self.bodies, body_for
        )
        self.bodies += 1
        self.pending.append(future)
        self.in_queue += 1

    def _settle(self, max_queued: int) -> Iterator[pa.StructArray]:
        """Takes finished entries off the queue, oldest first, waiting for requests while
        more than ``max_queued`` are queued; hands back output as it fills."""
        while self.pending:
            head = self.pending[0]
            if isinstance(head, Future):
                if not head.done():
                    if self.in_queue <= max_queued:
                        break
                    if self.ready:  # give Spark what is ready before waiting
                        yield self._flush()
                pieces = head.result()
                self.in_queue -= 1
            else:
                pieces = [head]
            self.pending.popleft()
            self.ready.extend(pieces)
            self.ready_rows += sum(p.num_rows for p in pieces)
            if self.ready_rows >= FLUSH_ROWS:
                yield self._flush()

    def _flush(self) -> pa.StructArray:
        pieces, self.ready, self.ready_rows = self.ready, [], 0
        return self.assembler.assemble(pieces)

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def close(self) -> TransformMetrics:
        """Stops the request threads (cancelling queued requests after a failure) and
        returns the partition's metrics."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        m = self.recorder.metrics
        m.rows = self.assembler.next_row
        m.rows_failed = self.assembler.rows_failed
        m.client_constructions = client_cache.constructions - self.constructions_before
        m.window_decreases = self.window.decreases
        m.window_lowest = self.window.lowest
        m.window_peak_in_flight = self.window.peak_in_flight
        m.partition_seconds = self.elapsed()
        return m
