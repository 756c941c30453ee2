"""Results back into Spark: the output schema, and the pieces of a partition's answers
joined into the struct column that the transformer expands beside the input columns.

One struct per input row, in input order: the deserializer's result columns and, with
``on_error="column"``, the error struct (why a row has no results, and how hard we
tried). With ``on_error="fail"`` the first failed piece fails the task instead, naming the
endpoint, partition and rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from endpoints.errors import (
    ConfigurationError,
    EndpointsError,
    ResultCountMismatchError,
)
from endpoints.scoring.options import EngineOptions
from endpoints.scoring.sending import Piece
from serde.arrow_types import to_arrow_type
from serde.base import ResponseRowDeserializer

__all__ = [
    "ERROR_COLUMN_TYPE",
    "ResultAssembler",
    "output_schema",
    "result_struct_type",
]

#: The error column: why a row has no results, and how hard we tried.
ERROR_COLUMN_TYPE = StructType(
    [
        # all nullable: a null error struct has null children in Arrow, and Spark refuses
        # to view those as non-nullable
        StructField("kind", StringType(), True),
        StructField("status", IntegerType(), True),
        StructField("message", StringType(), True),
        StructField("attempts", IntegerType(), True),
    ]
)
_ERROR_ARROW_TYPE = to_arrow_type(ERROR_COLUMN_TYPE)


def result_struct_type(deserializer: ResponseRowDeserializer, options: EngineOptions) -> StructType:
    """What the scoring UDF returns per row: result columns (+ the error column), each
    nullable, since a row whose request failed has no results."""
    fields = [_nullable(f) for f in deserializer.schema.fields]
    if options.on_error == "column":
        fields.append(StructField(options.error_column_name, ERROR_COLUMN_TYPE, True))
    return StructType(fields)


def output_schema(
    input_schema: StructType, deserializer: ResponseRowDeserializer, options: EngineOptions
) -> StructType:
    """Input columns (if prepended), result columns, and the error column if asked for.

    A result column named like an input column would silently shadow it, so it is an error.
    """
    result = result_struct_type(deserializer, options)
    if not options.prepend_result_rows:
        return result
    clashes = sorted(set(input_schema.names) & set(result.names))
    if clashes:
        raise ConfigurationError(
            f"output column(s) {clashes} already exist in the input DataFrame; rename the "
            "input columns or choose other result column names in the deserializer "
            "(e.g. prediction_column_name=...)"
        )
    return StructType(list(input_schema.fields) + list(result.fields))


def _nullable(f: StructField) -> StructField:
    return StructField(f.name, f.dataType, True, f.metadata)


class ResultAssembler:
    """Joins settled pieces, in row order, into struct arrays of :func:`result_struct_type`.

    It counts the rows it has assembled and checks that every piece starts where the
    previous one stopped: a gap or an overlap is a bug in the engine, never output.
    """

    def __init__(
        self,
        deserializer: ResponseRowDeserializer,
        options: EngineOptions,
        endpoint_name: str,
        partition: int | None,
    ) -> None:
        self.result_type = to_arrow_type(result_struct_type(deserializer, options))
        self.result_fields = [f for f in self.result_type][: len(deserializer.schema.fields)]
        self.error_column = options.on_error == "column"
        self.endpoint_name = endpoint_name
        self.partition = partition
        self.next_row = 0
        self.rows_failed = 0

    def assemble(self, pieces: Sequence[Piece]) -> pa.StructArray:
        """The struct array for ``pieces`` (consecutive, in order); raises the task error
        for the first failed piece unless errors go to a column."""
        for piece in pieces:
            if piece.start != self.next_row:
                raise AssertionError(
                    f"rows {self.next_row}..{piece.start} lost or duplicated in assembly"
                )
            self.next_row = piece.stop
            if piece.error is not None:
                if not self.error_column:
                    raise task_error(piece, self.endpoint_name, self.partition) from piece.error
                self.rows_failed += piece.num_rows
        columns = []
        for j, f in enumerate(self.result_fields):
            parts = [
                p.results.column(j) if p.results is not None else pa.nulls(p.num_rows, f.type)
                for p in pieces
            ]
            columns.append(parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
        if self.error_column:
            columns.append(_error_column(pieces))
        return pa.StructArray.from_arrays(columns, fields=list(self.result_type))


def _error_column(pieces: Sequence[Piece]) -> pa.Array:
    parts = []
    for p in pieces:
        if p.error is None:
            parts.append(pa.nulls(p.num_rows, _ERROR_ARROW_TYPE))
        else:
            value = {
                # every error of the library names its kind and status as fields
                "kind": getattr(p.error, "kind", type(p.error).__name__),
                "status": getattr(p.error, "status", None),
                "message": str(p.error),
                "attempts": p.attempts,
            }
            parts.append(pa.array([value] * p.num_rows, type=_ERROR_ARROW_TYPE))
    return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def task_error(piece: Piece, endpoint: str, partition: int | None) -> EndpointsError:
    """The exception that fails the task for ``piece``'s error (``on_error="fail"``)."""
    if isinstance(piece.error, ResultCountMismatchError):
        return piece.error
    rows = f"row {piece.start}" if piece.num_rows == 1 else f"rows {piece.start}..{piece.stop - 1}"
    return EndpointsError(
        f"scoring failed on endpoint {endpoint!r}, partition {partition}, {rows}: "
        f"{piece.error}. Use on_error='column' to keep going and get an error column "
        "instead of failing the job"
    )
