"""RequestBatchIterator: exact limits, framing, failures at their place, nothing lost.

The serializers here are written the way a user would write one: a subclass of
``RequestRowSerializer`` with a content type and ``serialize_row``.
"""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import Row

from serde.base import RequestRowSerializer, SerializedRows
from serde.batching import RequestBatchIterator, RequestBody, RowFailure
from serde.errors import RowSerializationError, RowTooLargeError


class LineSerializer(RequestRowSerializer):
    """One text line per row; rows carry their own terminator, so there is no framing."""

    content_type = "text/plain"

    def serialize_row(self, row: Row) -> bytes:
        if row.text is None:
            raise ValueError("text is null")
        return row.text.encode() + b"\n"


class InstancesSerializer(RequestRowSerializer):
    """JSON ``{"instances": [...]}``: framing on both sides and a separator between rows."""

    content_type = "application/json"
    body_prefix = b'{"instances":['
    row_separator = b","
    body_suffix = b"]}"

    def serialize_row(self, row: Row) -> bytes:
        if row.text is None:
            raise RowSerializationError("text is null", column="text")
        return json.dumps(row.text).encode()


class TrailingInstancesSerializer(InstancesSerializer):
    """Same bytes as InstancesSerializer, written the vectorized way: ``row,`` per row."""

    def serialize_batch(self, batch: pa.RecordBatch) -> SerializedRows:
        plain = super().serialize_batch(batch)
        rows = [
            None if i in plain.errors else plain.row(i) + self.row_separator
            for i in range(plain.num_rows)
        ]
        return SerializedRows.from_list(rows, plain.errors, trailing_separator=True)


class ColumnarSerializer(RequestRowSerializer):
    """``{"inputs": [...]}`` built per body; row sizes it reports are under-estimates."""

    content_type = "application/json"
    row_separable = False

    def serialize_row(self, row: Row) -> bytes:
        return b"x"  # a deliberately low size estimate: the packer must measure bodies

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        return json.dumps({"inputs": batch.column("text").to_pylist()}).encode()


PREFIX_SUFFIX = len(b'{"instances":[') + len(b"]}")


def text_batch(texts: list[str | None]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(texts, pa.string())], names=["text"])


def instances_body(texts: list[str]) -> bytes:
    return b'{"instances":[' + b",".join(json.dumps(t).encode() for t in texts) + b"]}"


def pack(serializer, texts, **limits) -> list[RequestBody | RowFailure]:
    packer = RequestBatchIterator(serializer, **limits)
    return list(packer.iter_arrow([text_batch(texts)]))


def spans(items) -> list[tuple[int, int] | int]:
    """Bodies as (start, stop), failures as their index: the shape of a packing."""
    return [(i.start, i.stop) if isinstance(i, RequestBody) else i.index for i in items]


# --- byte limit at the exact boundary, framing counted -------------------------------


def test_body_of_exactly_max_batch_bytes_is_allowed_and_one_byte_less_splits_it():
    texts = ["aaaa", "bbbb", "cccc", "dddd"]
    three = instances_body(texts[:3])
    assert three == b'{"instances":["aaaa","bbbb","cccc"]}'
    assert len(three) == PREFIX_SUFFIX + 3 * 6 + 2 == 36

    exact = pack(InstancesSerializer(), texts, max_batch_bytes=36)
    assert spans(exact) == [(0, 3), (3, 4)]
    assert [b.body for b in exact] == [three, b'{"instances":["dddd"]}']
    assert all(len(b.body) <= 36 for b in exact)

    tighter = pack(InstancesSerializer(), texts, max_batch_bytes=35)
    assert spans(tighter) == [(0, 2), (2, 4)]
    assert [len(b.body) for b in tighter] == [29, 29]
    assert [json.loads(b.body)["instances"] for b in tighter] == [texts[:2], texts[2:]]


def test_unframed_rows_are_concatenated_and_limit_is_exact():
    texts = ["a" * 9, "b" * 9, "c" * 9]  # 10 bytes per row with its newline
    assert spans(pack(LineSerializer(), texts, max_batch_bytes=30)) == [(0, 3)]
    items = pack(LineSerializer(), texts, max_batch_bytes=29)
    assert spans(items) == [(0, 2), (2, 3)]
    assert items[0].body == b"aaaaaaaaa\nbbbbbbbbb\n"
    assert items[1].body == b"ccccccccc\n"


def test_single_row_body_counts_prefix_and_suffix_but_no_separator():
    one = instances_body(["abcdef"])  # 16 framing + 8 row bytes
    assert len(one) == 24
    assert spans(pack(InstancesSerializer(), ["abcdef"], max_batch_bytes=24)) == [(0, 1)]
    [failure] = pack(InstancesSerializer(), ["abcdef"], max_batch_bytes=23)
    assert isinstance(failure, RowFailure)
    assert failure.error.size == 24
    assert failure.error.limit == 23


@pytest.mark.parametrize("max_batch_bytes", [17, 20, 24, 29, 35, 36, 37, 50, 1000])
@pytest.mark.parametrize("max_batch_records", [1, 2, 3, 100])
def test_trailing_separator_rows_give_identical_bodies(max_batch_bytes, max_batch_records):
    texts = ["aaaa", "bb", None, "cccccccccccccccc", "d", "", "eeeeeee", None, "f"]
    limits = dict(max_batch_bytes=max_batch_bytes, max_batch_records=max_batch_records)
    plain = pack(InstancesSerializer(), texts, **limits)
    trailing = pack(TrailingInstancesSerializer(), texts, **limits)
    assert spans(trailing) == spans(plain)
    assert [getattr(i, "body", None) for i in trailing] == [getattr(i, "body", None) for i in plain]
    assert [str(getattr(i, "error", "")) for i in trailing] == [
        str(getattr(i, "error", "")) for i in plain
    ]


def test_max_batch_records_is_respected():
    texts = [f"r{i}" for i in range(10)]
    items = pack(LineSerializer(), texts, max_batch_records=3)
    assert spans(items) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert items[1].body == b"r3\nr4\nr5\n"
    assert [b.num_rows for b in items] == [3, 3, 3, 1]


def test_records_and_bytes_limits_together_take_the_tighter():
    texts = ["x" * 4] * 6  # 5 bytes per row
    assert spans(pack(LineSerializer(), texts, max_batch_records=4, max_batch_bytes=10)) == [
        (0, 2),
        (2, 4),
        (4, 6),
    ]
    assert spans(pack(LineSerializer(), texts, max_batch_records=2, max_batch_bytes=100)) == [
        (0, 2),
        (2, 4),
        (4, 6),
    ]


# --- rows that cannot be sent --------------------------------------------------------


def test_oversize_row_is_a_failure_naming_row_and_size_while_neighbours_are_packed():
    texts = ["a", "b", "c", "X" * 40, "d", "e"]
    items = pack(InstancesSerializer(), texts, max_batch_bytes=30)
    assert spans(items) == [(0, 3), 3, (4, 6)]
    failure = items[1]
    assert isinstance(failure.error, RowTooLargeError)
    assert failure.error.row_index == 3
    assert failure.error.size == PREFIX_SUFFIX + 42 == 58
    assert failure.error.limit == 30
    assert str(failure.error) == (
        "row 3: serialized row is 58 bytes with framing, over max_batch_bytes=30; "
        "raise max_batch_bytes (the endpoint must accept it) or shrink the row"
    )
    assert items[0].body == b'{"instances":["a","b","c"]}'
    assert items[2].body == b'{"instances":["d","e"]}'


def test_serialization_errors_come_out_at_their_place():
    texts = ["a", None, "b", "c", None, None, "d"]
    items = pack(InstancesSerializer(), texts)
    assert spans(items) == [(0, 1), 1, (2, 4), 4, 5, (6, 7)]
    errors = [i.error for i in items if isinstance(i, RowFailure)]
    assert [type(e) for e in errors] == [RowSerializationError] * 3
    assert [str(e) for e in errors] == [
        "row 1, column 'text': text is null",
        "row 4, column 'text': text is null",
        "row 5, column 'text': text is null",
    ]
    assert items[2].body == b'{"instances":["b","c"]}'


def test_plain_value_error_in_user_serializer_becomes_a_row_failure():
    items = pack(LineSerializer(), ["a", None, "b"])
    assert spans(items) == [(0, 1), 1, (2, 3)]
    assert isinstance(items[1].error, RowSerializationError)
    assert str(items[1].error) == "row 1: text is null"


def test_iter_arrow_counts_indices_across_batches_and_never_spans_two_batches():
    packer = RequestBatchIterator(LineSerializer(), max_batch_records=10)
    batches = [text_batch(["a", "b", "c"]), text_batch(["d", None]), text_batch(["e", "f"])]
    items = list(packer.iter_arrow(batches))
    assert spans(items) == [(0, 3), (3, 4), 4, (5, 7)]
    assert [i.body for i in items if isinstance(i, RequestBody)] == [
        b"a\nb\nc\n",
        b"d\n",
        b"e\nf\n",
    ]
    assert items[2].error.row_index == 4
    assert str(items[2].error) == "row 4: text is null"


def test_iter_rows_with_spark_rows_keeps_indices_across_chunks():
    rows = [Row(text=t) for t in ["a", "b", None, "c", "d", "e", "ff"]]
    packer = RequestBatchIterator(InstancesSerializer(), max_batch_records=2)
    items = list(packer.iter_rows(rows, chunk_rows=3))
    # chunks [0,3) [3,6) [6,7): bodies never cross a chunk either
    assert spans(items) == [(0, 2), 2, (3, 5), (5, 6), (6, 7)]
    assert items[0].body == b'{"instances":["a","b"]}'
    assert items[2].body == b'{"instances":["c","d"]}'
    assert items[4].body == b'{"instances":["ff"]}'
    assert str(items[1].error) == "row 2, column 'text': text is null"


def test_iter_rows_refuses_non_row_separable_serializer():
    packer = RequestBatchIterator(ColumnarSerializer())
    with pytest.raises(TypeError, match="ColumnarSerializer builds whole bodies"):
        list(packer.iter_rows([Row(text="a")]))


def test_body_for_rebuilds_part_of_a_body():
    ser = InstancesSerializer()
    packer = RequestBatchIterator(ser)
    batch = text_batch(["a", "bb", "ccc", "dddd"])
    rows = ser.serialize_batch(batch)
    assert packer.body_for(rows, batch, 1, 3) == b'{"instances":["bb","ccc"]}'
    assert packer.body_for(rows, None, 3, 4) == b'{"instances":["dddd"]}'
    trailing = TrailingInstancesSerializer()
    trailing_packer = RequestBatchIterator(trailing)
    assert trailing_packer.body_for(trailing.serialize_batch(batch), None, 0, 2) == (
        b'{"instances":["a","bb"]}'
    )


# --- serializers whose bodies are not a join of rows ---------------------------------


def test_non_row_separable_bodies_are_measured_and_halved():
    texts = [f"row-{i}" for i in range(8)]  # "row-0" is 7 bytes as JSON, 9 with ", "
    full = json.dumps({"inputs": texts}).encode()
    assert len(full) > 40
    items = pack(ColumnarSerializer(), texts, max_batch_bytes=40)
    # estimates (1 byte/row) let all 8 rows in; the real body is too big: halve to fit
    assert spans(items) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert [i.body for i in items] == [
        json.dumps({"inputs": texts[k : k + 2]}).encode() for k in range(0, 8, 2)
    ]
    assert all(len(i.body) <= 40 for i in items)
    assert spans(pack(ColumnarSerializer(), texts, max_batch_bytes=len(full))) == [(0, 8)]


def test_non_row_separable_single_row_too_big_is_a_failure():
    texts = ["a", "b" * 50, "c"]
    items = pack(ColumnarSerializer(), texts, max_batch_bytes=30)
    assert spans(items) == [(0, 1), 1, (2, 3)]
    assert items[1].error.size == len(json.dumps({"inputs": ["b" * 50]}))
    assert items[1].error.row_index == 1


def test_non_row_separable_body_for_and_pack_need_the_batch():
    ser = ColumnarSerializer()
    packer = RequestBatchIterator(ser)
    batch = text_batch(["a", "b", "c"])
    rows = ser.serialize_batch(batch)
    assert packer.body_for(rows, batch, 1, 3) == b'{"inputs": ["b", "c"]}'
    with pytest.raises(TypeError, match="needs the batch"):
        packer.body_for(rows, None, 0, 1)
    with pytest.raises(TypeError, match="not row-separable"):
        list(packer.pack(rows))


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_batch_records must be at least 1, got 0"):
        RequestBatchIterator(LineSerializer(), max_batch_records=0)
    with pytest.raises(ValueError, match="framing alone takes 16 bytes"):
        RequestBatchIterator(InstancesSerializer(), max_batch_bytes=16)
    RequestBatchIterator(InstancesSerializer(), max_batch_bytes=17)


# --- property: every input index exactly once, limits held, packing greedy ------------


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.one_of(st.none(), st.text(alphabet="abc", min_size=0, max_size=30)),
        min_size=0,
        max_size=60,
    ),
    max_batch_bytes=st.integers(min_value=17, max_value=120),
    max_batch_records=st.integers(min_value=1, max_value=12),
    trailing=st.booleans(),
    split_at=st.integers(min_value=0, max_value=60),
)
def test_every_index_appears_exactly_once(
    rows, max_batch_bytes, max_batch_records, trailing, split_at
):
    ser = TrailingInstancesSerializer() if trailing else InstancesSerializer()
    packer = RequestBatchIterator(
        ser, max_batch_bytes=max_batch_bytes, max_batch_records=max_batch_records
    )
    batches = [text_batch(rows[:split_at]), text_batch(rows[split_at:])]
    items = list(packer.iter_arrow(batches))

    seen: list[int] = []
    for item in items:
        if isinstance(item, RequestBody):
            chunk = rows[item.start : item.stop]
            assert None not in chunk
            assert item.body == instances_body(chunk)
            assert len(item.body) <= max_batch_bytes
            assert 1 <= item.num_rows <= max_batch_records
            assert not (item.start < split_at < item.stop)  # never spans two batches
            seen.extend(range(item.start, item.stop))
        else:
            text = rows[item.index]
            if text is None:
                assert type(item.error) is RowSerializationError
            else:
                assert isinstance(item.error, RowTooLargeError)
                assert item.error.size == len(instances_body([text])) > max_batch_bytes
            assert item.error.row_index == item.index
            seen.append(item.index)
    assert seen == list(range(len(rows)))

    # greedy: a body stops only at a limit, a failure, a batch boundary or the end
    for item, after in pairwise(items):
        if isinstance(item, RequestBody) and isinstance(after, RequestBody):
            if after.start == split_at:
                continue
            grown = instances_body(rows[item.start : item.stop + 1])
            assert item.num_rows == max_batch_records or len(grown) > max_batch_bytes


def test_serialized_rows_layout():
    rows = SerializedRows.from_list([b"ab", None, b"", b"cde"], {1: RowSerializationError("x")})
    assert rows.num_rows == 4
    assert rows.offsets.tolist() == [0, 2, 2, 2, 5]
    assert rows.offsets.dtype == np.int64
    assert [rows.row(i) for i in range(4)] == [b"ab", b"", b"", b"cde"]
    assert list(rows.errors) == [1]
