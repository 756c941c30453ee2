"""Request and response bodies: bytes in a content type ⇄ model inputs and outputs.

A request decodes to a :class:`ModelInput` — a 2-D float64 array (rows x features) or a
dict of named arrays, plus its row count — and the model's outputs (an ordered dict of
arrays whose first dimension is the row count) encode to the ``Accept`` type. Bad bodies
raise :class:`~endpoints.local.errors.BadInput` with what was expected and what came.

CSV is the hot path: large bodies are parsed by Arrow's CSV reader in one call, and
answers are formatted by orjson in one call, never value by value in Python.

``application/x-npy`` is the SageMaker SDK's ``NumpySerializer`` / ``NumpyDeserializer``
format: one ``.npy`` array each way, read and written by ``numpy.load`` / ``numpy.save``
with ``allow_pickle=False``, the header checked against the body before anything is read.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from endpoints.local.errors import ApiError, BadInput
from endpoints.local.limits import MAX_DECLARED_WIDTH, MAX_DECODED_VALUES, check_declared_size

__all__ = [
    "CONTENT_TYPES",
    "MAX_DECLARED_WIDTH",
    "MAX_DECODED_VALUES",
    "ModelInput",
    "Outputs",
    "check_declared_size",
    "decode_csv",
    "decode_npy",
    "decode_request",
    "encode_npy",
    "encode_response",
    "malformed_body",
    "normalize_media_type",
    "resolve_accept",
    "warm_up",
]

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
LIBSVM = "text/libsvm"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
NPY = "application/x-npy"
CONTENT_TYPES = (CSV, JSON, JSONLINES, LIBSVM, RECORDIO_PROTOBUF, NPY)

_ALIASES = {
    "text/x-csv": CSV,
    "application/csv": CSV,
    "application/jsonl": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/json-lines": JSONLINES,
    "text/x-libsvm": LIBSVM,
    "application/x-libsvm": LIBSVM,
}
_SMALL_CSV_BYTES = 16 * 1024

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelInput:
    """A decoded request: ``data`` is a 2-D array or a dict of named arrays.

    ``columnar`` is set for TF Serving's ``{"inputs": ...}`` form, answered with
    ``{"outputs": ...}``.
    """

    data: np.ndarray | dict[str, np.ndarray]
    rows: int
    columnar: bool = False


def normalize_media_type(value: str | None) -> str | None:
    """``"Text/CSV; charset=utf-8"`` → ``"text/csv"``; aliases map to the canonical name."""
    if not value:
        return None
    media = value.split(";", 1)[0].strip().lower()
    return _ALIASES.get(media, media)


def resolve_accept(accept: str | None, content_type: str) -> str:
    """The response type: ``Accept`` if given and concrete, else the request's own type."""
    media = normalize_media_type(accept)
    if media is None or media in ("*/*", "*"):
        return content_type
    # a list like "text/csv, application/json": the first one we speak wins
    for part in (accept or "").split(","):
        candidate = normalize_media_type(part)
        if candidate in CONTENT_TYPES:
            return candidate
    raise ApiError(
        406 if media else 400,
        "ValidationError",
        f"Accept {accept!r} is not supported; expected one of {', '.join(CONTENT_TYPES)}.",
    )


# ---------------------------------------------------------------------------------- decoding


def decode_csv(body: bytes) -> np.ndarray:
    """Rows of numbers → a 2-D float64 array; every row must have the same width."""
    text = body.strip()
    if not text:
        raise BadInput("Expected CSV rows of numbers in the request body, got an empty body.")
    if len(text) <= _SMALL_CSV_BYTES:
        return _decode_small_csv(text)
    return _decode_large_csv(text)


def warm_up() -> None:
    """Reads one large CSV body, so the host pays what the first one costs (Arrow's CSV
    reader: importing it and its first call, ~0.7 s together) before any request does. Run
    in the background when the host starts: without it the first requests of a job —
    sixteen at once in the demo — queued behind that second."""
    row = b",".join(b"0.5" for _ in range(8)) + b"\n"
    decode_csv(row * (_SMALL_CSV_BYTES // len(row) + 1))


def _decode_small_csv(text: bytes) -> np.ndarray:
    lines = [line for line in text.replace(b"\r", b"").split(b"\n") if line]
    width = lines[0].count(b",") + 1
    for number, line in enumerate(lines, start=1):
        if line.count(b",") + 1 != width:
            raise BadInput(
                f"CSV row {number} has {line.count(b',') + 1} values, expected {width} like "
                "row 1; send rows of equal width."
            )
    tokens = b",".join(lines).split(b",")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError as exc:
        raise BadInput(f"CSV values must be numbers: {exc}.") from None
    return values.reshape(len(lines), width)


def _decode_large_csv(text: bytes) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first_end = text.find(b"\n")
    width = (text if first_end < 0 else text[:first_end]).count(b",") + 1
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text),
            # one thread: a request body is small enough that handing blocks to Arrow's
            # pool costs more than it saves (about 1.8 ms vs 1.0 ms for 1,000 rows x 10)
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, block_size=1 << 22, use_threads=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.float64() for i in range(width)}
            ),
        )
    except pa.ArrowInvalid as exc:
        raise BadInput(f"CSV body does not parse as rows of {width} numbers: {exc}.") from None
    if any(column.null_count for column in table.columns):
        raise BadInput("CSV body has an empty value; every field must be a number.")
    return np.column_stack([column.to_numpy() for column in table.columns])


def _as_array(value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise BadInput(f"{what} must be a rectangular list of numbers: {exc}.") from None
    if array.dtype == object:
        raise BadInput(f"{what} must be a rectangular list of numbers, got ragged or mixed data.")
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)
    return array


def _instances(items: Any, what: str) -> ModelInput:
    if not isinstance(items, list) or not items:
        raise BadInput(f"{what} must be a non-empty list, got {type(items).__name__}.")
    if isinstance(items[0], dict):
        names = list(items[0])
        try:
            named = {n: _as_array([item[n] for item in items], f"input {n!r}") for n in names}
        except (KeyError, TypeError):
            raise BadInput(
                f"every object in {what} must have the keys {names} of the first one."
            ) from None
        return ModelInput(named, len(items))
    array = _as_array(items, what)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return ModelInput(array, len(items))


def _columnar(inputs: Any) -> ModelInput:
    if isinstance(inputs, dict):
        if not inputs:
            raise BadInput('"inputs" must name at least one input.')
        named = {n: _as_array(v, f"input {n!r}") for n, v in inputs.items()}
        counts = {n: (a.shape[0] if a.ndim else 1) for n, a in named.items()}
        if len(set(counts.values())) != 1:
            raise BadInput(f'every input in "inputs" must have the same length, got {counts}.')
        return ModelInput(named, next(iter(counts.values())), columnar=True)
    array = _as_array(inputs, '"inputs"')
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return ModelInput(array, array.shape[0], columnar=True)


def decode_json(body: bytes) -> ModelInput:
    """TF Serving's request forms (``instances`` rows or ``inputs`` columns) or a bare list."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"Request body is not valid JSON: {exc}.") from None
    if isinstance(payload, list):
        return _instances(payload, "the JSON list")
    if isinstance(payload, dict):
        if "instances" in payload:
            return _instances(payload["instances"], '"instances"')
        if "inputs" in payload:
            return _columnar(payload["inputs"])
    raise BadInput(
        'Expected a JSON object {"instances": [...]} (rows) or {"inputs": ...} (columns), '
        f"got {type(payload).__name__}"
        + (f" with keys {sorted(payload)[:5]}." if isinstance(payload, dict) else ".")
    )


def decode_jsonlines(body: bytes) -> ModelInput:
    """One JSON value per line: a list of numbers, an object of named inputs, or a number."""
    items = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"JSON Lines line {number} is not valid JSON: {exc}.") from None
    if not items:
        raise BadInput("Expected one JSON value per line, got an empty body.")
    return _instances(items, "the JSON lines")


def decode_libsvm(body: bytes, width: int | None = None) -> ModelInput:
    """``[label] index:value ...`` lines (1-based indices) → a dense 2-D array.

    The width is the model's input width when known (a larger index is refused), else the
    largest index seen; either way capped (:func:`check_declared_size`) before allocating.
    """
    rows: list[tuple[list[int], list[float]]] = []
    widest = 0
    for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if ":" not in tokens[0]:
            tokens = tokens[1:]  # a label: not a feature
        indices, values = [], []
        try:
            for token in tokens:
                index, value = token.split(":", 1)
                indices.append(int(index) - 1)
                values.append(float(value))
        except ValueError:
            raise BadInput(
                f"LibSVM line {number} is not '[label] index:value ...' with 1-based integer "
                f"indices: {line[:80]!r}."
            ) from None
        if indices and min(indices) < 0:
            raise BadInput(f"LibSVM line {number}: indices are 1-based, got index 0.")
        largest = max(indices, default=-1) + 1
        if width is not None and largest > width:
            raise BadInput(
                f"LibSVM line {number} has index {largest}; the model takes {width} features "
                f"(indices 1 to {width})."
            )
        check_declared_size(1, largest, f"LibSVM line {number}")
        widest = max(widest, largest)
        rows.append((indices, values))
    if not rows:
        raise BadInput("Expected LibSVM lines, got an empty body.")
    width = max(width or 0, widest, 1)
    check_declared_size(len(rows), width, "The LibSVM body")
    dense = np.zeros((len(rows), width), dtype=np.float64)
    for r, (indices, values) in enumerate(rows):
        dense[r, indices] = values
    return ModelInput(dense, len(rows))


def decode_recordio_protobuf(body: bytes) -> ModelInput:
    """RecordIO-framed aialgs Records (``features`` tensor, dense or sparse) → 2-D array."""
    from endpoints.local.protobuf_codec import decode_records

    return ModelInput(*decode_records(body))


_NPY_KINDS = "biufU"  # booleans, integers, floats, strings: what a model can take
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def decode_npy(body: bytes) -> ModelInput:
    """One ``.npy`` array → rows (its first dimension; a 1-D array is one value per row).

    The header is parsed first and the size it declares must be exactly the bytes that
    follow, so a few bytes cannot make the host allocate a huge array; object arrays (which
    only pickle can carry) and structured dtypes are refused.
    """
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = _NPY_HEADER_READERS.get(version)
        if read_header is None:
            raise ValueError(f"format version {version[0]}.{version[1]} (1.0 and 2.0 are read)")
        shape, _fortran_order, dtype = read_header(stream)
    except (ValueError, EOFError) as exc:
        raise BadInput(
            f"Expected a NumPy .npy array in the request body (application/x-npy, as "
            f"numpy.save writes it): {exc}."
        ) from None
    if dtype.hasobject or dtype.kind not in _NPY_KINDS:
        raise BadInput(
            f"The .npy array has dtype {dtype}; the host reads numbers, booleans and strings "
            "(object arrays would need pickle, which it never loads)."
        )
    if not shape or 0 in shape:
        raise BadInput(f"The .npy array has shape {shape}; send at least one row.")
    declared = math.prod(shape) * dtype.itemsize
    present = len(body) - stream.tell()
    if declared != present:
        raise BadInput(
            f"The .npy header declares shape {shape} of {dtype} ({declared} bytes) but "
            f"{present} bytes follow it; send the whole array as numpy.save writes it."
        )
    stream.seek(0)
    array = np.load(stream, allow_pickle=False)
    if array.dtype.kind in "biuf":
        array = array.astype(np.float64, copy=False)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return ModelInput(array, array.shape[0])


def decode_request(body: bytes, content_type: str, width: int | None = None) -> ModelInput:
    """Decode ``body`` in ``content_type`` (already normalized)."""
    if content_type == CSV:
        array = decode_csv(body)
        return ModelInput(array, array.shape[0])
    if content_type == JSON:
        return decode_json(body)
    if content_type == JSONLINES:
        return decode_jsonlines(body)
    if content_type == LIBSVM:
        return decode_libsvm(body, width)
    if content_type == RECORDIO_PROTOBUF:
        return decode_recordio_protobuf(body)
    if content_type == NPY:
        return decode_npy(body)
    raise ApiError(
        415,
        "ValidationError",
        f"Content-Type {content_type!r} is not supported; expected one of "
        f"{', '.join(CONTENT_TYPES)}.",
    )


# ---------------------------------------------------------------------------------- encoding


def _column_tokens(column: np.ndarray) -> list[bytes]:
    """Each value's text. Finite numbers go through one orjson pass: the shortest spelling
    that reads back as the same double (``str``'s digits), about ten times faster than
    ``str`` per value. NaN, infinities, booleans and strings keep ``str``'s spelling."""
    kind = column.dtype.kind
    if column.size and (kind in "iu" or (kind == "f" and np.isfinite(column).all())):
        # float32 outputs widen to float64 first, as ``tolist()`` would
        values = np.ascontiguousarray(column, dtype=np.float64 if kind == "f" else None)
        return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    return [str(value).encode() for value in column.tolist()]


def encode_csv(outputs: Outputs, rows: int) -> bytes:
    """One line per row; the row's output values comma-joined (outputs in order)."""
    columns: list[list[bytes]] = []
    for array in outputs.values():
        matrix = array.reshape(rows, -1) if rows else array.reshape(0, -1)
        columns.extend(_column_tokens(matrix[:, j]) for j in range(matrix.shape[1]))
    if len(columns) == 1:
        return b"\n".join(columns[0])
    return b"\n".join(map(b",".join, zip(*columns)))


def _row_texts(array: np.ndarray, rows: int) -> list[bytes] | None:
    """Each row's JSON text of a numeric output of one or two dimensions, cut from one
    orjson pass over the whole array; ``None`` for any other output (the caller then goes
    through Python values). Spelled as ``orjson.dumps(array.tolist())`` spells them:
    float32 widened to float64 first, NaN and infinities as ``null``."""
    kind = array.dtype.kind
    if not rows or kind not in "biuf" or array.ndim not in (1, 2) or array.shape[0] != rows:
        return None
    try:
        text = orjson.dumps(
            np.ascontiguousarray(array, dtype=np.float64 if kind == "f" else None),
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
    except orjson.JSONEncodeError:  # a dtype orjson does not take (e.g. non-native order)
        return None
    if array.ndim == 1:
        return text[1:-1].split(b",")
    # "[[1,2],[3,4]]": numbers hold no brackets, so "],[" only ever separates two rows
    return text[1:-1].replace(b"],[", b"]\n[").split(b"\n")


def _row_objects(outputs: Outputs, rows: int) -> list[bytes] | None:
    """Each row's ``{"name": value, ...}`` text (outputs in order), joined from the
    outputs' row texts (which also bound the ``repeat``s); ``None`` if an output has none."""
    if not outputs:
        return None
    parts: list[Iterable[bytes]] = []
    for position, (name, array) in enumerate(outputs.items()):
        texts = _row_texts(array, rows)
        if texts is None:
            return None
        parts += [repeat((b"," if position else b"{") + orjson.dumps(name) + b":"), texts]
    parts.append(repeat(b"}"))
    return list(map(b"".join, zip(*parts)))


def _per_row_texts(outputs: Outputs, rows: int) -> list[bytes]:
    """Each row's JSON text: a single output's value, or an object of several.

    Numeric outputs take the GIL for a few milliseconds per 10,000 rows, where building a
    Python object per value took 65-140 ms (the demo's label + probabilities answer): the
    host's inference threads spend the rest of a request outside the GIL, and this was the
    part that made them wait for each other.
    """
    if len(outputs) == 1:
        texts = _row_texts(next(iter(outputs.values())), rows)
    else:
        texts = _row_objects(outputs, rows)
    if texts is None:
        texts = list(map(orjson.dumps, _per_row(outputs, rows)))
    return texts


def _per_row(outputs: Outputs, rows: int) -> list[Any]:
    """Python values per row: a single output gives its values, several give objects."""
    if len(outputs) == 1:
        return next(iter(outputs.values())).tolist()
    lists = {name: array.tolist() for name, array in outputs.items()}
    return [{name: values[i] for name, values in lists.items()} for i in range(rows)]


def encode_json(outputs: Outputs, rows: int, columnar: bool) -> bytes:
    """``{"predictions": [...]}`` (rows) or ``{"outputs": ...}`` (columns), like TF Serving."""
    if columnar:
        if len(outputs) == 1:
            value: Any = next(iter(outputs.values())).tolist()
        else:
            value = {name: array.tolist() for name, array in outputs.items()}
        return orjson.dumps({"outputs": value})
    if len(outputs) == 1:
        array = np.ascontiguousarray(next(iter(outputs.values())))
        if array.dtype.kind in "biuf":
            return orjson.dumps({"predictions": array}, option=orjson.OPT_SERIALIZE_NUMPY)
    return b'{"predictions":[' + b",".join(_per_row_texts(outputs, rows)) + b"]}"


def encode_jsonlines(outputs: Outputs, rows: int) -> bytes:
    return b"\n".join(_per_row_texts(outputs, rows))


def encode_libsvm(outputs: Outputs, rows: int) -> bytes:
    """``label [index:value ...]`` per row: the first output value is the label (the score),
    any further values follow as 1-based features, as SageMaker's LibSVM responses do."""
    matrix = np.hstack([a.reshape(rows, -1).astype(np.float64) for a in outputs.values()])
    lines = []
    for row in matrix.tolist():
        features = " ".join(f"{i}:{v}" for i, v in enumerate(row[1:], start=1))
        lines.append(f"{row[0]} {features}".rstrip())
    return "\n".join(lines).encode()


def encode_recordio_protobuf(outputs: Outputs, rows: int) -> bytes:
    from endpoints.local.protobuf_codec import encode_records

    return encode_records(outputs, rows)


def encode_npy(outputs: Outputs, rows: int) -> bytes:
    """One output → that array as ``numpy.save`` writes it (shape and dtype kept); several →
    their values side by side as a rows x k float64 array, in output order, as CSV lines
    them up."""
    not_one_array = ApiError(
        406,
        "ValidationError",
        f"The model's outputs ({', '.join(outputs)}) do not make one numeric or string array, "
        f"which is all application/x-npy carries; ask for {JSON} instead.",
    )
    if len(outputs) == 1:
        array = np.asarray(next(iter(outputs.values())))
    else:
        try:
            array = np.hstack([a.reshape(rows, -1).astype(np.float64) for a in outputs.values()])
        except ValueError:
            raise not_one_array from None
    if array.dtype.hasobject or array.dtype.kind not in _NPY_KINDS:
        raise not_one_array
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


_ENCODERS: dict[str, Callable[[Outputs, int], bytes]] = {
    CSV: encode_csv,
    JSONLINES: encode_jsonlines,
    LIBSVM: encode_libsvm,
    RECORDIO_PROTOBUF: encode_recordio_protobuf,
    NPY: encode_npy,
}


def encode_response(outputs: Outputs, rows: int, accept: str, columnar: bool = False) -> bytes:
    """Encode ``outputs`` (each with ``rows`` leading entries) in ``accept``."""
    if accept == JSON:
        return encode_json(outputs, rows, columnar)
    return _ENCODERS[accept](outputs, rows)


_MALFORMED = {
    CSV: b"0.5,not-a-number\n\x00garbage",
    JSON: b'{"predictions": [0.5, ',
    JSONLINES: b'{"broken": \n',
    LIBSVM: b"x:y:z is not libsvm\n",
    RECORDIO_PROTOBUF: b"\x00\x01\x02not a recordio record",
    NPY: b"\x93NUMPY\x01\x00\x00\x00not an array header",
}


def malformed_body(accept: str) -> bytes:
    """A body that does not parse in ``accept`` (the ``malformed_rate`` fault)."""
    return _MALFORMED.get(accept, b"\x00malformed")
