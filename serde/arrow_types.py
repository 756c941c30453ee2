"""Spark SQL types ↔ Arrow, and Arrow batches ↔ ``pyspark.sql.Row`` for the per-row path.

Spark hands ``mapInArrow`` a user-defined type (the ML ``VectorUDT``) as its SQL type, a
``struct<type: int8, size: int32, indices: list<int32>, values: list<double>>``; the
per-row path of a user's SerDe must see real ``DenseVector`` / ``SparseVector`` objects
instead, and results a deserializer yields as vectors must go back into that struct.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from pyspark.ml.linalg import DenseVector, SparseVector, Vector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DataType,
    MapType,
    StructType,
    UserDefinedType,
)

__all__ = [
    "VECTOR_ARROW_TYPE",
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
    read as a vector, so a SerDe used outside a DataFrame sees the same values.
    """
    names = batch.schema.names
    types: list[DataType | None] = []
    for i, name in enumerate(names):
        if schema is not None and name in schema.names:
            types.append(schema[name].dataType)
        elif batch.schema.field(i).type == VECTOR_ARROW_TYPE or _looks_like_vector(
            batch.schema.field(i).type
        ):
            types.append(VectorUDT())
        else:
            types.append(None)
    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    row_type = Row(*names)
    for values in zip(*columns):
        yield row_type(*(_from_arrow_value(v, t) for v, t in zip(values, types)))


def _looks_like_vector(arrow_type: pa.DataType) -> bool:
    return pa.types.is_struct(arrow_type) and [f.name for f in arrow_type] == [
        "type",
        "size",
        "indices",
        "values",
    ]


def record_batch_from_rows(rows: Sequence[Sequence[Any]], schema: StructType) -> pa.RecordBatch:
    """An Arrow batch of ``schema`` from result tuples (values in schema order)."""
    arrow_schema = to_arrow_schema(schema)
    columns = []
    for j, field in enumerate(schema.fields):
        values = [_to_arrow_value(row[j], field.dataType) for row in rows]
        columns.append(pa.array(values, type=arrow_schema.field(j).type))
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)
