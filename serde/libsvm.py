"""``text/x-libsvm``: ``label index:value index:value ...\\n`` per row, indices 1-based.

Byte-compatible with sagemaker_pyspark's ``LibSVMRequestRowSerializer`` (and its unlabeled
twin, whose label is always ``0.0``): the label as a double, then one `` i:v`` per *active*
entry — every entry of a dense vector, zeros included, and the stored entries of a sparse
vector, explicit zeros included — and ``\\n``. The content type is the reference's
``text/x-libsvm``.

The response side reads the same format back into ``(label, SparseVector(dim, ...))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import SparseVector, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, StructField, StructType

from serde.arrow_types import VECTOR_ARROW_TYPE
from serde.base import ResponseRowDeserializer, SerializedRows
from serde.csv import (
    _decode,
    list_of_tokens,
    null_feature_errors,
    require_batch_columns,
    row_value,
    serialized_from_strings,
)
from serde.errors import (
    ResponseParseError,
    RowSerializationError,
    SchemaValidationError,
)
from serde.features import (
    MAX_VECTOR_SIZE,
    NUMERIC_TYPES,
    FeatureBlock,
    features_from_batch,
    features_from_row,
    require_columns,
)
from serde.features_column import FeaturesColumnSerializer
from serde.numbers import (
    double_tokens,
    format_double_bytes,
    parse_double,
    parse_int,
    parse_number_tokens,
    to_float64,
    token_bounds,
)
from serde.options import whole_number
from serde.registry import register_deserializer, register_serializer

__all__ = [
    "LIBSVM_CONTENT_TYPE",
    "LibSVMRequestRowSerializer",
    "LibSVMResponseRowDeserializer",
    "UnlabeledLibSVMRequestRowSerializer",
]

LIBSVM_CONTENT_TYPE = "text/x-libsvm"

_NULL_LABEL = "label is null; fill or drop rows without a label before scoring"
_UNLABELED = b"0.0"


class _LibSVMRowWriter(FeaturesColumnSerializer):
    """What both LibSVM serializers share; they differ only in where the label comes from."""

    content_type = LIBSVM_CONTENT_TYPE

    def _label_of(self, row: Row) -> float:
        raise NotImplementedError

    def _labels_of(self, batch: pa.RecordBatch) -> tuple[pa.Array | str, np.ndarray]:
        """(label spellings, or one spelling for all rows; null mask)."""
        raise NotImplementedError

    def _label_columns(self) -> list[str]:
        return []

    def input_columns(self, schema: StructType) -> list[str]:
        return [*self._label_columns(), self.features_column_name]

    def serialize_row(self, row: Row) -> bytes:
        label = format_double_bytes(self._label_of(row))
        column = self.features_column_name
        indices, values, _, _ = features_from_row(row_value(row, column), column=column)
        entries = b"".join(
            b" %d:%s" % (i + 1, format_double_bytes(v))
            for i, v in zip(indices.tolist(), values.tolist())
        )
        return label + entries + b"\n"

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        column = self.features_column_name
        require_batch_columns(batch, [*self._label_columns(), column])
        try:
            block = features_from_batch(batch, column)
        except (RowSerializationError, pa.ArrowInvalid):
            # a null inside an array, or a long a double cannot hold: the per-row path
            # finds the rows and reports each one on its own
            return super().serialize_batch(batch)
        labels, label_null = self._labels_of(batch)
        errors = {
            i: RowSerializationError(_NULL_LABEL, row_index=i, column=self._label_columns()[0])
            for i in np.flatnonzero(label_null).tolist()
        }
        errors = dict(sorted(null_feature_errors(block, batch, column, errors).items()))
        live = ~(block.null | label_null)
        lines = pc.binary_join_element_wise(labels, _entries_per_row(block), "\n", "")
        rows = serialized_from_strings(lines, live)
        return SerializedRows(rows.data, rows.offsets, errors)


def _entries_per_row(block: FeatureBlock) -> pa.Array:
    """`` i:v i:v`` (1-based, leading space) for every row; empty for a row without
    entries."""
    indices = pc.cast(pa.array(block.indices + 1), pa.string())
    entries = pc.binary_join_element_wise(" ", indices, ":", double_tokens(block.values), "")
    return pc.binary_join(list_of_tokens(entries, block.offsets), "")


@register_serializer("libsvm")
class LibSVMRequestRowSerializer(_LibSVMRowWriter):
    """Writes ``label i:v ...\\n`` from a numeric label column and a features column.

    Args:
        schema: the input schema, if known now.
        label_column_name: any numeric column; written as a double (``1.0``).
        features_column_name: an ML ``Vector`` or ``array<number>`` column.

    >>> LibSVMRequestRowSerializer().serialize_row(
    ...     Row(label=1.0, features=Vectors.sparse(5, [1, 4], [0.5, 2.0])))
    b'1.0 2:0.5 5:2.0\\n'
    """

    def __init__(
        self,
        schema: StructType | None = None,
        label_column_name: str = "label",
        features_column_name: str = "features",
    ) -> None:
        self.label_column_name = label_column_name
        super().__init__(schema, features_column_name)

    def validate_schema(self, schema: StructType) -> None:
        name = self.label_column_name
        require_columns(schema.names, [name], "a numeric label column")
        if not isinstance(schema[name].dataType, NUMERIC_TYPES):
            raise SchemaValidationError(
                name,
                "a numeric label column (double, float, int, long, decimal, ...)",
                schema[name].dataType.simpleString(),
                "cast it to double, or use UnlabeledLibSVMRequestRowSerializer",
            )
        super().validate_schema(schema)

    def _label_columns(self) -> list[str]:
        return [self.label_column_name]

    def _label_of(self, row: Row) -> float:
        label = row_value(row, self.label_column_name)
        if label is None:
            raise RowSerializationError(_NULL_LABEL, column=self.label_column_name)
        try:
            return float(label)
        except (TypeError, ValueError) as exc:
            raise RowSerializationError(
                f"label must be a number, got {label!r:.60}", column=self.label_column_name
            ) from exc

    def _labels_of(self, batch: pa.RecordBatch) -> tuple[pa.Array, np.ndarray]:
        column = batch.column(self.label_column_name)
        null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = to_float64(column).fill_null(0.0).to_numpy(zero_copy_only=False)
        return double_tokens(values), null


@register_serializer("unlabeled-libsvm")
class UnlabeledLibSVMRequestRowSerializer(_LibSVMRowWriter):
    """Writes ``0.0 i:v ...\\n``: LibSVM for a model that ignores the label.

    >>> UnlabeledLibSVMRequestRowSerializer().serialize_row(Row(features=Vectors.dense([3, 0])))
    b'0.0 1:3.0 2:0.0\\n'
    """

    def _label_of(self, row: Row) -> float:
        return 0.0

    def _labels_of(self, batch: pa.RecordBatch) -> tuple[str, np.ndarray]:
        return _UNLABELED.decode(), np.zeros(batch.num_rows, dtype=bool)


# ------------------------------------------------------------------------- deserializer

_NEWLINE, _SPACE, _COLON = ord("\n"), ord(" "), ord(":")


@register_deserializer("libsvm-response")
class LibSVMResponseRowDeserializer(ResponseRowDeserializer):
    """Reads ``label i:v ...`` lines into ``(label, SparseVector(dim, ...))`` rows.

    As in sagemaker_pyspark, lines are split at ``\\n`` (empty lines at the end are
    dropped), items at single spaces (empty items after the label are skipped), indices
    are 1-based. Unlike it, an index must be in ``1..dim`` and increasing along the line,
    and an item must hold exactly one ``:`` — otherwise Spark would get an invalid vector.

    Args:
        dim: the size of every features vector (at most 2**31 - 1, as in Spark).
    """

    accepts = LIBSVM_CONTENT_TYPE

    def __init__(
        self, dim: int, label_column_name: str = "label", features_column_name: str = "features"
    ) -> None:
        # a Spark vector's size is a Java int: a wider dim would fail every response in Arrow
        self.dim = whole_number("dim", dim, minimum=0, maximum=MAX_VECTOR_SIZE)
        self.label_column_name = label_column_name
        self.features_column_name = features_column_name
        self._schema = StructType(
            [
                StructField(label_column_name, DoubleType(), False),
                StructField(features_column_name, VectorUDT(), False),
            ]
        )

    @property
    def schema(self) -> StructType:
        return self._schema

    # -- per line

    def deserialize_response(self, body: bytes) -> list[tuple]:
        return [
            (label, SparseVector(self.dim, indices, values))
            for label, indices, values in self._parse_lines(body)
        ]

    def _parse_lines(self, body: bytes) -> list[tuple[float, list[int], list[float]]]:
        lines = _decode(body, self.accepts).split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        return [self._parse_line(line, number, body) for number, line in enumerate(lines, 1)]

    def _parse_line(self, line: str, number: int, body: bytes):
        def fail(reason: str) -> ResponseParseError:
            return ResponseParseError(f"line {number}: {reason}", body=body, accepts=self.accepts)

        label_text, *items = line.split(" ")
        try:
            label = parse_double(label_text)
        except ValueError as exc:
            raise fail(f"label: {exc}") from None
        indices: list[int] = []
        values: list[float] = []
        for item in filter(None, items):
            parts = item.split(":")
            if len(parts) != 2:
                raise fail(f"expected index:value, got {item!r:.60}")
            try:
                index = parse_int(parts[0]) - 1
                value = parse_double(parts[1])
            except ValueError as exc:
                raise fail(f"item {item!r:.60}: {exc}") from None
            if not 0 <= index < self.dim:
                raise fail(f"index {index + 1} is outside 1..{self.dim} (dim={self.dim})")
            if indices and index <= indices[-1]:
                raise fail(f"index {index + 1} follows {indices[-1] + 1}; indices must increase")
            indices.append(index)
            values.append(value)
        return label, indices, values

    # -- bulk

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        parsed = self._parse_bulk(bytes(body))
        if parsed is None:
            parsed = self._columns_from_lines(self._parse_lines(body))
        labels, indices, values, offsets = parsed
        vectors = pa.StructArray.from_arrays(
            [
                pa.array(np.zeros(labels.size, dtype=np.int8), pa.int8()),
                pa.array(np.full(labels.size, self.dim, dtype=np.int32), pa.int32()),
                _list_array(offsets, indices.astype(np.int32), VECTOR_ARROW_TYPE.field("indices")),
                _list_array(offsets, values, VECTOR_ARROW_TYPE.field("values")),
            ],
            fields=list(VECTOR_ARROW_TYPE),
        )
        return pa.RecordBatch.from_arrays(
            [pa.array(labels, pa.float64()), vectors], schema=self.arrow_schema
        )

    def _parse_bulk(self, body: bytes):
        """Well-formed bodies (single spaces, plain decimal numbers, valid indices) in a few
        numpy passes and three Arrow casts; ``None`` sends anything else to the per-line
        parser, which either reads it or says exactly what is wrong."""
        data = body.rstrip(b"\n")
        bounds = token_bounds(data, b" :\n")
        if bounds is None:
            return None
        starts, stops = bounds
        buf = np.frombuffer(data, dtype=np.uint8)
        after = buf[stops[:-1]]
        before = np.concatenate(([_NEWLINE], after))  # the separator before each token
        after = np.concatenate((after, [_NEWLINE]))
        is_label = before == _NEWLINE
        is_index = after == _COLON
        is_value = before == _COLON
        # label and value end at a space or newline; an index sits between space and ":"
        well_formed = np.where(
            is_label | is_value, after != _COLON, (before == _SPACE) & (after == _COLON)
        )
        if not well_formed.all():
            return None
        labels = parse_number_tokens(data, starts[is_label], stops[is_label], pa.float64())
        indices = parse_number_tokens(data, starts[is_index], stops[is_index], pa.int64())
        values = parse_number_tokens(data, starts[is_value], stops[is_value], pa.float64())
        if labels is None or indices is None or values is None:
            return None
        indices = indices - 1
        line_of_entry = (np.cumsum(is_label) - 1)[is_index]
        same_line = line_of_entry[1:] == line_of_entry[:-1]
        out_of_range = indices.size > 0 and (indices.min() < 0 or indices.max() >= self.dim)
        if out_of_range or (same_line & (np.diff(indices) <= 0)).any():
            return None
        offsets = np.zeros(labels.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(line_of_entry, minlength=labels.size), out=offsets[1:])
        return labels, indices, values, offsets

    @staticmethod
    def _columns_from_lines(lines: Sequence[tuple[float, list[int], list[float]]]):
        counts = [len(indices) for _, indices, _ in lines]
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        labels = np.asarray([label for label, _, _ in lines], dtype=np.float64)
        indices = np.asarray([i for _, idx, _ in lines for i in idx], dtype=np.int64)
        values = np.asarray([v for _, _, vals in lines for v in vals], dtype=np.float64)
        return labels, indices, values, offsets


def _list_array(offsets: np.ndarray, values: np.ndarray, field: pa.Field) -> pa.ListArray:
    return pa.ListArray.from_arrays(
        pa.array(offsets, type=pa.int32()), pa.array(values, field.type.value_type), type=field.type
    )
