"""serde.numbers: one spelling per double (scalar and vectorized agree byte for byte), Java's
non-finite spellings, and the bulk number parser agreeing with Python's ``float``."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from serde.numbers import (
    double_tokens,
    format_double,
    format_double_bytes,
    format_double_rows,
    format_doubles,
    parse_double,
    parse_int,
    parse_number_tokens,
    parse_separated_numbers,
    to_float64,
    token_bounds,
)

SPELLINGS = [
    (1.0, "1.0"),
    (-0.0, "-0.0"),
    (0.0, "0.0"),
    (0.1, "0.1"),
    (-2.5, "-2.5"),
    (100.0, "100.0"),
    (1234567.0, "1234567.0"),
    (1e16, "1e+16"),
    (1e-300, "1e-300"),
    (1.9999999999999998e23, "2e+23"),
    (1e-7, "1e-7"),
    (0.000025, "0.000025"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (math.nan, "NaN"),
    (math.inf, "Infinity"),
    (-math.inf, "-Infinity"),
]

doubles = st.floats(allow_nan=True, allow_infinity=True)


def same_double(a: float, b: float) -> bool:
    """Bitwise equal up to NaN payloads (and keeping -0.0 apart from 0.0)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


@pytest.mark.parametrize(("value", "spelling"), SPELLINGS)
def test_format_double_spelling(value, spelling):
    assert format_double(value) == spelling
    assert format_double_bytes(np.float64(value)) == spelling.encode()


def test_java_longer_spelling_parses_to_the_same_double():
    # Java writes 1.9999999999999998E23; ours is shorter and means the same double
    assert float(format_double(1.9999999999999998e23)) == float("1.9999999999999998E23")
    assert float(format_double(1e-300)) == float("1.0E-300")


def test_format_doubles_joins_with_java_non_finite_spellings():
    values = np.array([1.0, math.nan, -0.5, math.inf, -math.inf, 3.0])
    assert format_doubles(values) == b"1.0,NaN,-0.5,Infinity,-Infinity,3.0"
    assert format_doubles(values, b" ") == b"1.0 NaN -0.5 Infinity -Infinity 3.0"
    assert format_doubles(np.array([])) == b""
    assert format_doubles(np.array([1, 2], dtype=np.int64)) == b"1.0,2.0"


def test_format_double_rows_csv_shape():
    matrix = np.array([[1.0, math.nan], [-math.inf, 0.5], [3.0, 1e16]])
    data, offsets = format_double_rows(matrix)
    assert data == b"1.0,NaN\n-Infinity,0.5\n3.0,1e+16\n"
    assert offsets.tolist() == [0, 8, 22, 32]


@pytest.mark.parametrize(
    ("separator", "row_end", "expected"),
    [
        (b" ", b";", b"1.0 -2.0;3.0 4.0;"),
        (b", ", b"]\n", b"1.0, -2.0]\n3.0, 4.0]\n"),
        (b",", b"\r\n", b"1.0,-2.0\r\n3.0,4.0\r\n"),
    ],
)
def test_format_double_rows_other_framing(separator, row_end, expected):
    data, offsets = format_double_rows(np.array([[1.0, -2.0], [3.0, 4.0]]), separator, row_end)
    assert data == expected
    first_row = expected.index(row_end) + len(row_end)
    assert offsets.tolist() == [0, first_row, len(expected)]


def test_format_double_rows_without_columns_or_rows():
    data, offsets = format_double_rows(np.zeros((3, 0)))
    assert (data, offsets.tolist()) == (b"\n\n\n", [0, 1, 2, 3])
    data, offsets = format_double_rows(np.zeros((0, 4)))
    assert (data, offsets.tolist()) == (b"", [0])


def test_double_tokens_one_string_per_value():
    tokens = double_tokens(np.array([0.5, math.nan, 1e16, -0.0]))
    assert tokens.type == pa.string()
    assert tokens.to_pylist() == ["0.5", "NaN", "1e+16", "-0.0"]
    assert double_tokens(np.array([])).to_pylist() == []


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 40), elements=doubles))
def test_vectorized_spelling_equals_scalar_and_parses_back(values):
    joined = format_doubles(values)
    assert joined == b",".join(format_double_bytes(v) for v in values.tolist())
    if values.size:
        parsed = [float(t) for t in joined.split(b",")]  # an independent parser
        assert all(same_double(a, b) for a, b in zip(parsed, values.tolist()))
    assert double_tokens(values).to_pylist() == [format_double(v) for v in values.tolist()]


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 12), st.integers(0, 6)),
        elements=doubles,
    )
)
def test_rows_equal_per_row_formatting(matrix):
    data, offsets = format_double_rows(matrix)
    expected = [b",".join(format_double_bytes(v) for v in row) + b"\n" for row in matrix.tolist()]
    assert data == b"".join(expected)
    assert [data[a:b] for a, b in pairwise(offsets)] == expected


# ------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("1.5", 1.5),
        (" 2 ", 2.0),
        (b"-0.0", -0.0),
        ("1e+16", 1e16),
        ("1.0E-300", 1e-300),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("+3", 3.0),
    ],
)
def test_parse_double_accepts(token, value):
    assert same_double(parse_double(token), value)


def test_parse_double_nan():
    assert math.isnan(parse_double("NaN"))


@pytest.mark.parametrize("token", ["", " ", "abc", "1_000", "1.2.3", "0x10", "1,5"])
def test_parse_double_rejects_with_the_token(token):
    with pytest.raises(ValueError, match="expected a number, got"):
        parse_double(token)


def test_parse_int():
    assert parse_int("42") == 42
    assert parse_int(b"+7") == 7
    assert parse_int("-3") == -3
    for bad in ["", "1.0", " 1", "1e2", "1_0", "٣"]:
        with pytest.raises(ValueError, match="expected an integer"):
            parse_int(bad)


def test_token_bounds():
    starts, stops = token_bounds(b"1.5,2\n-3", b",\n")
    assert starts.tolist() == [0, 4, 6]
    assert stops.tolist() == [3, 5, 8]
    assert token_bounds(b"1,,2", b",") is None  # empty token
    assert token_bounds(b"1,2,", b",") is None
    assert token_bounds(b"1, 2", b",") is None  # a space is not part of a number
    assert token_bounds(b"NaN", b",") is None
    assert token_bounds(b"", b",") is None


def test_parse_number_tokens_reads_each_token():
    data = b"7:0.25 11:-1e3"
    starts, stops = np.array([0, 2, 7, 10]), np.array([1, 6, 9, 14])
    values = parse_number_tokens(data, starts, stops, pa.float64())
    assert values.tolist() == [7.0, 0.25, 11.0, -1000.0]
    ints = parse_number_tokens(data, starts[[0, 2]], stops[[0, 2]], pa.int64())
    assert ints.tolist() == [7, 11]
    assert parse_number_tokens(data, starts[1:2], stops[1:2], pa.int64()) is None
    assert parse_number_tokens(b"1e", np.array([0]), np.array([2]), pa.float64()) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.eE+-", min_size=1, max_size=12), max_size=8))
def test_bulk_parse_agrees_with_python_float(tokens):
    """Whenever the bulk parser accepts tokens, each value is what ``float`` makes of it."""
    data = ",".join(tokens).encode()
    bounds = token_bounds(data, b",")
    if not tokens:
        assert bounds is None
        return
    values = parse_number_tokens(data, *bounds, pa.float64())
    if values is None:
        return
    assert [same_double(v, float(t)) for v, t in zip(values.tolist(), tokens)] == [True] * len(
        tokens
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(doubles.filter(math.isfinite), min_size=1, max_size=30))
def test_bulk_parse_reads_back_what_we_write(values):
    data = format_doubles(np.array(values), b"\n")
    parsed = parse_number_tokens(data, *token_bounds(data, b"\n"), pa.float64())
    assert all(same_double(a, b) for a, b in zip(parsed.tolist(), values))


def test_parse_separated_numbers_reads_every_token():
    assert parse_separated_numbers(b"1.5,2\n-3", b",\n", pa.float64()).tolist() == [1.5, 2.0, -3.0]
    assert parse_separated_numbers(b"7\n11", b"\n", pa.int64()).tolist() == [7, 11]
    for bad in [b"1,,2", b"1,2,", b",1", b"1, 2", b"NaN", b"", b"1e", b"1\n\n2"]:
        assert parse_separated_numbers(bad, b",\n", pa.float64()) is None, bad
    assert parse_separated_numbers(b"1.5", b"\n", pa.int64()) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.eE+-", min_size=1, max_size=12), max_size=8))
def test_separated_parse_agrees_with_token_parse(tokens):
    """The split-based and bounds-based bulk parsers accept and read the same bodies."""
    data = "\n".join(tokens).encode()
    bounds = token_bounds(data, b",\n")
    by_bounds = None if bounds is None else parse_number_tokens(data, *bounds, pa.float64())
    by_split = parse_separated_numbers(data, b",\n", pa.float64())
    if by_bounds is None:
        assert by_split is None
    else:
        assert [same_double(a, b) for a, b in zip(by_split.tolist(), by_bounds.tolist())] == [
            True
        ] * len(tokens)


def test_to_float64_rounds_decimals_like_python_float():
    # Arrow's own decimal cast is one ulp off for values like these
    values = [
        Decimal("0.1"),
        Decimal("-73295727.493410934019370651"),
        Decimal("12345678901234567.89"),
        None,
    ]
    column = pa.array(values, pa.decimal128(38, 18))
    assert to_float64(column).to_pylist() == [0.1, float(values[1]), float(values[2]), None]
    big = 2**60 + 1
    assert to_float64(pa.array([big], pa.int64())).to_pylist() == [float(big)]
