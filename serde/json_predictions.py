"""The response side of the JSON SerDes: decoded predictions → columns of a result schema.

Shared by ``{"predictions": [...]}`` and JSON Lines, which differ only in how they find
the items (one list, or one item per line). An item is read by its shape; see
:class:`PredictionReader`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import pyarrow as pa
from pyspark.ml.linalg import VectorUDT
from pyspark.sql.types import ArrayType, DataType, StructType

from serde.arrow_types import record_batch_from_rows, to_arrow_schema
from serde.errors import ResponseParseError
from serde.json_codec import JSON_CONTENT_TYPE, describe_json_value
from serde.json_coercion import Mismatch, accepted_as_is, coercer

__all__ = ["PredictionReader", "record_batch_from_columns"]


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
        return [coercer(f.dataType, f.nullable) for f in self.schema.fields]

    @cached_property
    def _as_is(self) -> list[type | None]:
        return [accepted_as_is(f.dataType) for f in self.schema.fields]

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
        except Mismatch:
            for i, value in enumerate(values):
                try:
                    coerce(value)
                except Mismatch as exc:
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
