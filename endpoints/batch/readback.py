"""The job's ``.out`` objects read back and put beside the rows they answer, in order.

Runs as the scoring UDF of the endpoint path does (:func:`~endpoints.scoring.spark_plan.
score_dataframe`), over the same pinned partitions that were staged: for each partition,
its objects in row order; each ``.out`` is deserialized whole and must hold exactly one
result per staged row of its object — a different count is that object's error, never a
shift. Rows that could not be staged, and objects the job wrote no output for, become
errors for their rows (``on_error="column"``) or fail the task naming the object.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from endpoints.batch.options import S3Location
from endpoints.batch.s3 import S3Access
from endpoints.errors import EndpointsError, ResultCountMismatchError, TransformJobError
from endpoints.scoring.options import EngineOptions
from endpoints.scoring.results import ResultAssembler
from endpoints.scoring.sending import Piece, conform
from serde.arrow_types import to_arrow_schema
from serde.base import ResponseRowDeserializer
from serde.errors import ResponseParseError, RowSerializationError

__all__ = ["PartitionPlan", "PartitionReader"]


@dataclass(frozen=True)
class PartitionPlan:
    """What was staged for one partition: its objects and its unstaged rows, by row."""

    rows: int
    objects: tuple[tuple[str, int, int], ...]  # (key, start, stop), by start
    failures: tuple[tuple[int, str], ...]  # (row, message), by row


class PartitionReader:
    """The picklable function behind the read-back UDF; one call reads one partition."""

    def __init__(
        self,
        plans: dict[int, PartitionPlan],
        deserializer: ResponseRowDeserializer,
        options: EngineOptions,
        *,
        input_location: S3Location,
        output_location: S3Location,
        s3: S3Access,
        job_name: str,
        failure_reason: str | None,
    ) -> None:
        self.plans = plans
        self.deserializer = deserializer
        self.options = options
        self.input_location = input_location
        self.output_location = output_location
        self.s3 = s3
        self.job_name = job_name
        self.failure_reason = failure_reason
        self.result_schema = to_arrow_schema(deserializer.schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.StructArray]:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else 0
        rows = sum(batch.num_rows for batch in batches)
        plan = self.plans.get(partition, PartitionPlan(0, (), ()))
        if rows != plan.rows:
            raise EndpointsError(
                f"transform job {self.job_name!r}: partition {partition} has {rows} rows now "
                f"but {plan.rows} were staged, so its answers cannot be matched to its rows. "
                "The input changed between staging and reading; transform pins it with "
                "localCheckpoint, so check that nothing evicted the checkpoint"
            )
        assembler = ResultAssembler(
            self.deserializer, self.options, f"transform-job:{self.job_name}", partition
        )
        for pieces in self._pieces(plan):
            yield assembler.assemble(pieces)

    def _pieces(self, plan: PartitionPlan) -> Iterator[list[Piece]]:
        """The partition's pieces in row order, one object's worth at a time."""
        failures = list(plan.failures)
        failed_rows = [row for row, _ in failures]
        messages = dict(failures)
        next_row = 0
        for key, start, stop in plan.objects:
            head = [_unstaged(r, m) for r, m in failures if next_row <= r < start]
            inside = failed_rows[
                bisect.bisect_left(failed_rows, start) : bisect.bisect_left(failed_rows, stop)
            ]
            yield head + self._object_pieces(key, start, stop, inside, messages)
            next_row = stop
        tail = [_unstaged(r, m) for r, m in failures if r >= next_row]
        if tail:
            yield tail

    def _object_pieces(
        self, key: str, start: int, stop: int, failed: Sequence[int], messages: dict[int, str]
    ) -> list[Piece]:
        try:
            results = self._results(key, stop - start - len(failed))
            error = None
        except (TransformJobError, ResultCountMismatchError, ResponseParseError) as exc:
            results, error = None, exc
        pieces: list[Piece] = []
        offset = 0
        for a, b in _runs_and_gaps(start, stop, failed):
            if a in messages and b == a + 1:
                pieces.append(_unstaged(a, messages[a]))
            elif results is None:
                pieces.append(Piece(a, b, error=error, attempts=1))
            else:
                pieces.append(Piece(a, b, results=results.slice(offset, b - a), attempts=1))
                offset += b - a
        return pieces

    def _results(self, key: str, rows: int) -> pa.RecordBatch:
        relative = key[len(self.input_location.prefix) :]
        out_key = f"{self.output_location.prefix}{relative}.out"
        body = self.s3.get(self.output_location.bucket, out_key)
        source = f"s3://{self.input_location.bucket}/{key}"
        if body is None:
            reason = f": {self.failure_reason}" if self.failure_reason else ""
            raise TransformJobError(
                f"transform job {self.job_name!r} wrote no output for {source}{reason}",
                job_name=self.job_name,
                objects=[source],
            )
        try:
            results = self.deserializer.deserialize_batch(body)
        except ResponseParseError:
            raise
        except Exception as exc:  # a user's deserializer: report it, with the body
            raise ResponseParseError(
                f"{type(self.deserializer).__name__} raised {type(exc).__name__}: {exc}",
                body=body,
                accepts=self.deserializer.accepts,
            ) from exc
        if results.num_rows != rows:
            raise ResultCountMismatchError(
                endpoint=f"transform-job:{self.job_name} ({source}.out)",
                partition=None,
                batch=0,
                sent=rows,
                received=results.num_rows,
            )
        return conform(results, self.result_schema)


def _unstaged(row: int, message: str) -> Piece:
    return Piece(row, row + 1, error=RowSerializationError(message), attempts=0)


def _runs_and_gaps(start: int, stop: int, failed: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Runs of staged rows and each failed row alone, in row order."""
    at = start
    for row in failed:
        if row > at:
            yield at, row
        yield row, row + 1
        at = row + 1
    if stop > at:
        yield at, stop
