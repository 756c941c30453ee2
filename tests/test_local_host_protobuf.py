"""The local host's own RecordIO-protobuf codec against the client's (serde.protobuf, built
on the generated classes): two implementations that must agree byte for byte or value for
value, so a framing bug on either side fails here. Declared sizes are refused before they
are allocated, and the host answers protobuf without importing serde or pyspark."""

from __future__ import annotations

import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from pyspark.ml.linalg import Matrices, Vectors
from pyspark.sql import Row

from endpoints.local.codecs import MAX_DECLARED_WIDTH, MAX_DECODED_VALUES
from endpoints.local.errors import BadInput
from endpoints.local.protobuf_codec import decode_records, encode_records
from endpoints.local.protobuf_wire import length_delimited, packed_varints, varint
from serde.proto import record_pb2
from serde.protobuf import ProtobufRequestRowSerializer, write_label_records
from serde.recordio import read_recordio

MAGIC = 0xCED7230A


def labels(body: bytes) -> list[dict[str, list[float]]]:
    """Each record's label map, read by the client's generated classes."""
    rows = []
    for payload in read_recordio(body):
        record = record_pb2.Record()
        record.ParseFromString(payload)
        rows.append({k: list(v.float32_tensor.values) for k, v in record.label.items()})
    return rows


def request(*features) -> bytes:
    serializer = ProtobufRequestRowSerializer()
    return b"".join(serializer.serialize_row(Row(features=f)) for f in features)


def record(tensor_field: int, tensor: bytes) -> bytes:
    """A Record payload whose features["values"] is ``tensor`` in Value field
    ``tensor_field`` (2 float32, 3 float64, 7 int32), encoded by hand."""
    entry = length_delimited(1, b"values") + length_delimited(
        2, length_delimited(tensor_field, tensor)
    )
    return length_delimited(1, entry)


def frame(payload: bytes, flag: int = 0) -> bytes:
    return (
        struct.pack("<II", MAGIC, flag << 29 | len(payload)) + payload + b"\0" * (-len(payload) % 4)
    )


# ------------------------------------------------------------------------------ answers


def test_single_output_answer_is_byte_identical_to_the_client_writer():
    scores = np.array([1.5, -2.25, 1e-3, 3e38 * 10])  # the last overflows float32: +inf
    assert encode_records({"score": scores}, 4) == write_label_records(
        [{"score": s} for s in scores]
    )


def test_several_outputs_read_back_by_the_client_as_written():
    outputs = {
        "closest_cluster": np.array([0.0, 1.0, 0.0]),
        "distances": np.arange(6.0).reshape(3, 2),
    }
    body = encode_records(outputs, 3)
    assert labels(body) == [
        {"closest_cluster": [0.0], "distances": [0.0, 1.0]},
        {"closest_cluster": [1.0], "distances": [2.0, 3.0]},
        {"closest_cluster": [0.0], "distances": [4.0, 5.0]},
    ]
    assert labels(body) == labels(
        write_label_records([{k: v[i] for k, v in outputs.items()} for i in range(3)])
    )
    # entries in name order: the same body every time
    assert body.index(b"closest_cluster") < body.index(b"distances")


def test_an_output_of_zero_columns_is_an_empty_tensor():
    body = encode_records({"empty": np.zeros((2, 0)), "score": np.array([1.0, 2.0])}, 2)
    assert labels(body) == [{"empty": [], "score": [1.0]}, {"empty": [], "score": [2.0]}]


# ----------------------------------------------------------------------------- requests


def test_reads_every_request_form_the_client_writes():
    body = request(
        Vectors.dense([1.0, 2.0, 3.0]),
        Vectors.sparse(5, [1, 4], [7.0, 8.0]),
        Matrices.dense(2, 2, [1.0, 2.0, 3.0, 4.0]),  # column-major in, row-major on the wire
        Matrices.sparse(2, 3, [0, 1, 2, 3], [1, 0, 1], [5.0, 6.0, 7.0]),  # 2-D sparse keys
    )
    matrix, rows = decode_records(body)
    assert rows == 4
    assert matrix.tolist() == [
        [1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
        [0.0, 7.0, 0.0, 0.0, 8.0, 0.0],
        [1.0, 3.0, 2.0, 4.0, 0.0, 0.0],
        [0.0, 6.0, 0.0, 5.0, 0.0, 7.0],
    ]


def test_equal_dense_records_are_read_in_one_pass_with_the_same_result():
    x = np.random.default_rng(7).random((500, 6))
    uniform = request(*(Vectors.dense(row) for row in x))
    matrix, rows = decode_records(uniform)
    assert rows == 500 and np.array_equal(matrix, x.astype(np.float32).astype(np.float64))
    # one record of another width: parsed record by record, zero-padded, same values
    mixed = uniform + request(Vectors.dense([9.0]))
    matrix, rows = decode_records(mixed)
    assert rows == 501 and np.array_equal(matrix[:500], x.astype(np.float32))
    assert matrix[500].tolist() == [9.0, 0, 0, 0, 0, 0]


def test_float64_int32_and_unpacked_fields():
    doubles = record(3, length_delimited(1, struct.pack("<2d", 0.1, 2.5)))
    ints = record(7, length_delimited(1, varint(5) + varint((1 << 64) - 1)))  # 5, -1
    # unpacked repeated fields, as a writer that ignores [packed=true] may send them
    unpacked = record(2, b"\x0d" + struct.pack("<f", 4.0) + b"\x10\x02" + b"\x18\x03")
    matrix, rows = decode_records(frame(doubles) + frame(ints) + frame(unpacked))
    assert rows == 3
    assert matrix.tolist() == [[0.1, 2.5, 0.0], [5.0, -1.0, 0.0], [0.0, 0.0, 4.0]]


def test_multi_part_records_are_joined_with_the_magic_number():
    payload = record(2, length_delimited(1, struct.pack("<f", 1.0) + struct.pack("<I", MAGIC)))
    at = payload.index(struct.pack("<I", MAGIC))
    body = frame(payload[:at], 1) + frame(payload[at + 4 :], 3)
    matrix, rows = decode_records(body)
    assert rows == 1 and matrix[0, 0] == 1.0
    assert struct.pack("<f", matrix[0, 1]) == struct.pack("<I", MAGIC)


def test_packed_varints_match_python_for_long_fields():
    values = [0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1] * 10
    encoded = b"".join(varint(v) for v in values)
    assert packed_varints(encoded, 0, len(encoded)).tolist() == values


# ------------------------------------------------------------------------- declared sizes


def sparse_record(shape: list[int], keys: list[int], values: list[float]) -> bytes:
    tensor = (
        length_delimited(1, struct.pack(f"<{len(values)}f", *values))
        + length_delimited(2, b"".join(varint(k) for k in keys))
        + length_delimited(3, b"".join(varint(s) for s in shape))
    )
    return frame(record(2, tensor))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([60_000_000], "declares rows of 60000000 values"),
        ([100_000, 100_000], f"declares rows of {100_000 * 100_000} values"),
        ([2**40, 2**40, 2**40], f"declares rows of {2**40} values"),  # refused at the first dim
    ],
)
def test_a_huge_declared_shape_is_refused_before_allocating(shape, message):
    body = sparse_record(shape, [0], [1.0])
    assert len(body) < 60
    tracemalloc.start()
    try:
        with pytest.raises(BadInput) as info:
            decode_records(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message in info.value.message
    assert f"at most {MAX_DECLARED_WIDTH} (2^20) values" in info.value.message
    assert peak < 1 << 20  # nothing near the declared size was allocated


def test_many_records_each_within_the_width_cap_are_refused_in_total():
    body = sparse_record([MAX_DECLARED_WIDTH], [0], [1.0]) * 17
    with pytest.raises(BadInput) as info:
        decode_records(body)
    assert info.value.message == (
        f"The request's Records declares 17 rows x {MAX_DECLARED_WIDTH} values = "
        f"{17 * MAX_DECLARED_WIDTH} values; the host decodes at most {MAX_DECODED_VALUES} "
        "(2^24) values per request. Send fewer rows per request."
    )


def test_sparse_keys_must_fit_the_shape_and_pair_with_values():
    with pytest.raises(BadInput) as outside:
        decode_records(sparse_record([2, 3], [6], [1.0]))
    assert (
        "sparse key 6 is outside the tensor's 6 positions (shape [2, 3])" in outside.value.message
    )
    with pytest.raises(BadInput) as unpaired:
        decode_records(sparse_record([4], [0, 1], [1.0]))
    assert "needs one key per value, got 2 keys for 1 values" in unpaired.value.message
    with pytest.raises(BadInput) as keyed:  # no shape: the largest key sets the width
        decode_records(sparse_record([], [MAX_DECLARED_WIDTH + 5], [1.0]))
    assert "(no shape; largest key + 1) declares rows of" in keyed.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00\x01\x02not a recordio record", "expected the magic number 0xced7230a"),
        (struct.pack("<II", MAGIC, 1000) + b"abc", "announces 1000 bytes, only 3 remain"),
        (frame(b"\x0a\x05ab"), "announces 5 bytes at byte 2, only 2 remain"),
        (frame(b"\x0b\x00"), "wire type 3"),
        (frame(length_delimited(2, b"")), "has no features['values'] tensor"),
        (frame(record(2, length_delimited(1, b"abc"))), "not a whole number of 4-byte values"),
        (frame(b"\x08" + b"\xff" * 11), "over-long protobuf varint"),
        (b"", "got an empty body"),
    ],
)
def test_garbled_bodies_are_bad_input_with_the_reason(body, message):
    with pytest.raises(BadInput) as info:
        decode_records(body)
    assert message in info.value.message


# ------------------------------------------------------------------------ no pyspark


def test_the_host_answers_protobuf_without_importing_serde_or_pyspark():
    """The host's app in a fresh process, one protobuf request through it over HTTP."""
    body = frame(record(2, length_delimited(1, struct.pack("<2f", 1.0, 2.0))))
    code = f"""
import sys, tempfile, pathlib, urllib.request
from endpoints.local import LocalEndpointHost
model = pathlib.Path(tempfile.mkdtemp())
(model / "model.py").write_text("def predict(x):\\n    return x.sum(axis=1)\\n")
with LocalEndpointHost(model_roots=[model], allow_python_models=True) as host:
    host.deploy_local("sum", model, "python")
    request = urllib.request.Request(
        host.url + "/endpoints/sum/invocations", data={body!r},
        headers={{"Content-Type": "application/x-recordio-protobuf"}}, method="POST")
    answer = urllib.request.urlopen(request, timeout=30).read()
print(answer.hex())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "serde", "google")))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    answer, modules = result.stdout.strip().splitlines()
    assert labels(bytes.fromhex(answer)) == [{"score": [3.0]}]
    assert modules == "[]"
