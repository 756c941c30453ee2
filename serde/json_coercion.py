"""Checks one decoded JSON value against a result column's Spark type.

A response value either fits its column as it is, is converted the way Spark stores it
(an integral float to ``int``, a list to a ``DenseVector``), or raises :class:`Mismatch`
saying what was expected; the reader that called adds which row and output it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.ml.linalg import DenseVector, VectorUDT
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
)

from serde.json_codec import describe_json_value

__all__ = ["INTEGER_RANGES", "Mismatch", "accepted_as_is", "coercer"]


class Mismatch(Exception):
    """A value that does not fit its column; the reader adds where it was."""

    def __init__(self, expected: str, actual: Any, path: str = "") -> None:
        self.expected = expected
        self.actual = actual
        self.path = path
        super().__init__(expected)

    def describe(self) -> str:
        where = f"element {self.path}: " if self.path else ""
        return f"{where}expected {self.expected}, got {describe_json_value(self.actual)}"


INTEGER_RANGES = {
    ByteType: (-(2**7), 2**7 - 1),
    ShortType: (-(2**15), 2**15 - 1),
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}


def accepted_as_is(data_type: DataType) -> type | None:
    """The Python type whose values a column of ``data_type`` takes unchanged (so a whole
    list of them is checked with one ``all(...)``), or None."""
    if isinstance(data_type, (DoubleType, FloatType)):
        return float
    if isinstance(data_type, StringType):
        return str
    if isinstance(data_type, BooleanType):
        return bool
    return None


def coercer(data_type: DataType, nullable: bool = True) -> Callable[[Any], Any]:
    """A function that checks one decoded JSON value against ``data_type`` and returns it
    in the form Spark stores (ints for integral columns, ``DenseVector`` for vectors)."""
    expected = data_type.simpleString()
    if isinstance(data_type, VectorUDT):
        expected = "vector (a list of numbers)"

    def null_or_fail(value: Any) -> Any:
        if value is None and nullable:
            return None
        raise Mismatch(expected, value)

    if isinstance(data_type, (DoubleType, FloatType)):

        def to_float(value: Any) -> Any:
            kind = type(value)
            if kind is float:
                return value
            if kind is int:
                try:
                    return float(value)
                except OverflowError:  # an integer beyond any double (Python's parser reads it)
                    raise Mismatch(f"{expected} (a number a double can hold)", value) from None
            return null_or_fail(value)

        return to_float
    if isinstance(data_type, tuple(INTEGER_RANGES)):
        low, high = INTEGER_RANGES[type(data_type)]

        def to_int(value: Any) -> Any:
            kind = type(value)
            if kind is float and value.is_integer():
                value = int(value)
            elif kind is not int:
                return null_or_fail(value)
            if not low <= value <= high:
                raise Mismatch(f"{expected} (between {low} and {high})", value)
            return value

        return to_int
    if isinstance(data_type, (StringType, BooleanType)):
        python_type = str if isinstance(data_type, StringType) else bool

        def exact(value: Any) -> Any:
            return value if type(value) is python_type else null_or_fail(value)

        return exact
    if isinstance(data_type, ArrayType):
        element = coercer(data_type.elementType, data_type.containsNull)
        as_is = accepted_as_is(data_type.elementType)

        def to_list(value: Any) -> Any:
            if type(value) is not list:
                return null_or_fail(value)
            if as_is is not None and all(type(v) is as_is for v in value):
                return value
            out = []
            for k, v in enumerate(value):
                try:
                    out.append(element(v))
                except Mismatch as exc:
                    raise Mismatch(exc.expected, exc.actual, f"[{k}]{exc.path}") from None
            return out

        return to_list
    if isinstance(data_type, VectorUDT):
        to_floats = coercer(ArrayType(DoubleType(), containsNull=False))

        def to_vector(value: Any) -> Any:
            if type(value) is not list:
                return null_or_fail(value)
            try:
                return DenseVector(to_floats(value))
            except Mismatch as exc:
                raise Mismatch("a number", exc.actual, exc.path) from None

        return to_vector
    raise ValueError(
        f"a result column of type {data_type.simpleString()} is not supported; use double, "
        "float, int, bigint, smallint, tinyint, string, boolean, vector or array<...> of them"
    )
