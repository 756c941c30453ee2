"""The job's ``.out`` objects read back and put beside the rows they answer.

Each input row carries its identity from before staging — ``monotonically_increasing_id``
(partition << 33 | position), taken before the input was pinned — and the read-back UDF
gets only that column, so it finds each row's answer by the row itself, whichever rows
Spark feeds it: all of a partition, a prefix (``limit``, ``show``) or a subset (a filter
pushed below the UDF). An object's ``.out`` is deserialized whole, once per task, and must
hold exactly one result per staged row of its object — a different count is that object's
error, never a shift. Rows that could not be staged, and objects the job wrote no output
for, become errors for their rows (``on_error="column"``) or fail the task naming them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
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

__all__ = ["ROW_ID", "PartitionPlan", "PartitionReader", "row_position"]

#: The column that carries each row's identity through staging and reading back.
ROW_ID = "__endpoint_serde_row"
_POSITION_BITS = 33  # monotonically_increasing_id: the partition in the upper 31 bits
_UNSTAGED = -1  # a row the serializer could not write
_UNKNOWN = -2  # a row the partition never had


def row_position(row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(partition, position in the partition) of ``monotonically_increasing_id`` values."""
    return row_ids >> _POSITION_BITS, row_ids & ((1 << _POSITION_BITS) - 1)


@dataclass(frozen=True)
class PartitionPlan:
    """What was staged for one partition: its objects and its unstaged rows, by row."""

    rows: int
    objects: tuple[tuple[str, int, int], ...]  # (key, start, stop), by start
    failures: tuple[tuple[int, str], ...]  # (row, message), by row

    @cached_property
    def _starts(self) -> np.ndarray:
        return np.array([start for _, start, _ in self.objects], dtype=np.int64)

    @cached_property
    def _stops(self) -> np.ndarray:
        return np.array([stop for _, _, stop in self.objects], dtype=np.int64)

    @cached_property
    def _failed(self) -> np.ndarray:
        return np.array([row for row, _ in self.failures], dtype=np.int64)

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row: the index of the object holding it (or ``_UNSTAGED``,
        ``_UNKNOWN``) and its offset among that object's staged rows."""
        failed_before = np.searchsorted(self._failed, positions)
        unstaged = np.zeros(len(positions), dtype=bool)
        if len(self._failed):
            unstaged = self._failed[np.minimum(failed_before, len(self._failed) - 1)] == positions
        if not self.objects:
            objects = np.full(len(positions), _UNKNOWN, dtype=np.int64)
            return np.where(unstaged, _UNSTAGED, objects), np.zeros(len(positions), np.int64)
        objects = np.searchsorted(self._starts, positions, side="right") - 1
        held = np.maximum(objects, 0)
        starts = self._starts[held]
        inside = (objects >= 0) & (positions < self._stops[held])
        offsets = positions - starts - (failed_before - np.searchsorted(self._failed, starts))
        objects = np.where(inside, objects, _UNKNOWN)
        return np.where(unstaged, _UNSTAGED, objects), offsets

    def staged_rows(self, index: int) -> int:
        """How many rows object ``index`` holds (its range less the unstaged rows)."""
        _, start, stop = self.objects[index]
        unstaged = np.searchsorted(self._failed, stop) - np.searchsorted(self._failed, start)
        return stop - start - int(unstaged)

    def failure(self, position: int) -> str:
        return dict(self.failures)[position]


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
        assembler: ResultAssembler | None = None
        answers = _LastObject()
        for batch in batches:
            ids = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
            partitions, positions = row_position(ids)
            if assembler is None:
                assembler = ResultAssembler(
                    self.deserializer,
                    self.options,
                    f"transform-job:{self.job_name}",
                    int(partitions[0]) if len(ids) else None,
                )
            yield assembler.assemble(
                self._pieces(partitions, positions, answers, assembler.next_row)
            )

    def _pieces(
        self, partitions: np.ndarray, positions: np.ndarray, answers: _LastObject, first: int
    ) -> list[Piece]:
        """One piece per run of rows (in the order they came) answered by one object, and
        one per row that could not be staged; ``first`` is the batch's first output row."""
        pieces: list[Piece] = []
        # a task reads one partition; a batch that spans more is cut where it changes
        cuts = [0, *(np.flatnonzero(np.diff(partitions)) + 1), len(positions)]
        for lo, hi in itertools.pairwise(cuts):
            partition = int(partitions[lo])
            plan = self.plans.get(partition, PartitionPlan(0, (), ()))
            objects, offsets = plan.locate(positions[lo:hi])
            if (objects == _UNKNOWN).any():
                row = int(positions[lo:hi][objects == _UNKNOWN][0])
                raise EndpointsError(
                    f"transform job {self.job_name!r}: row {row} of partition {partition} was "
                    f"not staged ({plan.rows} rows were), so it has no answer. The input "
                    "changed between staging and reading; transform pins it with "
                    "localCheckpoint, so check that nothing evicted the checkpoint"
                )
            # runs of one object; every unstaged row is a run of its own
            breaks = np.flatnonzero((np.diff(objects) != 0) | (objects[1:] == _UNSTAGED)) + 1
            runs = [0, *breaks, len(objects)]
            for a, b in itertools.pairwise(runs):
                row = int(positions[lo + a])
                pieces.append(
                    self._piece(
                        plan, partition, int(objects[a]), offsets[a:b], row, first + lo + a, answers
                    )
                )
        return pieces

    def _piece(
        self,
        plan: PartitionPlan,
        partition: int,
        index: int,
        offsets: np.ndarray,
        row: int,
        out: int,
        answers: _LastObject,
    ) -> Piece:
        """The piece for ``len(offsets)`` rows of object ``index``, the first being the
        partition's row ``row`` and the output's row ``out``."""
        rows = len(offsets)
        try:
            if index == _UNSTAGED:
                raise RowSerializationError(plan.failure(row))
            key = plan.objects[index][0]
            results = answers.get(key, lambda: self._results(key, plan.staged_rows(index)))
        except (
            RowSerializationError,
            TransformJobError,
            ResultCountMismatchError,
            ResponseParseError,
        ) as error:
            if self.options.on_error != "column":
                where = f"row {row}" if rows == 1 else f"rows from {row}"
                raise EndpointsError(
                    f"transform job {self.job_name!r}, partition {partition}, {where}: "
                    f"{error}. Use on_error='column' to keep going and get an error column "
                    "instead of failing the job"
                ) from error
            return Piece(out, out + rows, error=error, attempts=error.attempts)
        return Piece(out, out + rows, results=results.take(pa.array(offsets)), attempts=1)

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


class _LastObject:
    """The last object's answers (or why there are none): rows come in object order, so a
    task deserializes each ``.out`` once."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.value: pa.RecordBatch | None = None
        self.error: Exception | None = None

    def get(self, key: str, load: Callable[[], pa.RecordBatch]) -> pa.RecordBatch:
        if key != self.key:
            self.key, self.value, self.error = key, None, None
            try:
                self.value = load()
            except Exception as exc:
                self.error = exc
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value
