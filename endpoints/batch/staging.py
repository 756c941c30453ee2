"""Each partition's rows written to S3 as the serializer frames them, for a transform job.

A partition's rows are serialized exactly as the endpoint path serializes them, packed by
the same :class:`~serde.batching.RequestBatchIterator` into mini-batch-sized bodies (so a
row over ``MaxPayloadInMB`` is that row's error here, not the job's failure later), and the
bodies concatenated into objects of at most ``max_object_mb``:
``<run>/input/part-<partition>-<n>.<ext>``. What was written comes back to the driver as
one :data:`STAGED_SCHEMA` row per object (its partition row range) and per row that could
not be written (its error), so reading the answers back can put every row in its place.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from endpoints.batch.options import S3Location, SplitFormat
from endpoints.batch.readback import ROW_ID, row_position
from endpoints.batch.s3 import S3Access
from serde.base import RequestRowSerializer
from serde.batching import RequestBatchIterator, RequestBody

__all__ = ["STAGED_SCHEMA", "PartitionStager", "input_key"]

#: One row per staged object (``key`` set) or per row that could not be staged
#: (``error`` set): the partition's rows ``[start, stop)``.
STAGED_SCHEMA = "partition int, key string, start long, stop long, error string"
_ARROW_SCHEMA = pa.schema(
    [
        ("partition", pa.int32()),
        ("key", pa.string()),
        ("start", pa.int64()),
        ("stop", pa.int64()),
        ("error", pa.string()),
    ]
)
#: Rows per mini-batch-sized body at most: the job packs records itself; this only bounds
#: how much one body holds while it is concatenated into an object.
_BODY_ROWS = 100_000


def input_key(location: S3Location, partition: int, number: int, fmt: SplitFormat) -> str:
    return f"{location.prefix}part-{partition:05d}-{number:04d}.{fmt.extension}"


class PartitionStager:
    """The picklable function ``mapInArrow`` runs over each partition's input columns."""

    def __init__(
        self,
        serializer: RequestRowSerializer,
        location: S3Location,
        s3: S3Access,
        fmt: SplitFormat,
        *,
        max_record_bytes: int,
        max_object_bytes: int,
    ) -> None:
        self.serializer = serializer
        self.location = location
        self.s3 = s3
        self.fmt = fmt
        self.max_record_bytes = max_record_bytes
        self.max_object_bytes = max_object_bytes

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        packer = RequestBatchIterator(
            self.serializer,
            max_batch_records=_BODY_ROWS,
            max_batch_bytes=self.max_record_bytes,
        )
        out: _StagedRows | None = None
        writer: _ObjectWriter | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            # positions come from each row's identity, which reading back looks up
            ids = batch.column(ROW_ID).to_numpy(zero_copy_only=False).astype(np.int64)
            partitions, positions = row_position(ids)
            base = int(positions[0])
            if not (
                (partitions == partitions[0]).all()
                and np.array_equal(positions, np.arange(base, base + len(ids)))
            ):
                raise AssertionError("a pinned partition's row ids are not consecutive")
            if out is None:
                out = _StagedRows(int(partitions[0]))
                writer = _ObjectWriter(self, out.partition, out)
            batch = batch.drop_columns([ROW_ID])
            rows = self.serializer.serialize_batch(batch)
            for item in packer.pack(rows, batch, base_index=base):
                if isinstance(item, RequestBody):
                    writer.add(item)
                else:
                    out.failed(item.index, str(item.error))
        if out is not None and writer is not None:
            writer.flush()
            yield out.batch()


class _StagedRows:
    """The :data:`STAGED_SCHEMA` rows of one partition, as they are produced."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.columns: dict[str, list] = {name: [] for name in _ARROW_SCHEMA.names}

    def _row(self, key: str | None, start: int, stop: int, error: str | None) -> None:
        for name, value in zip(_ARROW_SCHEMA.names, (self.partition, key, start, stop, error)):
            self.columns[name].append(value)

    def staged(self, key: str, start: int, stop: int) -> None:
        self._row(key, start, stop, None)

    def failed(self, index: int, message: str) -> None:
        self._row(None, index, index + 1, message)

    def batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict(self.columns, schema=_ARROW_SCHEMA)


class _ObjectWriter:
    """Concatenates bodies into one object until the next would pass the object size."""

    def __init__(self, stager: PartitionStager, partition: int, out: _StagedRows) -> None:
        self.stager = stager
        self.partition = partition
        self.out = out
        self.parts: list[bytes] = []
        self.size = 0
        self.start = 0
        self.stop = 0
        self.number = 0

    def add(self, body: RequestBody) -> None:
        data = body.body
        if self.stager.fmt.line_based and not data.endswith(b"\n"):
            data += b"\n"  # the next body's first line must start a line
        if self.parts and self.size + len(data) > self.stager.max_object_bytes:
            self.flush()
        if not self.parts:
            self.start = body.start
        self.parts.append(data)
        self.size += len(data)
        self.stop = body.stop

    def flush(self) -> None:
        if not self.parts:
            return
        stager = self.stager
        key = input_key(stager.location, self.partition, self.number, stager.fmt)
        stager.s3.put(stager.location.bucket, key, b"".join(self.parts))
        self.out.staged(key, self.start, self.stop)
        self.parts, self.size = [], 0
        self.number += 1
