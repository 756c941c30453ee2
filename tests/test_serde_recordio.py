"""RecordIO framing: exact bytes, padding, round trips, and clear errors on bad bodies."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serde.errors import ResponseParseError
from serde.recordio import (
    MAX_RECORD_BYTES,
    RECORDIO_MAGIC,
    frame_record,
    padding_length,
    read_recordio,
    record_header,
    write_recordio,
)

MAGIC_LE = b"\x0a\x23\xd7\xce"


def test_magic_number_is_written_little_endian():
    assert struct.pack("<I", RECORDIO_MAGIC) == MAGIC_LE


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", MAGIC_LE + b"\x00\x00\x00\x00"),
        (b"a", MAGIC_LE + b"\x01\x00\x00\x00" + b"a\x00\x00\x00"),
        (b"ab", MAGIC_LE + b"\x02\x00\x00\x00" + b"ab\x00\x00"),
        (b"abc", MAGIC_LE + b"\x03\x00\x00\x00" + b"abc\x00"),
        (b"abcd", MAGIC_LE + b"\x04\x00\x00\x00" + b"abcd"),
        (b"abcde", MAGIC_LE + b"\x05\x00\x00\x00" + b"abcde\x00\x00\x00"),
    ],
)
def test_frame_record_exact_bytes(payload, expected):
    assert frame_record(payload) == expected


def test_padding_length_for_each_remainder():
    assert [padding_length(n) for n in range(9)] == [0, 3, 2, 1, 0, 3, 2, 1, 0]


def test_write_recordio_concatenates_frames_in_order():
    body = write_recordio([b"x", b"", b"hello"])
    assert body == frame_record(b"x") + frame_record(b"") + frame_record(b"hello")
    assert len(body) == 12 + 8 + 16
    assert list(read_recordio(body)) == [b"x", b"", b"hello"]


def test_empty_body_has_no_records():
    assert list(read_recordio(b"")) == []


def test_record_header_rejects_lengths_over_29_bits():
    assert record_header(MAX_RECORD_BYTES)[4:] == struct.pack("<I", (1 << 29) - 1)
    with pytest.raises(ValueError, match="holds 0 to 536870911 bytes"):
        record_header(MAX_RECORD_BYTES + 1)


def test_payload_containing_the_magic_number_round_trips():
    payload = MAGIC_LE * 3 + b"tail"
    assert list(read_recordio(write_recordio([payload, payload]))) == [payload, payload]


def test_missing_padding_after_last_record_is_accepted():
    body = frame_record(b"ab") + frame_record(b"abc")[:-1]
    assert list(read_recordio(body)) == [b"ab", b"abc"]


def _part(flag: int, payload: bytes) -> bytes:
    return (
        struct.pack("<II", RECORDIO_MAGIC, (flag << 29) | len(payload))
        + payload
        + b"\x00" * padding_length(len(payload))
    )


def test_multi_part_records_are_reassembled_with_the_magic_between_parts():
    body = _part(1, b"one") + _part(2, b"two") + _part(3, b"three") + frame_record(b"solo")
    assert list(read_recordio(body)) == [b"one" + MAGIC_LE + b"two" + MAGIC_LE + b"three", b"solo"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_part(3, b"end"), "continuation flag 3 outside"),
        (_part(2, b"mid"), "continuation flag 2 outside"),
        (_part(1, b"a") + _part(1, b"b"), "continuation flag 1 inside"),
        (_part(1, b"a") + frame_record(b"b"), "continuation flag 0 inside"),
        (_part(1, b"a") + _part(2, b"b"), "ends inside a multi-part record"),
    ],
)
def test_broken_multi_part_sequences_are_errors(body, fragment):
    with pytest.raises(ResponseParseError, match=fragment):
        list(read_recordio(body))


def test_wrong_magic_names_position_and_quotes_body():
    body = frame_record(b"ok") + b"GARBAGE!" + b"x" * 10
    with pytest.raises(ResponseParseError) as info:
        list(read_recordio(body))
    message = str(info.value)
    assert "at byte 12 starts with 0x42524147, expected the magic number 0xced7230a" in message
    assert info.value.body_head == body
    assert repr(body) in message


def test_truncated_payload_is_an_error_naming_the_lengths():
    body = frame_record(b"0123456789")[:14]
    with pytest.raises(ResponseParseError, match="announces 10 payload bytes, only 6 remain"):
        list(read_recordio(body))


def test_truncated_header_is_an_error():
    body = frame_record(b"abcd") + MAGIC_LE + b"\x01"
    with pytest.raises(ResponseParseError, match="truncated RecordIO header at byte 12: 5 bytes"):
        list(read_recordio(body))


def test_error_quotes_only_the_first_200_bytes():
    body = b"\x00" * 1000
    with pytest.raises(ResponseParseError) as info:
        list(read_recordio(body))
    assert info.value.body_head == b"\x00" * 200
    assert "body (1000 bytes)" in str(info.value)
    assert str(info.value).endswith("...")


def test_json_body_is_rejected_clearly():
    body = b'{"predictions": [1, 2]}'
    with pytest.raises(ResponseParseError, match="not RecordIO") as info:
        list(read_recordio(body))
    assert "predictions" in str(info.value)


payload_lists = st.lists(st.binary(max_size=64), max_size=12)


@settings(max_examples=200, deadline=None)
@given(payload_lists)
def test_round_trip_and_alignment(payloads):
    body = write_recordio(payloads)
    assert len(body) % 4 == 0
    assert len(body) == sum(8 + len(p) + padding_length(len(p)) for p in payloads)
    assert list(read_recordio(body)) == payloads


@settings(max_examples=200, deadline=None)
@given(payload_lists.filter(bool), st.data())
def test_any_truncation_is_an_error_or_a_clean_prefix(payloads, data):
    body = write_recordio(payloads)
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    try:
        records = list(read_recordio(body[:cut]))
    except ResponseParseError as exc:
        assert exc.body_head == body[:cut][:200]
        return
    assert records == payloads[: len(records)]
    assert len(records) < len(payloads) or cut > len(body) - 4


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_arbitrary_bytes_never_crash_the_reader(junk):
    with contextlib.suppress(ResponseParseError):
        list(read_recordio(junk))
