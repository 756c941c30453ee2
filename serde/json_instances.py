"""The request side of the JSON SerDes: each row as one JSON value (a list of features or
an object of named inputs), per row and column-wise.

:class:`InstanceWriter` serves ``{"instances": [...]}``, JSON Lines and (for its checks)
the columnar ``{"inputs": {...}}`` serializer. JSON has no NaN, Infinity or null feature,
so a row holding one is a per-row error rather than a silent ``null``; the column-wise
path finds such rows with Arrow kernels and lets the per-row path word their errors. A
sparse vector is written as its dense list, so the column-wise path writes a batch a
bounded run of rows at a time (:mod:`serde.row_chunks`), and a vector too wide to write
dense (:data:`serde.features.MAX_DENSE_VALUES`) is a per-row error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import Vector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import ArrayType, BooleanType, DataType, DecimalType, StringType, StructType

from serde.arrow_types import rows_from_record_batch
from serde.csv import spread_offsets
from serde.errors import RowSerializationError, SchemaValidationError
from serde.features import (
    NULL_FEATURES,
    NUMERIC_TYPES,
    dense_vector_values,
    dense_widths,
    densify,
    features_from_batch,
    require_columns,
    too_wide_rows,
    validate_features_schema,
)
from serde.json_codec import DUMP_OPTIONS, NOT_FINITE_HINT, dumps
from serde.row_chunks import join_runs, row_runs, run_from_rows

__all__ = [
    "InstanceWriter",
    "dump_matrix_rows",
    "python_values",
    "unwritable_rows",
    "validate_input_columns",
    "writable_value",
]

_INSTANCE_FORMATS = ("list", "object")


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
            return dumps(
                {
                    name: writable_value(row[column], column)
                    for column, name in zip(self.columns, self.input_names)
                }
            )
        return dumps(self._feature_list(row))

    def _feature_list(self, row: Row) -> list | np.ndarray:
        if len(self.columns) == 1:
            column = self.columns[0]
            value = row[column]
            if value is None:
                raise RowSerializationError(NULL_FEATURES, column=column)
            if isinstance(value, Vector):
                return _checked_floats(dense_vector_values(value, column), column)
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
                raise RowSerializationError(f"value is {v!r}; {NOT_FINITE_HINT}", column=column)
        return np.asarray(values, dtype=np.float64)

    # -- vectorized ----------------------------------------------------------------------

    def dump_batch(
        self, batch: pa.RecordBatch, terminator: bytes
    ) -> tuple[bytes, np.ndarray, dict[int, RowSerializationError]]:
        """``(data, offsets, errors)``: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``,
        ending with the one-byte ``terminator``; rows in ``errors`` are empty."""
        dump = self._dump_objects if self.instance_format == "object" else self._dump_lists
        return self.dump_writable_rows(batch, partial(dump, terminator=terminator))

    def dump_writable_rows(
        self,
        batch: pa.RecordBatch,
        dump_run: Callable[[pa.RecordBatch], tuple[bytes, np.ndarray]],
    ) -> tuple[bytes, np.ndarray, dict[int, RowSerializationError]]:
        """``(data, offsets, errors)`` of ``batch``: the rows :meth:`dump_row` would refuse
        get their errors and zero length; ``dump_run`` writes the others, given as runs of
        rows (Arrow batches) holding a bounded number of elements once dense, and returns
        each run's ``(data, row lengths)``."""
        bad = self.unwritable_rows(batch)
        errors = {int(i): self.row_error(batch, int(i)) for i in np.flatnonzero(bad)}
        clean = batch.filter(pa.array(~bad)) if errors else batch
        cells = np.zeros(clean.num_rows, dtype=np.int64)
        for column in self.columns:
            cells += dense_widths(clean.column(column))
        runs = (dump_run(clean.slice(start, stop - start)) for start, stop in row_runs(cells))
        data, offsets = join_runs(runs)
        return data, spread_offsets(offsets, ~bad), errors

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
        rows = [dumps(dict(zip(names, values))) + terminator for values in zip(*columns)]
        return run_from_rows(rows)

    def _dump_lists(self, batch: pa.RecordBatch, terminator: bytes) -> tuple[bytes, np.ndarray]:
        if batch.num_rows == 0:
            return b"", np.zeros(0, dtype=np.int64)
        if all(_is_integral(batch.column(c).type) for c in self.columns):
            values, offsets = _integer_features(batch, self.columns)
            widths = np.diff(offsets)
            if (widths == widths[0]).all():
                return dump_matrix_rows(values.reshape(len(widths), int(widths[0])), terminator)
            rows = [dumps(values[a:b]) + terminator for a, b in pairwise(offsets)]
            return run_from_rows(rows)
        block = features_from_batch(batch, self.columns)
        matrix = block.dense_matrix()
        if matrix is not None:
            return dump_matrix_rows(matrix, terminator)
        rows = [dumps(block.dense_row(i)) + terminator for i in range(block.num_rows)]
        return run_from_rows(rows)


def dump_matrix_rows(matrix: np.ndarray, terminator: bytes) -> tuple[bytes, np.ndarray]:
    """orjson-dumps a 2-D array once and cuts it into rows.

    ``[[1.0,2.0],[3.0,4.0]]`` becomes ``[1.0,2.0]<t>[3.0,4.0]<t>``: only numbers, commas
    and brackets, so each row ends at its ``]``. Returns the data and each row's length.
    """
    if len(terminator) != 1:
        raise ValueError(f"a row terminator is one byte, got {terminator!r}")
    if matrix.shape[0] == 0:
        return b"", np.zeros(0, dtype=np.int64)
    text = orjson.dumps(np.ascontiguousarray(matrix), option=DUMP_OPTIONS)
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
            f"feature {k} is {float(values[k])!r}; {NOT_FINITE_HINT}", column=column
        )
    return values


def writable_value(value: Any, column: str, path: str = "") -> Any:
    """``value`` as orjson should write it; raises for null, NaN and infinity (JSON has
    none of them, and a model would fail on the whole request for one)."""
    what = f"element {path}" if path else "value"
    if value is None:
        raise RowSerializationError(f"{what} is null", column=column)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowSerializationError(f"{what} is {value!r}; {NOT_FINITE_HINT}", column=column)
        return value
    if isinstance(value, Vector):
        return _checked_floats(dense_vector_values(value, column), column)
    if isinstance(value, list):
        for k, v in enumerate(value):
            writable_value(v, column, f"{path}[{k}]")
    return value


def unwritable_rows(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Rows JSON cannot carry: null, holding a null element, NaN or infinity anywhere, or a
    sparse vector too wide to write dense."""
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
    elif pa.types.is_struct(arrow_type):  # an ML vector: its size and values can be bad
        bad |= too_wide_rows(column)
        values = pc.struct_field(column, "values")
        child_bad = unwritable_rows(pc.list_flatten(values))
        if child_bad.any():
            parents = pc.list_parent_indices(values).to_numpy()
            bad[parents[child_bad]] = True
    return bad


def python_values(column: pa.Array | pa.ChunkedArray) -> list:
    """The column's values as orjson writes them; a sparse vector becomes its dense numpy
    array (8 bytes an element, where a list of floats takes 32), exactly the values
    ``Vector.toArray()`` gives the per-row path."""
    if not pa.types.is_struct(column.type):
        return column.to_pylist()
    out = []
    for vector in column.to_pylist():
        if vector is None or vector["type"] == 1:
            out.append(None if vector is None else vector["values"])
        else:
            out.append(densify(vector["indices"], vector["values"], vector["size"]))
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
    require_columns(schema.names, columns)
    for name in columns:
        data_type = schema[name].dataType
        if not _input_type_ok(data_type, top_level=True):
            raise SchemaValidationError(
                name,
                "a number, string, boolean, an array of those, or an ML Vector",
                data_type.simpleString(),
                "convert the column (e.g. dates to strings) before scoring",
            )
