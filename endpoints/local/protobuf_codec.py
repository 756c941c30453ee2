"""SageMaker's ``application/x-recordio-protobuf``: RecordIO-framed aialgs ``Record``s.

Requests carry each row in ``features["values"]``: a dense tensor (its values are the row),
a sparse vector (``keys`` are indices into ``shape = [size]``), or an ML Matrix (``shape =
[rows, cols]``, values row-major when dense, flat row-major ``keys`` when sparse) — a matrix
becomes one row of ``rows * cols`` values, as a dense matrix's values already are.
Responses carry each row's outputs in the ``label`` map, keyed by output name (a single
unnamed output is ``score``), as the built-in algorithms (KMeans, PCA, LinearLearner, ...)
answer.

Both directions are the host's own (:mod:`endpoints.local.protobuf_wire`), not the client's
:mod:`serde.protobuf`. Declared sizes (shapes, keys) are checked against
:data:`~endpoints.local.codecs.MAX_DECLARED_WIDTH` and
:data:`~endpoints.local.codecs.MAX_DECODED_VALUES` before any array is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from endpoints.local.errors import ApiError, BadInput
from endpoints.local.limits import check_declared_size
from endpoints.local.protobuf_wire import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    frame_records,
    iter_fields,
    length_delimited,
    packed_varints,
    read_recordio,
    varint,
    varint_list,
)

__all__ = ["decode_records", "encode_records"]

FEATURES_KEY = "values"
# field numbers of aialgs' record.proto
_RECORD_FEATURES, _RECORD_LABEL = 1, 2
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_TENSOR_VALUES, _TENSOR_KEYS, _TENSOR_SHAPE = 1, 2, 3
#: Value's oneof: field number → (name, dtype of a packed value, wire type of one value)
_TENSOR_FIELDS = {
    2: ("float32_tensor", np.dtype("<f4"), FIXED32),
    3: ("float64_tensor", np.dtype("<f8"), FIXED64),
    7: ("int32_tensor", None, VARINT),
}
_BYTES_FIELD = 9


@dataclass(frozen=True)
class _Tensor:
    """A features tensor as sent: ``keys`` is ``None`` when it is dense. ``packed_span``
    is where its values lie in the payload when they are one packed float field (the form
    every writer uses), so equal records can be read all at once."""

    values: np.ndarray
    keys: np.ndarray | None
    shape: tuple[int, ...]
    packed_span: tuple[int, int] | None = None


# ----------------------------------------------------------------------------------- decoding


def _features_value(payload: bytes, number: int) -> tuple[int, int, int]:
    """``(tensor field, start, end)`` of ``features["values"]`` in one Record's payload."""
    found: tuple[int, int, int] | None = None
    keys: list[str] = []
    for field, wire_type, span in iter_fields(payload):
        if field != _RECORD_FEATURES or wire_type != LENGTH_DELIMITED:
            continue  # labels, uid, metadata: not the request's business
        assert isinstance(span, tuple)
        key, value = "", None
        for entry_field, entry_type, entry_span in iter_fields(payload, *span):
            if entry_type != LENGTH_DELIMITED:
                continue
            assert isinstance(entry_span, tuple)
            if entry_field == _ENTRY_KEY:
                key = payload[entry_span[0] : entry_span[1]].decode("utf-8", "replace")
            elif entry_field == _ENTRY_VALUE:
                value = entry_span
        keys.append(key)
        if key == FEATURES_KEY and value is not None:
            found = None  # a later entry with the same key wins, as in any protobuf map
            for kind, kind_type, kind_span in iter_fields(payload, *value):
                if kind_type == LENGTH_DELIMITED and (
                    kind in _TENSOR_FIELDS or kind == _BYTES_FIELD
                ):
                    assert isinstance(kind_span, tuple)
                    found = (kind, *kind_span)  # the last member set wins, as in a oneof
    if found is None:
        raise BadInput(
            f"Record {number} has no features['values'] tensor; got keys {sorted(set(keys))}."
        )
    if found[0] == _BYTES_FIELD:
        raise BadInput(f"Record {number}: features['values'] must be a numeric tensor, got bytes.")
    return found


def _uint64s(payload: bytes, parts: list[tuple[int, object]]) -> np.ndarray:
    """A repeated uint64 field's values, from its packed and unpacked occurrences."""
    if len(parts) == 1 and parts[0][0] == LENGTH_DELIMITED:
        return packed_varints(payload, *parts[0][1])  # type: ignore[misc]
    arrays = [
        packed_varints(payload, *span)  # type: ignore[misc]
        if wire_type == LENGTH_DELIMITED
        else np.array([span], dtype=np.uint64)
        for wire_type, span in parts
    ]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.uint64)


def _shape(payload: bytes, parts: list[tuple[int, object]]) -> tuple[int, ...]:
    dims: list[int] = []
    for wire_type, span in parts:
        if wire_type == LENGTH_DELIMITED:
            dims.extend(varint_list(payload, *span))  # type: ignore[misc]
        else:
            dims.append(span)  # type: ignore[arg-type]
    return tuple(dims)


def _tensor(payload: bytes, kind: int, start: int, end: int, number: int) -> _Tensor:
    dtype = _TENSOR_FIELDS[kind][1]
    single_type = _TENSOR_FIELDS[kind][2]
    values: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    keys: list[tuple[int, object]] = []
    shape: list[tuple[int, object]] = []
    for field, wire_type, span in iter_fields(payload, start, end):
        if field == _TENSOR_VALUES:
            if wire_type == LENGTH_DELIMITED and dtype is not None:
                assert isinstance(span, tuple)
                count, extra = divmod(span[1] - span[0], dtype.itemsize)
                if extra:
                    raise BadInput(
                        f"Record {number}: packed tensor values of {span[1] - span[0]} bytes "
                        f"are not a whole number of {dtype.itemsize}-byte values."
                    )
                values.append(np.frombuffer(payload, dtype, count, span[0]))
                spans.append(span)
            elif wire_type == LENGTH_DELIMITED:  # int32: packed varints, two's complement
                assert isinstance(span, tuple)
                values.append(packed_varints(payload, *span).view(np.int64))
            elif wire_type == single_type == VARINT:
                assert isinstance(span, int)
                values.append(np.array([span], dtype=np.uint64).view(np.int64))
            elif wire_type == single_type:
                assert isinstance(span, tuple) and dtype is not None
                values.append(np.frombuffer(payload, dtype, 1, span[0]))
            else:
                raise BadInput(f"Record {number}: tensor values have wire type {wire_type}.")
        elif field == _TENSOR_KEYS and wire_type in (VARINT, LENGTH_DELIMITED):
            keys.append((wire_type, span))
        elif field == _TENSOR_SHAPE and wire_type in (VARINT, LENGTH_DELIMITED):
            shape.append((wire_type, span))
    if len(values) == 1:
        flat = values[0]
    else:
        flat = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
    packed_span = spans[0] if len(values) == len(spans) == 1 and not keys else None
    return _Tensor(
        flat, _uint64s(payload, keys) if keys else None, _shape(payload, shape), packed_span
    )


def _declared_size(tensor: _Tensor, number: int) -> int:
    """A sparse tensor's row width: its shape's product (capped dimension by dimension, so
    huge dimensions are refused before they are multiplied out), or without a shape its
    largest key + 1."""
    what = f"Record {number}'s sparse features tensor"
    if not tensor.shape:
        widest = int(tensor.keys.max()) + 1 if tensor.keys is not None and tensor.keys.size else 0
        check_declared_size(1, widest, f"{what} (no shape; largest key + 1)")
        return widest
    size = 1
    for dimension in tensor.shape:
        size *= dimension
        check_declared_size(1, size, f"{what} of shape {list(tensor.shape)}")
    return size


def _row(tensor: _Tensor, number: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``(values, keys, width)`` of one request row. A dense row spells its values, so the
    body bounds it; a sparse row declares its width, which is checked here."""
    if tensor.keys is None:
        return tensor.values, None, tensor.values.size
    width = _declared_size(tensor, number)
    if tensor.keys.size != tensor.values.size:
        raise BadInput(
            f"Record {number}: a sparse tensor needs one key per value, got "
            f"{tensor.keys.size} keys for {tensor.values.size} values."
        )
    if tensor.keys.size and int(tensor.keys.max()) >= width:
        raise BadInput(
            f"Record {number}: sparse key {int(tensor.keys.max())} is outside the tensor's "
            f"{width} positions (shape {list(tensor.shape) or 'not set'}); keys are flat "
            "0-based positions, row-major for a matrix."
        )
    return tensor.values, tensor.keys.astype(np.int64), width


def _equal_frames(body: bytes, frame: int, values: tuple[int, int]) -> np.ndarray | None:
    """The body as a (records x frame bytes) grid when every record is ``frame`` bytes and
    equal to the first outside the ``values`` columns — then every record parses as the first
    did, with its own values there. ``None`` when the body is not that regular."""
    if len(body) % frame:
        return None
    grid = np.frombuffer(body, dtype=np.uint8).reshape(-1, frame)
    start, end = values
    if (grid[:, :start] == grid[0, :start]).all() and (grid[:, end:] == grid[0, end:]).all():
        return grid
    return None


def decode_records(body: bytes) -> tuple[np.ndarray, int]:
    """The request's rows as a 2-D float64 array (shorter rows zero-padded to the widest),
    and the row count.

    Writers lay out dense rows of one width as records that differ only in their values;
    such a body is read in one numpy pass after parsing its first record. Any other body is
    parsed record by record.
    """
    records = read_recordio(body)
    first = next(records, None)
    if first is None:
        raise BadInput("Expected RecordIO protobuf Records, got an empty body.")
    _, payload = first
    kind, start, end = _features_value(payload, 0)
    tensor = _tensor(payload, kind, start, end, 0)
    whole = body[7] >> 5 == 0  # the first frame is a whole record, not a multi-part one
    if tensor.packed_span is not None and whole:
        header = 8
        frame = header + len(payload) + (-len(payload) % 4)
        span = (header + tensor.packed_span[0], header + tensor.packed_span[1])
        grid = _equal_frames(body, frame, span)  # equal headers: all whole, all one length
        if grid is not None:
            dtype = _TENSOR_FIELDS[kind][1]
            assert dtype is not None
            values = np.ascontiguousarray(grid[:, span[0] : span[1]]).view(dtype)
            check_declared_size(values.shape[0], values.shape[1], "The request's Records")
            return values.astype(np.float64), values.shape[0]
    rows = [_row(tensor, 0)]
    for number, (_, payload) in enumerate(records, start=1):
        kind, start, end = _features_value(payload, number)
        rows.append(_row(_tensor(payload, kind, start, end, number), number))
    return _dense_matrix(rows), len(rows)


def _dense_matrix(rows: list[tuple[np.ndarray, np.ndarray | None, int]]) -> np.ndarray:
    """Rows (values, keys or ``None`` for dense, width) as one zero-filled float64 matrix,
    filled with a single scatter rather than one assignment per row."""
    width = max(row[2] for row in rows)
    check_declared_size(len(rows), width, "The request's Records")
    matrix = np.zeros((len(rows), width), dtype=np.float64)
    if not width:
        return matrix
    lengths = np.fromiter((row[0].size for row in rows), dtype=np.int64, count=len(rows))
    within = np.concatenate(
        [keys if keys is not None else np.arange(values.size) for values, keys, _ in rows]
    )
    starts = np.repeat(np.arange(len(rows), dtype=np.int64) * width, lengths)
    matrix.reshape(-1)[starts + within] = np.concatenate([row[0] for row in rows])
    return matrix


# ----------------------------------------------------------------------------------- encoding


def _label_entry_prefix(name: str, width: int) -> bytes:
    """The bytes of one ``label`` map entry up to its float32 values: Record field 2 →
    entry (key, Value) → Value field 2 (``float32_tensor``) → packed field 1 (values)."""
    value_bytes = 4 * width
    packed = varint(_TENSOR_VALUES << 3 | LENGTH_DELIMITED) + varint(value_bytes)
    tensor_size = len(packed) + value_bytes if width else 0
    value = varint(2 << 3 | LENGTH_DELIMITED) + varint(tensor_size)
    entry = (
        length_delimited(_ENTRY_KEY, name.encode())
        + varint(_ENTRY_VALUE << 3 | LENGTH_DELIMITED)
        + varint(len(value) + tensor_size)
    )
    head = entry + value + (packed if width else b"")
    record_field = varint(_RECORD_LABEL << 3 | LENGTH_DELIMITED) + varint(
        len(entry) + len(value) + tensor_size
    )
    return record_field + head


def _float32_columns(name: str, array: np.ndarray, rows: int) -> np.ndarray:
    try:
        matrix = np.asarray(array, dtype=np.float64).reshape(rows, -1)
    except (TypeError, ValueError):
        raise ApiError(
            406,
            "ValidationError",
            f"Output {name!r} holds {array.dtype} values; application/x-recordio-protobuf "
            "carries numbers. Ask for another Accept type, or pick numeric outputs with "
            "ENDPOINT_SERDE_OUTPUTS.",
        ) from None
    with np.errstate(over="ignore"):  # beyond float32's range: ±inf, as Java's toFloat
        return np.ascontiguousarray(matrix, dtype="<f4")


def encode_records(outputs: dict[str, np.ndarray], rows: int) -> bytes:
    """One Record per row whose ``label`` map holds each output by name, as a Float32Tensor
    (entries in name order, so the body is deterministic). Every row has the same layout,
    so all records are laid out at once in one uint8 matrix: constant bytes, then values."""
    pieces: list[np.ndarray] = []
    for name in sorted(outputs):
        values = _float32_columns(name, outputs[name], rows)
        prefix = np.frombuffer(_label_entry_prefix(name, values.shape[1]), dtype=np.uint8)
        pieces.append(np.broadcast_to(prefix, (rows, prefix.size)))
        pieces.append(values.view(np.uint8).reshape(rows, -1))
    if not pieces:
        return frame_records(np.zeros((rows, 0), dtype=np.uint8))
    return frame_records(np.concatenate(pieces, axis=1))
