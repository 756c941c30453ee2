"""``text/csv``: one line of comma-separated features per row; one double per prediction.

Byte-compatible with sagemaker_pyspark's ``UnlabeledCSVRequestRowSerializer``: every
vector is written dense (a sparse vector's missing entries as ``0.0``), values joined by
``,``, each row ending in ``\\n``, no header, no quoting. Numbers are spelled by
:mod:`serde.numbers`.

The vectorized path builds rows dense a bounded run at a time (:mod:`serde.row_chunks`)
and formats each run with one orjson call when its rows have the same width, with Arrow's
string kernels otherwise. A sparse vector too wide to write dense
(:data:`serde.features.MAX_DENSE_VALUES`) is a per-row error, and so is a vector of size 0
(its line would be blank: see :data:`EMPTY_FEATURES`). This module also holds the
small helpers the other text formats share (column checks, Arrow strings →
``SerializedRows``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from numbers import Real

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, StructField, StructType

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.errors import ResponseParseError, RowSerializationError
from serde.features import (
    NULL_ELEMENT,
    NULL_FEATURES,
    FeatureBlock,
    dense_size_reason,
    densify,
    features_from_batch,
    features_from_row,
    require_columns,
    validate_features_schema,
)
from serde.numbers import (
    double_tokens,
    format_double_rows,
    format_doubles,
    parse_double,
    parse_separated_numbers,
    to_float64,
)
from serde.registry import register_deserializer, register_serializer
from serde.row_chunks import join_runs, row_runs

__all__ = [
    "CSV_CONTENT_TYPE",
    "EMPTY_FEATURES",
    "UnlabeledCSVRequestRowSerializer",
    "XGBoostCSVRowDeserializer",
]

CSV_CONTENT_TYPE = "text/csv"

_NULL_VALUE = "value is null; fill or drop nulls before scoring"
#: Why a row without a single feature is refused rather than written: its line would be
#: blank, and CSV readers (the local host, pandas, most model servers) skip blank lines, so
#: the endpoint would answer one result fewer than the rows sent and the whole body would
#: fail on the count. LibSVM, JSON and protobuf carry such a row as a record of its own.
EMPTY_FEATURES = (
    "features are empty (a vector of size 0): a CSV line without values is a blank line, "
    "which CSV readers skip, so the endpoint would answer one result fewer than the rows "
    "sent. Drop or fill rows with empty features, or send them as LibSVM, JSON or protobuf, "
    "which carry an empty row"
)


# ------------------------------------------------------------- helpers shared by text formats


def require_batch_columns(batch: pa.RecordBatch, columns: Sequence[str]) -> None:
    """Raises :class:`SchemaValidationError` for the first of ``columns`` the batch lacks
    (a serializer used without ``set_schema`` meets the schema only here)."""
    require_columns(batch.schema.names, columns, "a column of the batch")


def row_value(row: Row, column: str):
    """``row[column]``, or a :class:`RowSerializationError` naming the row's fields."""
    try:
        return row[column]
    except (KeyError, ValueError) as exc:
        raise RowSerializationError(
            f"the row has no such column; its fields are {list(row.asDict())}", column=column
        ) from exc


def serialized_from_strings(strings: pa.Array, live: np.ndarray) -> SerializedRows:
    """One Arrow string per row → :class:`SerializedRows`; rows where ``live`` is False
    (they have an error) get zero length."""
    if not live.all():
        strings = strings.filter(pa.array(live))
    strings = strings.cast(pa.large_string())
    count = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[
        strings.offset : strings.offset + count + 1
    ]
    data = strings.buffers()[2]
    raw = b"" if data is None else data.to_pybytes()[offsets[0] : offsets[-1]]
    return SerializedRows(raw, spread_offsets(offsets - offsets[0], live))


def spread_offsets(live_offsets: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Offsets of the live rows only → offsets of all rows, error rows zero-length."""
    if live.all():
        return np.asarray(live_offsets, dtype=np.int64)
    lengths = np.zeros(live.size, dtype=np.int64)
    lengths[live] = np.diff(live_offsets)
    offsets = np.zeros(live.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def null_feature_errors(
    block: FeatureBlock,
    batch: pa.RecordBatch,
    column: str,
    errors: dict[int, RowSerializationError] | None = None,
) -> dict[int, RowSerializationError]:
    """The error of every row ``block`` marks null and ``errors`` does not hold yet, worded
    as :func:`serde.features.features_from_row` words it on the per-row path: the whole
    value null, or an array holding a null element."""
    errors = {} if errors is None else errors
    value_null = np.asarray(batch.column(column).is_null().to_numpy(zero_copy_only=False))
    for i in np.flatnonzero(block.null).tolist():
        reason = NULL_FEATURES if value_null[i] else NULL_ELEMENT
        errors.setdefault(i, RowSerializationError(reason, row_index=i, column=column))
    return errors


def list_of_tokens(tokens: pa.Array, offsets: np.ndarray) -> pa.ListArray:
    """Groups ``tokens`` into one list per row, row ``i`` owning
    ``tokens[offsets[i]:offsets[i + 1]]``."""
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), tokens)


def _decimals_as_float64(batch: pa.RecordBatch, columns: Sequence[str]) -> pa.RecordBatch:
    """Converts decimal scalar columns exactly (see :func:`serde.numbers.to_float64`),
    so the vectorized path reads the same doubles the per-row path's ``float()`` does."""
    for name in columns:
        index = batch.schema.get_field_index(name)
        if pa.types.is_decimal(batch.schema.field(index).type):
            batch = batch.set_column(index, name, to_float64(batch.column(index)))
    return batch


# --------------------------------------------------------------------------- serializer


@register_serializer("csv")
class UnlabeledCSVRequestRowSerializer(RequestRowSerializer):
    """Writes each row's features as one CSV line: ``1.0,0.0,-2.5\\n``.

    Args:
        schema: the input schema, if known now (else the transformer sets it).
        features_column_name: an ML ``Vector`` or ``array<number>`` column, or a list of
            numeric scalar columns written in that order (for servers that take named
            inputs, such as a TF Serving model exported with a CSV signature).

    >>> UnlabeledCSVRequestRowSerializer().serialize_row(Row(features=Vectors.dense([1, 0])))
    b'1.0,0.0\\n'
    """

    content_type = CSV_CONTENT_TYPE
    writes_vectors_dense = True

    def __init__(
        self,
        schema: StructType | None = None,
        features_column_name: str | Sequence[str] = "features",
    ) -> None:
        self.features_column_name = features_column_name
        self._columns = (
            [features_column_name]
            if isinstance(features_column_name, str)
            else list(features_column_name)
        )
        if schema is not None:
            self.set_schema(schema)

    def validate_schema(self, schema: StructType) -> None:
        validate_features_schema(schema, self._columns, allow_scalar_columns=True)

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self._columns)

    # -- per row

    def serialize_row(self, row: Row) -> bytes:
        # one orjson call for the row: a bytes object per value would cost some 4 KiB of
        # memory each while joined (4 GiB for a 2**20-wide sparse vector)
        return format_doubles(self._dense_values(row)) + b"\n"

    def _dense_values(self, row: Row) -> np.ndarray:
        first = row_value(row, self._columns[0])
        if len(self._columns) == 1 and not _is_scalar(first):
            return _dense_from_vector(first, self._columns[0])
        values = []
        for name in self._columns:
            value = row_value(row, name)
            if value is None:
                raise RowSerializationError(_NULL_VALUE, column=name)
            if not _is_scalar(value):
                raise RowSerializationError(f"expected a number, got {value!r:.60}", column=name)
            values.append(float(value))
        return np.asarray(values, dtype=np.float64)

    # -- vectorized

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        require_batch_columns(batch, self._columns)
        scalar_mode = len(self._columns) > 1 or not _is_list_like(batch.column(self._columns[0]))
        if scalar_mode:
            batch = _decimals_as_float64(batch, self._columns)
        try:
            block = features_from_batch(batch, self._columns)
        except (RowSerializationError, pa.ArrowInvalid):
            # a null inside an array, or a long a double cannot hold: the per-row path
            # finds the rows and reports each one on its own
            return super().serialize_batch(batch)
        if scalar_mode:
            errors = _null_scalar_errors(batch, self._columns)
        else:
            errors = null_feature_errors(block, batch, self._columns[0])
            errors = _unwritable_vector_errors(block, self._columns[0], errors)
        live = ~(block.null | block.too_wide() | _empty_rows(block))
        data, offsets = join_runs(_csv_runs(block.select(live)))
        return SerializedRows(data, spread_offsets(offsets, live), errors)


def _is_scalar(value: object) -> bool:
    return isinstance(value, (Real, Decimal)) and not isinstance(value, bool)


def _is_list_like(column: pa.Array) -> bool:
    kind = column.type
    return pa.types.is_struct(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)


def _dense_from_vector(value: object, column: str) -> np.ndarray:
    indices, values, size, is_sparse = features_from_row(value, column=column)
    if size == 0:
        raise RowSerializationError(EMPTY_FEATURES, column=column)
    return densify(indices, values, size, column) if is_sparse else values


def _empty_rows(block: FeatureBlock) -> np.ndarray:
    """Rows with features of size 0 (a null row has none either, but its own error)."""
    return (block.sizes == 0) & ~block.null


def _unwritable_vector_errors(
    block: FeatureBlock, column: str, errors: dict[int, RowSerializationError]
) -> dict[int, RowSerializationError]:
    """``errors`` plus the error of every row too wide to write dense or without any
    feature, worded as :func:`_dense_from_vector` words them on the per-row path; sorted
    by row."""
    for i in np.flatnonzero(block.too_wide()).tolist():
        reason = dense_size_reason(int(block.sizes[i]))
        errors[i] = RowSerializationError(reason, row_index=i, column=column)
    for i in np.flatnonzero(_empty_rows(block)).tolist():
        errors[i] = RowSerializationError(EMPTY_FEATURES, row_index=i, column=column)
    return dict(sorted(errors.items()))


def _null_scalar_errors(
    batch: pa.RecordBatch, columns: Sequence[str]
) -> dict[int, RowSerializationError]:
    """Per row, the first null scalar column, as the per-row path reports it."""
    errors: dict[int, RowSerializationError] = {}
    for name in columns:
        null = np.asarray(batch.column(name).is_null().to_numpy(zero_copy_only=False))
        for i in np.flatnonzero(null).tolist():
            errors.setdefault(i, RowSerializationError(_NULL_VALUE, row_index=i, column=name))
    return dict(sorted(errors.items()))


def _csv_runs(block: FeatureBlock) -> Iterator[tuple[bytes, np.ndarray]]:
    """``(text, row lengths)`` of each run of ``block``'s rows (all of them written), so
    only one run is ever dense."""
    for start, stop in row_runs(block.sizes):
        run = block.slice(start, stop)
        matrix = run.dense_matrix()
        if matrix is None:
            yield _ragged_csv_text(run)
        else:
            data, offsets = format_double_rows(matrix)
            yield data, np.diff(offsets)


def _ragged_csv_text(block: FeatureBlock) -> tuple[bytes, np.ndarray]:
    """Rows of different widths: densify into one flat array, then let Arrow join each
    row's tokens."""
    dense_offsets = np.zeros(block.num_rows + 1, dtype=np.int64)
    np.cumsum(block.sizes, out=dense_offsets[1:])
    flat = np.zeros(int(dense_offsets[-1]))
    row_of_value = np.repeat(np.arange(block.num_rows), np.diff(block.offsets))
    flat[dense_offsets[:-1][row_of_value] + block.indices] = block.values
    lines = pc.binary_join(list_of_tokens(double_tokens(flat), dense_offsets), ",")
    everyone = np.ones(block.num_rows, dtype=bool)
    rows = serialized_from_strings(pc.binary_join_element_wise(lines, "\n", ""), everyone)
    return rows.data, np.diff(rows.offsets)


# ------------------------------------------------------------------------- deserializer

_PREDICTION_SEPARATORS = re.compile("[,\n]")


@register_deserializer("xgboost-csv")
class XGBoostCSVRowDeserializer(ResponseRowDeserializer):
    """Reads ``text/csv`` predictions, one double per result: ``0.2,0.7`` or ``0.2\\n0.7\\n``.

    Like sagemaker_pyspark, the body is trimmed and split at commas, and empty tokens at
    the end are dropped; newlines separate predictions too (newer XGBoost containers answer
    one per line). A whitespace-only body has no predictions: the transformer reports the
    count mismatch against the rows sent.
    """

    accepts = CSV_CONTENT_TYPE

    def __init__(self, prediction_column_name: str = "prediction") -> None:
        self.prediction_column_name = prediction_column_name
        self._schema = StructType([StructField(prediction_column_name, DoubleType(), False)])

    @property
    def schema(self) -> StructType:
        return self._schema

    def deserialize_response(self, body: bytes) -> list[tuple]:
        return [(value,) for value in self._parse_each(body)]

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        values = self._parse_bulk(body)
        if values is None:
            values = np.asarray(self._parse_each(body), dtype=np.float64)
        return pa.RecordBatch.from_arrays(
            [pa.array(values, pa.float64())], schema=self.arrow_schema
        )

    def _parse_bulk(self, body: bytes) -> np.ndarray | None:
        """Plain decimal numbers separated by single commas or newlines, in one Arrow cast;
        ``None`` sends anything else to :meth:`_parse_each`."""
        return parse_separated_numbers(bytes(body).strip(), b",\n", pa.float64())

    def _parse_each(self, body: bytes) -> list[float]:
        text = _decode(body, self.accepts)
        tokens = _PREDICTION_SEPARATORS.split(text.strip())
        while tokens and tokens[-1] == "":
            tokens.pop()
        values = []
        for position, token in enumerate(tokens):
            try:
                values.append(parse_double(token))
            except ValueError as exc:
                raise ResponseParseError(
                    f"prediction {position}: {exc}", body=body, accepts=self.accepts
                ) from None
        return values


def _decode(body: bytes, accepts: str) -> str:
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResponseParseError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", body=body, accepts=accepts
        ) from None
