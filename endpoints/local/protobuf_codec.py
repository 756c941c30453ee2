"""SageMaker's ``application/x-recordio-protobuf``: RecordIO-framed aialgs ``Record``s.

Requests carry each row in ``features["values"]`` (a dense or sparse tensor); responses
carry each row's outputs in the ``label`` map, keyed by output name (a single unnamed output
is ``score``), as the built-in algorithms (KMeans, PCA, LinearLearner, ...) answer.
"""

from __future__ import annotations

import numpy as np

from endpoints.local.errors import BadInput

__all__ = ["decode_records", "encode_records"]

_TENSOR_KINDS = ("float32_tensor", "float64_tensor", "int32_tensor")


def _row_values(record, number: int) -> tuple[np.ndarray, int]:
    if "values" not in record.features:
        raise BadInput(
            f"Record {number} has no features['values'] tensor; got keys {sorted(record.features)}."
        )
    value = record.features["values"]
    kind = value.WhichOneof("value")
    if kind not in _TENSOR_KINDS:
        raise BadInput(f"Record {number}: features['values'] must be a numeric tensor, got {kind}.")
    tensor = getattr(value, kind)
    values = np.asarray(tensor.values, dtype=np.float64)
    if len(tensor.keys):
        size = int(tensor.shape[0]) if len(tensor.shape) else int(max(tensor.keys)) + 1
        dense = np.zeros(size, dtype=np.float64)
        dense[np.asarray(tensor.keys, dtype=np.int64)] = values
        return dense, size
    return values, values.size


def decode_records(body: bytes) -> tuple[np.ndarray, int]:
    """The request's rows as a 2-D float64 array, and the row count."""
    from serde.errors import SerdeError
    from serde.proto import record_pb2
    from serde.recordio import read_recordio

    rows = []
    try:
        for number, payload in enumerate(read_recordio(body)):
            record = record_pb2.Record()
            record.ParseFromString(payload)
            rows.append(_row_values(record, number)[0])
    except SerdeError as exc:
        raise BadInput(f"Request body is not RecordIO-framed protobuf Records: {exc}") from None
    except Exception as exc:  # google.protobuf.message.DecodeError
        if isinstance(exc, BadInput):
            raise
        raise BadInput(f"A RecordIO record is not an aialgs Record protobuf: {exc}") from None
    if not rows:
        raise BadInput("Expected RecordIO protobuf Records, got an empty body.")
    width = max(r.size for r in rows)
    matrix = np.zeros((len(rows), width), dtype=np.float64)
    for i, r in enumerate(rows):
        matrix[i, : r.size] = r
    return matrix, len(rows)


def encode_records(outputs: dict[str, np.ndarray], rows: int) -> bytes:
    """One Record per row whose ``label`` map holds each output by name."""
    from serde.protobuf import write_label_records

    shaped = {name: array.reshape(rows, -1) for name, array in outputs.items()}
    return write_label_records([{name: m[i] for name, m in shaped.items()} for i in range(rows)])
