"""Spark SQL types ↔ Arrow, and Arrow batches ↔ ``pyspark.sql.Row`` for the per-row path.

Spark hands ``mapInArrow`` a user-defined type (the ML ``VectorUDT``) as its SQL type, a
``struct<type: int8, size: int32, indices: list<int32>, values: list<double>>``; the
per-row path of a user's SerDe must see real ``DenseVector`` / ``SparseVector`` objects
instead, and results a deserializer yields as vectors must go back into that struct.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import DenseVector, MatrixUDT, SparseVector, Vector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DataType,
    MapType,
    StructType,
    UserDefinedType,
)

from serde.row_type import row_type

__all__ = [
    "MATRIX_FIELDS",
    "VECTOR_ARROW_TYPE",
    "arrow_column",
    "is_matrix_struct",
    "python_column",
    "record_batch_from_rows",
    "rows_from_record_batch",
    "to_arrow_schema",
    "to_arrow_type",
    "vector_from_struct",
    "vector_to_struct",
]

#: Spark's Arrow layout of ``VectorUDT`` (type 0 = sparse, 1 = dense).
VECTOR_ARROW_TYPE = pa.struct(
    [
        pa.field("type", pa.int8(), nullable=False),
        pa.field("size", pa.int32()),
        pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
        pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
    ]
)


#: The fields of Spark's Arrow layout of ``MatrixUDT`` (``type`` 0 = sparse, 1 = dense).
MATRIX_FIELDS = ("type", "numRows", "numCols", "colPtrs", "rowIndices", "values", "isTransposed")


def is_matrix_struct(arrow_type: pa.DataType) -> bool:
    """True if ``arrow_type`` is Spark's matrix struct: how a ``MatrixUDT`` column (an ML
    ``Matrix``, which is not a vector) crosses into Python."""
    return pa.types.is_struct(arrow_type) and {
        arrow_type.field(i).name for i in range(arrow_type.num_fields)
    } == set(MATRIX_FIELDS)


def to_arrow_type(data_type: DataType) -> pa.DataType:
    """The Arrow type Spark uses for ``data_type`` in ``mapInArrow`` batches."""
    from pyspark.sql.pandas.types import to_arrow_type as spark_to_arrow_type

    if isinstance(data_type, VectorUDT):
        return VECTOR_ARROW_TYPE
    if isinstance(data_type, UserDefinedType):
        return to_arrow_type(data_type.sqlType())
    if isinstance(data_type, ArrayType):
        return pa.list_(
            pa.field("element", to_arrow_type(data_type.elementType), data_type.containsNull)
        )
    if isinstance(data_type, StructType):
        return pa.struct(
            [pa.field(f.name, to_arrow_type(f.dataType), f.nullable) for f in data_type.fields]
        )
    if isinstance(data_type, MapType):
        return pa.map_(
            pa.field("key", to_arrow_type(data_type.keyType), nullable=False),
            pa.field("value", to_arrow_type(data_type.valueType), data_type.valueContainsNull),
        )
    # Timestamps are instants: Spark reads any time zone back the same, so say UTC
    # (pyspark refuses a TimestampType without one).
    return spark_to_arrow_type(data_type, timezone="UTC")


def to_arrow_schema(schema: StructType) -> pa.Schema:
    return pa.schema([pa.field(f.name, to_arrow_type(f.dataType), f.nullable) for f in schema])


def vector_from_struct(value: dict[str, Any] | None) -> Vector | None:
    if value is None:
        return None
    if value["type"] == 1:
        return DenseVector(value["values"])
    return SparseVector(value["size"], value["indices"], value["values"])


def vector_to_struct(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, SparseVector):
        return {
            "type": 0,
            "size": int(value.size),
            "indices": [int(i) for i in value.indices],
            "values": [float(v) for v in value.values],
        }
    if isinstance(value, DenseVector):
        values = [float(v) for v in value.values]
    else:
        values = [float(v) for v in value]
    return {"type": 1, "size": None, "indices": None, "values": values}


def _from_arrow_value(value: Any, data_type: DataType | None) -> Any:
    if value is None or data_type is None:
        return value
    if isinstance(data_type, VectorUDT):
        return vector_from_struct(value)
    if isinstance(data_type, UserDefinedType):  # an ML Matrix, or any other UDT
        fields = data_type.sqlType().fields
        return data_type.deserialize(tuple(value[f.name] for f in fields))
    if isinstance(data_type, StructType):
        return Row(**{f.name: _from_arrow_value(value[f.name], f.dataType) for f in data_type})
    if isinstance(data_type, ArrayType) and _has_udt_or_struct(data_type.elementType):
        return [_from_arrow_value(v, data_type.elementType) for v in value]
    if isinstance(data_type, MapType):  # Arrow gives [(key, value), ...]; Spark gives a dict
        return {k: _from_arrow_value(v, data_type.valueType) for k, v in value}
    return value


def _to_arrow_value(value: Any, data_type: DataType) -> Any:
    if value is None:
        return None
    if isinstance(data_type, VectorUDT):
        return vector_to_struct(value)
    if isinstance(data_type, StructType):
        if isinstance(value, dict):
            return {f.name: _to_arrow_value(value.get(f.name), f.dataType) for f in data_type}
        return {f.name: _to_arrow_value(v, f.dataType) for f, v in zip(data_type, value)}
    if isinstance(data_type, ArrayType) and _has_udt_or_struct(data_type.elementType):
        return [_to_arrow_value(v, data_type.elementType) for v in value]
    if isinstance(data_type, MapType):
        items = value.items() if isinstance(value, dict) else value
        return [(k, _to_arrow_value(v, data_type.valueType)) for k, v in items]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return value


def _has_udt_or_struct(data_type: DataType) -> bool:
    if isinstance(data_type, (UserDefinedType, StructType, MapType)):
        return True
    if isinstance(data_type, ArrayType):
        return _has_udt_or_struct(data_type.elementType)
    return False


def rows_from_record_batch(
    batch: pa.RecordBatch, schema: StructType | None = None
) -> Iterator[Row]:
    """Yields the rows of ``batch`` as ``pyspark.sql.Row`` (vectors as ML vectors).

    Without a Spark ``schema``, a struct column shaped like Spark's vector layout is still
    read as a vector, so a SerDe used outside a DataFrame sees the same values. Where the
    schema says ``VectorUDT`` but the column holds ``list<double>`` (the engine converted it
    with ``vector_to_array``), each value becomes a ``DenseVector``, as the contract
    promises a serializer. Columns are converted whole (see :func:`python_column`) and each
    row is one ``tuple.__new__`` of a cached ``Row`` class.
    """
    names = batch.schema.names
    columns = [
        python_column(batch.column(i), _spark_type(batch.schema.field(i), schema))
        for i in range(batch.num_columns)
    ]
    return map(partial(tuple.__new__, row_type(tuple(names))), zip(*columns))


def _spark_type(field: pa.Field, schema: StructType | None) -> DataType | None:
    """The Spark type a column is read as: the schema's, else a vector if it looks like
    one, else ``None`` (its Arrow values as they are)."""
    if schema is not None and field.name in schema.names:
        return schema[field.name].dataType
    if field.type == VECTOR_ARROW_TYPE or _looks_like_vector(field.type):
        return VectorUDT()
    if is_matrix_struct(field.type):
        return MatrixUDT()
    return None


def python_column(column: pa.Array | pa.ChunkedArray, data_type: DataType | None) -> list:
    """The values of ``column`` as the per-row path hands them to a user: one Python value
    per row, ML vectors for ``VectorUDT``, ``Row`` for structs, dicts for maps.

    Columns that need no conversion go through numpy (a fixed-width numeric list column is
    one ``reshape(...).tolist()``) or one ``to_pylist``; dense vectors are built from one
    flat array, not from a dict per row.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(data_type, VectorUDT):
        return _vector_column(column)
    if data_type is None or not _needs_conversion(data_type):
        return _plain_column(column)
    return [_from_arrow_value(v, data_type) for v in column.to_pylist()]


def _needs_conversion(data_type: DataType) -> bool:
    return isinstance(data_type, (UserDefinedType, StructType, MapType)) or (
        isinstance(data_type, ArrayType) and _has_udt_or_struct(data_type.elementType)
    )


#: Arrow types whose numpy values convert to the same Python values ``to_pylist`` gives.
_NUMPY_EXACT_TYPES = (pa.float64(), pa.float32(), pa.int64(), pa.int32())


def _plain_column(column: pa.Array) -> list:
    if column.null_count == 0:
        if column.type in _NUMPY_EXACT_TYPES:
            return column.to_numpy().tolist()
        matrix = _fixed_width_matrix(column)
        if matrix is not None:
            return matrix.tolist()
    return column.to_pylist()


def _fixed_width_matrix(column: pa.Array) -> np.ndarray | None:
    """A list column of equal-length rows without nulls as a ``(rows, width)`` array
    (read-only, shares Arrow's memory), else ``None``."""
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return None
    if column.null_count or column.type.value_type not in _NUMPY_EXACT_TYPES:
        return None
    offsets = column.offsets.to_numpy()
    widths = np.diff(offsets)
    if not len(widths) or (widths != widths[0]).any():
        return None
    values = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    if values.null_count:
        return None
    return values.to_numpy().reshape(len(widths), int(widths[0]))


def _vector_column(column: pa.Array) -> list:
    """ML vectors from Spark's vector struct or from ``list<number>`` (dense)."""
    null = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_struct(column.type):
        # a null row's "type" child holds 0, so only live rows can say "sparse"
        kind = pc.fill_null(column.field("type"), 1).to_numpy(zero_copy_only=False)
        if ((kind == 0) & ~null).any():  # sparse vectors: rare, read row by row
            return [vector_from_struct(v) for v in column.to_pylist()]
        values = column.field("values")
    else:
        values = column
    vectors = _dense_vectors(values)
    for i in np.flatnonzero(null).tolist():
        vectors[i] = None
    return vectors


def _dense_vectors(lists: pa.Array) -> list:
    """One ``DenseVector`` per row of a list column (null rows too: the caller sets them
    to ``None``), each a view of one float64 copy of the values."""
    matrix = _fixed_width_matrix(lists)
    if matrix is not None:
        return list(map(DenseVector, matrix.astype(np.float64)))
    offsets = lists.offsets.to_numpy()
    flat = lists.values.to_numpy(zero_copy_only=False).astype(np.float64)
    return [DenseVector(flat[a:b]) for a, b in pairwise(offsets.tolist())]


def _looks_like_vector(arrow_type: pa.DataType) -> bool:
    return pa.types.is_struct(arrow_type) and [f.name for f in arrow_type] == [
        "type",
        "size",
        "indices",
        "values",
    ]


def record_batch_from_rows(rows: Sequence[Sequence[Any]], schema: StructType) -> pa.RecordBatch:
    """An Arrow batch of ``schema`` from result tuples (values in schema order), built a
    column at a time (see :func:`arrow_column`)."""
    arrow_schema = to_arrow_schema(schema)
    width = len(schema.fields)
    columns: list[Sequence[Any]] = list(zip(*rows))[:width] if len(rows) else [()] * width
    if len(columns) < width:  # a short row: index each row, so the error names the place
        columns = [[row[j] for row in rows] for j in range(width)]
    arrays = [
        arrow_column(values, field.dataType, arrow_field.type)
        for values, field, arrow_field in zip(columns, schema.fields, arrow_schema)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def arrow_column(values: Any, data_type: DataType, arrow_type: pa.DataType) -> pa.Array:
    """One column of ``data_type`` as an Arrow array of ``arrow_type``, from a list (or
    tuple) of Python values, a numpy array (2-D for a fixed-width ``array<...>``) or an
    Arrow array.

    A column whose type needs no conversion is handed to ``pa.array`` whole; should Arrow
    refuse it (numpy values inside a list, say), its values are converted one by one first.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and not isinstance(data_type, VectorUDT):
        return values if values.type == arrow_type else values.cast(arrow_type)
    if isinstance(values, np.ndarray):
        if values.ndim == 2 and pa.types.is_list(arrow_type):
            rows, width = values.shape
            offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
            flat = pa.array(values.reshape(-1), type=arrow_type.value_type)
            return pa.ListArray.from_arrays(offsets, flat, type=arrow_type)
        if values.ndim == 1 and values.dtype.kind != "O" and not _needs_conversion(data_type):
            return pa.array(values, type=arrow_type)
        values = list(values)
    if not _needs_conversion(data_type):
        try:
            return pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    return pa.array([_to_arrow_value(v, data_type) for v in values], type=arrow_type)
