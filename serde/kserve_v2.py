"""KServe V2 (the Open Inference Protocol) over REST: MLServer, KServe, Triton, Seldon.

A request carries whole tensors, not rows; its body is not a join of per-row records, so
the serializer is not row-separable and builds each body from a slice of the Arrow batch
(:meth:`KServeV2RequestRowSerializer.serialize_body`)::

    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                 "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}],
     "outputs": [{"name": "predict"}],                 only when asked for
     "parameters": {"content_type": "pd"}}             only when given

Each input is one tensor whose first dimension is the row: a features column (an ML
vector or an ``array<...>`` of equal-length rows) or several numeric scalar columns make
one ``[rows, k]`` tensor; with ``input_mapping`` every column is an input of its own
(``[rows]`` for a scalar, ``[rows, k]`` for an array). Data is written flat, in row-major
order, as the protocol's canonical form.

A response's ``outputs`` are read by name into the result columns: ``[rows]`` or
``[rows, 1]`` into a scalar column, ``[rows, k]`` into an ``array<...>`` or vector column.
Every output read must give the same number of rows; the engine then checks that number
against the rows it sent, so a short answer is a count mismatch, never a shift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import VectorUDT
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
    StructField,
    StructType,
)

from serde.arrow_types import record_batch_from_rows, rows_from_record_batch
from serde.base import RequestRowSerializer, SerializedRows
from serde.batch_serde import ColumnsDeserializer, ColumnValues
from serde.csv import spread_offsets
from serde.ddl import schema_from
from serde.errors import (
    ResponseParseError,
    RowSerializationError,
    SchemaValidationError,
    SerdeError,
)
from serde.features import dense_widths, features_from_batch, require_columns
from serde.json_codec import JSON_CONTENT_TYPE, decode_json, describe_json_value, dumps
from serde.json_coercion import INTEGER_RANGES
from serde.json_instances import dump_matrix_rows, unwritable_rows, writable_value
from serde.registry import register_deserializer, register_serializer
from serde.row_chunks import join_runs, row_runs, run_from_rows

__all__ = [
    "KSERVE_V2_DATATYPES",
    "KServeV2RequestRowSerializer",
    "KServeV2ResponseRowDeserializer",
]

#: The protocol's tensor datatypes, with the numpy type their values are read as.
KSERVE_V2_DATATYPES: dict[str, type | None] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": None,  # strings
}

#: The datatype a Spark type is sent as unless ``datatypes`` says otherwise.
_DATATYPE_OF_SPARK = {
    DoubleType: "FP64",
    FloatType: "FP32",
    LongType: "INT64",
    IntegerType: "INT32",
    ShortType: "INT16",
    ByteType: "INT8",
    BooleanType: "BOOL",
    StringType: "BYTES",
}
_INT_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
_FLOAT_DATATYPES = ("FP32", "FP64")
_DEFAULT_INPUT_NAME = "input-0"
_EXPECTED_INPUT = (
    "a number, boolean or string, an array of one of those, or an ML Vector "
    "(a V2 tensor holds one datatype)"
)


# -------------------------------------------------------------------------- serializer


@dataclass(frozen=True)
class _Input:
    """One V2 input tensor: its name, the columns it is built from, its datatype, and
    whether a row holds several values (shape ``[rows, k]``) or one (shape ``[rows]``)."""

    name: str
    columns: tuple[str, ...]
    datatype: str
    per_row_values: bool

    @property
    def numpy_type(self) -> type | None:
        return KSERVE_V2_DATATYPES[self.datatype]


@register_serializer("kserve-v2")
class KServeV2RequestRowSerializer(RequestRowSerializer):
    """``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``: one V2 inference
    request per body.

    Args:
        features_column_name: one ML ``Vector`` or ``array<...>`` column, or a list of
            numeric scalar columns: one input tensor of shape ``[rows, k]``.
        input_name: that tensor's name (``"input-0"``, MLServer's and KServe's default).
        input_mapping: ``{column: input name}`` (or a list of columns, each named as
            itself) instead: one input per column, ``[rows]`` for a scalar column (numbers,
            booleans as ``BOOL``, strings as ``BYTES``), ``[rows, k]`` for an array or
            vector.
        datatypes: ``{input name: datatype}`` to send an input as another datatype its
            values fit: ``FP32`` or ``FP64`` for numbers, a wider ``INT`` for integers.
            By default Spark's type decides (double ``FP64``, float ``FP32``, bigint
            ``INT64``, int ``INT32``, boolean ``BOOL``, string ``BYTES``, vector ``FP64``).
        outputs: output names to ask for (``"outputs": [{"name": ...}]``); servers answer
            their default outputs when none are named.
        parameters: the request's ``parameters`` object (MLServer reads
            ``{"content_type": "pd"}`` to hand several inputs to the model as a DataFrame).

    >>> KServeV2RequestRowSerializer(features_column_name="features", outputs=["predict"])
    """

    content_type = JSON_CONTENT_TYPE
    row_separable = False
    writes_vectors_dense = True

    def __init__(
        self,
        features_column_name: str | Sequence[str] = "features",
        input_name: str = _DEFAULT_INPUT_NAME,
        input_mapping: Mapping[str, str] | Sequence[str] | None = None,
        datatypes: Mapping[str, str] | None = None,
        outputs: Sequence[str] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(input_mapping, str):
            raise TypeError("input_mapping is {column: input name} or a list of columns")
        if isinstance(outputs, str):
            raise TypeError(f"outputs is a list of output names, e.g. [{outputs!r}]")
        self.features_column_name = features_column_name
        self.input_name = input_name
        self.input_mapping = (
            None
            if input_mapping is None
            else dict(input_mapping)
            if isinstance(input_mapping, Mapping)
            else {c: c for c in input_mapping}
        )
        self.datatypes = dict(datatypes) if datatypes else None
        self.outputs = list(outputs) if outputs is not None else None
        self.parameters = dict(parameters) if parameters is not None else None
        if self.input_mapping is not None:
            if not self.input_mapping:
                raise ValueError("input_mapping needs at least one column")
            if features_column_name != "features":
                raise ValueError(
                    "give either features_column_name (one tensor) or input_mapping (one "
                    "input per column), not both"
                )
            names = list(self.input_mapping.values())
        else:
            names = [input_name]
        if len(set(names)) != len(names):
            raise ValueError(f"input names must differ, got {names}")
        for name, datatype in (self.datatypes or {}).items():
            if name not in names:
                raise ValueError(
                    f"datatypes names input {name!r}, but the inputs are {names}; key "
                    "datatypes by input name"
                )
            if datatype not in KSERVE_V2_DATATYPES:
                raise ValueError(
                    f"datatypes[{name!r}] is {datatype!r}; V2 datatypes are "
                    f"{', '.join(KSERVE_V2_DATATYPES)}"
                )
        self._input_names = names
        self._columns = (
            list(self.input_mapping)
            if self.input_mapping is not None
            else [features_column_name]
            if isinstance(features_column_name, str)
            else list(features_column_name)
        )
        self._inputs: list[_Input] | None = None
        wanted = dumps({"outputs": [{"name": n} for n in outputs]})[1:-1] if outputs else b""
        tail = b"]" + (b"," + wanted if wanted else b"")
        if self.parameters is not None:
            tail += b',"parameters":' + dumps(self.parameters)
        self._tail = tail + b"}"
        # Framing, for the packer's size estimates: the body of no rows, with room for
        # the longest datatype and a two-dimensional shape in every input.
        empty = b",".join(_input_head(name, [0, 0], "BYTES") + b"[]}" for name in self._input_names)
        self.body_prefix = b'{"inputs":['
        self.body_suffix = empty + self._tail

    # -- schema ----------------------------------------------------------------------------

    def validate_schema(self, schema: StructType) -> None:
        self._inputs = self._plan_inputs(schema)

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self._columns)

    def _plan_inputs(self, schema: StructType) -> list[_Input]:
        require_columns(schema.names, self._columns)
        if self.input_mapping is not None:
            return [
                self._input_of(name, (column,), schema, per_column=True)
                for column, name in self.input_mapping.items()
            ]
        return [self._input_of(self.input_name, tuple(self._columns), schema, per_column=False)]

    def _input_of(
        self, name: str, columns: tuple[str, ...], schema: StructType, per_column: bool
    ) -> _Input:
        """The input tensor ``name`` over ``columns``, its datatype checked."""
        types = [schema[c].dataType for c in columns]
        if len(columns) > 1:  # several scalar columns: one [rows, k] tensor of numbers
            for column, data_type in zip(columns, types):
                if type(data_type) not in _DATATYPE_OF_SPARK or isinstance(
                    data_type, (BooleanType, StringType)
                ):
                    raise SchemaValidationError(
                        column,
                        "a numeric scalar column (several columns form one tensor of numbers)",
                        data_type.simpleString(),
                        "send booleans, strings and arrays as inputs of their own with "
                        "input_mapping",
                    )
            kinds = {_DATATYPE_OF_SPARK[type(t)] for t in types}
            inferred = (
                kinds.pop() if len(kinds) == 1 else "INT64" if kinds <= set(_INT_BITS) else "FP64"
            )
            return _Input(name, columns, self._datatype(name, columns[0], inferred), True)
        column, data_type = columns[0], types[0]
        element = data_type.elementType if isinstance(data_type, ArrayType) else data_type
        if isinstance(data_type, VectorUDT):
            inferred = "FP64"
        elif type(element) in _DATATYPE_OF_SPARK:
            inferred = _DATATYPE_OF_SPARK[type(element)]
        else:
            hint = (
                "cast the column to double"
                if isinstance(element, DecimalType)
                else "convert the column (e.g. dates to strings) before scoring"
            )
            raise SchemaValidationError(column, _EXPECTED_INPUT, data_type.simpleString(), hint)
        if (
            not per_column
            and inferred in ("BOOL", "BYTES")
            and not isinstance(data_type, ArrayType)
        ):
            raise SchemaValidationError(
                column,
                "an ML Vector, an array or a numeric column as the features",
                data_type.simpleString(),
                "send booleans and strings as inputs of their own with input_mapping",
            )
        per_row_values = not per_column or isinstance(data_type, (ArrayType, VectorUDT))
        return _Input(name, columns, self._datatype(name, column, inferred), per_row_values)

    def _datatype(self, name: str, column: str, inferred: str) -> str:
        """``inferred``, or the datatype ``datatypes`` asks for if the values fit it."""
        wanted = (self.datatypes or {}).get(name, inferred)
        if inferred in _INT_BITS:
            fits = [
                *_FLOAT_DATATYPES,
                *(d for d, b in _INT_BITS.items() if b >= _INT_BITS[inferred]),
            ]
        elif inferred in _FLOAT_DATATYPES:
            fits = list(_FLOAT_DATATYPES)
        else:
            fits = [inferred]
        if wanted not in fits:
            raise SchemaValidationError(
                column,
                f"a datatype input {name!r} fits ({', '.join(fits)})",
                wanted,
                f"its values are {inferred}; narrower integers or booleans/strings as numbers "
                "would change them",
            )
        return wanted

    def _planned(self) -> list[_Input]:
        if self._inputs is None:
            raise SerdeError(
                "KServeV2RequestRowSerializer needs the input schema to pick each input's "
                "datatype: call set_schema(df.schema) first (SageMakerModel.transform does)"
            )
        return self._inputs

    # -- per row ---------------------------------------------------------------------------

    def serialize_row(self, row: Row) -> bytes:
        """A one-row request body; a row the format cannot carry raises its error."""
        self._check_row(row)
        inputs = self._planned()
        columns = [c for i in inputs for c in i.columns]
        schema = StructType([self.schema[c] for c in columns])  # type: ignore[index]
        return self.serialize_body(record_batch_from_rows([[row[c] for c in columns]], schema))

    def _check_row(self, row: Row) -> None:
        """Raises the :class:`RowSerializationError` of a row JSON or its datatype cannot
        carry: null, NaN or infinite values, a sparse vector too wide to write dense, a
        number outside FP32's range for an FP32 input."""
        for spec in self._planned():
            for column in spec.columns:
                value = writable_value(row[column], column)
                if spec.datatype == "FP32" and not isinstance(value, str):
                    with np.errstate(over="ignore"):
                        as_fp32 = np.asarray(value, dtype=np.float64).astype(np.float32)
                    if not np.isfinite(as_fp32).all():
                        k = int(np.argmin(np.isfinite(np.atleast_1d(as_fp32))))
                        number = float(np.atleast_1d(np.asarray(value, dtype=np.float64))[k])
                        where = f"element [{k}] " if np.ndim(as_fp32) else "value "
                        raise RowSerializationError(
                            f"{where}{number!r} is outside FP32's range (±3.4e38); send "
                            f"input {spec.name!r} as FP64 with datatypes",
                            column=column,
                        )

    # -- vectorized ------------------------------------------------------------------------

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        """Each row's values in every input, as JSON lists each followed by a comma: never
        less than what the row adds to a body, which the packer uses to cut bodies.

        Rows the format cannot carry get their errors; so do rows of an array input whose
        width differs from the batch's first such row, since a tensor is rectangular."""
        inputs = self._planned()
        bad = self._unwritable(batch)
        errors = {int(i): self._row_error(batch, int(i)) for i in np.flatnonzero(bad)}
        for spec in inputs:
            for i, error in _ragged_rows(batch, spec, ~bad).items():
                errors[i] = error
                bad[i] = True
        clean = batch.filter(pa.array(~bad)) if bad.any() else batch
        cells = np.zeros(clean.num_rows, dtype=np.int64)
        for column in self._columns:
            cells += dense_widths(clean.column(column))
        runs = (self._records(clean.slice(a, b - a)) for a, b in row_runs(cells))
        data, offsets = join_runs(runs)
        return SerializedRows(data, spread_offsets(offsets, ~bad), dict(sorted(errors.items())))

    def _unwritable(self, batch: pa.RecordBatch) -> np.ndarray:
        """A mask of the rows :meth:`_check_row` refuses, found column-wise."""
        bad = np.zeros(batch.num_rows, dtype=bool)
        for spec in self._planned():
            for column in spec.columns:
                bad |= unwritable_rows(batch.column(column))
                if spec.datatype == "FP32":
                    bad |= _outside_fp32(batch.column(column))
        return bad

    def _row_error(self, batch: pa.RecordBatch, i: int) -> RowSerializationError:
        """The error :meth:`_check_row` raises for row ``i``, so both paths word it alike."""
        columns = list(dict.fromkeys(c for spec in self._planned() for c in spec.columns))
        [row] = rows_from_record_batch(batch.select(columns).slice(i, 1), self.schema)
        try:
            self._check_row(row)
        except RowSerializationError as exc:
            return exc.at_row(i)
        raise AssertionError(f"row {i} was flagged unwritable but _check_row accepts it")

    def _records(self, run: pa.RecordBatch) -> tuple[bytes, np.ndarray]:
        """``(text, row lengths)`` of a run of clean rows: every input's values per row."""
        parts = []
        for spec in self._planned():
            values = _tensor(run, spec)
            if isinstance(values, list):  # strings: written one row at a time
                width = len(values) // run.num_rows if run.num_rows else 0
                rows = [
                    dumps(values[i * width : (i + 1) * width]) + b"," for i in range(run.num_rows)
                ]
                parts.append(run_from_rows(rows))
            else:
                parts.append(dump_matrix_rows(values.reshape(run.num_rows, -1), b","))
        if len(parts) == 1:
            return parts[0]
        bounds = [(memoryview(text), np.concatenate(([0], np.cumsum(n)))) for text, n in parts]
        rows = [
            b"".join(view[int(ends[i]) : int(ends[i + 1])] for view, ends in bounds)
            for i in range(run.num_rows)
        ]
        return run_from_rows(rows)

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        """The request body for every row of ``batch``; a row the format cannot carry
        raises its error (the packer never puts one in a body)."""
        bad = self._unwritable(batch)
        if bad.any():
            raise self._row_error(batch, int(np.argmax(bad)))
        parts = [self.body_prefix]
        for j, spec in enumerate(self._planned()):
            ragged = _ragged_rows(batch, spec, np.ones(batch.num_rows, dtype=bool))
            if ragged:
                raise next(iter(ragged.values()))
            values = _tensor(batch, spec)
            rows = batch.num_rows
            count = len(values) if isinstance(values, list) else values.size
            shape = [rows, count // rows if rows else 0] if spec.per_row_values else [rows]
            if j:
                parts.append(b",")
            parts.append(_input_head(spec.name, shape, spec.datatype))
            parts.append(dumps(values if isinstance(values, list) else values.reshape(-1)))
            parts.append(b"}")
        parts.append(self._tail)
        return b"".join(parts)


def _input_head(name: str, shape: list[int], datatype: str) -> bytes:
    """``{"name":...,"shape":[...],"datatype":...,"data":`` of one input."""
    return (
        b'{"name":'
        + dumps(name)
        + b',"shape":'
        + dumps(shape)
        + b',"datatype":"'
        + datatype.encode()
        + b'","data":'
    )


def _outside_fp32(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Rows holding a finite double that becomes infinite as FP32."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    arrow_type = column.type
    if pa.types.is_struct(arrow_type):  # an ML vector: its stored values
        values = pc.struct_field(column, "values")
    elif pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        values = column
    else:
        if not pa.types.is_floating(arrow_type):
            return np.zeros(len(column), dtype=bool)
        flat = np.asarray(pc.fill_null(column, 0.0).to_numpy(zero_copy_only=False))
        return _fp32_overflows(flat)
    bad = np.zeros(len(column), dtype=bool)
    flat_values = pc.list_flatten(values)
    if not pa.types.is_floating(flat_values.type) or len(flat_values) == 0:
        return bad
    flat = np.asarray(pc.fill_null(flat_values, 0.0).to_numpy(zero_copy_only=False))
    over = _fp32_overflows(flat)
    if over.any():
        parents = pc.list_parent_indices(values).to_numpy()
        bad[parents[over]] = True
    return bad


def _fp32_overflows(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(values) & ~np.isfinite(values.astype(np.float32))


def _ragged_rows(
    batch: pa.RecordBatch, spec: _Input, live: np.ndarray
) -> dict[int, RowSerializationError]:
    """Rows of an array or vector input whose width differs from the first live row's."""
    if len(spec.columns) > 1 or not spec.per_row_values:
        return {}
    column = spec.columns[0]
    widths = dense_widths(batch.column(column))
    if not live.any():
        return {}
    first = int(np.argmax(live))
    odd = np.flatnonzero(live & (widths != widths[first]))
    return {
        int(i): RowSerializationError(
            f"{int(widths[i])} values, where row {first} has {int(widths[first])}: input "
            f"{spec.name!r} is one tensor of shape [rows, {int(widths[first])}], so every row "
            "of a request must have as many; pad or cut the rows to one width",
            row_index=int(i),
            column=column,
        )
        for i in odd
    }


def _tensor(batch: pa.RecordBatch, spec: _Input) -> np.ndarray | list:
    """The values of ``spec`` over every row of ``batch`` (clean, rectangular rows): a
    numpy array of the input's datatype, ``(rows, k)`` or ``(rows,)``, or, for ``BYTES``,
    a flat list of strings."""
    rows = batch.num_rows
    if len(spec.columns) > 1:
        matrix = np.column_stack(
            [batch.column(c).to_numpy(zero_copy_only=False) for c in spec.columns]
        ).reshape(rows, len(spec.columns))
        return _as_datatype(matrix, spec)
    column = batch.column(spec.columns[0])
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_struct(column.type):  # an ML vector: dense, sparse ones scattered
        matrix = features_from_batch(batch, spec.columns[0]).dense_matrix()
        if matrix is None:  # widths differ: callers find those rows first
            raise AssertionError("vector rows of different widths reached _tensor")
        return _as_datatype(matrix, spec)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        flat = pc.list_flatten(column)
        if spec.datatype == "BYTES":
            return flat.to_pylist()
        values = flat.to_numpy(zero_copy_only=False)
        return _as_datatype(values.reshape(rows, len(values) // rows if rows else 0), spec)
    if spec.datatype == "BYTES":
        return column.to_pylist()
    values = column.to_numpy(zero_copy_only=False)
    return _as_datatype(values.reshape(rows, 1) if spec.per_row_values else values, spec)


def _as_datatype(values: np.ndarray, spec: _Input) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(values, dtype=spec.numpy_type)


# ------------------------------------------------------------------------ deserializer


@dataclass(frozen=True)
class _OutputTensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: np.ndarray | list  # numbers as numpy (flat); BYTES as a flat list of strings


@register_deserializer("kserve-v2")
class KServeV2ResponseRowDeserializer(ColumnsDeserializer):
    """Reads a V2 inference response's ``outputs`` by name into the columns of ``schema``.

    Args:
        schema: the result columns, a ``StructType`` or DDL such as
            ``"predict bigint, predict_proba array<double>"``. Each column reads the output
            of the same name: ``[rows]`` or ``[rows, 1]`` into a scalar column, ``[rows, k]``
            into an ``array<...>`` or ``vector`` column (deeper arrays for more dimensions).
        output_mapping: ``{output name: column}`` for outputs named otherwise.
        parameters_column_name: if given, a ``string`` column of that name is added after
            the schema's, holding the response's ``parameters`` object as JSON text (the
            same for every row of a response), e.g. to keep what a server says about the
            model that answered.

    Numbers of any V2 datatype fit double and float columns; integer columns take integer
    datatypes (and floats that are whole numbers), booleans ``BOOL``, strings ``BYTES``.

    >>> KServeV2ResponseRowDeserializer("predict bigint, predict_proba array<double>")
    """

    accepts = JSON_CONTENT_TYPE

    def __init__(
        self,
        schema: StructType | str,
        output_mapping: Mapping[str, str] | None = None,
        parameters_column_name: str | None = None,
    ) -> None:
        outputs_schema = schema_from(schema)
        if not outputs_schema.fields:
            raise ValueError(
                "schema needs at least one column: a V2 response's rows are its outputs'"
            )
        self.output_mapping = dict(output_mapping) if output_mapping else None
        self.parameters_column_name = parameters_column_name
        for output, column in (self.output_mapping or {}).items():
            if column not in outputs_schema.names:
                raise ValueError(
                    f"output_mapping maps output {output!r} to column {column!r}, which is "
                    f"not in the result schema ({', '.join(outputs_schema.names)})"
                )
        by_column = {column: output for output, column in (self.output_mapping or {}).items()}
        self._outputs_schema = outputs_schema
        self._output_names = [by_column.get(name, name) for name in outputs_schema.names]
        for field in outputs_schema.fields:
            _check_result_type(field.dataType, field.name)
        fields = list(outputs_schema.fields)
        if parameters_column_name is not None:
            if parameters_column_name in outputs_schema.names:
                raise ValueError(
                    f"parameters_column_name {parameters_column_name!r} is already a column "
                    "of the schema; pick another name"
                )
            fields.append(StructField(parameters_column_name, StringType()))
        self._result_schema = StructType(fields)

    @property
    def schema(self) -> StructType:
        return self._result_schema

    def _fail(self, reason: str, body: bytes) -> ResponseParseError:
        return ResponseParseError(reason, body, self.accepts)

    def deserialize_columns(self, body: bytes) -> list[ColumnValues]:
        document = decode_json(body, self.accepts)
        if not isinstance(document, dict) or "outputs" not in document:
            if isinstance(document, dict) and "error" in document:
                raise self._fail(f"the server answered with an error: {document['error']!r}", body)
            raise self._fail(
                'expected a V2 inference response {"outputs": [{"name", "shape", "datatype", '
                f'"data"}}, ...]}}, got {describe_json_value(document)}',
                body,
            )
        outputs = self._outputs_by_name(document["outputs"], body)
        columns: list[ColumnValues] = []
        rows: tuple[str, int] | None = None
        for field, output in zip(self._outputs_schema.fields, self._output_names):
            if output not in outputs:
                where = f"output {output!r}" + (
                    f" (column {field.name!r})" if output != field.name else ""
                )
                raise self._fail(
                    f"{where} is missing; the response has outputs "
                    f"[{', '.join(map(repr, outputs))}]. Ask for it with "
                    "KServeV2RequestRowSerializer(outputs=[...]) or map names to columns "
                    "with output_mapping={output: column}",
                    body,
                )
            tensor = self._tensor(output, outputs[output], body)
            count = tensor.shape[0]
            if rows is not None and count != rows[1]:
                raise self._fail(
                    f"outputs disagree on the row count: {rows[0]!r} has {rows[1]} rows, "
                    f"{output!r} has shape {list(tensor.shape)}",
                    body,
                )
            rows = (output, count)
            columns.append(self._column(tensor, field, body))
        if self.parameters_column_name is not None:
            parameters = document.get("parameters") or {}
            if not isinstance(parameters, dict):
                raise self._fail(
                    f"'parameters' is {describe_json_value(parameters)}; expected an object",
                    body,
                )
            text = orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS).decode()
            columns.append([text] * (rows[1] if rows else 0))
        return columns

    def _outputs_by_name(self, outputs: Any, body: bytes) -> dict[str, dict]:
        """The response's output objects by name; only those the schema reads are parsed."""
        if type(outputs) is not list:
            raise self._fail(
                f"'outputs' is {describe_json_value(outputs)}; expected a list of tensors",
                body,
            )
        by_name = {}
        for k, output in enumerate(outputs):
            if not isinstance(output, dict) or not isinstance(output.get("name"), str):
                raise self._fail(
                    f"outputs[{k}] is {describe_json_value(output)}; expected an object with "
                    '"name", "shape", "datatype" and "data"',
                    body,
                )
            by_name[output["name"]] = output
        return by_name

    def _tensor(self, name: str, output: dict, body: bytes) -> _OutputTensor:
        """One output, checked: a shape whose first dimension is the row count, a V2
        datatype, and as many values as the shape holds."""
        shape = output.get("shape")
        if (
            type(shape) is not list
            or not shape
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise self._fail(
                f"output {name!r}: shape is {describe_json_value(shape)}; expected a list of "
                "sizes, the first the row count",
                body,
            )
        datatype = output.get("datatype")
        if datatype not in KSERVE_V2_DATATYPES:
            raise self._fail(
                f"output {name!r}: datatype is {describe_json_value(datatype)}; expected one of "
                f"{', '.join(KSERVE_V2_DATATYPES)}",
                body,
            )
        values = self._values(name, output.get("data"), datatype, body)
        expected = math.prod(shape)
        if len(values) != expected:
            raise self._fail(
                f"output {name!r} has shape {shape} ({expected} values) but its data holds "
                f"{len(values)}",
                body,
            )
        return _OutputTensor(name, tuple(shape), datatype, values)

    def _values(self, name: str, data: Any, datatype: str, body: bytes) -> np.ndarray | list:
        """``data`` flat (it may come nested), checked against ``datatype``."""
        if type(data) is not list:
            raise self._fail(
                f"output {name!r}: data is {describe_json_value(data)}; expected a list", body
            )
        nested = bool(data) and type(data[0]) is list
        try:  # nested data must be rectangular: numpy reads it in row-major order
            if datatype == "BYTES":
                flat = np.asarray(data, dtype=object).reshape(-1).tolist() if nested else data
            else:
                flat = np.asarray(data) if data else np.zeros(0, KSERVE_V2_DATATYPES[datatype])
        except ValueError:
            raise self._fail(f"output {name!r}: nested data is not rectangular", body) from None
        if datatype == "BYTES":
            for i, value in enumerate(flat):
                if type(value) is not str:
                    raise self._fail(
                        f"output {name!r} (BYTES): value {i} is {describe_json_value(value)}; "
                        "expected a string",
                        body,
                    )
            return flat
        allowed, what = (
            ("b", "booleans")
            if datatype == "BOOL"
            else ("iu", "integers")
            if "INT" in datatype
            else ("iuf", "numbers")
        )
        if flat.dtype.kind not in allowed:
            values = _leaves(data)
            bad = next((v for v in values if not _fits(v, allowed)), values[0])
            raise self._fail(
                f"output {name!r} ({datatype}): expected {what}, got {describe_json_value(bad)}",
                body,
            )
        return flat.reshape(-1)

    def _column(self, tensor: _OutputTensor, field: StructField, body: bytes) -> ColumnValues:
        """The output's values shaped for ``field``: one value per row."""
        data_type = field.dataType
        depth = _array_depth(data_type)
        rows, *inner = tensor.shape
        where = (
            f"output {tensor.name!r} of shape {list(tensor.shape)} into column "
            f"{field.name!r} ({data_type.simpleString()})"
        )
        if depth == 0 and math.prod(inner) != 1:
            raise self._fail(
                f"{where}: {math.prod(inner)} values per row for a scalar column; make it "
                "array<...> or vector, or read another output",
                body,
            )
        if depth and len(inner) != depth:
            wanted = ", ".join(["rows", *"klmn"[:depth]])
            raise self._fail(
                f"{where}: the column takes tensors of shape [{wanted}]; declare it to match "
                "the output (a scalar type for [rows] or [rows, 1], one array<...> level per "
                "further dimension)",
                body,
            )
        element = _element_type(data_type)
        values = self._checked(tensor, element, where, body)
        if isinstance(values, list):  # strings
            if depth == 0:
                return values
            return np.asarray(values, dtype=object).reshape(tensor.shape).tolist()
        if depth == 0:
            return values.reshape(rows)
        if depth == 1:
            return values.reshape(rows, *inner)
        return values.reshape(tensor.shape).tolist()

    def _checked(
        self, tensor: _OutputTensor, element: DataType, where: str, body: bytes
    ) -> np.ndarray | list:
        """The tensor's values in the form ``element`` columns store, or an error."""
        datatype, values = tensor.datatype, tensor.values
        if isinstance(element, StringType):
            if datatype != "BYTES":
                raise self._fail(f"{where}: a string column reads BYTES, got {datatype}", body)
            return values
        if datatype == "BYTES":
            raise self._fail(
                f"{where}: BYTES (strings) into a {element.simpleString()} column; make it a "
                "string column",
                body,
            )
        assert isinstance(values, np.ndarray)
        if isinstance(element, BooleanType):
            if datatype != "BOOL":
                raise self._fail(f"{where}: a boolean column reads BOOL, got {datatype}", body)
            return values
        if isinstance(element, (DoubleType, FloatType)):
            return values.astype(np.float64)
        low, high = INTEGER_RANGES[type(element)]
        if values.dtype.kind == "f":
            whole = np.isfinite(values) & (values == np.floor(values))
            if not whole.all():
                i = int(np.argmin(whole))
                raise self._fail(
                    f"{where}: {_position(i, tensor)} is {values[i].item()!r}, not a whole "
                    "number for an integer column; make the column double",
                    body,
                )
        if values.size and (values.min() < low or values.max() > high):
            i = int(np.argmax((values < low) | (values > high)))
            raise self._fail(
                f"{where}: {_position(i, tensor)} is {values[i].item()!r}, outside "
                f"{element.simpleString()} ({low} to {high}); make the column wider",
                body,
            )
        return values.astype(np.int64)


def _position(flat_index: int, tensor: _OutputTensor) -> str:
    """Where value ``flat_index`` of ``tensor`` is, by row (and element within it)."""
    per_row = math.prod(tensor.shape[1:])
    row, element = divmod(flat_index, per_row) if per_row else (flat_index, 0)
    return f"row {row}" + (f", element {element}" if per_row > 1 else "")


def _leaves(data: Any) -> list:
    """The non-list values of nested lists, in order (to name a misfit in an error)."""
    if type(data) is not list:
        return [data]
    return [leaf for item in data for leaf in _leaves(item)]


def _fits(value: Any, kinds: str) -> bool:
    """Whether a decoded JSON value belongs in an array of numpy ``kinds``."""
    if type(value) is bool:
        return "b" in kinds
    return (type(value) is int and "i" in kinds) or (type(value) is float and "f" in kinds)


def _array_depth(data_type: DataType) -> int:
    if isinstance(data_type, VectorUDT):
        return 1
    if isinstance(data_type, ArrayType):
        return 1 + _array_depth(data_type.elementType)
    return 0


def _element_type(data_type: DataType) -> DataType:
    if isinstance(data_type, VectorUDT):
        return DoubleType()
    if isinstance(data_type, ArrayType):
        return _element_type(data_type.elementType)
    return data_type


def _check_result_type(data_type: DataType, column: str) -> None:
    element = _element_type(data_type)
    if not isinstance(element, (DoubleType, FloatType, BooleanType, StringType, *INTEGER_RANGES)):
        raise ValueError(
            f"column {column!r} is {data_type.simpleString()}; a V2 output fills double, float, "
            "bigint, int, smallint, tinyint, boolean, string, vector or array<...> of them"
        )
