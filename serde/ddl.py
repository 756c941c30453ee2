"""Result schemas written as short DDL strings, parsed without a SparkSession.

A deserializer is configured on the driver and rebuilt on executors, often before (or
without) any SparkSession: ``"score double, probs array<double>"`` must become a
``StructType`` with plain Python. Spark's own parser needs a running JVM, so this is a
small recursive-descent parser for the subset a model's outputs need::

    schema := field ("," field)*
    field  := name [":"] type ["NOT" "NULL"]
    name   := identifier | `back-quoted name`
    type   := double | float | real | int | integer | bigint | long | smallint | short
            | tinyint | byte | string | boolean | bool | vector | array "<" type ">"

Keywords are case-insensitive; ``vector`` is the ML ``VectorUDT``. A syntax error names the
position and shows it under the text, because a schema typo is found by reading it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.ml.linalg import VectorUDT
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
    StructField,
    StructType,
)

from serde.errors import SerdeError

__all__ = ["DDLSyntaxError", "parse_ddl", "schema_from"]

#: Type keyword → factory; several spellings per type, as Spark SQL accepts them.
SCALAR_TYPES: dict[str, Callable[[], DataType]] = {
    "double": DoubleType,
    "float": FloatType,
    "real": FloatType,
    "int": IntegerType,
    "integer": IntegerType,
    "bigint": LongType,
    "long": LongType,
    "smallint": ShortType,
    "short": ShortType,
    "tinyint": ByteType,
    "byte": ByteType,
    "string": StringType,
    "boolean": BooleanType,
    "bool": BooleanType,
    "vector": VectorUDT,
}
_KNOWN_TYPES = ", ".join([*SCALAR_TYPES, "array<...>"])

_TOKEN = re.compile(
    r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<quoted>`(?:[^`]|``)*`)|(?P<punct>[<>,:])"
    r"|(?P<other>\S))"
)


class DDLSyntaxError(SerdeError, ValueError):
    """A schema string that is not valid DDL; ``position`` is the 0-based offset."""

    def __init__(self, text: str, position: int, reason: str) -> None:
        self.text = text
        self.position = position
        self.reason = reason
        super().__init__(
            f"cannot parse schema {text!r} at position {position}: {reason}\n"
            f"  {text}\n  {' ' * position}^\n"
            'write it like "score double, probs array<double>"'
        )


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "quoted", "punct", "other" or "end"
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while (match := _TOKEN.match(text, position)) is not None:
        kind = match.lastgroup or "other"
        if kind == "other" and match.group(kind) == "`":
            raise DDLSyntaxError(text, match.start(kind), "back-quoted name is not closed with `")
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(_Token("end", "", len(text.rstrip())))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.names: set[str] = set()

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, reason: str, token: _Token | None = None) -> DDLSyntaxError:
        return DDLSyntaxError(self.text, (token or self.current).position, reason)

    def advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def accept(self, punct: str) -> bool:
        if self.current.kind == "punct" and self.current.text == punct:
            self.index += 1
            return True
        return False

    def expect(self, punct: str, what: str) -> None:
        if not self.accept(punct):
            raise self.fail(f"expected {what}, found {self._describe(self.current)}")

    @staticmethod
    def _describe(token: _Token) -> str:
        return "the end of the text" if token.kind == "end" else repr(token.text)

    def schema(self) -> StructType:
        fields = [self.field()]
        while self.accept(","):
            fields.append(self.field())
        if self.current.kind != "end":
            raise self.fail(f"expected ',' or the end, found {self._describe(self.current)}")
        return StructType(fields)

    def field(self) -> StructField:
        token = self.advance()
        name = self.column_name(token)
        self.accept(":")
        data_type = self.data_type()
        nullable = True
        if self.current.kind == "word" and self.current.text.lower() == "not":
            self.advance()
            if not (self.current.kind == "word" and self.current.text.lower() == "null"):
                raise self.fail(f"expected NULL after NOT, found {self._describe(self.current)}")
            self.advance()
            nullable = False
        return StructField(name, data_type, nullable)

    def column_name(self, token: _Token) -> str:
        if token.kind == "word":
            name = token.text
        elif token.kind == "quoted":
            name = token.text[1:-1].replace("``", "`")
        else:
            raise self.fail(f"expected a column name, found {self._describe(token)}", token)
        if name in self.names:
            raise self.fail(f"column {name!r} appears twice", token)
        self.names.add(name)
        return name

    def data_type(self) -> DataType:
        token = self.advance()
        keyword = token.text.lower() if token.kind == "word" else None
        if keyword == "array":
            self.expect("<", "'<' after array")
            element = self.data_type()
            self.expect(">", "'>' closing array<...>")
            return ArrayType(element, containsNull=True)
        if keyword in SCALAR_TYPES:
            return SCALAR_TYPES[keyword]()
        if token.kind == "end":
            raise self.fail(f"expected a type ({_KNOWN_TYPES}), found the end of the text", token)
        raise self.fail(f"unknown type {token.text!r}; known types: {_KNOWN_TYPES}", token)


def parse_ddl(text: str) -> StructType:
    """``"score double, probs array<double>"`` → the ``StructType`` it describes.

    Raises :class:`DDLSyntaxError` (a ``ValueError``) naming the position of the mistake.
    """
    if not isinstance(text, str):
        raise TypeError(f"a DDL schema is a string, got {type(text).__name__}")
    if not text.strip():
        raise DDLSyntaxError(text, 0, "the schema is empty; name at least one column")
    return _Parser(text).schema()


def schema_from(schema: StructType | str) -> StructType:
    """A ``StructType`` as given, or parsed from a DDL string; SerDes take either."""
    if isinstance(schema, StructType):
        return schema
    if isinstance(schema, str):
        return parse_ddl(schema)
    raise TypeError(
        f"schema must be a StructType or a DDL string like 'score double', "
        f"got {type(schema).__name__}"
    )
