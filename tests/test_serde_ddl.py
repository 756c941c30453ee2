"""DDL schema strings → StructType without a SparkSession, and the errors a typo gets."""

from __future__ import annotations

import pytest
from pyspark.ml.linalg import VectorUDT
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

from serde.ddl import DDLSyntaxError, parse_ddl, schema_from


def test_every_supported_type_and_spelling():
    schema = parse_ddl(
        "a double, b float, c real, d int, e integer, f bigint, g long, h smallint, "
        "i short, j tinyint, k byte, l string, m boolean, n bool, o vector"
    )
    assert [f.dataType for f in schema] == [
        DoubleType(),
        FloatType(),
        FloatType(),
        IntegerType(),
        IntegerType(),
        LongType(),
        LongType(),
        ShortType(),
        ShortType(),
        ByteType(),
        ByteType(),
        StringType(),
        BooleanType(),
        BooleanType(),
        VectorUDT(),
    ]
    assert all(f.nullable for f in schema)


def test_nested_arrays_colons_case_quotes_and_not_null():
    schema = parse_ddl(
        "  score: DOUBLE NOT NULL,probs Array<array<Double>>, `class id` bigint,"
        " `we``ird` array<vector>  "
    )
    assert schema == StructType(
        [
            StructField("score", DoubleType(), False),
            StructField("probs", ArrayType(ArrayType(DoubleType()))),
            StructField("class id", LongType()),
            StructField("we`ird", ArrayType(VectorUDT())),
        ]
    )


def test_matches_spark_own_parser(spark):
    text = "score double, probs array<double>, label bigint, name string, ok boolean"
    assert parse_ddl(text) == spark.createDataFrame([], text).schema


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("score dubble", 6, "unknown type 'dubble'; known types: double, float"),
        ("a array<double", 14, "expected '>' closing array<...>, found the end of the text"),
        ("a array double", 8, "expected '<' after array, found 'double'"),
        ("a double,", 9, "expected a column name, found the end of the text"),
        ("a double b int", 9, "expected ',' or the end, found 'b'"),
        ("3a double", 0, "expected a column name, found '3'"),
        ("`abc double", 0, "back-quoted name is not closed with `"),
        ("a double, a int", 10, "column 'a' appears twice"),
        ("a double not", 12, "expected NULL after NOT, found the end of the text"),
        ("a", 1, "expected a type (double, float"),
        ("a map<string,int>", 2, "unknown type 'map'"),
        ("   ", 0, "the schema is empty; name at least one column"),
    ],
)
def test_errors_name_the_position(text, position, reason):
    with pytest.raises(DDLSyntaxError) as info:
        parse_ddl(text)
    assert info.value.position == position
    assert reason in info.value.reason
    message = str(info.value)
    assert message.startswith(f"cannot parse schema {text!r} at position {position}: ")
    assert f"\n  {text}\n  {' ' * position}^\n" in message
    assert isinstance(info.value, ValueError)


def test_schema_from_accepts_struct_or_text_only():
    struct = StructType([StructField("x", DoubleType())])
    assert schema_from(struct) is struct
    assert schema_from("x double") == struct
    with pytest.raises(TypeError, match="StructType or a DDL string"):
        schema_from(["x double"])
