"""SageMaker's ``application/x-recordio-protobuf``: aialgs Records framed in RecordIO.

This is what SageMaker's built-in algorithms (KMeans, PCA, LDA, LinearLearner,
FactorizationMachines) speak. A request row becomes one Record whose ``features["values"]``
is a ``Float32Tensor``, exactly as sagemaker_pyspark's ``ProtobufConverter`` builds it:

- dense vector: ``values`` only;
- sparse vector: ``values`` and ``keys`` (the indices) and ``shape = [size]``;
- ML ``Matrix``: ``shape = [numRows, numCols]``, its values row-major when dense, its
  stored values with flat row-major ``keys`` when sparse (see :mod:`serde.matrices`).

Values travel as float32 (rounded to nearest, like Java's ``toFloat``), so a double that
float32 cannot hold exactly arrives rounded. The answer holds one Record per row whose
``label`` map carries the outputs by name (``"score"``, ``"projection"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.ml.linalg import DenseVector, Matrix, MatrixUDT, SparseVector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    ByteType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StructField,
    StructType,
)

from serde.arrow_types import VECTOR_ARROW_TYPE, is_matrix_struct, to_arrow_type
from serde.base import ResponseRowDeserializer, SerializedRows
from serde.ddl import schema_from
from serde.errors import (
    ResponseParseError,
    RowSerializationError,
    SchemaValidationError,
)
from serde.features import (
    MAX_DENSE_VALUES,
    MAX_VECTOR_SIZE,
    NULL_FEATURES,
    FeatureBlock,
    features_from_batch,
    features_from_row,
    require_columns,
    too_wide_to_densify,
)
from serde.features_column import FeaturesColumnSerializer
from serde.json_coercion import INTEGER_RANGES
from serde.matrices import MatrixTensor, matrix_tensor, matrix_tensors
from serde.proto import record_pb2
from serde.recordio import frame_record, padding_length, read_recordio, record_header
from serde.registry import register_deserializer, register_serializer

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "FactorizationMachinesBinaryClassifierDeserializer",
    "FactorizationMachinesRegressorDeserializer",
    "KMeansProtobufResponseRowDeserializer",
    "LDAProtobufResponseRowDeserializer",
    "LinearLearnerBinaryClassifierProtobufResponseRowDeserializer",
    "LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer",
    "LinearLearnerRegressorProtobufResponseRowDeserializer",
    "PCAProtobufResponseRowDeserializer",
    "ProtobufRequestRowSerializer",
    "ProtobufResponseRowDeserializer",
    "write_label_records",
]

PROTOBUF_CONTENT_TYPE = "application/x-recordio-protobuf"
#: The features key SageMaker's built-in algorithms read a vector from.
VALUES_KEY = "values"

_FLOAT32_LE = np.dtype("<f4")


def _to_float32(values: np.ndarray) -> np.ndarray:
    """float64 → little-endian float32, rounding to nearest; overflow becomes ±inf as in
    Java's ``toFloat`` (numpy would warn about it, which is noise here)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(_FLOAT32_LE)


# ------------------------------------------------------------------ request: Record building


def _fill_tensor(
    tensor: Any,
    values: np.ndarray,
    keys: np.ndarray | None = None,
    shape: Sequence[int] = (),
) -> None:
    """Sets a ``Float32Tensor`` the way sagemaker_pyspark does: sparse vectors carry keys and
    ``shape = [size]``, matrices ``shape = [rows, cols]`` (and keys when sparse), dense
    vectors only values. The tensor is marked present even when empty (Java's builder
    always sets it)."""
    tensor.SetInParent()
    tensor.values.extend(_to_float32(values).tolist())
    if keys is not None:
        tensor.keys.extend(keys.tolist())
    tensor.shape.extend(shape)


def features_record_bytes(
    values: np.ndarray, keys: np.ndarray | None = None, size: int | None = None
) -> bytes:
    """The serialized Record (not framed) for one features vector; ``keys`` and ``size``
    given means a sparse vector."""
    record = record_pb2.Record()
    shape = () if keys is None else (size,)
    _fill_tensor(record.features[VALUES_KEY].float32_tensor, values, keys, shape)
    return record.SerializeToString()


def matrix_record_frame(tensor: MatrixTensor) -> bytes:
    """One framed Record holding a matrix's shaped tensor."""
    record = record_pb2.Record()
    _fill_tensor(
        record.features[VALUES_KEY].float32_tensor, tensor.values, tensor.keys, tensor.shape
    )
    return frame_record(record.SerializeToString())


@lru_cache(maxsize=256)
def _dense_record_prefix(width: int) -> bytes:
    """Everything in a dense Record of ``width`` values before the packed float bytes.

    Values are the last bytes of a dense Record (the tensor's only field, inside the Value,
    inside the only map entry), so a Record is this prefix + the raw little-endian floats.
    The prefix is cut from a Record that protobuf itself serialized, and checked, so the
    message structure is never written by hand.
    """
    probe = _to_float32(np.full(width, 1.0))
    serialized = features_record_bytes(probe)
    tail = probe.tobytes()
    if not serialized.endswith(tail):  # pragma: no cover - would mean a protobuf change
        raise AssertionError("dense Record does not end with its packed values")
    return serialized[: len(serialized) - len(tail)]


def _dense_frame(values32: np.ndarray) -> bytes:
    """One framed dense Record from float32 values."""
    prefix = _dense_record_prefix(len(values32))
    length = len(prefix) + 4 * len(values32)
    return b"".join(
        (record_header(length), prefix, values32.tobytes(), b"\x00" * padding_length(length))
    )


def _dense_frames_matrix(matrix32: np.ndarray) -> tuple[np.ndarray, int]:
    """All rows of a ``(n, width)`` float32 matrix framed at once: an ``(n, frame)`` uint8
    array whose row i is row i's whole RecordIO record, and the frame length."""
    rows, width = matrix32.shape
    head = record_header(len(_dense_record_prefix(width)) + 4 * width) + _dense_record_prefix(width)
    length = len(head) - 8 + 4 * width
    frame = len(head) + 4 * width + padding_length(length)
    out = np.zeros((rows, frame), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    out[:, len(head) : len(head) + 4 * width] = (
        np.ascontiguousarray(matrix32, dtype=_FLOAT32_LE).view(np.uint8).reshape(rows, 4 * width)
    )
    return out, frame


@register_serializer("protobuf")
class ProtobufRequestRowSerializer(FeaturesColumnSerializer):
    """One RecordIO-framed aialgs Record per row, byte-compatible with sagemaker_pyspark.

    The features column may be an ML ``Vector`` (dense or sparse), an
    ``array<float|double|int|long>`` (written as a dense vector) or an ML ``Matrix``
    (written as a tensor of shape ``[rows, cols]``, as sagemaker_pyspark's converter
    writes one)::

        serializer = ProtobufRequestRowSerializer(features_column_name="features")
        body = serializer.serialize_row(Row(features=Vectors.dense([1.0, 2.0])))
    """

    content_type = PROTOBUF_CONTENT_TYPE

    def validate_schema(self, schema: StructType) -> None:
        column = self.features_column_name
        if column in schema.names and isinstance(schema[column].dataType, MatrixUDT):
            return
        super().validate_schema(schema)

    def serialize_row(self, row: Row) -> bytes:
        column = self.features_column_name
        try:
            value = row[column]
        except (KeyError, ValueError) as exc:
            raise RowSerializationError(
                f"the row has no features column; its fields are {list(row.asDict())}",
                column=column,
            ) from exc
        if isinstance(value, Matrix):
            try:
                return matrix_record_frame(matrix_tensor(value))
            except ValueError as exc:
                raise RowSerializationError(str(exc), column=column) from exc
        if isinstance(value, (list, tuple)) and None in value:
            # numpy would read None as NaN; the batch path rejects it, so must this one
            raise RowSerializationError(_null_element_reason(value), column=column)
        indices, values, size, is_sparse = features_from_row(value, column=column)
        if is_sparse:
            return frame_record(features_record_bytes(values, indices, size))
        return frame_record(features_record_bytes(values))

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        column = self.features_column_name
        require_columns(batch.schema.names, [column], "a column of the batch")
        if is_matrix_struct(batch.schema.field(column).type):
            return _serialized_matrices(batch.column(column), column)
        try:
            block = features_from_batch(batch, column)
        except (RowSerializationError, pa.ArrowInvalid):
            # a null inside an array, or a long float64 cannot hold exactly: the per-row
            # path finds the rows and reports each one on its own
            return super().serialize_batch(batch)
        values = batch.column(column)
        errors = {
            int(i): RowSerializationError(
                _null_element_reason(values[int(i)].as_py()),
                row_index=int(i),
                column=column,
            )
            for i in np.flatnonzero(block.null)
        }
        widths = block.sizes[~block.null]
        uniform = widths.size == 0 or (widths == widths[0]).all()
        # null rows must hold no values for the one-matrix layout (Arrow lets a null struct
        # keep child data; the per-row layout below reads through offsets and is immune)
        packed = widths.size == 0 or int(block.offsets[-1]) == widths.size * int(widths[0])
        if uniform and packed and not block.is_sparse.any():
            return _serialized_dense_block(block, errors)
        return _serialized_mixed_block(block, errors)


def _serialized_matrices(column: pa.Array, name: str) -> SerializedRows:
    """A matrix column: each row's shaped tensor (a null or malformed matrix is its row's
    error)."""
    tensors, problems = matrix_tensors(column)
    errors = {
        i: RowSerializationError(reason, row_index=i, column=name) for i, reason in problems.items()
    }
    frames = [None if t is None else matrix_record_frame(t) for t in tensors]
    return SerializedRows.from_list(frames, errors)


def _null_element_reason(value: object) -> str:
    if not (isinstance(value, list) and None in value):
        return NULL_FEATURES
    return (
        f"features hold a null element at position {value.index(None)}; fill or "
        "drop nulls before scoring"
    )


def _serialized_dense_block(
    block: FeatureBlock, errors: dict[int, RowSerializationError]
) -> SerializedRows:
    """Every live row dense and of one width: one numpy layout for the whole batch."""
    live = ~block.null
    count = int(live.sum())
    width = int(block.sizes[live][0]) if count else 0
    frames, frame = _dense_frames_matrix(_to_float32(block.values).reshape(count, width))
    offsets = np.zeros(block.num_rows + 1, dtype=np.int64)
    np.cumsum(np.where(live, frame, 0), out=offsets[1:])
    return SerializedRows(frames.tobytes(), offsets, errors)


def _serialized_mixed_block(
    block: FeatureBlock, errors: dict[int, RowSerializationError]
) -> SerializedRows:
    """Sparse or ragged rows: dense rows from the cached prefix, sparse ones via protobuf."""
    values32 = _to_float32(block.values)
    rows: list[bytes | None] = []
    record = record_pb2.Record()
    tensor = record.features[VALUES_KEY].float32_tensor
    for i in range(block.num_rows):
        if block.null[i]:
            rows.append(None)
            continue
        start, stop = int(block.offsets[i]), int(block.offsets[i + 1])
        if not block.is_sparse[i]:
            rows.append(_dense_frame(values32[start:stop]))
            continue
        tensor.Clear()
        tensor.SetInParent()
        tensor.values.extend(values32[start:stop].tolist())
        tensor.keys.extend(block.indices[start:stop].tolist())
        tensor.shape.append(int(block.sizes[i]))
        rows.append(frame_record(record.SerializeToString()))
    return SerializedRows.from_list(rows, errors)


# ------------------------------------------------------------------ response: label reading


def write_label_records(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A RecordIO body with one Record per row, its ``label`` map holding each value as a
    ``Float32Tensor`` (a scalar becomes a one-value tensor), as SageMaker's built-in
    algorithms answer. Keys are written in sorted order so the body is deterministic.

    A row whose keys are not all strings (the label map's keys are), or whose value is not
    numbers, raises :class:`RowSerializationError` naming the row and key."""
    record = record_pb2.Record()
    frames = []
    for index, row in enumerate(rows):
        record.Clear()
        for key in row:
            if not isinstance(key, str):
                raise RowSerializationError(
                    f"label names must be strings (a Record's label map is keyed by string), "
                    f"got {key!r} ({type(key).__name__}); name every output with a string",
                    row_index=index,
                )
        for key in sorted(row):
            try:
                values = np.atleast_1d(np.asarray(row[key], dtype=np.float64)).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise RowSerializationError(
                    f"label {key!r} must hold numbers, got {row[key]!r:.60}",
                    row_index=index,
                    column=key,
                ) from exc
            _fill_tensor(record.label[key].float32_tensor, values)
        frames.append(frame_record(record.SerializeToString()))
    return b"".join(frames)


_SCALAR_TYPES = (DoubleType, FloatType, IntegerType, LongType, ShortType, ByteType)
_INTEGRAL_TYPES = (IntegerType, LongType, ShortType, ByteType)
_TENSOR_KINDS = ("float32_tensor", "float64_tensor", "int32_tensor")


@dataclass(frozen=True)
class _Tensor:
    """One label value: ``values`` at flat ``keys`` (``None`` = dense) of ``shape``."""

    values: np.ndarray
    keys: np.ndarray | None
    shape: tuple[int, ...]

    def first(self) -> float | None:
        """Element 0 of the tensor, or None when the tensor is empty."""
        if self.keys is None:
            return float(self.values[0]) if len(self.values) else None
        if not self.shape or self.shape[0] == 0:
            return float(self.values[0]) if len(self.values) else None
        hits = np.flatnonzero(self.keys == 0)
        return float(self.values[hits[0]]) if hits.size else 0.0

    def dense(self) -> np.ndarray:
        if self.keys is None:
            return self.values
        dense = np.zeros(int(np.prod(self.shape)) if self.shape else 0)
        dense[self.keys] = self.values
        return dense


class _UnusableLabelError(Exception):
    """A label value that cannot fill its column; the caller adds record and body."""


_MALFORMED = "the endpoint wrote a malformed sparse tensor"


def _int64_keys(keys: Any) -> np.ndarray:
    """A tensor's keys (uint64 on the wire) as int64, which every shape this library reads
    fits; a key past 2**63 keeps them uint64, for :meth:`_ColumnReader._checked` to refuse."""
    try:
        return np.array(keys, dtype=np.int64)
    except OverflowError:
        return np.array(keys, dtype=np.uint64)


def _outside(key: int, position: int, shape: tuple[int, ...]) -> str:
    return (
        f"has key {key} at position {position}, outside its shape {list(shape)} (keys "
        f"0..{math.prod(shape) - 1}); {_MALFORMED}"
    )


def _first_bad_key(cells: list[_Tensor], increasing: bool) -> tuple[int, str] | None:
    """``(index, reason)`` of the first of ``cells`` holding a key outside its shape, or —
    with ``increasing`` (a Vector column) — not above the key before it, or else a key
    twice (an array column); ``None`` when every key is usable.

    Done once for all the cells of a column: a few numpy calls per record would cost
    more than reading the record. Keys are int64 here, and shapes already checked to fit.
    """
    sparse = [i for i, cell in enumerate(cells) if cell.keys is not None]
    if not sparse:
        return None
    keys = np.concatenate([cells[i].keys for i in sparse])
    lengths = np.array([len(cells[i].keys) for i in sparse], dtype=np.int64)
    limits = np.array([math.prod(cells[i].shape) for i in sparse], dtype=np.int64)
    owner = np.repeat(np.arange(len(sparse)), lengths)
    bad = keys >= limits[owner]
    if increasing:
        bad[1:] |= (keys[1:] <= keys[:-1]) & (owner[1:] == owner[:-1])
    else:
        order = np.lexsort((keys, owner))  # stable: a repeat sorts after its first
        repeated = (keys[order][1:] == keys[order][:-1]) & (owner[order][1:] == owner[order][:-1])
        bad[order[1:][repeated]] = True
    problems = np.flatnonzero(bad)
    if not len(problems):
        return None
    at = int(problems[0])
    which = int(owner[at])
    cell = cells[sparse[which]]
    position = at - int(lengths[:which].sum())
    key = int(keys[at])
    if key >= limits[which]:
        return sparse[which], _outside(key, position, cell.shape)
    if not increasing:
        return sparse[which], f"has key {key} twice (again at position {position}); {_MALFORMED}"
    before = int(cell.keys[position - 1])
    what = "repeats" if key == before else "follows"
    return sparse[which], (
        f"has key {key} at position {position}, which {what} key {before}; a Vector's "
        f"indices must increase (sorted, no repeats); {_MALFORMED}"
    )


class _ColumnReader:
    """Reads one result column from one label key, by the column's Spark type.

    :meth:`read` gives the column's cell: a number for a scalar column, a checked
    :class:`_Tensor` otherwise. Scalars from dense tensors never go through numpy: that is
    the common case (scores, labels, distances) and the per-record cost that matters.
    """

    def __init__(self, field: StructField, key: str) -> None:
        self.name = field.name
        self.key = key
        self.data_type = field.dataType
        if isinstance(self.data_type, VectorUDT):
            self.kind = "vector"
        elif isinstance(self.data_type, ArrayType) and isinstance(
            self.data_type.elementType, (DoubleType, FloatType)
        ):
            self.kind = "array"
        elif isinstance(self.data_type, _SCALAR_TYPES):
            self.kind = "scalar"
        else:
            raise SchemaValidationError(
                field.name,
                "double, float, int, long, short, byte, array<double|float> or an ML Vector",
                self.data_type.simpleString(),
                "protobuf responses carry numeric tensors only",
            )
        self.integral = isinstance(self.data_type, _INTEGRAL_TYPES)

    def read(self, value: Any) -> Any:
        kind = value.WhichOneof("value")
        if kind not in _TENSOR_KINDS:
            raise _UnusableLabelError(
                "holds no numeric tensor (Float32Tensor, Float64Tensor or Int32Tensor)"
            )
        tensor = getattr(value, kind)
        if self.kind == "scalar" and not tensor.keys:
            values = tensor.values
            if not values:
                raise _UnusableLabelError("holds an empty tensor")
            return self._integer(values[0]) if self.integral else float(values[0])
        cell = _Tensor(
            np.array(tensor.values, dtype=np.float64),
            _int64_keys(tensor.keys) if tensor.keys else None,
            tuple(int(s) for s in tensor.shape),
        )
        cell = self._checked(cell)
        if self.kind == "scalar":
            first = cell.first()
            return self._integer(first) if self.integral else first
        return cell

    def _integer(self, value: float) -> int:
        """A scalar for an integral column: a NaN, an infinity or a value outside the
        column's range would fail in Arrow (or, worse, wrap), so each is refused here."""
        low, high = INTEGER_RANGES[type(self.data_type)]
        if not math.isfinite(value) or not low <= value <= high:
            raise _UnusableLabelError(
                f"holds {value!r}, which a {self.data_type.simpleString()} column cannot hold "
                f"(integers from {low} to {high}); declare the column double"
            )
        return int(value)

    def _checked(self, tensor: _Tensor) -> _Tensor:
        """``tensor`` if its shape and counts fit the column, else
        :class:`_UnusableLabelError` saying what is wrong. The keys themselves are checked
        for a whole column at once (:meth:`first_bad_key`)."""
        if len(tensor.values) == 0 and self.kind != "array":
            raise _UnusableLabelError("holds an empty tensor")
        keys = tensor.keys
        if keys is None:
            return tensor
        if len(keys) != len(tensor.values):
            raise _UnusableLabelError(f"has {len(keys)} keys for {len(tensor.values)} values")
        if self.kind == "scalar":  # it reads only whether a key is 0
            return tensor
        shape = tensor.shape
        if self.kind == "vector":
            if len(shape) != 1:
                raise _UnusableLabelError(
                    f"is a sparse tensor of shape {list(shape)}; a Vector column needs a "
                    "one-dimensional shape"
                )
            if shape[0] > MAX_VECTOR_SIZE:
                raise _UnusableLabelError(
                    f"is a sparse tensor of shape {list(shape)}; a Spark Vector holds at most "
                    f"{MAX_VECTOR_SIZE:,} elements; check what the endpoint writes under "
                    "this key"
                )
        else:
            if not shape:
                raise _UnusableLabelError(
                    "is a sparse tensor without a shape, so its size is unknown; an array "
                    "column is filled dense and needs it. Read the label into a vector column"
                )
            cells = math.prod(shape)
            if too_wide_to_densify(cells, True):
                raise _UnusableLabelError(
                    f"is a sparse tensor of shape {list(shape)} ({cells:,} elements); an array "
                    f"column is filled dense, and over {MAX_DENSE_VALUES:,} elements is refused "
                    "rather than allocated. Read the label into a vector column, which keeps it "
                    "sparse"
                )
        if keys.dtype == np.uint64:  # a key past 2**63, beyond any shape that got here
            position = int(np.argmax(keys >= np.uint64(math.prod(shape))))
            raise _UnusableLabelError(_outside(int(keys[position]), position, shape))
        return tensor

    def first_bad_key(self, cells: list[Any]) -> tuple[int, str] | None:
        """``(record, reason)`` for the first cell of this column whose keys it cannot
        take (see :func:`_first_bad_key`); scalar columns read no keys."""
        if self.kind == "scalar":
            return None
        return _first_bad_key(cells, increasing=self.kind == "vector")

    def python_value(self, cell: Any) -> Any:
        """The value a ``pyspark.sql.Row`` holds: float/int, a vector, or a list."""
        if self.kind == "scalar":
            return cell
        if self.kind == "array":
            return cell.dense().tolist()
        if cell.keys is None:
            return DenseVector(cell.values)
        return SparseVector(cell.shape[0], cell.keys, cell.values)


@register_deserializer("protobuf-response")
class ProtobufResponseRowDeserializer(ResponseRowDeserializer):
    """Reads one result row per RecordIO Record, column i from label ``protobuf_keys[i]``
    (default: the column names).

    ``schema`` is a ``StructType`` or DDL (``"score double, probs array<double>"``). As in
    sagemaker_pyspark, a numeric scalar column takes the tensor's first value and a
    ``Vector`` column the whole tensor (sparse when the tensor has keys, then ``shape`` must
    be one-dimensional). ``array<double>`` columns take the tensor densified. Float32,
    Float64 and Int32 tensors are all read; values come back as doubles, so a float32 on the
    wire reads as its exact double value.

    A sparse tensor is checked before anything is built from it, so a malformed answer
    fails its batch here, naming the record and key, instead of a Spark job later: keys
    must index its shape, increase strictly for a ``Vector`` column and not repeat for an
    array column, whose dense size is capped at :data:`serde.features.MAX_DENSE_VALUES`
    (a few bytes may declare any shape). An integral column refuses NaN and values outside
    its range.
    """

    accepts = PROTOBUF_CONTENT_TYPE

    def __init__(
        self, schema: StructType | str, protobuf_keys: Sequence[str] | None = None
    ) -> None:
        schema = schema_from(schema)
        keys = list(schema.names if protobuf_keys is None else protobuf_keys)
        if len(keys) != len(schema.fields):
            raise SchemaValidationError(
                "protobuf_keys",
                f"one key per schema column ({len(schema.fields)}: {schema.names})",
                f"{len(keys)} keys {keys}",
            )
        self._schema = schema
        self.protobuf_keys = keys
        self._readers = [_ColumnReader(f, k) for f, k in zip(schema.fields, keys)]

    @property
    def schema(self) -> StructType:
        return self._schema

    def deserialize_response(self, body: bytes) -> list[tuple]:
        readers = self._readers
        return [
            tuple(reader.python_value(cell) for reader, cell in zip(readers, cells))
            for cells in self._cells_per_record(body)
        ]

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        """Builds the Arrow columns straight from the cells (no vector objects)."""
        per_record = self._cells_per_record(body)
        columns = [
            _arrow_column(reader, [cells[j] for cells in per_record])
            for j, reader in enumerate(self._readers)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=self.arrow_schema)

    def _cells_per_record(self, body: bytes) -> list[list[Any]]:
        """Each record's cells in column order."""
        rows = []
        record = record_pb2.Record()
        readers = self._readers
        for index, payload in enumerate(self._payloads(body)):
            try:
                record.ParseFromString(payload)
            except Exception as exc:  # protobuf raises DecodeError; upb may raise others
                reason = f"record {index} is not an aialgs Record protobuf ({exc})"
                raise self._error(reason, body) from exc
            labels = record.label
            cells = []
            for reader in readers:
                value = labels.get(reader.key)
                if value is None:
                    # a key that is not UTF-8 comes back as bytes beside the str ones, and
                    # str and bytes do not sort together: sort by spelling
                    names = sorted(labels, key=repr)
                    raise self._error(
                        f"record {index} has no label {reader.key!r} for column "
                        f"{reader.name!r}; its labels are {names}. Pass protobuf_keys "
                        "naming the endpoint's output keys",
                        body,
                    )
                try:
                    cells.append(reader.read(value))
                except _UnusableLabelError as exc:
                    raise self._error(
                        f"record {index}: label {reader.key!r} for column {reader.name!r} {exc}",
                        body,
                    ) from None
            rows.append(cells)
        for j, reader in enumerate(readers):
            problem = reader.first_bad_key([cells[j] for cells in rows])
            if problem is not None:
                index, reason = problem
                raise self._error(
                    f"record {index}: label {reader.key!r} for column {reader.name!r} {reason}",
                    body,
                )
        return rows

    def _payloads(self, body: bytes) -> Iterator[bytes]:
        """:func:`read_recordio`, its framing errors worded like every other parse error
        (``cannot read response as <accepts>: ...``)."""
        try:
            yield from read_recordio(body)
        except ResponseParseError as exc:
            raise self._error(exc.reason, body) from None

    def _error(self, reason: str, body: bytes) -> ResponseParseError:
        return ResponseParseError(reason, body=body, accepts=self.accepts)


def _arrow_column(reader: _ColumnReader, cells: list[Any]) -> pa.Array:
    arrow_type = to_arrow_type(reader.data_type)
    if reader.kind == "scalar":
        return pa.array(cells, type=arrow_type)
    if reader.kind == "array":
        return _list_array([t.dense() for t in cells], arrow_type)
    sparse = np.array([t.keys is not None for t in cells], dtype=bool)
    values = _list_array([t.values for t in cells], VECTOR_ARROW_TYPE.field("values").type)
    indices = _list_array(
        [t.keys if t.keys is not None else np.zeros(0) for t in cells],
        VECTOR_ARROW_TYPE.field("indices").type,
        mask=~sparse,
    )
    sizes = pa.array([t.shape[0] if t.keys is not None else None for t in cells], type=pa.int32())
    kinds = pa.array(np.where(sparse, 0, 1).astype(np.int8))
    return pa.StructArray.from_arrays(
        [kinds, sizes, indices, values], fields=list(VECTOR_ARROW_TYPE)
    )


def _list_array(parts: list[np.ndarray], list_type: pa.DataType, mask=None) -> pa.Array:
    offsets = np.zeros(len(parts) + 1, dtype=np.int32)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    flat = np.concatenate(parts) if parts else np.zeros(0)
    element = pa.array(flat, type=list_type.value_type)
    return pa.ListArray.from_arrays(
        pa.array(offsets), element, type=list_type, mask=None if mask is None else pa.array(mask)
    )


# ------------------------------------------------------------------ built-in algorithms


def _fields(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, data_type) for name, data_type in fields])


@register_deserializer("kmeans-protobuf")
class KMeansProtobufResponseRowDeserializer(ProtobufResponseRowDeserializer):
    """KMeans: doubles ``distance_to_cluster`` and ``closest_cluster``."""

    def __init__(
        self,
        distance_to_cluster_column_name: str = "distance_to_cluster",
        closest_cluster_column_name: str = "closest_cluster",
    ) -> None:
        super().__init__(
            _fields(
                (distance_to_cluster_column_name, DoubleType()),
                (closest_cluster_column_name, DoubleType()),
            ),
            protobuf_keys=["distance_to_cluster", "closest_cluster"],
        )


@register_deserializer("pca-protobuf")
class PCAProtobufResponseRowDeserializer(ProtobufResponseRowDeserializer):
    """PCA: the ``projection`` of the input as a Vector."""

    def __init__(self, projection_column_name: str = "projection") -> None:
        super().__init__(
            _fields((projection_column_name, VectorUDT())), protobuf_keys=["projection"]
        )


@register_deserializer("lda-protobuf")
class LDAProtobufResponseRowDeserializer(ProtobufResponseRowDeserializer):
    """LDA: the document's ``topic_mixture`` as a Vector."""

    def __init__(self, projection_column_name: str = "topic_mixture") -> None:
        super().__init__(
            _fields((projection_column_name, VectorUDT())), protobuf_keys=["topic_mixture"]
        )


class _ScoreAndLabelDeserializer(ProtobufResponseRowDeserializer):
    """A ``score`` (double, or Vector for multiclass) and a double ``predicted_label``."""

    _score_type: DataType = DoubleType()

    def __init__(
        self, score_column_name: str = "score", predicted_label_column_name: str = "predicted_label"
    ) -> None:
        super().__init__(
            _fields(
                (score_column_name, self._score_type), (predicted_label_column_name, DoubleType())
            ),
            protobuf_keys=["score", "predicted_label"],
        )


class _ScoreDeserializer(ProtobufResponseRowDeserializer):
    """A double ``score`` (regressors)."""

    def __init__(self, score_column_name: str = "score") -> None:
        super().__init__(_fields((score_column_name, DoubleType())), protobuf_keys=["score"])


@register_deserializer("linear-learner-binary-protobuf")
class LinearLearnerBinaryClassifierProtobufResponseRowDeserializer(_ScoreAndLabelDeserializer):
    """LinearLearner, ``predictor_type="binary_classifier"``: doubles ``score`` and
    ``predicted_label``."""


@register_deserializer("linear-learner-multiclass-protobuf")
class LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer(_ScoreAndLabelDeserializer):
    """LinearLearner, ``predictor_type="multiclass_classifier"``: a Vector ``score`` (one
    per class) and a double ``predicted_label``."""

    _score_type = VectorUDT()


@register_deserializer("linear-learner-regressor-protobuf")
class LinearLearnerRegressorProtobufResponseRowDeserializer(_ScoreDeserializer):
    """LinearLearner, ``predictor_type="regressor"``: a double ``score``."""


@register_deserializer("fm-binary-protobuf")
class FactorizationMachinesBinaryClassifierDeserializer(_ScoreAndLabelDeserializer):
    """FactorizationMachines, ``predictor_type="binary_classifier"``: doubles ``score`` and
    ``predicted_label``."""


@register_deserializer("fm-regressor-protobuf")
class FactorizationMachinesRegressorDeserializer(_ScoreDeserializer):
    """FactorizationMachines, ``predictor_type="regressor"``: a double ``score``."""
