"""The two contracts every SerDe keeps: rows → request bytes, response bytes → rows.

A user's SerDe implements only the per-row methods (``serialize_row`` and
``deserialize_response``). Built-ins also implement the batch methods, which see a whole
``pyarrow.RecordBatch`` (or a whole response) at once and must give byte-identical output;
the engine always calls the batch methods, whose defaults fall back to the per-row ones.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pyspark.sql import Row
from pyspark.sql.types import StructType

from serde.arrow_types import record_batch_from_rows, rows_from_record_batch, to_arrow_schema
from serde.errors import RowSerializationError

__all__ = [
    "RequestRowSerializer",
    "ResponseRowDeserializer",
    "SerializedRows",
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

    @classmethod
    def from_list(
        cls,
        rows: list[bytes | None],
        errors: Mapping[int, RowSerializationError] | None = None,
        trailing_separator: bool = False,
    ) -> SerializedRows:
        """Builds from one ``bytes`` per row (``None`` where ``errors`` has the reason)."""
        parts = [b"" if r is None else r for r in rows]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
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


def serialize_rows(serializer: RequestRowSerializer, rows: Iterable[Row]) -> SerializedRows:
    """Each row through ``serializer.serialize_row``; a row it refuses (a
    :class:`RowSerializationError`, ``ValueError`` or ``TypeError``) gets zero length and
    its error, numbered from 0, so one bad row never fails the others. The one per-row loop
    behind the default :meth:`RequestRowSerializer.serialize_batch` and the packer's
    ``iter_rows``."""
    out: list[bytes | None] = []
    errors: dict[int, RowSerializationError] = {}
    for i, row in enumerate(rows):
        try:
            out.append(serializer.serialize_row(row))
        except RowSerializationError as exc:
            errors[i] = exc.at_row(i)
            out.append(None)
        except (ValueError, TypeError) as exc:
            errors[i] = RowSerializationError(str(exc), row_index=i)
            out.append(None)
        except (KeyError, IndexError) as exc:  # a field the row does not have
            errors[i] = RowSerializationError(
                f"{type(exc).__name__} {exc} reading the row; its fields are "
                f"{list(getattr(row, '__fields__', []))}",
                row_index=i,
            )
            out.append(None)
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
