"""Writing a SerDe over a whole batch: your own format at close to built-in speed.

The per-row contract (``serialize_row``, ``deserialize_response``) costs a Python call and
a ``Row`` per row. These bases let a user write one method per batch instead, over numpy
or Arrow, while the library keeps doing everything else::

    FeatureMatrixSerializer.serialize_matrix(features: np.ndarray) -> BytesPerRow
        features: a (rows, width) float64 matrix, one row per input row that can be sent
    RecordBatchSerializer.serialize_record_batch(batch: pa.RecordBatch) -> BytesPerRow
        batch: the Arrow batch as Spark hands it over
    ColumnsDeserializer.deserialize_columns(body: bytes) -> ResultColumns
        the results of one response, one column of values per schema column

``BytesPerRow`` is a list of ``bytes``, an Arrow binary or string array, or a numpy
``bytes`` array: one record per row, ``None`` (null) for a row the format cannot carry. A
line-oriented format (CSV, LibSVM, JSON Lines) may instead set
``records_end_with = b"\\n"`` and return all records as one ``bytes``. The library turns
the records into offsets, frames bodies with the class's ``body_prefix``,
``row_separator`` and ``body_suffix`` (:class:`~serde.batching.RequestBatchIterator`),
and reports rows on their own: null or too-wide features and (unless
``allow_non_finite``) NaN or infinities never reach ``serialize_matrix``; a ``ValueError``
(or ``TypeError``, ``KeyError``, ``IndexError``) raised for a batch is narrowed down by
halving it until the row that raises is found, and only that row gets the error. On the
response side it builds the Arrow batch of ``schema`` and checks that every column holds
the same number of results (the engine checks that number against the rows sent).

The per-row methods stay available: each class here implements them through its batch
method, so a batch SerDe registers, saves by name and packs ``Row`` objects like any
other.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any, ClassVar, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Row
from pyspark.sql.types import StructType

from serde.arrow_types import arrow_column, python_column, record_batch_from_rows, to_arrow_schema
from serde.base import (
    ROW_ERRORS,
    RequestRowSerializer,
    ResponseRowDeserializer,
    SerializedRows,
    row_error,
)
from serde.csv import null_feature_errors, row_value, spread_offsets
from serde.errors import ResponseParseError, RowSerializationError, SerdeError
from serde.features import (
    FeatureBlock,
    dense_size_reason,
    densify,
    features_from_batch,
    features_from_row,
    require_columns,
)
from serde.features_column import FeaturesColumnSerializer
from serde.row_chunks import join_runs, row_runs

__all__ = [
    "NON_FINITE_FEATURES",
    "BytesPerRow",
    "ColumnValues",
    "ColumnsDeserializer",
    "FeatureMatrixSerializer",
    "RecordBatchSerializer",
    "ResultColumns",
]

#: One record per row: ``bytes`` (``None`` for a row the format cannot carry), an Arrow
#: binary/string array (null for such a row), a numpy ``bytes`` / object array, or — with
#: ``records_end_with`` set — one ``bytes`` holding every record.
BytesPerRow: TypeAlias = Sequence[bytes | None] | pa.Array | pa.ChunkedArray | np.ndarray | bytes
#: The values of one result column, one per row.
ColumnValues: TypeAlias = Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray
#: Result columns by name, or in ``schema`` order.
ResultColumns: TypeAlias = Mapping[str, ColumnValues] | Sequence[ColumnValues]

NON_FINITE_FEATURES = (
    "features hold NaN or an infinity, which this serializer does not send; fill them "
    "before scoring, or set allow_non_finite = True if the format can carry them"
)


# -------------------------------------------------------------------------- serializers


class RecordBatchSerializer(RequestRowSerializer):
    """Writes one record per row for a whole Arrow batch at once.

    Implement :meth:`serialize_record_batch`. A vector column arrives as Spark hands it:
    its vector struct, or ``list<double>`` when the engine converted it in the JVM;
    :func:`serde.features.features_from_batch` reads both.
    """

    #: One byte every record ends with and holds nowhere else (``b"\n"`` for CSV): the
    #: batch method may then return all records as one ``bytes``.
    records_end_with: ClassVar[bytes | None] = None

    @abstractmethod
    def serialize_record_batch(self, batch: pa.RecordBatch) -> BytesPerRow:
        """One record per row of ``batch`` (any length, and a slice of it when a row
        raised and the library is finding which)."""

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        def write(start: int, stop: int) -> BytesPerRow:
            return self.serialize_record_batch(batch.slice(start, stop - start))

        runs, errors = _write_isolating_failures(
            write, batch.num_rows, self._records_of, self._method_name()
        )
        data, offsets = join_runs(runs)
        return SerializedRows(data, offsets, errors)

    def serialize_row(self, row: Row) -> bytes:
        """The record of one ``Row``, through a one-row Arrow batch of :attr:`schema`."""
        return self._only_record(self.serialize_record_batch(_batch_of_row(row, self.schema)))

    def _method_name(self) -> str:
        return f"{type(self).__name__}.serialize_record_batch"

    def _records_of(self, written: BytesPerRow, expected: int) -> _Records:
        """What the batch method wrote for ``expected`` rows, checked."""
        return _records(written, expected, self._method_name(), self.records_end_with)

    def _only_record(self, written: BytesPerRow) -> bytes:
        data, _, refused = self._records_of(written, 1)
        if refused[0]:
            raise RowSerializationError(_refused_reason(self._method_name()))
        return data


class FeatureMatrixSerializer(FeaturesColumnSerializer, RecordBatchSerializer):
    """Writes one record per row from the features as a ``(rows, width)`` float64 matrix.

    Implement :meth:`serialize_matrix`. ``features_column_name`` names an ML ``Vector``
    (dense or sparse) or ``array<number>`` column, the only column that leaves the JVM; a
    narrow vector column is converted to ``array<double>`` there, which costs far less
    than Spark's vector struct (``writes_vectors_dense``). Rows with null features,
    sparse rows too wide to build dense (:data:`serde.features.MAX_DENSE_VALUES`) and,
    unless ``allow_non_finite`` is True, rows holding NaN or an infinity get a per-row
    error and never reach :meth:`serialize_matrix`. Rows of different widths come in
    separate calls, and a batch comes in bounded runs (:mod:`serde.row_chunks`), so one
    call never holds a huge dense matrix.
    """

    #: Whether NaN and infinities reach :meth:`serialize_matrix` (else: per-row errors).
    allow_non_finite: ClassVar[bool] = False
    writes_vectors_dense = True

    @abstractmethod
    def serialize_matrix(self, features: np.ndarray) -> BytesPerRow:
        """One record per row of ``features`` (a float64 matrix, C-contiguous)."""

    def serialize_record_batch(self, batch: pa.RecordBatch) -> BytesPerRow:
        """The records as bytes (``None`` for a refused row); :meth:`serialize_batch`
        does the same without this per-row list."""
        rows = self.serialize_batch(batch)
        return [None if i in rows.errors else rows.row(i) for i in range(rows.num_rows)]

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        column = self.features_column_name
        require_columns(batch.schema.names, [column], "a column of the batch")
        try:
            block = features_from_batch(batch, column)
        except (RowSerializationError, pa.ArrowInvalid):
            # a malformed sparse vector: the per-row path finds the row and reports it
            return RequestRowSerializer.serialize_batch(self, batch)
        errors = self._refused_rows(block, batch)
        live = np.ones(batch.num_rows, dtype=bool)
        live[list(errors)] = False
        live_rows = np.flatnonzero(live)
        runs: list[tuple[bytes, np.ndarray]] = []
        for start, matrix in _dense_runs(block.select(live)):
            run_runs, run_errors = _write_isolating_failures(
                lambda a, b, m=matrix: self.serialize_matrix(m[a:b]),
                len(matrix),
                self._records_of,
                self._method_name(),
            )
            runs.extend(run_runs)
            for position, error in run_errors.items():
                row = int(live_rows[start + position])
                errors[row] = error.at_row(row)
        data, offsets = join_runs(runs)
        return SerializedRows(data, spread_offsets(offsets, live), dict(sorted(errors.items())))

    def serialize_row(self, row: Row) -> bytes:
        column = self.features_column_name
        indices, values, size, is_sparse = features_from_row(row_value(row, column), column=column)
        dense = densify(indices, values, size, column) if is_sparse else values
        if not self.allow_non_finite and not np.isfinite(dense).all():
            raise RowSerializationError(NON_FINITE_FEATURES, column=column)
        return self._only_record(self.serialize_matrix(dense.reshape(1, -1)))

    def _method_name(self) -> str:
        return f"{type(self).__name__}.serialize_matrix"

    def _refused_rows(
        self, block: FeatureBlock, batch: pa.RecordBatch
    ) -> dict[int, RowSerializationError]:
        """The rows that never reach :meth:`serialize_matrix`, each with the error the
        per-row path raises for it."""
        column = self.features_column_name
        errors = null_feature_errors(block, batch, column)
        for i in np.flatnonzero(block.too_wide() & ~block.null).tolist():
            reason = dense_size_reason(int(block.sizes[i]))
            errors[i] = RowSerializationError(reason, row_index=i, column=column)
        if not self.allow_non_finite:
            for i in np.flatnonzero(_non_finite_rows(block)).tolist():
                error = RowSerializationError(NON_FINITE_FEATURES, row_index=i, column=column)
                errors.setdefault(i, error)
        return errors


def _non_finite_rows(block: FeatureBlock) -> np.ndarray:
    """Which rows store a NaN or an infinity (a sparse row's implicit zeros are finite)."""
    bad = np.zeros(block.num_rows, dtype=bool)
    values_bad = ~np.isfinite(block.values)
    if values_bad.any():
        row_of_value = np.repeat(np.arange(block.num_rows), np.diff(block.offsets))
        bad[row_of_value[values_bad]] = True
    return bad & ~block.null


def _dense_runs(block: FeatureBlock) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, matrix)`` covering every row of ``block`` in order: bounded runs
    (:func:`serde.row_chunks.row_runs`), each cut further where the width changes."""
    for start, stop in row_runs(block.sizes):
        widths = block.sizes[start:stop]
        cuts = np.flatnonzero(widths[1:] != widths[:-1]) + 1
        bounds = [0, *cuts.tolist(), stop - start]
        for a, b in pairwise(bounds):
            segment = block.slice(start + a, start + b)
            matrix = segment.dense_matrix()
            if matrix is None:  # equal widths, so only if dense_matrix declines: build it here
                matrix = np.stack([segment.dense_row(i) for i in range(b - a)])
            yield start + a, np.ascontiguousarray(matrix)


def _write_isolating_failures(
    write: Callable[[int, int], BytesPerRow],
    count: int,
    records: Callable[[BytesPerRow, int], _Records],
    method: str,
) -> tuple[list[tuple[bytes, np.ndarray]], dict[int, RowSerializationError]]:
    """``write(start, stop)`` over rows ``0..count``: ``(runs, errors)``, runs as
    :func:`serde.row_chunks.join_runs` takes them; ``records`` reads what it wrote.

    A call that raises one of :data:`serde.base.ROW_ERRORS` is split in halves and
    retried until the raising row is alone: it gets the error (zero length), every other
    row its record. A row written as ``None`` gets an error too. A result of the wrong
    length or type is a bug in ``write``, and ``records`` raises :class:`SerdeError`.
    """
    runs: list[tuple[bytes, np.ndarray]] = []
    errors: dict[int, RowSerializationError] = {}
    refused_reason = _refused_reason(method)

    def attempt(start: int, stop: int) -> None:
        try:
            written = write(start, stop)
        except ROW_ERRORS as exc:
            if stop - start == 1:
                errors[start] = row_error(exc, start)
                runs.append((b"", np.zeros(1, dtype=np.int64)))
                return
            middle = (start + stop) // 2
            attempt(start, middle)
            attempt(middle, stop)
            return
        data, lengths, refused = records(written, stop - start)
        for i in np.flatnonzero(refused).tolist():
            errors[start + i] = RowSerializationError(refused_reason, row_index=start + i)
        runs.append((data, lengths))

    if count:
        attempt(0, count)
    return runs, errors


def _refused_reason(method: str) -> str:
    return f"{method} wrote None for this row: the format cannot carry it"


#: ``(data, row lengths, refused)``: what a batch method wrote, refused rows (None or
#: null) of zero length.
_Records: TypeAlias = tuple[bytes, np.ndarray, np.ndarray]


def _records(
    written: BytesPerRow, expected: int, method: str, records_end_with: bytes | None
) -> _Records:
    if isinstance(written, (bytes, bytearray, memoryview)) and records_end_with is not None:
        return _records_from_text(bytes(written), records_end_with, expected, method)
    if isinstance(written, pa.ChunkedArray):
        written = written.combine_chunks()
    if isinstance(written, pa.Array):
        return _records_from_arrow(written, expected, method)
    if isinstance(written, np.ndarray):
        if written.ndim != 1 or written.dtype.kind not in "SO":
            raise SerdeError(
                f"{method} returned a numpy array of {written.dtype} with shape "
                f"{written.shape}; return one bytes per row (dtype 'S' or object)"
            )
        written = written.tolist()
    if isinstance(written, (bytes, str)) or not isinstance(written, Sequence):
        raise SerdeError(
            f"{method} returned {type(written).__name__}; return one bytes per row (a list, "
            "an Arrow binary array or a numpy bytes array)"
        )
    _check_count(len(written), expected, method)
    refused = np.zeros(expected, dtype=bool)
    parts = written
    if None in written:
        refused = np.fromiter((r is None for r in written), dtype=bool, count=expected)
        parts = [b"" if r is None else r for r in written]
    try:
        data = b"".join(parts)
    except TypeError as exc:
        raise SerdeError(f"{method} must write bytes for each row: {exc}") from None
    return data, np.fromiter(map(len, parts), dtype=np.int64, count=expected), refused


def _records_from_text(text: bytes, end: bytes, expected: int, method: str) -> _Records:
    if len(end) != 1:
        raise SerdeError(f"records_end_with must be one byte, got {end!r}")
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == end[0]) + 1
    if len(ends) != expected or (expected and ends[-1] != len(text)):
        raise SerdeError(
            f"{method} wrote {len(ends)} records ending with {end!r} for {expected} rows"
            + ("" if not len(text) or text.endswith(end) else f", and text after the last {end!r}")
            + "; write one per row, each ending with records_end_with and holding it nowhere else"
        )
    return text, np.diff(ends, prepend=0), np.zeros(expected, dtype=bool)


def _records_from_arrow(written: pa.Array, expected: int, method: str) -> _Records:
    kind = written.type
    if not (pa.types.is_binary(kind) or pa.types.is_string(kind)) and not (
        pa.types.is_large_binary(kind) or pa.types.is_large_string(kind)
    ):
        raise SerdeError(f"{method} returned an Arrow array of {kind}; return binary or string")
    _check_count(len(written), expected, method)
    refused = written.is_null().to_numpy(zero_copy_only=False)
    written = written.cast(pa.large_binary())
    if written.null_count:
        written = pc.fill_null(written, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(written.buffers()[1], dtype=np.int64)[
        written.offset : written.offset + expected + 1
    ]
    buffer = written.buffers()[2]
    data = b"" if buffer is None else buffer.to_pybytes()[offsets[0] : offsets[-1]]
    return data, np.diff(offsets), refused


def _check_count(got: int, expected: int, method: str) -> None:
    if got != expected:
        raise SerdeError(f"{method} wrote {got} records for {expected} rows; write one per row")


def _batch_of_row(row: Row, schema: StructType | None) -> pa.RecordBatch:
    if schema is None:
        raise SerdeError(
            "a batch serializer needs the input schema to turn a Row into an Arrow batch: "
            "call set_schema(df.schema) first (SageMakerModel.transform does)"
        )
    names = list(getattr(row, "__fields__", None) or schema.names)
    fields = []
    for name in names:
        if name not in schema.names:
            raise KeyError(name)
        fields.append(schema[name])
    return record_batch_from_rows([tuple(row)], StructType(fields))


# ------------------------------------------------------------------------ deserializer


class ColumnsDeserializer(ResponseRowDeserializer):
    """Reads one response body into columns of results.

    Implement :meth:`deserialize_columns`; the library builds the Arrow batch of
    ``schema``. An exception it raises becomes a
    :class:`~serde.errors.ResponseParseError` quoting the body.
    """

    @abstractmethod
    def deserialize_columns(self, body: bytes) -> ResultColumns:
        """The results of ``body``: ``{column name: values}`` or values per column in
        ``schema`` order, each a list, numpy array (2-D for an ``array<...>`` column) or
        Arrow array, one value per result."""

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        method = f"{type(self).__name__}.deserialize_columns"
        try:
            columns = self.deserialize_columns(body)
        except ResponseParseError:
            raise
        except Exception as exc:
            raise ResponseParseError(
                f"{method} raised {type(exc).__name__}: {exc}", body, self.accepts
            ) from exc
        return self._record_batch(columns, body, method)

    def deserialize_response(self, body: bytes) -> Iterator[tuple]:
        batch = self.deserialize_batch(body)
        columns = [python_column(batch.column(i), f.dataType) for i, f in enumerate(self.schema)]
        return zip(*columns)

    def _record_batch(self, columns: ResultColumns, body: bytes, method: str) -> pa.RecordBatch:
        schema = self.schema
        ordered = self._in_schema_order(columns, body, method)
        counts = {name: _column_length(values) for name, values in zip(schema.names, ordered)}
        if None in counts.values() or len(set(counts.values())) > 1:
            raise ResponseParseError(
                f"{method} must give one value per result in every column, got "
                + ", ".join(f"{name}: {_describe_count(n)}" for name, n in counts.items()),
                body,
                self.accepts,
            )
        arrow_schema = to_arrow_schema(schema)
        arrays = []
        for values, field, arrow_field in zip(ordered, schema.fields, arrow_schema):
            try:
                arrays.append(arrow_column(values, field.dataType, arrow_field.type))
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise ResponseParseError(
                    f"{method}: column {field.name!r} ({field.dataType.simpleString()}): {exc}",
                    body,
                    self.accepts,
                ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)

    def _in_schema_order(
        self, columns: ResultColumns, body: bytes, method: str
    ) -> list[ColumnValues]:
        names = self.schema.names
        if isinstance(columns, Mapping):
            missing = [n for n in names if n not in columns]
            unknown = [n for n in columns if n not in names]
            if missing or unknown:
                raise ResponseParseError(
                    f"{method} gave columns [{', '.join(map(repr, columns))}]; the schema has "
                    f"[{', '.join(map(repr, names))}]",
                    body,
                    self.accepts,
                )
            return [columns[n] for n in names]
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            raise ResponseParseError(
                f"{method} returned {type(columns).__name__}; return {{column: values}} or "
                "a list of columns in schema order",
                body,
                self.accepts,
            )
        if len(columns) != len(names):
            raise ResponseParseError(
                f"{method} gave {len(columns)} columns for the {len(names)} of the schema "
                f"({', '.join(names)})",
                body,
                self.accepts,
            )
        return list(columns)


def _column_length(values: ColumnValues) -> int | None:
    if isinstance(values, (str, bytes)):
        return None
    try:
        return len(values)
    except TypeError:
        return None


def _describe_count(count: int | None) -> str:
    return "not a column of values" if count is None else f"{count} values"
