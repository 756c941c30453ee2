"""JSON Lines (``application/jsonlines``): one JSON value per line, one line per row.

SageMaker's TensorFlow Serving container and many batch-transform setups read and write
it: each request line is an instance (a list of features or an object of named inputs,
written exactly as the ``{"instances": [...]}`` serializer writes them), each response line
a prediction (a scalar, a list or an object, read exactly as in ``{"predictions": [...]}``).
Rows end in ``\\n`` themselves, so the body framing is empty, like CSV's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import Row
from pyspark.sql.types import StructType

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.ddl import schema_from
from serde.errors import ResponseParseError
from serde.json_codec import decode_json
from serde.json_instances import InstanceWriter
from serde.json_predictions import PredictionReader
from serde.registry import register_deserializer, register_serializer

__all__ = [
    "JSONLINES_CONTENT_TYPE",
    "JSONLinesRequestRowSerializer",
    "JSONLinesResponseRowDeserializer",
]

JSONLINES_CONTENT_TYPE = "application/jsonlines"
_NEWLINE = b"\n"


@register_serializer("jsonlines")
class JSONLinesRequestRowSerializer(RequestRowSerializer):
    """One instance per line: ``[1.0,2.0]\\n`` or ``{"age":30}\\n``.

    ``features_column_name`` names one vector/array column or several numeric scalar
    columns (written as a list); ``input_mapping`` ``{column: input name}`` writes objects.
    """

    content_type = JSONLINES_CONTENT_TYPE
    writes_vectors_dense = True

    def __init__(
        self,
        features_column_name: str | Sequence[str] = "features",
        input_mapping: Mapping[str, str] | None = None,
    ) -> None:
        self.features_column_name = features_column_name
        self.input_mapping = dict(input_mapping) if input_mapping else None
        self._writer = InstanceWriter(features_column_name, input_mapping)

    def validate_schema(self, schema: StructType) -> None:
        self._writer.validate_schema(schema)

    def input_columns(self, schema: StructType) -> list[str]:
        return list(self._writer.columns)

    def serialize_row(self, row: Row) -> bytes:
        return self._writer.dump_row(row) + _NEWLINE

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        data, offsets, errors = self._writer.dump_batch(batch, _NEWLINE)
        return SerializedRows(data, offsets, errors)


@register_deserializer("jsonlines")
class JSONLinesResponseRowDeserializer(ResponseRowDeserializer):
    """One prediction per non-empty line, read into ``schema`` (a ``StructType`` or DDL);
    ``output_mapping`` ``{output name: column}`` maps the keys of object lines."""

    accepts = JSONLINES_CONTENT_TYPE

    def __init__(
        self, schema: StructType | str, output_mapping: Mapping[str, str] | None = None
    ) -> None:
        self._result_schema = schema_from(schema)
        self.output_mapping = dict(output_mapping) if output_mapping else None
        self._reader = PredictionReader(self._result_schema, output_mapping, self.accepts)

    @property
    def schema(self) -> StructType:
        return self._result_schema

    def _columns(self, body: bytes) -> list[list]:
        # One parse per line: joining lines into one JSON list would be faster, but it
        # would also accept a line like ``1,2`` as two predictions.
        lines = [line for line in bytes(body).splitlines() if line.strip()]
        items = [self._parse_line(number, line, body) for number, line in enumerate(lines)]
        return self._reader.columns_from_items(items, body, what="line")

    def _parse_line(self, number: int, line: bytes, body: bytes) -> Any:
        try:
            return decode_json(line, self.accepts)
        except ResponseParseError as exc:
            raise ResponseParseError(
                f"line {number}: {exc.reason}: {line[:80]!r}", body, self.accepts
            ) from None

    def deserialize_response(self, body: bytes):
        return zip(*self._columns(body))

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        return self._reader.record_batch(self._columns(body))
