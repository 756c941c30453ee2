"""JSON SerDes in the shapes TensorFlow Serving's REST API (and SageMaker's TensorFlow
container) speak.

Requests::

    {"instances": [[1.0, 2.0], [3.0, 4.0]]}                  rows, each a list of features
    {"instances": [{"age": 30, "tags": ["a"]}, ...]}         rows, each an object of inputs
    {"inputs": {"age": [30, 41], "tags": [["a"], ["b"]]}}    columns (not row-separable)

Responses::

    {"predictions": [0.3, 0.9]}                  one scalar per row
    {"predictions": [[0.1, 0.9], ...]}           a list per row (one array column, or positional)
    {"predictions": [{"risk": 0.2, ...}, ...]}   an object per row, outputs mapped to columns
    {"outputs": {"risk": [...], "scores": [...]}}   columns

All JSON goes through orjson, whose float spelling is the shortest that reads back the same
double (``1.0``, ``0.1``, ``1e+20``) for Python floats and numpy arrays alike — that is what
makes the vectorized writers byte-identical to the per-row ones. JSON has no NaN or
Infinity, so a row holding one is a per-row error rather than a silent ``null``.
"""

from __future__ import annotations

import json as stdlib_json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import DenseVector, Vector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
)

from serde.arrow_types import record_batch_from_rows, rows_from_record_batch, to_arrow_schema
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.ddl import schema_from
from serde.errors import ResponseParseError, RowSerializationError, SchemaValidationError
from serde.features import NUMERIC_TYPES, features_from_batch, validate_features_schema
from serde.registry import register_deserializer, register_serializer

__all__ = [
    "INTEGER_RANGES",
    "JSON_CONTENT_TYPE",
    "InstanceWriter",
    "JSONColumnarRequestSerializer",
    "JSONPredictionsResponseRowDeserializer",
    "JSONRequestRowSerializer",
    "PredictionReader",
    "decode_json",
    "record_batch_from_columns",
]

JSON_CONTENT_TYPE = "application/json"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_INTEGRAL_TYPES = (IntegerType, LongType, ShortType, ByteType)
_INSTANCE_FORMATS = ("list", "object")
_NOT_FINITE_HINT = "JSON has no NaN or Infinity: fill or drop such values before scoring"


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=_DUMP_OPTIONS)


def _json_default(value: Any) -> Any:
    """orjson's hook for what it does not know: Spark decimals travel as JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} in JSON")


# -- request side: one JSON value per row ---------------------------------------------------


class InstanceWriter:
    """Writes each row as one JSON value: a list of its features, or an object of inputs.

    Shared by the ``{"instances": [...]}`` and JSON Lines serializers, which differ only in
    what ends a row (``,`` or ``\\n``). ``dump_row`` is the reference; ``dump_batch`` must
    produce the same bytes for every row, and for a row it cannot write it calls
    ``dump_row`` on that row alone, so both paths report the same error.
    """

    def __init__(
        self,
        features_column_name: str | Sequence[str] = "features",
        input_mapping: Mapping[str, str] | None = None,
        instance_format: str | None = None,
    ) -> None:
        if instance_format is None:
            instance_format = "object" if input_mapping else "list"
        if instance_format not in _INSTANCE_FORMATS:
            raise ValueError(f"instance_format must be 'list' or 'object', got {instance_format!r}")
        if input_mapping and instance_format == "list":
            raise ValueError(
                "input_mapping names the model's inputs, which only an object instance "
                "carries; use instance_format='object' or drop input_mapping"
            )
        columns = (
            [features_column_name]
            if isinstance(features_column_name, str)
            else list(features_column_name)
        )
        self.instance_format = instance_format
        self.columns = list(input_mapping) if input_mapping else columns
        self.input_names = list(input_mapping.values()) if input_mapping else columns
        self._schema: StructType | None = None

    # -- schema --------------------------------------------------------------------------

    def validate_schema(self, schema: StructType) -> None:
        if self.instance_format == "list":
            validate_features_schema(schema, self.columns, allow_scalar_columns=True)
            for name in self.columns:
                data_type = schema[name].dataType
                element = data_type.elementType if isinstance(data_type, ArrayType) else data_type
                if isinstance(element, DecimalType):
                    raise SchemaValidationError(
                        name,
                        "double, float or integer values",
                        data_type.simpleString(),
                        "cast the column to double: one list is one tensor of one type",
                    )
        else:
            validate_input_columns(schema, self.columns)
        self._schema = schema

    # -- per row -------------------------------------------------------------------------

    def dump_row(self, row: Row) -> bytes:
        """The row's JSON value, without terminator."""
        if self.instance_format == "object":
            return _dumps(
                {
                    name: _writable_value(row[column], column)
                    for column, name in zip(self.columns, self.input_names)
                }
            )
        return _dumps(self._feature_list(row))

    def _feature_list(self, row: Row) -> list | np.ndarray:
        if len(self.columns) == 1:
            column = self.columns[0]
            value = row[column]
            if value is None:
                raise RowSerializationError("features are null", column=column)
            if isinstance(value, Vector):
                return _checked_floats(value.toArray(), column)
            if isinstance(value, (list, tuple)):
                for k, v in enumerate(value):
                    if v is None:
                        raise RowSerializationError(f"feature {k} is null", column=column)
                if all(type(v) is int for v in value):
                    return list(value)  # an integer tensor: ``[1, 2]``, not ``[1.0, 2.0]``
                return _checked_floats(np.asarray(value, dtype=np.float64), column)
        values = []
        for column in self.columns:  # numeric scalar columns
            v = row[column]
            if v is None:
                raise RowSerializationError("value is null", column=column)
            values.append(v)
        if all(type(v) is int for v in values):
            return values
        for column, v in zip(self.columns, values):
            if not math.isfinite(v):
                raise RowSerializationError(f"value is {v!r}; {_NOT_FINITE_HINT}", column=column)
        return np.asarray(values, dtype=np.float64)

    # -- vectorized ----------------------------------------------------------------------

    def dump_batch(
        self, batch: pa.RecordBatch, terminator: bytes
    ) -> tuple[bytes, np.ndarray, dict[int, RowSerializationError]]:
        """``(data, offsets, errors)``: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``,
        ending with the one-byte ``terminator``; rows in ``errors`` are empty."""
        n = batch.num_rows
        bad = self.unwritable_rows(batch)
        errors = {int(i): self.row_error(batch, int(i)) for i in np.flatnonzero(bad)}
        clean = batch.filter(pa.array(~bad)) if errors else batch
        if self.instance_format == "object":
            parts, lengths = self._dump_objects(clean, terminator)
        else:
            parts, lengths = self._dump_lists(clean, terminator)
        all_lengths = np.zeros(n, dtype=np.int64)
        all_lengths[~bad] = lengths
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(all_lengths, out=offsets[1:])
        return parts, offsets, errors

    def unwritable_rows(self, batch: pa.RecordBatch) -> np.ndarray:
        """A mask of the rows :meth:`dump_row` would refuse, found column-wise."""
        bad = np.zeros(batch.num_rows, dtype=bool)
        for column in self.columns:
            bad |= unwritable_rows(batch.column(column))
        return bad

    def row_error(self, batch: pa.RecordBatch, i: int) -> RowSerializationError:
        """The error :meth:`dump_row` gives for row ``i`` (flagged by
        :meth:`unwritable_rows`), so both paths report the same message."""
        row = next(rows_from_record_batch(batch.slice(i, 1), self._schema))
        try:
            self.dump_row(row)
        except RowSerializationError as exc:
            return exc.at_row(i)
        raise AssertionError(f"row {i} was flagged unwritable but dump_row wrote it")

    def _dump_objects(self, batch: pa.RecordBatch, terminator: bytes) -> tuple[bytes, np.ndarray]:
        columns = [python_values(batch.column(c)) for c in self.columns]
        names = self.input_names
        rows = [_dumps(dict(zip(names, values))) + terminator for values in zip(*columns)]
        return _joined(rows)

    def _dump_lists(self, batch: pa.RecordBatch, terminator: bytes) -> tuple[bytes, np.ndarray]:
        if batch.num_rows == 0:
            return b"", np.zeros(0, dtype=np.int64)
        if all(_is_integral(batch.column(c).type) for c in self.columns):
            values, offsets = _integer_features(batch, self.columns)
            widths = np.diff(offsets)
            if (widths == widths[0]).all():
                return dump_matrix_rows(values.reshape(len(widths), int(widths[0])), terminator)
            rows = [_dumps(values[a:b]) + terminator for a, b in pairwise(offsets)]
            return _joined(rows)
        block = features_from_batch(batch, self.columns)
        matrix = block.dense_matrix()
        if matrix is not None:
            return dump_matrix_rows(matrix, terminator)
        rows = [_dumps(block.dense_row(i)) + terminator for i in range(block.num_rows)]
        return _joined(rows)


def _joined(rows: list[bytes]) -> tuple[bytes, np.ndarray]:
    return b"".join(rows), np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))


def dump_matrix_rows(matrix: np.ndarray, terminator: bytes) -> tuple[bytes, np.ndarray]:
    """orjson-dumps a 2-D array once and cuts it into rows.

    ``[[1.0,2.0],[3.0,4.0]]`` becomes ``[1.0,2.0]<t>[3.0,4.0]<t>``: only numbers, commas
    and brackets, so each row ends at its ``]``. Returns the data and each row's length.
    """
    if len(terminator) != 1:
        raise ValueError(f"a row terminator is one byte, got {terminator!r}")
    if matrix.shape[0] == 0:
        return b"", np.zeros(0, dtype=np.int64)
    text = orjson.dumps(np.ascontiguousarray(matrix), option=_DUMP_OPTIONS)
    data = np.frombuffer(text, dtype=np.uint8)[1:].copy()  # drop the outer "["
    ends = np.flatnonzero(data == ord("]"))[:-1]  # the last "]" closed the outer list
    data[ends + 1] = terminator[0]  # the "," between rows (and the outer "]") → terminator
    lengths = np.diff(ends + 2, prepend=0)
    return data.tobytes(), lengths


def _is_integral(arrow_type: pa.DataType) -> bool:
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.types.is_integer(arrow_type.value_type)
    return pa.types.is_integer(arrow_type)


def _integer_features(batch: pa.RecordBatch, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(flat int64 values, row offsets) of null-free integer features."""
    first = batch.column(columns[0])
    if len(columns) == 1 and (pa.types.is_list(first.type) or pa.types.is_large_list(first.type)):
        offsets = np.asarray(first.offsets.to_numpy(), dtype=np.int64)
        values = pc.list_flatten(first).cast(pa.int64()).to_numpy()
        return values, offsets - offsets[0]
    matrix = np.column_stack([batch.column(c).cast(pa.int64()).to_numpy() for c in columns])
    width = len(columns)
    return matrix.reshape(-1), np.arange(0, (batch.num_rows + 1) * width, width, dtype=np.int64)


def _checked_floats(values: np.ndarray, column: str) -> np.ndarray:
    finite = np.isfinite(values)
    if not finite.all():
        k = int(np.argmin(finite))
        raise RowSerializationError(
            f"feature {k} is {float(values[k])!r}; {_NOT_FINITE_HINT}", column=column
        )
    return values


def _writable_value(value: Any, column: str, path: str = "") -> Any:
    """``value`` as orjson should write it; raises for null, NaN and infinity (JSON has
    none of them, and a model would fail on the whole request for one)."""
    what = f"element {path}" if path else "value"
    if value is None:
        raise RowSerializationError(f"{what} is null", column=column)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowSerializationError(f"{what} is {value!r}; {_NOT_FINITE_HINT}", column=column)
        return value
    if isinstance(value, Vector):
        return _checked_floats(value.toArray(), column)
    if isinstance(value, list):
        for k, v in enumerate(value):
            _writable_value(v, column, f"{path}[{k}]")
    return value


def unwritable_rows(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Rows JSON cannot carry: null, or holding a null element, NaN or infinity anywhere."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    bad = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    arrow_type = column.type
    if pa.types.is_floating(arrow_type):
        finite = pc.fill_null(pc.is_finite(column), True)
        bad |= ~np.asarray(finite.to_numpy(zero_copy_only=False), dtype=bool)
    elif pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        child_bad = unwritable_rows(pc.list_flatten(column))
        if child_bad.any():
            parents = pc.list_parent_indices(column).to_numpy()
            bad[parents[child_bad]] = True
    elif pa.types.is_struct(arrow_type):  # an ML vector: only its values can be bad
        values = pc.struct_field(column, "values")
        child_bad = unwritable_rows(pc.list_flatten(values))
        if child_bad.any():
            parents = pc.list_parent_indices(values).to_numpy()
            bad[parents[child_bad]] = True
    return bad


def python_values(column: pa.Array | pa.ChunkedArray) -> list:
    """The column's values as orjson writes them; vectors become dense lists of floats,
    exactly the values ``Vector.toArray()`` gives the per-row path."""
    if not pa.types.is_struct(column.type):
        return column.to_pylist()
    out = []
    for vector in column.to_pylist():
        if vector is None or vector["type"] == 1:
            out.append(None if vector is None else vector["values"])
        else:
            dense = np.zeros(vector["size"])
            dense[vector["indices"]] = vector["values"]
            out.append(dense.tolist())
    return out


def _input_type_ok(data_type: DataType, top_level: bool) -> bool:
    if isinstance(data_type, VectorUDT):
        return top_level
    if isinstance(data_type, ArrayType):
        return _input_type_ok(data_type.elementType, top_level=False)
    return isinstance(data_type, (*NUMERIC_TYPES, StringType, BooleanType))


def validate_input_columns(schema: StructType, columns: Sequence[str]) -> None:
    """Each column must exist and hold what JSON can carry: numbers, strings, booleans,
    arrays of those, or an ML vector."""
    if not columns:
        raise SchemaValidationError("<inputs>", "at least one column", "an empty mapping")
    for name in columns:
        if name not in schema.names:
            raise SchemaValidationError(
                name,
                "a column of the DataFrame",
                "no such column",
                f"available columns: {', '.join(schema.names)}",
            )
        data_type = schema[name].dataType
        if not _input_type_ok(data_type, top_level=True):
            raise SchemaValidationError(
                name,
                "a number, string, boolean, an array of those, or an ML Vector",
                data_type.simpleString(),
                "convert the column (e.g. dates to strings) before scoring",
            )


# -- request serializers --------------------------------------------------------------------


@register_serializer("json")
class JSONRequestRowSerializer(RequestRowSerializer):
    """``{"instances": [...]}`` with one instance per row.

    An instance is the features as a list (``features_column_name`` naming one vector or
    array column, or several numeric scalar columns), or — with ``input_mapping``
    ``{column: input name}`` or ``instance_format="object"`` — an object of named inputs.
    A list of integer columns stays integral (``[1, 2]``): one list is one tensor.

    >>> JSONRequestRowSerializer(input_mapping={"customer_age": "age"})
    """

    content_type = JSON_CONTENT_TYPE
    body_prefix = b'{"instances":['
    row_separator = b","
    body_suffix = b"]}"

    def __init__(
        self,
        features_column_name: str | Sequence[str] = "features",
        input_mapping: Mapping[str, str] | None = None,
        instance_format: str | None = None,
    ) -> None:
        self.features_column_name = features_column_name
        self.input_mapping = dict(input_mapping) if input_mapping else None
        self.instance_format = instance_format
        self._writer = InstanceWriter(features_column_name, input_mapping, instance_format)

    def validate_schema(self, schema: StructType) -> None:
        self._writer.validate_schema(schema)

    def serialize_row(self, row: Row) -> bytes:
        return self._writer.dump_row(row)

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        data, offsets, errors = self._writer.dump_batch(batch, self.row_separator)
        return SerializedRows(data, offsets, errors, trailing_separator=True)


@register_serializer("json-columnar")
class JSONColumnarRequestSerializer(RequestRowSerializer):
    """``{"inputs": {"age": [30, 41], "tags": [["a"], ["b"]]}}``: TF Serving's columnar
    request, one list per input over all rows of the body.

    Not row-separable, so the packer asks :meth:`serialize_body` for each body; the sizes
    :meth:`serialize_batch` gives are each row's values plus one comma per input, never
    less than what the row adds to a body, and ``body_prefix + body_suffix`` is an empty
    body, so a packed body always fits its byte limit.
    """

    content_type = JSON_CONTENT_TYPE
    row_separable = False

    def __init__(self, input_mapping: Mapping[str, str] | Sequence[str]) -> None:
        if isinstance(input_mapping, str):
            raise TypeError("input_mapping is {column: input name} or a list of columns")
        self.input_mapping = (
            dict(input_mapping)
            if isinstance(input_mapping, Mapping)
            else {c: c for c in input_mapping}
        )
        if not self.input_mapping:
            raise ValueError("input_mapping needs at least one column")
        self._writer = InstanceWriter(input_mapping=self.input_mapping)
        empty = self._body([[] for _ in self.input_mapping])
        self.body_prefix = b'{"inputs":{'
        self.body_suffix = empty[len(self.body_prefix) :]

    def validate_schema(self, schema: StructType) -> None:
        self._writer.validate_schema(schema)

    def _body(self, columns: list) -> bytes:
        return _dumps({"inputs": dict(zip(self.input_mapping.values(), columns))})

    def serialize_row(self, row: Row) -> bytes:
        """A one-row body: ``{"inputs": {"age": [30]}}``."""
        return self._body([[_writable_value(row[column], column)] for column in self.input_mapping])

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        """Each row's values, each followed by a comma: what the row adds to a body."""
        bad = self._writer.unwritable_rows(batch)
        errors = {int(i): self._writer.row_error(batch, int(i)) for i in np.flatnonzero(bad)}
        columns = [python_values(batch.column(c)) for c in self.input_mapping]
        rows: list[bytes | None] = [
            None if bad[i] else b"".join(_dumps(v) + b"," for v in values)
            for i, values in enumerate(zip(*columns))
        ]
        return SerializedRows.from_list(rows, errors)

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        """The body for all rows of ``batch``; a row JSON cannot carry raises its error."""
        bad = self._writer.unwritable_rows(batch)
        if bad.any():
            raise self._writer.row_error(batch, int(np.argmax(bad)))
        return self._body([python_values(batch.column(c)) for c in self.input_mapping])


# -- response side ----------------------------------------------------------------------------


class _Mismatch(Exception):
    """A value that does not fit its column; the reader adds where it was."""

    def __init__(self, expected: str, actual: Any, path: str = "") -> None:
        self.expected = expected
        self.actual = actual
        self.path = path
        super().__init__(expected)

    def describe(self) -> str:
        where = f"element {self.path}: " if self.path else ""
        return f"{where}expected {self.expected}, got {describe_json_value(self.actual)}"


def describe_json_value(value: Any) -> str:
    """How an error message shows a decoded JSON value: its kind and a short spelling."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}{'...' if len(value) > 40 else ''}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:8])
        return f"an object with keys [{keys}{', ...' if len(value) > 8 else ''}]"
    return type(value).__name__


#: The values each integral Spark type holds: a result out of range is an error, not a wrap.
INTEGER_RANGES = {
    ByteType: (-(2**7), 2**7 - 1),
    ShortType: (-(2**15), 2**15 - 1),
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}


def _accepted_as_is(data_type: DataType) -> type | None:
    """The Python type whose values a column of ``data_type`` takes unchanged (so a whole
    list of them is checked with one ``all(...)``), or None."""
    if isinstance(data_type, (DoubleType, FloatType)):
        return float
    if isinstance(data_type, StringType):
        return str
    if isinstance(data_type, BooleanType):
        return bool
    return None


def _coercer(data_type: DataType, nullable: bool = True) -> Callable[[Any], Any]:
    """A function that checks one decoded JSON value against ``data_type`` and returns it
    in the form Spark stores (ints for integral columns, ``DenseVector`` for vectors)."""
    expected = data_type.simpleString()
    if isinstance(data_type, VectorUDT):
        expected = "vector (a list of numbers)"

    def null_or_fail(value: Any) -> Any:
        if value is None and nullable:
            return None
        raise _Mismatch(expected, value)

    if isinstance(data_type, (DoubleType, FloatType)):

        def to_float(value: Any) -> Any:
            kind = type(value)
            if kind is float:
                return value
            if kind is int:
                return float(value)
            return null_or_fail(value)

        return to_float
    if isinstance(data_type, tuple(INTEGER_RANGES)):
        low, high = INTEGER_RANGES[type(data_type)]

        def to_int(value: Any) -> Any:
            kind = type(value)
            if kind is float and value.is_integer():
                value = int(value)
            elif kind is not int:
                return null_or_fail(value)
            if not low <= value <= high:
                raise _Mismatch(f"{expected} (between {low} and {high})", value)
            return value

        return to_int
    if isinstance(data_type, (StringType, BooleanType)):
        python_type = str if isinstance(data_type, StringType) else bool

        def exact(value: Any) -> Any:
            return value if type(value) is python_type else null_or_fail(value)

        return exact
    if isinstance(data_type, ArrayType):
        element = _coercer(data_type.elementType, data_type.containsNull)
        as_is = _accepted_as_is(data_type.elementType)

        def to_list(value: Any) -> Any:
            if type(value) is not list:
                return null_or_fail(value)
            if as_is is not None and all(type(v) is as_is for v in value):
                return value
            out = []
            for k, v in enumerate(value):
                try:
                    out.append(element(v))
                except _Mismatch as exc:
                    raise _Mismatch(exc.expected, exc.actual, f"[{k}]{exc.path}") from None
            return out

        return to_list
    if isinstance(data_type, VectorUDT):
        to_floats = _coercer(ArrayType(DoubleType(), containsNull=False))

        def to_vector(value: Any) -> Any:
            if type(value) is not list:
                return null_or_fail(value)
            try:
                return DenseVector(to_floats(value))
            except _Mismatch as exc:
                raise _Mismatch("a number", exc.actual, exc.path) from None

        return to_vector
    raise ValueError(
        f"a result column of type {data_type.simpleString()} is not supported; use double, "
        "float, int, bigint, smallint, tinyint, string, boolean, vector or array<...> of them"
    )


class PredictionReader:
    """Turns decoded predictions into columns of a result schema.

    An item is read by its shape: a scalar fills the single column; a list fills a single
    array/vector column, or (with several columns) fills them by position, or (a one-value
    list) a single scalar column; an object fills each column from the output named by
    ``output_mapping`` ``{output name: column}`` (by default the column's own name).
    """

    def __init__(
        self,
        schema: StructType,
        output_mapping: Mapping[str, str] | None = None,
        accepts: str = JSON_CONTENT_TYPE,
    ) -> None:
        self.schema = schema
        self.accepts = accepts
        output_mapping = dict(output_mapping or {})
        for output, column in output_mapping.items():
            if column not in schema.names:
                raise ValueError(
                    f"output_mapping maps output {output!r} to column {column!r}, which is "
                    f"not in the result schema ({', '.join(schema.names)})"
                )
        by_column = {column: output for output, column in output_mapping.items()}
        self.output_names = [by_column.get(name, name) for name in schema.names]
        self._single_is_array = len(schema) == 1 and isinstance(
            schema.fields[0].dataType, (ArrayType, VectorUDT)
        )

    @cached_property
    def _coercers(self) -> list[Callable[[Any], Any]]:
        return [_coercer(f.dataType, f.nullable) for f in self.schema.fields]

    @cached_property
    def _as_is(self) -> list[type | None]:
        return [_accepted_as_is(f.dataType) for f in self.schema.fields]

    def __getstate__(self) -> dict[str, Any]:  # coercers are closures: rebuild after pickling
        state = dict(self.__dict__)
        state.pop("_coercers", None)
        return state

    def _where(self, j: int) -> str:
        output, column = self.output_names[j], self.schema.names[j]
        return f"output {output!r}" + (f" (column {column!r})" if output != column else "")

    def _fail(self, reason: str, body: bytes | None) -> ResponseParseError:
        return ResponseParseError(reason, body, self.accepts)

    def columns_from_items(
        self, items: list, body: bytes | None = None, what: str = "prediction"
    ) -> list[list]:
        """One list per schema column from row-wise items (``predictions`` or lines)."""
        width = len(self.schema)
        if width > 1 and all(type(item) is list and len(item) == width for item in items):
            rows: Sequence[Sequence[Any]] = items  # the common case: positional lists
        elif width == 1 and all(
            self._single_is_array is (type(item) is list) and type(item) is not dict
            for item in items
        ):
            return [self._coerce_column(0, items, body, what)]
        else:
            rows = [self._item_values(i, item, body, what) for i, item in enumerate(items)]
        if not rows:
            return [[] for _ in range(width)]
        return [
            self._coerce_column(j, list(column), body, what) for j, column in enumerate(zip(*rows))
        ]

    def _item_values(self, i: int, item: Any, body: bytes | None, what: str) -> Sequence[Any]:
        """The values of one item in schema order, by its shape (see the class doc)."""
        width = len(self.schema)
        if isinstance(item, dict):
            return self._from_object(item, i, body, what)
        if type(item) is list and (width > 1 or not self._single_is_array):
            if width == 1 and len(item) != 1:
                raise self._fail(
                    f"{what} {i}: a list of {len(item)} values for the single scalar "
                    f"column {self.schema.names[0]!r} "
                    f"({self.schema.fields[0].dataType.simpleString()}); make it an "
                    "array<...> column or add one column per position",
                    body,
                )
            if width > 1 and len(item) != width:
                raise self._fail(
                    f"{what} {i}: a list of {len(item)} values for {width} columns "
                    f"({', '.join(self.schema.names)}), filled by position",
                    body,
                )
            return item
        if width == 1:
            return (item,)
        raise self._fail(
            f"{what} {i} is {describe_json_value(item)}, but the schema has {width} "
            f"columns ({', '.join(self.schema.names)}): expected a list (by position) "
            "or an object (by output name)",
            body,
        )

    def _coerce_column(self, j: int, values: list, body: bytes | None, what: str) -> list:
        """Column ``j``'s values checked and converted; the first misfit is reported with
        its row. A column already all of the accepted Python type is taken as it is."""
        as_is = self._as_is[j]
        if as_is is not None and all(type(v) is as_is for v in values):
            return values
        coerce = self._coercers[j]
        try:
            return [coerce(v) for v in values]
        except _Mismatch:
            for i, value in enumerate(values):
                try:
                    coerce(value)
                except _Mismatch as exc:
                    raise self._fail(
                        f"{what} {i}, {self._where(j)}: {exc.describe()}", body
                    ) from None
            raise

    def _from_object(self, item: dict, i: int, body: bytes | None, what: str) -> list:
        values = []
        for j, output in enumerate(self.output_names):
            if output not in item:
                raise self._fail(
                    f"{what} {i}: {self._where(j)} is missing; the object has keys "
                    f"[{', '.join(map(repr, item))}]. Map output names to columns with "
                    "output_mapping={output: column}",
                    body,
                )
            values.append(item[output])
        return values

    def columns_from_outputs(self, outputs: dict, body: bytes | None = None) -> list[list]:
        """One list per schema column from TF Serving's columnar ``{"outputs": {...}}``."""
        columns = []
        length = None
        for j, output in enumerate(self.output_names):
            if output not in outputs:
                raise self._fail(
                    f"{self._where(j)} is missing from outputs, which has keys "
                    f"[{', '.join(map(repr, outputs))}]. Map output names to columns with "
                    "output_mapping={output: column}",
                    body,
                )
            values = outputs[output]
            if type(values) is not list:
                raise self._fail(
                    f"outputs[{output!r}] is {describe_json_value(values)}; expected a list "
                    "with one value per row",
                    body,
                )
            if length is not None and len(values) != length:
                raise self._fail(
                    f"outputs disagree on the row count: {self.output_names[0]!r} has "
                    f"{length} values, {output!r} has {len(values)}",
                    body,
                )
            length = len(values)
            column = self._coerce_column(j, values, body, "row")
            columns.append(column)
        return columns

    def record_batch(self, columns: list[list]) -> pa.RecordBatch:
        """The columns as an Arrow batch of the schema."""
        return record_batch_from_columns(columns, self.schema)


def record_batch_from_columns(columns: list[list], schema: StructType) -> pa.RecordBatch:
    """An Arrow batch of ``schema`` from one Python list per column (vectors as ML
    vectors): one ``pa.array`` call per column unless a vector needs its struct layout."""
    if any(_holds_vector(f.dataType) for f in schema.fields):
        return record_batch_from_rows(list(zip(*columns)), schema)
    arrow_schema = to_arrow_schema(schema)
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, arrow_schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def _holds_vector(data_type: DataType) -> bool:
    if isinstance(data_type, ArrayType):
        return _holds_vector(data_type.elementType)
    return isinstance(data_type, VectorUDT)


def decode_json(body: bytes, accepts: str = JSON_CONTENT_TYPE) -> Any:
    """orjson first; Python's parser second, because some servers write ``NaN`` and
    ``Infinity`` (Python's ``json.dumps`` does) and a model may rightly answer NaN."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return stdlib_json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ResponseParseError(f"not valid JSON ({exc})", body, accepts) from None


@register_deserializer("json")
class JSONPredictionsResponseRowDeserializer(ResponseRowDeserializer):
    """Reads ``{"predictions": [...]}`` (or columnar ``{"outputs": ...}``, or a bare list)
    into the columns of ``schema`` — a ``StructType`` or DDL like
    ``"risk double, scores array<double>"``.

    >>> JSONPredictionsResponseRowDeserializer(
    ...     "risk_score double, class_scores array<double>",
    ...     output_mapping={"risk": "risk_score", "scores": "class_scores"})
    """

    accepts = JSON_CONTENT_TYPE

    def __init__(
        self,
        schema: StructType | str,
        output_mapping: Mapping[str, str] | None = None,
        predictions_key: str = "predictions",
    ) -> None:
        self._result_schema = schema_from(schema)
        self.output_mapping = dict(output_mapping) if output_mapping else None
        self.predictions_key = predictions_key
        self._reader = PredictionReader(self._result_schema, output_mapping)

    @property
    def schema(self) -> StructType:
        return self._result_schema

    def _columns(self, body: bytes) -> list[list]:
        document = decode_json(body, self.accepts)
        if type(document) is list:
            return self._reader.columns_from_items(document, body)
        if isinstance(document, dict):
            if self.predictions_key in document:
                items = document[self.predictions_key]
                if type(items) is not list:
                    raise ResponseParseError(
                        f"{self.predictions_key!r} is {describe_json_value(items)}; expected "
                        "a list with one prediction per row",
                        body,
                        self.accepts,
                    )
                return self._reader.columns_from_items(items, body)
            if "outputs" in document:
                outputs = document["outputs"]
                if isinstance(outputs, dict):
                    return self._reader.columns_from_outputs(outputs, body)
                if type(outputs) is list:
                    return self._reader.columns_from_items(outputs, body, what="output")
                raise ResponseParseError(
                    f"'outputs' is {describe_json_value(outputs)}; expected a list or an "
                    "object of lists",
                    body,
                    self.accepts,
                )
            if "error" in document:
                raise ResponseParseError(
                    f"the endpoint answered with an error: {document['error']!r}",
                    body,
                    self.accepts,
                )
        raise ResponseParseError(
            f'expected {{"{self.predictions_key}": [...]}} or {{"outputs": ...}}, got '
            f"{describe_json_value(document)}; set predictions_key if the model uses another "
            "key",
            body,
            self.accepts,
        )

    def deserialize_response(self, body: bytes):
        return zip(*self._columns(body))

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        return self._reader.record_batch(self._columns(body))
