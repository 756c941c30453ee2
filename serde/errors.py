"""Errors raised by the SerDe framework.

Every error here derives from :class:`SerdeError`; the ones a user's input can cause also
derive from :class:`ValueError`, so ``except ValueError`` keeps working for code that does
not know this package. :class:`EndpointSerdeError` is the root of everything the library
raises, here and in ``endpoints`` (whose ``EndpointsError`` derives from it), so one
``except`` catches any of it::

    EndpointSerdeError                        any error of endpoint-serde
    ├── SerdeError                            this package's errors
    │   ├── SchemaValidationError (ValueError)    the DataFrame cannot feed this serializer
    │   ├── RowSerializationError (ValueError)    one row cannot be written in this format
    │   │   └── RowTooLargeError                  one row alone is bigger than a request
    │   ├── ResponseParseError (ValueError)       an endpoint's answer cannot be read
    │   └── UnknownSerDeError (KeyError)          a registry name nobody registered
    └── endpoints.errors.EndpointsError       the endpoints package's errors

Each error class names its ``kind`` (the value of the error column's ``kind`` field) and
each instance its ``attempts`` (requests made for the rows it failed), as plain fields.

Messages say what was expected, what came, and what to do, because they surface in Spark
task failures far from the code that caused them.
"""

from __future__ import annotations

__all__ = [
    "EndpointSerdeError",
    "ResponseParseError",
    "RowSerializationError",
    "RowTooLargeError",
    "SchemaValidationError",
    "SerdeError",
    "UnknownSerDeError",
]

#: How much of an unreadable response body an error message quotes.
QUOTED_BODY_BYTES = 200


class EndpointSerdeError(Exception):
    """Root of every error endpoint-serde raises (``serde`` and ``endpoints`` alike).

    It lives here, in the lower package, because ``serde`` never imports ``endpoints``.
    """

    #: what failed, as the error column's ``kind`` field names it
    kind: str = "error"
    #: requests made for the rows this error failed (0 when none was sent)
    attempts: int = 1


class SerdeError(EndpointSerdeError):
    """Root of every error this package raises."""


class SchemaValidationError(SerdeError, ValueError):
    """The input schema does not fit the serializer; raised before any row is read."""

    def __init__(self, column: str, expected: str, actual: str, hint: str = "") -> None:
        self.column = column
        self.expected = expected
        self.actual = actual
        message = f"column {column!r}: expected {expected}, got {actual}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class RowSerializationError(SerdeError, ValueError):
    """One row cannot be carried by the format (null features, NaN in JSON, ...).

    ``row_index`` is the row's position in the batch being serialized; the engine turns it
    into a position in the partition before reporting it.
    """

    kind = "serialization"
    attempts = 0  # never sent

    def __init__(self, message: str, row_index: int | None = None, column: str | None = None):
        self.row_index = row_index
        self.column = column
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.row_index is not None:
            where.append(f"row {self.row_index}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def at_row(self, row_index: int) -> RowSerializationError:
        """The same error re-addressed to ``row_index`` (positions shift between layers)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.row_index = row_index
        Exception.__init__(clone, clone._render())
        return clone

    def __reduce__(self):  # keep pickling across the Spark worker boundary exact
        return (_rebuild_row_error, (type(self), self.__dict__))


def _rebuild_row_error(cls, state):
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


class RowTooLargeError(RowSerializationError):
    """A single row is larger than ``max_batch_bytes``; it can never be sent."""

    def __init__(self, row_index: int | None, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"serialized row is {size} bytes with framing, over max_batch_bytes={limit}; "
            "raise max_batch_bytes (the endpoint must accept it) or shrink the row",
            row_index=row_index,
        )


class ResponseParseError(SerdeError, ValueError):
    """An endpoint response the deserializer cannot read; quotes the start of the body."""

    kind = "parse"

    def __init__(self, reason: str, body: bytes | None = None, accepts: str | None = None):
        self.reason = reason
        self.body_head = None if body is None else bytes(body[:QUOTED_BODY_BYTES])
        message = reason
        if accepts:
            message = f"cannot read response as {accepts}: {reason}"
        if body is not None:
            more = "..." if len(body) > QUOTED_BODY_BYTES else ""
            message += f"; body ({len(body)} bytes) starts {self.body_head!r}{more}"
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_plain, (type(self), self.args, self.__dict__))


def _rebuild_plain(cls, args, state):
    err = Exception.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class UnknownSerDeError(SerdeError, KeyError):
    """A name that is not in the registry; the message lists the names that are."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(
            f"no {kind} registered as {name!r}; known: {', '.join(sorted(known)) or '(none)'}. "
            f"Register one with register_{kind}({name!r}) or install the package providing it"
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])

    def __reduce__(self):
        return (type(self), (self.kind, self.name, self.known))
