"""The protobuf wire format and RecordIO framing, read and written by hand for the host.

The host speaks ``application/x-recordio-protobuf`` with this module and never with the
client's :mod:`serde.protobuf` (generated classes) or :mod:`serde.recordio`: were both sides
one implementation, a framing or encoding bug would cancel out in every test, and the host
would import ``serde`` (and through it pyspark) to answer a request. Written from the
protobuf encoding spec (https://protobuf.dev/programming-guides/encoding/) and dmlc-core's
RecordIO; it covers what aialgs Records use: varints, 32/64-bit fixed values and
length-delimited fields, packed or not.

Every length read from the wire is checked against the bytes that are really there before
anything is sliced or allocated, so a body can only make the host do work in proportion to
its size; the caller caps declared tensor sizes (:mod:`endpoints.local.protobuf_codec`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from endpoints.local.errors import BadInput

__all__ = [
    "FIXED32",
    "FIXED64",
    "LENGTH_DELIMITED",
    "RECORDIO_MAGIC",
    "VARINT",
    "Buffer",
    "Field",
    "frame_records",
    "iter_fields",
    "length_delimited",
    "packed_varints",
    "read_recordio",
    "varint",
    "varint_list",
]

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
RECORDIO_MAGIC = 0xCED7230A
_RECORDIO_HEADER = struct.Struct("<II")
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LENGTH_BITS = 29  # the top 3 bits of RecordIO's length word are the continuation flag
_MAX_VARINT_BYTES = 10
_SHORT_PACKED_BYTES = 48  # below this, decoding varints in a loop beats numpy's overhead

#: What the readers take: a record's payload, or a whole body.
Buffer = bytes | memoryview

#: One field as read: its number, wire type and value — an int for varints, the
#: ``(start, end)`` offsets of the payload in the buffer for the other wire types.
Field = tuple[int, int, "int | tuple[int, int]"]


# ----------------------------------------------------------------------------------- reading


def _read_varint(buffer: Buffer, position: int, end: int) -> tuple[int, int]:
    """The varint at ``position`` and the offset after it."""
    if position < end and buffer[position] < 0x80:  # tags and small lengths: one byte
        return buffer[position], position + 1
    result = shift = 0
    for index in range(position, min(end, position + _MAX_VARINT_BYTES)):
        byte = buffer[index]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, index + 1
        shift += 7
    raise BadInput(f"truncated or over-long protobuf varint at byte {position}")


def iter_fields(buffer: Buffer, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """Yields every field of the message in ``buffer[start:end]`` in wire order (repeated
    and unknown fields included; the caller skips what it does not know)."""
    end = len(buffer) if end is None else end
    position = start
    while position < end:
        key, position = _read_varint(buffer, position, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == LENGTH_DELIMITED:
            size, position = _read_varint(buffer, position, end)
        elif wire_type == VARINT:
            value, position = _read_varint(buffer, position, end)
            yield number, wire_type, value
            continue
        elif wire_type == FIXED32:
            size = 4
        elif wire_type == FIXED64:
            size = 8
        else:
            raise BadInput(
                f"protobuf wire type {wire_type} (field {number}) is not used by aialgs "
                "Records; the data is garbled or not a Record"
            )
        if size > end - position:
            raise BadInput(
                f"protobuf field {number} announces {size} bytes at byte {position}, only "
                f"{end - position} remain; the message is truncated"
            )
        yield number, wire_type, (position, position + size)
        position += size


def varint_list(buffer: Buffer, start: int, end: int) -> list[int]:
    """The packed varints in ``buffer[start:end]``, one by one: for short fields (a shape),
    where numpy's per-call cost outweighs the loop."""
    values = []
    position = start
    while position < end:
        value, position = _read_varint(buffer, position, end)
        values.append(value)
    return values


def packed_varints(buffer: Buffer, start: int, end: int) -> np.ndarray:
    """The packed varints in ``buffer[start:end]`` as uint64, decoded in one numpy pass
    (sparse keys can number hundreds of thousands per body)."""
    if end - start <= _SHORT_PACKED_BYTES:
        return np.array(varint_list(buffer, start, end), dtype=np.uint64)
    data = np.frombuffer(buffer, dtype=np.uint8, count=end - start, offset=start)
    if not data.size:
        return np.zeros(0, dtype=np.uint64)
    last_bytes = np.flatnonzero(data < 0x80)
    if not last_bytes.size or last_bytes[-1] != data.size - 1:
        raise BadInput(f"truncated packed varints at byte {start}")
    firsts = np.concatenate(([0], last_bytes[:-1] + 1))
    lengths = last_bytes - firsts + 1
    if int(lengths.max()) > _MAX_VARINT_BYTES:
        raise BadInput(f"over-long varint in the packed field at byte {start}")
    shifts = 7 * (np.arange(data.size) - np.repeat(firsts, lengths))
    parts = (data & 0x7F).astype(np.uint64) << shifts.astype(np.uint64)
    return np.add.reduceat(parts, firsts)  # disjoint bit ranges: the sum is the OR


def read_recordio(body: bytes) -> Iterator[tuple[int, bytes]]:
    """Yields ``(offset, payload)`` for each RecordIO record in ``body``: where its frame
    starts, and its payload (a multi-part record's parts joined with the magic number they
    replaced, as dmlc-core writes payloads that contain it: flags 1 first, 2 middle, 3
    last)."""
    size = len(body)
    position = 0
    parts: list[bytes] = []
    first = 0
    while position < size:
        if size - position < _RECORDIO_HEADER.size:
            raise BadInput(
                f"truncated RecordIO header at byte {position}: {size - position} bytes left, "
                f"a header needs {_RECORDIO_HEADER.size}"
            )
        magic, word = _RECORDIO_HEADER.unpack_from(body, position)
        if magic != RECORDIO_MAGIC:
            raise BadInput(
                f"RecordIO frame at byte {position} starts with 0x{magic:08x}, expected the "
                f"magic number 0x{RECORDIO_MAGIC:08x}; the body is not RecordIO-framed"
            )
        flag, length = word >> _LENGTH_BITS, word & ((1 << _LENGTH_BITS) - 1)
        start = position + _RECORDIO_HEADER.size
        if length > size - start:
            raise BadInput(
                f"truncated RecordIO record at byte {position}: its header announces {length} "
                f"bytes, only {size - start} remain"
            )
        payload = body[start : start + length]
        frame, position = position, start + length + (-length % 4)
        if flag == 0 and not parts:
            yield frame, payload
        elif flag in (1, 2) and (flag == 1) == (not parts):
            first = frame if flag == 1 else first
            parts.append(payload)
        elif flag == 3 and parts:
            yield first, _MAGIC_BYTES.join([*parts, payload])
            parts = []
        else:
            raise BadInput(
                f"RecordIO record at byte {frame} has continuation flag {flag} "
                f"{'inside' if parts else 'outside'} a multi-part record"
            )
    if parts:
        raise BadInput("RecordIO body ends inside a multi-part record (its last part is missing)")


# ----------------------------------------------------------------------------------- writing


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a protobuf varint."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    """Field ``number`` holding ``payload`` (a string, bytes, sub-message or packed field)."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def frame_records(payloads: np.ndarray) -> bytes:
    """Records of equal length, one per row of the uint8 matrix ``payloads``, framed in
    RecordIO (header, payload, zero padding to 4 bytes), laid out in one numpy array."""
    rows, length = payloads.shape
    if length >= 1 << _LENGTH_BITS:
        raise ValueError(f"a RecordIO record holds under 2^29 bytes, got {length}")
    header = np.frombuffer(_RECORDIO_HEADER.pack(RECORDIO_MAGIC, length), dtype=np.uint8)
    framed = np.zeros((rows, header.size + length + (-length % 4)), dtype=np.uint8)
    framed[:, : header.size] = header
    framed[:, header.size : header.size + length] = payloads
    return framed.tobytes()
