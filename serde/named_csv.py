"""CSV over named scalar columns, both ways: ``30,50000.0,"New York, NY"\\n``.

TF Serving style containers (SageMaker's TensorFlow container among them) accept CSV whose
fields are a model's inputs in a fixed order, and many models answer with several values
per line. Unlike the features CSV of :mod:`serde.csv`, a field here may be an integer
(``30``), a double (spelled by :mod:`serde.numbers`: ``1.0``, ``NaN``), a boolean
(``true``/``false``) or a string (quoted only when it holds ``,``, ``"`` or a line break,
or is empty). A null becomes an empty field — CSV's spelling of a missing value, which
XGBoost and most CSV model servers read as "missing" — except where it would be the whole
line: a blank line is skipped by CSV readers, so with one column a null is a per-row error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import DenseVector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    StringType,
    StructType,
)

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.csv import CSV_CONTENT_TYPE, require_batch_columns, row_value, serialized_from_strings
from serde.ddl import schema_from
from serde.errors import ResponseParseError, RowSerializationError, SchemaValidationError
from serde.features import NUMERIC_TYPES, require_columns
from serde.json_coercion import INTEGER_RANGES
from serde.json_predictions import record_batch_from_columns
from serde.numbers import double_tokens, format_double_bytes, parse_double, parse_int, to_float64
from serde.registry import register_deserializer, register_serializer

__all__ = ["CSVResponseRowDeserializer", "NamedCSVRequestRowSerializer"]

_NEEDS_QUOTES = '[,"\\r\\n]|^$'
#: Why a one-column line holding a null is refused: CSV spells a null as an empty field, so
#: the line would be blank, and CSV readers skip blank lines; the endpoint would answer one
#: result fewer than the rows sent and the whole body would fail on the count.
_BLANK_LINE = (
    "value is null, and a one-column CSV line holding a null is a blank line, which CSV "
    "readers skip (the endpoint would answer one result fewer than the rows sent); fill or "
    "drop nulls in this column before scoring"
)
_QUOTED_CHARACTERS = frozenset(',"\r\n')


def _csv_string(value: str) -> bytes:
    if value == "" or not _QUOTED_CHARACTERS.isdisjoint(value):
        return ('"' + value.replace('"', '""') + '"').encode()
    return value.encode()


def _csv_field(value: Any) -> bytes:
    """One field of a line; the per-row reference for :func:`_column_fields`."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, (float, Decimal)):
        return format_double_bytes(float(value))
    if isinstance(value, str):
        return _csv_string(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r:.60} as a CSV field")


def _column_fields(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every value of a column as its CSV field, with Arrow kernels (nulls → ``""``)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        doubles = to_float64(column)
        tokens = double_tokens(pc.fill_null(doubles, 0.0).to_numpy(zero_copy_only=False))
        fields = pc.if_else(column.is_null(), pa.scalar(None, pa.string()), tokens)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        fields = column.cast(pa.string())  # "42", "true", "false"
    else:
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
        fields = pc.if_else(pc.match_substring_regex(column, _NEEDS_QUOTES), quoted, column)
    return pc.fill_null(fields, "")


@register_serializer("named-csv")
class NamedCSVRequestRowSerializer(RequestRowSerializer):
    """One CSV line per row with the values of ``columns`` in that order.

    >>> NamedCSVRequestRowSerializer(["age", "city"]).serialize_row(Row(age=30, city="Oslo"))
    b'30,Oslo\\n'
    """

    content_type = CSV_CONTENT_TYPE

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        if not self.columns:
            raise ValueError("NamedCSVRequestRowSerializer needs at least one column")

    def validate_schema(self, schema: StructType) -> None:
        require_columns(schema.names, self.columns)
        for name in self.columns:
            data_type = schema[name].dataType
            if not isinstance(data_type, (*NUMERIC_TYPES, StringType, BooleanType)):
                raise SchemaValidationError(
                    name,
                    "a number, string or boolean column",
                    data_type.simpleString(),
                    "a CSV field holds one scalar: list vectors with UnlabeledCSVRequest"
                    "RowSerializer or split them into columns",
                )

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self.columns)

    def serialize_row(self, row: Row) -> bytes:
        line = b",".join(_csv_field(row_value(row, c)) for c in self.columns)
        if not line:  # one column, null: see _BLANK_LINE
            raise RowSerializationError(_BLANK_LINE, column=self.columns[0])
        return line + b"\n"

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        require_batch_columns(batch, self.columns)
        fields = [_column_fields(batch.column(c)) for c in self.columns]
        lines = pc.binary_join_element_wise(*fields, ",")
        lines = pc.binary_join_element_wise(lines, "\n", "")
        live = np.ones(batch.num_rows, dtype=bool)
        errors: dict[int, RowSerializationError] = {}
        if len(self.columns) == 1:  # only a lone null field makes a blank line
            column = self.columns[0]
            live = ~np.asarray(batch.column(column).is_null().to_numpy(zero_copy_only=False))
            errors = {
                i: RowSerializationError(_BLANK_LINE, row_index=i, column=column)
                for i in np.flatnonzero(~live).tolist()
            }
        rows = serialized_from_strings(lines, live)
        return SerializedRows(rows.data, rows.offsets, errors)


# -- responses ----------------------------------------------------------------------------


def _text_parser(data_type: DataType) -> Callable[[str], Any]:
    """A function reading one CSV field as ``data_type``; raises ``ValueError`` with the
    expected type. An empty field is null."""
    if isinstance(data_type, (DoubleType, FloatType)):
        return parse_double
    if isinstance(data_type, BooleanType):
        spellings = {"true": True, "1": True, "false": False, "0": False}

        def parse_bool(text: str) -> bool:
            try:
                return spellings[text.strip().lower()]
            except KeyError:
                raise ValueError(f"expected true or false, got {text!r:.60}") from None

        return parse_bool
    if isinstance(data_type, StringType):
        return str
    if isinstance(data_type, tuple(INTEGER_RANGES)):
        low, high = INTEGER_RANGES[type(data_type)]

        def parse_integer(text: str) -> int:
            try:
                value = parse_int(text.strip())
            except ValueError:
                number = parse_double(text)  # "1.0" from servers that write every number so
                if not number.is_integer():
                    raise ValueError(f"expected an integer, got {text!r:.60}") from None
                value = int(number)
            if not low <= value <= high:
                raise ValueError(
                    f"expected {data_type.simpleString()} (between {low} and {high}), got {value}"
                )
            return value

        return parse_integer
    raise ValueError(
        f"a CSV result column cannot be {data_type.simpleString()}; use numbers, strings, "
        "booleans, or one array<number> / vector column for the whole line"
    )


@register_deserializer("csv-response")
class CSVResponseRowDeserializer(ResponseRowDeserializer):
    """One result per non-blank CSV line: field ``j`` → column ``j`` of ``schema``.

    A schema of exactly one ``array<number>`` or ``vector`` column takes the whole line
    (``0.1,0.9`` → ``[0.1, 0.9]``). Empty fields are null.
    """

    accepts = CSV_CONTENT_TYPE

    def __init__(self, schema: StructType | str) -> None:
        self._result_schema = schema_from(schema)
        fields = self._result_schema.fields
        self._whole_line = len(fields) == 1 and isinstance(
            fields[0].dataType, (ArrayType, VectorUDT)
        )
        self._parsers  # noqa: B018 - an unsupported column type fails here, not per response

    @property
    def schema(self) -> StructType:
        return self._result_schema

    @cached_property
    def _parsers(self) -> list[tuple[Callable[[str], Any], bool]]:
        """(parse, nullable) per field of a line."""
        fields = self._result_schema.fields
        if self._whole_line:
            data_type = fields[0].dataType
            if isinstance(data_type, VectorUDT):
                return [(_text_parser(DoubleType()), False)]
            return [(_text_parser(data_type.elementType), data_type.containsNull)]
        return [(_text_parser(f.dataType), f.nullable) for f in fields]

    def __getstate__(self) -> dict[str, Any]:  # parsers are closures: rebuild after pickling
        state = dict(self.__dict__)
        state.pop("_parsers", None)
        return state

    def _fail(self, reason: str, body: bytes) -> ResponseParseError:
        return ResponseParseError(reason, body, self.accepts)

    def _lines(self, body: bytes) -> list[list[str]]:
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(f"not UTF-8 text ({exc.reason} at byte {exc.start})", body) from None
        try:
            return [fields for fields in csv.reader(io.StringIO(text, newline="")) if fields]
        except csv.Error as exc:
            raise self._fail(f"not valid CSV ({exc})", body) from None

    def _columns(self, body: bytes) -> list[list]:
        lines = self._lines(body)
        names = self._result_schema.names
        if self._whole_line:
            column = [self._whole_line_value(i, line, body) for i, line in enumerate(lines)]
            return [column]
        parsers = self._parsers
        columns: list[list] = [[] for _ in names]
        for i, line in enumerate(lines):
            if len(line) != len(names):
                raise self._fail(
                    f"line {i} has {len(line)} fields; expected {len(names)} ({', '.join(names)})",
                    body,
                )
            for j, (parser, text) in enumerate(zip(parsers, line)):
                columns[j].append(self._parse(parser, text, f"line {i}, column {names[j]!r}", body))
        return columns

    def _parse(
        self, parser: tuple[Callable[[str], Any], bool], text: str, where: str, body: bytes
    ) -> Any:
        parse, nullable = parser
        if text == "" and parse is not str:
            if nullable:
                return None
            raise self._fail(f"{where}: an empty field, but the column is not nullable", body)
        try:
            return parse(text)
        except ValueError as exc:
            raise self._fail(f"{where}: {exc}", body) from None

    def _whole_line_value(self, i: int, line: list[str], body: bytes) -> Any:
        parser = self._parsers[0]
        values = [
            self._parse(parser, text, f"line {i}, field {j}", body) for j, text in enumerate(line)
        ]
        if isinstance(self._result_schema.fields[0].dataType, VectorUDT):
            return DenseVector(values)
        return values

    def deserialize_response(self, body: bytes):
        return zip(*self._columns(body))

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        return record_batch_from_columns(self._columns(body), self._result_schema)
