"""Numbers in the text formats: one spelling for every writer, one grammar for every reader.

Every text SerDe (CSV, LibSVM, JSON) writes a double through this module, so a value has
the same bytes whichever format or code path (per-row or vectorized) wrote it:

- the shortest decimal that parses back to the same double, as orjson writes it
  (``0.1``, ``1e+16``, ``1e-7``, ``0.000025``); integral values keep a ``.0`` (``1.0``);
- NaN and infinities as Java's ``Double.toString`` writes them (``NaN``, ``Infinity``,
  ``-Infinity``), since that is what sagemaker_pyspark sent and what Java-based model
  containers parse.

Java spells some values differently (``1.0E-300`` for ``1e-300``, ``1.9999999999999998E23``
for ``2e+23``); both parse to the same double, which is all a model server sees.

The scalar functions serve the per-row paths; the vectorized ones format or parse a whole
``numpy`` array in a few C-level passes (orjson, numpy, Arrow compute), never a Python loop
per value. Both are tested to agree byte for byte.
"""

from __future__ import annotations

import functools
import math
from itertools import chain

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "NEGATIVE_INFINITY",
    "NOT_A_NUMBER",
    "POSITIVE_INFINITY",
    "double_tokens",
    "format_double",
    "format_double_bytes",
    "format_double_rows",
    "format_doubles",
    "parse_double",
    "parse_int",
    "parse_number_tokens",
    "parse_separated_numbers",
    "to_float64",
    "token_bounds",
]

NOT_A_NUMBER = b"NaN"
POSITIVE_INFINITY = b"Infinity"
NEGATIVE_INFINITY = b"-Infinity"

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NULL = b"null"  # what orjson writes for a non-finite double
_COMMA = ord(",")
_CLOSE = ord("]")


def _non_finite_spelling(value: float) -> bytes:
    if math.isnan(value):
        return NOT_A_NUMBER
    return POSITIVE_INFINITY if value > 0 else NEGATIVE_INFINITY


def format_double_bytes(value: float) -> bytes:
    """The spelling of one double, as bytes (see the module docstring)."""
    value = float(value)
    if math.isfinite(value):
        return orjson.dumps(value)
    return _non_finite_spelling(value)


def format_double(value: float) -> str:
    """The spelling of one double: ``1.0``, ``0.1``, ``1e+16``, ``NaN``, ``-Infinity``."""
    return format_double_bytes(value).decode("ascii")


def _as_float64(values: np.ndarray) -> np.ndarray:
    # orjson serializes only C-contiguous native-endian arrays
    return np.ascontiguousarray(values, dtype=np.float64)


def _spell_non_finite(raw: bytes, values: np.ndarray) -> bytes:
    """Replaces orjson's ``null`` for each non-finite value with Java's spelling.

    The loop runs over the non-finite values only; ``null`` never appears in a number,
    so the k-th ``null`` in ``raw`` is the k-th non-finite value in C order.
    """
    flat = values.reshape(-1)
    non_finite = flat[~np.isfinite(flat)]
    if not non_finite.size:
        return raw
    parts = raw.split(_NULL)
    spellings = [_non_finite_spelling(v) for v in non_finite.tolist()] + [b""]
    return b"".join(chain.from_iterable(zip(parts, spellings)))


def format_doubles(values: np.ndarray, separator: bytes = b",") -> bytes:
    """The spellings of a 1-D array's values joined by ``separator``, in one pass."""
    values = _as_float64(values).reshape(-1)
    if not values.size:
        return b""
    raw = _spell_non_finite(orjson.dumps(values, option=_NUMPY)[1:-1], values)
    return raw if separator == b"," else raw.replace(b",", separator)


def format_double_rows(
    matrix: np.ndarray, separator: bytes = b",", row_end: bytes = b"\n"
) -> tuple[bytes, np.ndarray]:
    """Each row of a 2-D array as its values joined by ``separator`` plus ``row_end``.

    Returns ``(data, offsets)``: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``. One
    orjson call formats the whole matrix (``[[a,b],[c,d]]``); bracket positions give the
    row lengths and two ``bytes.replace`` calls give the separators.
    """
    matrix = _as_float64(matrix)
    rows, width = matrix.shape
    offsets = np.zeros(rows + 1, dtype=np.int64)
    if rows == 0:
        return b"", offsets
    if width and len(separator) == 1 and len(row_end) == 1:
        return _format_single_byte_rows(matrix, separator, row_end)
    raw = _spell_non_finite(orjson.dumps(matrix, option=_NUMPY), matrix)
    if width == 0:
        lengths = np.zeros(rows, dtype=np.int64)
    else:
        closes = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == _CLOSE)[:rows]
        starts = np.empty(rows, dtype=np.int64)
        starts[0] = 2
        starts[1:] = closes[:-1] + 3  # past "],["
        lengths = closes - starts + (width - 1) * (len(separator) - 1)
    inner = raw[2:-2]
    if separator != b",":
        inner = inner.replace(b",", separator)
    data = inner.replace(b"]" + separator + b"[", row_end) + row_end
    np.cumsum(lengths + len(row_end), out=offsets[1:])
    return data, offsets


def _format_single_byte_rows(
    matrix: np.ndarray, separator: bytes, row_end: bytes
) -> tuple[bytes, np.ndarray]:
    """The common case (CSV): the matrix formatted flat (``[a,b,c,d]``), then every
    ``width``-th comma overwritten in place by the row end — no bytes move, which is
    several times faster than replacing ``],[``."""
    rows, width = matrix.shape
    flat = matrix.reshape(-1)
    buf = np.frombuffer(
        _spell_non_finite(orjson.dumps(flat, option=_NUMPY), flat), dtype=np.uint8
    ).copy()
    commas = np.flatnonzero(buf == _COMMA)
    ends = np.empty(rows, dtype=np.int64)
    ends[:-1] = commas[width - 1 :: width]
    ends[-1] = buf.size - 1  # the closing "]"
    buf[ends] = row_end[0]
    if separator != b",":
        buf[commas] = separator[0]
        buf[ends] = row_end[0]
    offsets = np.zeros(rows + 1, dtype=np.int64)
    offsets[1:] = ends  # data starts after "[", and each row includes its end byte
    return buf[1:].tobytes(), offsets


def double_tokens(values: np.ndarray) -> pa.StringArray:
    """Each value's spelling as one element of an Arrow string array (for Arrow's string
    kernels to assemble rows from), built from one formatting pass without copying per
    value."""
    values = _as_float64(values).reshape(-1)
    if not values.size:
        return pa.array([], type=pa.string())
    joined = format_doubles(values, b",")
    commas = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == _COMMA)
    offsets = np.empty(values.size + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:-1] = commas - np.arange(commas.size)  # each earlier comma is removed
    offsets[-1] = len(joined) - commas.size
    data = joined.replace(b",", b"")
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(
            values.size, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
        )
    return pa.LargeStringArray.from_buffers(
        values.size, pa.py_buffer(offsets), pa.py_buffer(data)
    ).cast(pa.string())


# ------------------------------------------------------------------------------- parsing


def parse_double(token: str | bytes) -> float:
    """One number of a text response, as Java's ``Double.parseDouble`` reads it.

    Surrounding whitespace is ignored; ``NaN``, ``Infinity`` and ``-Infinity`` are
    accepted (Python also takes ``nan``/``inf``). Raises ``ValueError`` naming the token.
    """
    text = token.decode("utf-8", "replace") if isinstance(token, bytes) else token
    stripped = text.strip()
    # Python accepts "1_000"; no Java-based or C-based server writes it, so it is a typo
    if stripped and "_" not in stripped:
        try:
            return float(stripped)
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {text!r:.60}")


def parse_int(token: str | bytes) -> int:
    """One integer (a LibSVM index), as Java's ``Integer.parseInt`` reads it: ASCII digits
    with an optional sign, no whitespace."""
    text = token.decode("utf-8", "replace") if isinstance(token, bytes) else token
    body = text[1:] if text[:1] in ("+", "-") else text
    if not (body.isascii() and body.isdigit()):
        raise ValueError(f"expected an integer, got {text!r:.60}")
    return int(text)


#: Bytes a number may hold on the fast parsing path; anything else (``NaN``, spaces around
#: tokens, ``\r``) sends the body to the per-token parser, which handles it or says why not.
_NUMBER_BYTES = np.zeros(256, dtype=bool)
_NUMBER_BYTES[np.frombuffer(b"0123456789.eE+-", dtype=np.uint8)] = True


def token_bounds(data: bytes, separators: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """``(starts, stops)`` of the tokens of ``data`` split at any byte of ``separators``.

    ``None`` when the fast path does not apply: an empty token (two separators in a row,
    or one at either end), or a byte that is neither a separator nor part of a plain
    decimal number.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if not buf.size:
        return None
    is_sep = np.zeros(buf.size, dtype=bool)
    for sep in separators:
        is_sep |= buf == sep
    if not (_NUMBER_BYTES[buf] | is_sep).all():
        return None
    cuts = np.flatnonzero(is_sep)
    starts = np.concatenate(([0], cuts + 1))
    stops = np.concatenate((cuts, [buf.size]))
    if (stops <= starts).any():
        return None
    return starts, stops


def parse_number_tokens(
    data: bytes, starts: np.ndarray, stops: np.ndarray, dtype: pa.DataType
) -> np.ndarray | None:
    """Parses ``data[starts[i]:stops[i]]`` for every ``i`` as ``dtype`` (float64 or int64)
    in one Arrow cast; ``None`` if any token is not a number of that type.

    Arrow's parser rounds correctly, like Python's ``float``, so the values match the
    per-token path exactly.
    """
    lengths = stops - starts
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if lengths.size == 0:
        return np.zeros(0, dtype=dtype.to_pandas_dtype())
    buf = np.frombuffer(data, dtype=np.uint8)
    # gather the token bytes into one contiguous buffer: byte k of token i
    token_of_byte = np.repeat(np.arange(lengths.size), lengths)
    positions = np.arange(offsets[-1]) - offsets[:-1][token_of_byte] + starts[token_of_byte]
    packed = buf[positions]
    strings = pa.LargeStringArray.from_buffers(
        lengths.size, pa.py_buffer(offsets), pa.py_buffer(packed.tobytes())
    )
    try:
        return strings.cast(dtype).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def parse_separated_numbers(
    data: bytes, separators: bytes, dtype: pa.DataType
) -> np.ndarray | None:
    """Every token of ``data`` split at any byte of ``separators``, parsed as ``dtype``;
    ``None`` under the same conditions as :func:`token_bounds` and
    :func:`parse_number_tokens`.

    The common response shape (one number per line or per comma) in a few Arrow kernels:
    about twice as fast as finding each token's bounds and gathering its bytes, which
    matters once per request on the hot path.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if not buf.size or not _number_or_separator(separators).take(buf).all():
        return None
    first = separators[:1]
    for other in separators[1:]:
        data = data.replace(bytes([other]), first)
    if first * 2 in data or data[:1] == first or data[-1:] == first:
        return None  # an empty token
    offsets = np.array([0, len(data)], dtype=np.int64)
    text = pa.LargeStringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(data))
    tokens = pc.split_pattern(text, first.decode("ascii")).flatten()
    try:
        return tokens.cast(dtype).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


@functools.cache
def _number_or_separator(separators: bytes) -> np.ndarray:
    """The bytes a number or one of ``separators`` may be, as a lookup table."""
    table = _NUMBER_BYTES.copy()
    table[np.frombuffer(separators, dtype=np.uint8)] = True
    return table


def to_float64(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A numeric Arrow column as float64, each value rounded to the nearest double as
    Python's ``float()`` rounds it.

    Arrow's own decimal → float64 cast is off by one ulp for some values (about 3 % of
    random ``decimal(38, 18)`` values), so decimals go through their exact decimal string.
    Integers beyond 2**53 round to nearest, like ``float(int)``.
    """
    if pa.types.is_decimal(column.type):
        return column.cast(pa.string()).cast(pa.float64())
    return column.cast(pa.float64(), safe=False)
