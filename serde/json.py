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

This module holds only the SerDe classes; the work is done in modules named for their
job, which JSON Lines shares: :mod:`serde.json_codec` (orjson with this library's rules),
:mod:`serde.json_instances` (rows → JSON values), :mod:`serde.json_coercion` and
:mod:`serde.json_predictions` (JSON values → result columns). The names in ``__all__``
that live there are re-exported so ``serde.json.<name>`` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import Row
from pyspark.sql.types import StructType

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.ddl import schema_from
from serde.errors import ResponseParseError
from serde.json_codec import JSON_CONTENT_TYPE, decode_json, describe_json_value, dumps
from serde.json_coercion import INTEGER_RANGES
from serde.json_instances import InstanceWriter, python_values, writable_value
from serde.json_predictions import PredictionReader, record_batch_from_columns
from serde.registry import register_deserializer, register_serializer
from serde.row_chunks import run_from_rows

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
    writes_vectors_dense = True
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

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self._writer.columns)

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
    writes_vectors_dense = True

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

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self.input_mapping)

    def _body(self, columns: list) -> bytes:
        return dumps({"inputs": dict(zip(self.input_mapping.values(), columns))})

    def serialize_row(self, row: Row) -> bytes:
        """A one-row body: ``{"inputs": {"age": [30]}}``."""
        return self._body([[writable_value(row[column], column)] for column in self.input_mapping])

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        """Each row's values, each followed by a comma: what the row adds to a body."""
        data, offsets, errors = self._writer.dump_writable_rows(batch, self._dump_run)
        return SerializedRows(data, offsets, errors)

    def _dump_run(self, run: pa.RecordBatch) -> tuple[bytes, np.ndarray]:
        columns = [python_values(run.column(c)) for c in self.input_mapping]
        rows = [b"".join(dumps(v) + b"," for v in values) for values in zip(*columns)]
        return run_from_rows(rows)

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        """The body for all rows of ``batch``; a row JSON cannot carry raises its error."""
        bad = self._writer.unwritable_rows(batch)
        if bad.any():
            raise self._writer.row_error(batch, int(np.argmax(bad)))
        return self._body([python_values(batch.column(c)) for c in self.input_mapping])


# -- response deserializer ------------------------------------------------------------------


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
