"""Reads the features a serializer writes out of an Arrow batch, without a loop per value.

The reference library takes an ML ``Vector`` column; we also take ``array<number>`` and,
for the text formats, a list of scalar columns. All of them become one
:class:`FeatureBlock`: a CSR-like layout (flat values, flat 0-based indices, row offsets)
plus, when every row is dense and of equal length, a 2-D ``numpy`` view the CSV and JSON
writers format in one call.

Sparse vectors stay sparse here: a row costs its stored entries, whatever size it declares.
Only CSV and JSON, which spell every element, build rows dense, and they do it a bounded
run of rows at a time (:mod:`serde.row_chunks`). A declared size can still ask for an
absurd row (Spark allows ``Vectors.sparse(2**31 - 1, [0], [1.0])``: 8 GB of ``0.0,``), so
no sparse row over :data:`MAX_DENSE_VALUES` elements (2**22: at least 16 MiB of text,
nearly three times a real-time endpoint's 6 MB payload limit) is ever densified: it gets
a per-row error pointing to LibSVM or protobuf, which write it from its indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import DenseVector, Matrix, MatrixUDT, SparseVector, Vector, VectorUDT
from pyspark.sql.types import (
    ArrayType,
    ByteType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StructType,
)

from serde.arrow_types import is_matrix_struct
from serde.errors import RowSerializationError, SchemaValidationError

__all__ = [
    "MATRIX_NOT_A_VECTOR",
    "MAX_DENSE_VALUES",
    "MAX_VECTOR_SIZE",
    "NULL_ELEMENT",
    "NULL_FEATURES",
    "NUMERIC_TYPES",
    "FeatureBlock",
    "dense_size_reason",
    "dense_vector_values",
    "dense_widths",
    "densify",
    "features_from_batch",
    "features_from_row",
    "require_columns",
    "too_wide_rows",
    "too_wide_to_densify",
    "validate_features_schema",
]

NUMERIC_TYPES = (DoubleType, FloatType, IntegerType, LongType, ShortType, ByteType, DecimalType)
_ARRAY_ELEMENT_TYPES = (DoubleType, FloatType, IntegerType, LongType)
_EXPECTED_VECTOR = "an ML Vector or array<float|double|int|long>"

#: How a row without features is reported; every writer's per-row and vectorized paths
#: use these words, so the tests can compare their errors exactly.
NULL_FEATURES = "features are null"
NULL_ELEMENT = "an array of features holds a null element; fill or drop nulls before scoring"

#: Why a format other than protobuf refuses an ML ``Matrix`` (sagemaker_pyspark's CSV and
#: LibSVM serializers refuse one too).
MATRIX_NOT_A_VECTOR = (
    "an ML Matrix is not a vector: only ProtobufRequestRowSerializer writes one (as a tensor "
    "of shape [rows, cols]); for this format flatten it into a Vector first"
)

#: The widest sparse vector any writer builds dense: 2**22 elements, 32 MiB as doubles, at
#: least 16 MiB as text, under 200 MiB allocated while formatted (a row this wide is
#: formatted alone, and orjson reserves about 32 bytes per number, mostly never touched).
#: 2**20-wide hashed features fit four times over; a wider row fits no real-time
#: endpoint's request anyway.
MAX_DENSE_VALUES = 1 << 22
#: The most elements a Spark ML vector has: its ``size`` is a Java ``int``. A response
#: declaring a bigger vector is malformed, whatever it stores.
MAX_VECTOR_SIZE = (1 << 31) - 1
#: Bytes the shortest element takes in a dense text row (``0.0`` and a separator).
_MIN_TEXT_BYTES_PER_VALUE = 4


def too_wide_to_densify(sizes: np.ndarray, is_sparse: np.ndarray) -> np.ndarray:
    """Which rows :func:`densify` refuses: sparse ones declaring over
    :data:`MAX_DENSE_VALUES` elements. The one rule both per-row and column-wise paths
    apply, so they refuse the same rows."""
    return np.asarray(is_sparse, dtype=bool) & (np.asarray(sizes) > MAX_DENSE_VALUES)


def dense_size_reason(size: int) -> str:
    """Why a sparse vector of ``size`` elements is not written dense, and what to do."""
    return (
        f"a sparse vector of size {size:,} written dense would be at least "
        f"{size * _MIN_TEXT_BYTES_PER_VALUE:,} bytes; rows over {MAX_DENSE_VALUES:,} elements "
        "are refused rather than allocated. Use LibSVM or protobuf, which write sparse vectors "
        "from their indices, or reduce the vector size"
    )


def densify(
    indices: np.ndarray, values: np.ndarray, size: int, column: str | None = None
) -> np.ndarray:
    """The dense float64 form of a sparse row; a size over :data:`MAX_DENSE_VALUES` raises
    :class:`RowSerializationError` before anything is allocated."""
    if too_wide_to_densify(size, True):
        raise RowSerializationError(dense_size_reason(size), column=column)
    row = np.zeros(size)
    row[indices] = values
    return row


def dense_vector_values(vector: Vector, column: str | None = None) -> np.ndarray:
    """``vector.toArray()``, except that a sparse vector goes through :func:`densify`."""
    if isinstance(vector, SparseVector):
        return densify(vector.indices, vector.values, vector.size, column)
    return vector.toArray()


def require_columns(
    available: Sequence[str],
    columns: Iterable[str],
    expected: str = "a column of the DataFrame",
) -> None:
    """Raises :class:`SchemaValidationError` for the first of ``columns`` not among
    ``available`` (a schema's or a batch's names), listing the names there are."""
    for name in columns:
        if name not in available:
            raise SchemaValidationError(
                name, expected, "no such column", f"available columns: {', '.join(available)}"
            )


def validate_features_schema(
    schema: StructType,
    columns: str | Sequence[str],
    *,
    allow_scalar_columns: bool,
) -> None:
    """Raises :class:`SchemaValidationError` unless ``columns`` can be read as features.

    ``columns`` is one vector/array column, or (when ``allow_scalar_columns``) a list of
    numeric scalar columns whose values form the features in that order.
    """
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns)
    if not columns:
        raise SchemaValidationError("<features>", "at least one column", "an empty list")
    require_columns(schema.names, columns)
    if len(columns) == 1:
        data_type = schema[columns[0]].dataType
        if isinstance(data_type, VectorUDT):
            return
        if isinstance(data_type, ArrayType):
            if isinstance(data_type.elementType, _ARRAY_ELEMENT_TYPES):
                return
            raise SchemaValidationError(columns[0], _EXPECTED_VECTOR, data_type.simpleString())
        if allow_scalar_columns and isinstance(data_type, NUMERIC_TYPES):
            return
        expected = _EXPECTED_VECTOR + (" or numeric scalar columns" if allow_scalar_columns else "")
        hint = MATRIX_NOT_A_VECTOR if isinstance(data_type, MatrixUDT) else ""
        raise SchemaValidationError(columns[0], expected, data_type.simpleString(), hint)
    if not allow_scalar_columns:
        raise SchemaValidationError(
            ", ".join(columns), f"one column holding {_EXPECTED_VECTOR}", "several columns"
        )
    for name in columns:
        data_type = schema[name].dataType
        if not isinstance(data_type, NUMERIC_TYPES):
            raise SchemaValidationError(name, "a numeric scalar column", data_type.simpleString())


@dataclass(frozen=True)
class FeatureBlock:
    """Features of ``num_rows`` rows in CSR form.

    Row ``i`` has ``values[offsets[i]:offsets[i+1]]`` at 0-based ``indices`` of the same
    slice, in a vector of ``sizes[i]`` elements; ``is_sparse[i]`` says whether it came as a
    sparse vector (LibSVM and protobuf keep the distinction, CSV densifies). ``null[i]``
    marks a row with no features at all: the writers report it as a per-row error.
    """

    values: np.ndarray  # float64
    indices: np.ndarray  # int64, 0-based
    offsets: np.ndarray  # int64, num_rows + 1
    sizes: np.ndarray  # int64
    is_sparse: np.ndarray  # bool
    null: np.ndarray  # bool

    @property
    def num_rows(self) -> int:
        return len(self.sizes)

    def dense_matrix(self) -> np.ndarray | None:
        """A ``(num_rows, width)`` float64 matrix when every non-null row has the same size
        (sparse rows are scattered into zeros), else ``None``. Null rows are zero-filled.

        It allocates ``num_rows * width`` doubles whatever the rows store: writers call it
        on runs of rows from :func:`serde.row_chunks.row_runs`, never on a whole batch."""
        live = ~self.null
        if not live.any():
            return np.zeros((self.num_rows, 0))
        widths = self.sizes[live]
        width = int(widths[0])
        if (widths != width).any():
            return None
        if not self.is_sparse.any() and not self.null.any():
            return self.values.reshape(self.num_rows, width)
        matrix = np.zeros((self.num_rows, width))
        row_of_value = np.repeat(np.arange(self.num_rows), np.diff(self.offsets))
        matrix[row_of_value, self.indices] = self.values
        return matrix

    def row_values(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        start, stop = self.offsets[i], self.offsets[i + 1]
        return self.indices[start:stop], self.values[start:stop], int(self.sizes[i])

    def dense_row(self, i: int, column: str | None = None) -> np.ndarray:
        """Row ``i`` dense (through :func:`densify` when it is sparse)."""
        indices, values, size = self.row_values(i)
        if self.is_sparse[i]:
            return densify(indices, values, size, column)
        row = np.zeros(size)
        row[indices] = values
        return row

    def too_wide(self) -> np.ndarray:
        """Which rows :func:`densify` would refuse."""
        return too_wide_to_densify(self.sizes, self.is_sparse)

    def slice(self, start: int, stop: int) -> FeatureBlock:
        """Rows ``start:stop`` as a block of their own, sharing this block's arrays."""
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        rows = slice(start, stop)
        return FeatureBlock(
            self.values[first:last],
            self.indices[first:last],
            self.offsets[start : stop + 1] - first,
            self.sizes[rows],
            self.is_sparse[rows],
            self.null[rows],
        )

    def select(self, keep: np.ndarray) -> FeatureBlock:
        """The rows where ``keep`` is True, in order (writers drop the rows they refuse, so
        neither a null row nor one too wide to densify adds cells to a dense matrix)."""
        if keep.all():
            return self
        lengths = np.diff(self.offsets)
        entries = np.repeat(keep, lengths)
        offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[keep], out=offsets[1:])
        return FeatureBlock(
            self.values[entries],
            self.indices[entries],
            offsets,
            self.sizes[keep],
            self.is_sparse[keep],
            self.null[keep],
        )


def _list_block(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, offsets, null) of a list<number> array; null rows have zero length, and a
    row holding a null element counts as null."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    null = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if array.null_count:
        array = pc.fill_null(array, pa.scalar([], type=array.type))
    offsets = np.asarray(array.offsets.to_numpy(), dtype=np.int64)
    flat = array.flatten()
    if flat.null_count:
        # a row with a null element cannot be sent; it is reported like a null row, by the
        # writers, so the rest of the batch still goes out
        parents = np.asarray(pc.list_parent_indices(array).to_numpy(zero_copy_only=False))
        element_null = np.asarray(flat.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        null = null.copy()
        null[parents[element_null]] = True
        flat = pc.fill_null(flat, 0)
    values = np.asarray(flat.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    offsets = offsets - offsets[0]
    return values, offsets, null


def features_from_batch(batch: pa.RecordBatch, columns: str | Sequence[str]) -> FeatureBlock:
    """The features of every row of ``batch``, read column-wise."""
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns)
    if len(columns) > 1 or not (
        pa.types.is_struct(batch.column(columns[0]).type)
        or pa.types.is_list(batch.column(columns[0]).type)
        or pa.types.is_large_list(batch.column(columns[0]).type)
    ):
        return _scalar_columns_block(batch, columns)
    column = batch.column(columns[0])
    if is_matrix_struct(column.type):
        raise SchemaValidationError(columns[0], _EXPECTED_VECTOR, "matrix", MATRIX_NOT_A_VECTOR)
    if pa.types.is_struct(column.type):
        return _vector_block(column)
    values, offsets, null = _list_block(column)
    sizes = np.diff(offsets)
    indices = _dense_indices(offsets)
    return FeatureBlock(values, indices, offsets, sizes, np.zeros(len(sizes), bool), null)


def _dense_indices(offsets: np.ndarray) -> np.ndarray:
    lengths = np.diff(offsets)
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], lengths)


def _scalar_columns_block(batch: pa.RecordBatch, columns: list[str]) -> FeatureBlock:
    n = batch.num_rows
    matrix = np.empty((n, len(columns)))
    null = np.zeros(n, dtype=bool)
    for j, name in enumerate(columns):
        column = batch.column(name)
        null |= np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        filled = pc.fill_null(column, 0) if column.null_count else column
        matrix[:, j] = filled.cast(pa.float64()).to_numpy(zero_copy_only=False)
    width = len(columns)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    indices = np.tile(np.arange(width, dtype=np.int64), n)
    sizes = np.full(n, width, dtype=np.int64)
    return FeatureBlock(matrix.reshape(-1), indices, offsets, sizes, np.zeros(n, bool), null)


def _sparse_rows(column: pa.StructArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(null, is_sparse, declared size) of each row of a vector column; the size is only
    meaningful where ``is_sparse``."""
    null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    kind = np.asarray(pc.fill_null(column.field("type"), 1).to_numpy(zero_copy_only=False))
    declared = pc.fill_null(column.field("size"), 0).to_numpy(zero_copy_only=False)
    return null, (kind == 0) & ~null, np.asarray(declared, dtype=np.int64)


def dense_widths(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """How many elements each row of ``column`` has once written out dense: a vector's
    size (declared, for a sparse one), a list's length, 1 for a scalar, 0 for null. What
    the JSON writers count to cut a batch into runs of bounded size."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_struct(column.type):
        null, is_sparse, declared = _sparse_rows(column)
        lengths = _list_lengths(column.field("values"))
        return np.where(null, 0, np.where(is_sparse, declared, lengths))
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return _list_lengths(column)
    return np.ones(len(column), dtype=np.int64)


def too_wide_rows(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The rows of ``column`` (any type) :func:`densify` would refuse, found column-wise."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_struct(column.type):
        return np.zeros(len(column), dtype=bool)
    _, is_sparse, declared = _sparse_rows(column)
    return too_wide_to_densify(declared, is_sparse)


def _list_lengths(array: pa.Array) -> np.ndarray:
    lengths = pc.fill_null(pc.list_value_length(array), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def _vector_block(column: pa.Array) -> FeatureBlock:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    null, is_sparse, declared = _sparse_rows(column)
    values, offsets, _ = _list_block(column.field("values"))
    dense_sizes = np.diff(offsets)
    sizes = np.where(is_sparse, declared, dense_sizes).astype(np.int64)
    if is_sparse.any():
        idx_values, idx_offsets, _ = _list_block(column.field("indices"))
        indices = _dense_indices(offsets)
        if idx_offsets[-1]:
            # indices of sparse rows come from the indices list; dense rows keep positions
            idx_lengths = np.diff(idx_offsets)
            sparse_value_mask = np.repeat(is_sparse, dense_sizes)
            mismatched = np.flatnonzero(is_sparse & (idx_lengths != dense_sizes))
            if len(mismatched):
                row = int(mismatched[0])
                raise RowSerializationError(
                    f"a sparse vector must have as many indices as values, got "
                    f"{idx_lengths[row]} indices and {dense_sizes[row]} values",
                    row_index=row,
                )
            indices[sparse_value_mask] = idx_values.astype(np.int64)[
                np.repeat(is_sparse, idx_lengths)
            ]
    else:
        indices = _dense_indices(offsets)
    return FeatureBlock(values, indices, offsets, sizes, is_sparse, null)


def features_from_row(value: object, row_index: int | None = None, column: str | None = None):
    """(indices, values, size, is_sparse) of one row's features, for per-row paths.

    Accepts an ML vector, a sequence of numbers, or a sequence of scalar column values.
    """
    if value is None:
        raise RowSerializationError(NULL_FEATURES, row_index=row_index, column=column)
    if isinstance(value, Matrix):
        raise RowSerializationError(MATRIX_NOT_A_VECTOR, row_index=row_index, column=column)
    if isinstance(value, SparseVector):
        return (
            np.asarray(value.indices, dtype=np.int64),
            np.asarray(value.values, dtype=np.float64),
            int(value.size),
            True,
        )
    if isinstance(value, DenseVector):
        values = np.asarray(value.values, dtype=np.float64)
    else:
        items = list(value)
        if any(v is None for v in items):
            raise RowSerializationError(NULL_ELEMENT, row_index=row_index, column=column)
        try:
            values = np.asarray(items, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise RowSerializationError(
                f"features must be numbers, got {value!r:.80}", row_index=row_index, column=column
            ) from exc
    return np.arange(len(values), dtype=np.int64), values, len(values), False
