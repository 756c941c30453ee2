"""RecordIO framing, byte for byte as SageMaker's built-in algorithms read and write it.

Each record is framed as::

    uint32 LE  magic      0xced7230a
    uint32 LE  lrecord    top 3 bits: continuation flag; low 29 bits: payload length
    payload
    0-3 zero bytes        padding to a multiple of 4

This is MXNet/dmlc-core's RecordIO, which SageMaker adopted for
``application/x-recordio-protobuf``. Writers here always emit whole records (flag 0), as
sagemaker_pyspark and the SageMaker Python SDK do. The reader also reassembles the
multi-part records dmlc-core writes for payloads that contain the magic number (flags
1 = first, 2 = middle, 3 = last; the parts are joined by the magic number they replaced),
so bodies from any RecordIO writer read back.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from serde.errors import ResponseParseError

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORDIO_MAGIC",
    "frame_record",
    "padding_length",
    "read_recordio",
    "record_header",
    "write_recordio",
]

RECORDIO_MAGIC = 0xCED7230A
#: The length field keeps 29 bits; the top 3 are the continuation flag.
_LENGTH_BITS = 29
MAX_RECORD_BYTES = (1 << _LENGTH_BITS) - 1
_LENGTH_MASK = MAX_RECORD_BYTES
_HEADER = struct.Struct("<II")
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_PADDING = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")

_FLAG_WHOLE, _FLAG_FIRST, _FLAG_MIDDLE, _FLAG_LAST = 0, 1, 2, 3


def padding_length(payload_length: int) -> int:
    """Zero bytes that follow a payload of ``payload_length`` bytes (the 8-byte header
    keeps alignment, so only the payload counts)."""
    return -payload_length % 4


def record_header(payload_length: int) -> bytes:
    """The 8 bytes that open a whole record of ``payload_length`` bytes; vectorized writers
    that lay out many records at once start each one with it."""
    if not 0 <= payload_length <= MAX_RECORD_BYTES:
        raise ValueError(
            f"a RecordIO record holds 0 to {MAX_RECORD_BYTES} bytes (29-bit length), "
            f"got {payload_length}; split the data into smaller records"
        )
    return _HEADER.pack(RECORDIO_MAGIC, payload_length)


def frame_record(payload: bytes) -> bytes:
    """One RecordIO record holding ``payload`` whole: header, payload, padding."""
    length = len(payload)
    return record_header(length) + payload + _PADDING[-length % 4]


def write_recordio(records: Iterable[bytes]) -> bytes:
    """The RecordIO body of ``records``: each one framed, concatenated in order."""
    return b"".join(frame_record(record) for record in records)


def read_recordio(body: bytes) -> Iterator[bytes]:
    """Yields the payload of every record in ``body``, in order.

    Raises :class:`~serde.errors.ResponseParseError` quoting the start of ``body`` when a
    frame is truncated or does not start with the magic number. Padding after the very last
    record may be missing (some writers omit it); nothing is lost without it.
    """
    view = memoryview(body)
    size = len(view)
    position = 0
    parts: list[bytes] = []  # pieces of a multi-part record being reassembled
    while position < size:
        if size - position < _HEADER.size:
            raise _frame_error(
                f"truncated RecordIO header at byte {position}: {size - position} bytes "
                f"left, a header needs {_HEADER.size}",
                body,
            )
        magic, lrecord = _HEADER.unpack_from(view, position)
        if magic != RECORDIO_MAGIC:
            raise _frame_error(
                f"RecordIO frame at byte {position} starts with 0x{magic:08x}, expected the "
                f"magic number 0x{RECORDIO_MAGIC:08x}; the body is not RecordIO (or is "
                "garbled)",
                body,
            )
        flag = lrecord >> _LENGTH_BITS
        length = lrecord & _LENGTH_MASK
        start = position + _HEADER.size
        end = start + length
        if end > size:
            raise _frame_error(
                f"truncated RecordIO record at byte {position}: header announces {length} "
                f"payload bytes, only {size - start} remain",
                body,
            )
        payload = bytes(view[start:end])
        position = end + padding_length(length)
        if flag == _FLAG_WHOLE and not parts:
            yield payload
        elif flag in (_FLAG_FIRST, _FLAG_MIDDLE) and (flag == _FLAG_FIRST) == (not parts):
            parts.append(payload)
        elif flag == _FLAG_LAST and parts:
            parts.append(payload)
            yield _MAGIC_BYTES.join(parts)
            parts = []
        else:
            raise _frame_error(
                f"RecordIO record at byte {start - _HEADER.size} has continuation flag "
                f"{flag} {'inside' if parts else 'outside'} a multi-part record; the body "
                "is garbled",
                body,
            )
    if parts:
        raise _frame_error(
            f"RecordIO body ends inside a multi-part record ({len(parts)} parts read, the "
            "last part is missing)",
            body,
        )


def _frame_error(reason: str, body: bytes) -> ResponseParseError:
    return ResponseParseError(reason, body=body)
