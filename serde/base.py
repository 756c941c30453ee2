"""The two contracts every SerDe keeps: rows → request bytes, response bytes → rows.

A user's SerDe implements only the per-row methods (``serialize_row`` and
``deserialize_response``). Built-ins also implement the batch methods, which see a whole
``pyarrow.RecordBatch`` (or a whole response) at once and must give byte-identical output;
the engine always calls the batch methods, whose defaults fall back to the per-row ones.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pyspark.sql import Row
from pyspark.sql.types import StructType

from serde.arrow_types import record_batch_from_rows, rows_from_record_batch, to_arrow_schema
from serde.errors import RowSerializationError

__all__ = [
    "ROW_ERRORS",
    "RequestRowSerializer",
    "ResponseRowDeserializer",
    "SerializedRows",
    "row_error",
    "serialize_rows",
]


@dataclass(frozen=True)
class SerializedRows:
    """The rows of one Arrow batch, each written in the serializer's row format.

    Row ``i`` is ``data[offsets[i]:offsets[i + 1]]``, without the row separator unless
    ``trailing_separator`` says every row already ends with it (vectorized JSON writes
    ``[...],`` per row so bodies are plain slices of ``data``). A row that could not be
    written has zero length and its error in ``errors``: the packer never puts it in a
    body, and the engine reports it as that row's result.
    """

    data: bytes
    offsets: np.ndarray
    errors: Mapping[int, RowSerializationError] = field(default_factory=dict)
    trailing_separator: bool = False

    @property
    def num_rows(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> bytes:
        return self.data[self.offsets[index] : self.offsets[index + 1]]

    def tail(self, start: int) -> SerializedRows:
        """Rows ``start..`` alone, renumbered from 0 (their errors too)."""
        if start == 0:
            return self
        return SerializedRows(
            self.data[self.offsets[start] :],
            self.offsets[start:] - self.offsets[start],
            {i - start: e for i, e in self.errors.items() if i >= start},
            self.trailing_separator,
        )

    @classmethod
    def concat(cls, first: SerializedRows, second: SerializedRows) -> SerializedRows:
        """``first``'s rows followed by ``second``'s: how rows left over at the end of one
        Arrow batch join the next one's, so a request body can span batches."""
        if first.num_rows == 0:
            return second
        shift = first.num_rows
        errors = dict(first.errors)
        errors.update({i + shift: e for i, e in second.errors.items()})
        offsets = np.concatenate((first.offsets[:-1], second.offsets + first.offsets[-1]))
        return cls(first.data + second.data, offsets, errors, first.trailing_separator)

    @classmethod
    def from_list(
        cls,
        rows: list[bytes | None],
        errors: Mapping[int, RowSerializationError] | None = None,
        trailing_separator: bool = False,
    ) -> SerializedRows:
        """Builds from one ``bytes`` per row (``None`` where ``errors`` has the reason)."""
        parts = [b"" if r is None else r for r in rows] if errors or None in rows else rows
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=offsets[1:])
        return cls(b"".join(parts), offsets, dict(errors or {}), trailing_separator)


class _RebuildableFromOptions:
    """Remembers the constructor arguments so a SerDe can be saved as (name, options).

    A saved Pipeline stores the registry name and these options, never a pickle, so it
    loads in another Python process and survives a package upgrade.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(obj, *args, **kwargs)
            options = dict(bound.arguments)
            options.pop("self", None)
            for name, param in inspect.signature(cls.__init__).parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD and name in options:
                    options.update(options.pop(name))
        except TypeError:  # let __init__ raise its own, clearer error
            options = dict(kwargs)
        obj._serde_options = options
        return obj

    def serde_options(self) -> dict[str, Any]:
        """The keyword arguments this object was built with."""
        return dict(getattr(self, "_serde_options", {}))


class RequestRowSerializer(_RebuildableFromOptions, ABC):
    """Turns one input row into the bytes of one record of a request body.

    A body is ``body_prefix + row_separator.join(rows) + body_suffix``; CSV and LibSVM rows
    end in ``\\n`` themselves, so their framing is empty. Subclasses set ``content_type``
    and implement :meth:`serialize_row`; that is all a custom serializer needs.
    """

    content_type: ClassVar[str] = "application/octet-stream"
    body_prefix: bytes = b""
    row_separator: bytes = b""
    body_suffix: bytes = b""
    #: False for formats whose body is not a join of rows (columnar ``{"inputs": {...}}``):
    #: the packer then asks :meth:`serialize_body` for each body.
    row_separable: ClassVar[bool] = True
    #: True for formats that write every vector dense (CSV, JSON): the transformer may then
    #: hand a narrow ML ``Vector`` column over as ``array<double>``, converted by the JVM,
    #: which costs a fraction of Spark's vector struct. Formats that keep sparse vectors
    #: sparse (LibSVM, protobuf) leave it False and always see the struct.
    writes_vectors_dense: ClassVar[bool] = False

    _schema: StructType | None = None

    def validate_schema(self, schema: StructType) -> None:
        """Raises :class:`~serde.errors.SchemaValidationError` if rows of ``schema``
        cannot be serialized. Called on the driver before any job starts."""

    def set_schema(self, schema: StructType) -> None:
        """Validates and remembers the input schema (column positions, vector sizes)."""
        self.validate_schema(schema)
        self._schema = schema

    @property
    def schema(self) -> StructType | None:
        return self._schema

    def input_columns(self, schema: StructType) -> list[str]:
        """The columns of ``schema`` this serializer reads: only these leave the JVM.

        Every column by default, since a custom ``serialize_row`` may read any field;
        built-ins name theirs, so the rest of a wide row never crosses into Python."""
        return list(schema.names)

    @abstractmethod
    def serialize_row(self, row: Row) -> bytes:
        """The bytes of one record, including its own terminator (CSV's ``\\n``).

        Raise :class:`~serde.errors.RowSerializationError` (or ``ValueError``) for a row
        the format cannot carry; the engine reports it against that row only.
        """

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        """All rows of ``batch`` at once. The default converts each row to a
        ``pyspark.sql.Row`` and calls :meth:`serialize_row`; built-ins override it with a
        vectorized version that produces the same bytes."""
        return serialize_rows(self, rows_from_record_batch(batch, self._schema))

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        """One whole request body for ``batch``; only formats with
        ``row_separable = False`` implement it. Row sizes from :meth:`serialize_batch` are
        then estimates the packer uses to cut bodies, and it checks the real size."""
        raise NotImplementedError(f"{type(self).__name__} is row-separable")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.serde_options().items())
        return f"{type(self).__name__}({args})"


#: What a user's code may raise for one row it cannot write: that row gets an error, the
#: others are written. Anything else is a bug and fails the task.
ROW_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError)


def row_error(
    exc: Exception, index: int, fields: Sequence[str] | None = None
) -> RowSerializationError:
    """``exc`` (one of :data:`ROW_ERRORS`) as the :class:`RowSerializationError` of row
    ``index``; a missing field is reported with the fields the row has."""
    if isinstance(exc, RowSerializationError):
        return exc.at_row(index)
    if isinstance(exc, (KeyError, IndexError)):  # a field the row does not have
        where = "" if fields is None else f"; its fields are {list(fields)}"
        return RowSerializationError(
            f"{type(exc).__name__} {exc} reading the row{where}", row_index=index
        )
    return RowSerializationError(str(exc), row_index=index)


def serialize_rows(serializer: RequestRowSerializer, rows: Iterable[Row]) -> SerializedRows:
    """Each row through ``serializer.serialize_row``; a row it refuses (one of
    :data:`ROW_ERRORS`) gets zero length and its error, numbered from 0, so one bad row
    never fails the others. The one per-row loop behind the default
    :meth:`RequestRowSerializer.serialize_batch` and the packer's ``iter_rows``."""
    out: list[bytes | None] = []
    append = out.append
    serialize = serializer.serialize_row
    errors: dict[int, RowSerializationError] = {}
    for i, row in enumerate(rows):
        try:
            append(serialize(row))
        except ROW_ERRORS as exc:
            errors[i] = row_error(exc, i, getattr(row, "__fields__", ()))
            append(None)
    return SerializedRows.from_list(out, errors)


class ResponseRowDeserializer(_RebuildableFromOptions, ABC):
    """Turns one response body into exactly one result row per request row.

    Subclasses set ``accepts``, expose ``schema`` (the result columns, in order) and
    implement :meth:`deserialize_response`.
    """

    accepts: ClassVar[str] = "application/octet-stream"

    @property
    @abstractmethod
    def schema(self) -> StructType:
        """The result columns this deserializer produces."""

    @abstractmethod
    def deserialize_response(self, body: bytes) -> Iterable[tuple]:
        """Yields one tuple per result, values in ``schema`` order; raise
        :class:`~serde.errors.ResponseParseError` for a body that cannot be read."""

    def deserialize_batch(self, body: bytes) -> pa.RecordBatch:
        """The results as an Arrow batch of ``schema``. The default goes through
        :meth:`deserialize_response`; built-ins override it to parse in bulk."""
        return record_batch_from_rows(list(self.deserialize_response(body)), self.schema)

    @property
    def arrow_schema(self) -> pa.Schema:
        return to_arrow_schema(self.schema)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.serde_options().items())
        return f"{type(self).__name__}({args})"
