"""orjson with this library's rules, shared by every JSON SerDe.

Writing: orjson's float spelling is the shortest that reads back the same double (``1.0``,
``0.1``, ``1e+20``) for Python floats and numpy arrays alike — that is what makes the
vectorized writers byte-identical to the per-row ones — and Spark decimals travel as JSON
numbers. Reading: orjson first, Python's parser for the ``NaN`` some servers write. Error
messages show decoded values through :func:`describe_json_value`, so every reader words
them alike.
"""

from __future__ import annotations

import json as stdlib_json
from decimal import Decimal
from typing import Any

import orjson

from serde.errors import ResponseParseError

__all__ = [
    "DUMP_OPTIONS",
    "JSON_CONTENT_TYPE",
    "NOT_FINITE_HINT",
    "decode_json",
    "describe_json_value",
    "dumps",
]

JSON_CONTENT_TYPE = "application/json"
DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
NOT_FINITE_HINT = "JSON has no NaN or Infinity: fill or drop such values before scoring"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=DUMP_OPTIONS)


def _json_default(value: Any) -> Any:
    """orjson's hook for what it does not know: Spark decimals travel as JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} in JSON")


def describe_json_value(value: Any) -> str:
    """How an error message shows a decoded JSON value: its kind and a short spelling."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return (
            f"number {text}" if len(text) <= 40 else f"number {text[:20]}... ({len(text)} digits)"
        )
    if isinstance(value, str):
        return f"string {value[:40]!r}{'...' if len(value) > 40 else ''}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:8])
        return f"an object with keys [{keys}{', ...' if len(value) > 8 else ''}]"
    return type(value).__name__


def decode_json(body: bytes, accepts: str = JSON_CONTENT_TYPE) -> Any:
    """orjson first; Python's parser second, because some servers write ``NaN`` and
    ``Infinity`` (Python's ``json.dumps`` does) and a model may rightly answer NaN."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return stdlib_json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ResponseParseError(f"not valid JSON ({exc})", body, accepts) from None
        except RecursionError:  # orjson stops at 1024 levels; Python's parser recurses
            raise ResponseParseError(
                f"not valid JSON ({exc}): nested deeper than any prediction is", body, accepts
            ) from None
