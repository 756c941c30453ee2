"""Checks the serde tests share: the vectorized path against the per-row one, and the
wording of a response that cannot be read.

Every built-in serializer promises that ``serialize_batch`` writes what ``serialize_row``
writes, byte for byte and error for error; every deserializer that its errors start with
``cannot read response as <content type>:``. One copy of each check keeps the promise
checked the same way for every format.
"""

from __future__ import annotations

import pytest

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.errors import ResponseParseError

__all__ = ["assert_same_errors", "both_paths", "read_error", "rows_of"]


def assert_same_errors(fast: SerializedRows, slow: SerializedRows) -> None:
    """The same rows failed, with the same messages."""
    assert {i: str(e) for i, e in fast.errors.items()} == {
        i: str(e) for i, e in slow.errors.items()
    }


def both_paths(serializer: RequestRowSerializer, batch) -> SerializedRows:
    """The vectorized result, after checking it equals the per-row path (the base class's
    ``serialize_batch``) byte for byte and error for error."""
    fast = serializer.serialize_batch(batch)
    slow = RequestRowSerializer.serialize_batch(serializer, batch)
    assert fast.data == slow.data
    assert fast.offsets.tolist() == slow.offsets.tolist()
    assert_same_errors(fast, slow)
    return fast


def rows_of(result: SerializedRows) -> list[bytes]:
    return [result.row(i) for i in range(result.num_rows)]


def read_error(deserializer: ResponseRowDeserializer, body: bytes) -> ResponseParseError:
    """The error reading ``body`` raises, after checking it names the content type."""
    with pytest.raises(ResponseParseError) as info:
        list(deserializer.deserialize_response(body))
    assert str(info.value).startswith(f"cannot read response as {deserializer.accepts}: ")
    return info.value
