"""The local host against a careless user or a hostile neighbour on the same machine: bodies
that declare huge sizes, model data outside the roots it was started with, Python models
without the operator's opt-in, archive bombs, idle half-sent connections and cross-origin
posts to its fault controls. Every case is bounded in count and time, on loopback."""

from __future__ import annotations

import struct

import pytest
import urllib3
from botocore.exceptions import ClientError

from endpoints.local import LocalEndpointHost
from endpoints.local.codecs import MAX_DECLARED_WIDTH, MAX_DECODED_VALUES

SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The folder named as the host's model root, with a summing Python model in it."""
    root = tmp_path_factory.mktemp("models")
    (root / "sum").mkdir()
    (root / "sum" / "model.py").write_text(SUM)
    return root


@pytest.fixture(scope="module")
def host(models):
    with LocalEndpointHost(container_endpoint="sum") as h:
        h.deploy_local("sum", models / "sum", "python")
        yield h


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))


def model_error(host, body: bytes, content_type: str) -> dict:
    with pytest.raises(ClientError) as info:
        host.runtime_client().invoke_endpoint(
            EndpointName="sum", Body=body, ContentType=content_type
        )
    return info.value.response


# ------------------------------------------------------------------------- declared sizes


def test_a_13_byte_libsvm_body_cannot_declare_a_huge_row(host):
    body = b"1 25000000:1\n"
    assert len(body) == 13
    answer = model_error(host, body, "text/libsvm")
    # SageMaker's shape for a container's 400: a 424 ModelError carrying it
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert answer["OriginalStatusCode"] == 400
    assert answer["OriginalMessage"] == (
        f"LibSVM line 1 declares rows of 25000000 values; the host decodes rows of at most "
        f"{MAX_DECLARED_WIDTH} (2^20) values. Send narrower rows."
    )


def test_libsvm_rows_within_the_width_cap_are_capped_in_total(host):
    body = f"1:1 {MAX_DECLARED_WIDTH}:1\n".encode() * 20
    answer = model_error(host, body, "text/libsvm")
    assert answer["OriginalMessage"] == (
        f"The LibSVM body declares 20 rows x {MAX_DECLARED_WIDTH} values = "
        f"{20 * MAX_DECLARED_WIDTH} values; the host decodes at most {MAX_DECODED_VALUES} "
        "(2^24) values per request. Send fewer rows per request."
    )


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def test_a_40_byte_protobuf_body_cannot_declare_a_huge_tensor(host):
    shape = varint(60_000_000)
    tensor = (
        b"\x0a\x04" + struct.pack("<f", 1.0) + b"\x12\x01\x00\x1a" + bytes([len(shape)]) + shape
    )
    value = b"\x12" + bytes([len(tensor)]) + tensor
    entry = b"\x0a\x06values\x12" + bytes([len(value)]) + value
    payload = b"\x0a" + bytes([len(entry)]) + entry
    body = struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * (-len(payload) % 4)
    assert len(body) == 40
    answer = model_error(host, body, "application/x-recordio-protobuf")
    assert answer["OriginalStatusCode"] == 400
    assert answer["OriginalMessage"] == (
        "Record 0's sparse features tensor of shape [60000000] declares rows of 60000000 "
        f"values; the host decodes rows of at most {MAX_DECLARED_WIDTH} (2^20) values. "
        "Send narrower rows."
    )


def test_on_the_container_contract_the_refusal_is_a_plain_400(host, http):
    answer = http.request(
        "POST",
        f"{host.url}/invocations",
        body=b"1 25000000:1\n",
        headers={"Content-Type": "text/libsvm"},
    )
    assert answer.status == 400
    assert answer.json() == {
        "error": f"LibSVM line 1 declares rows of 25000000 values; the host decodes rows of at "
        f"most {MAX_DECLARED_WIDTH} (2^20) values. Send narrower rows."
    }


def test_libsvm_indices_beyond_a_models_declared_width_are_refused():
    from endpoints.local.codecs import decode_libsvm
    from endpoints.local.errors import BadInput

    assert decode_libsvm(b"1:1 4:2\n", width=4).data.tolist() == [[1.0, 0.0, 0.0, 2.0]]
    with pytest.raises(BadInput) as info:
        decode_libsvm(b"1:1 5:2\n", width=4)
    assert (
        info.value.message
        == "LibSVM line 1 has index 5; the model takes 4 features (indices 1 to 4)."
    )
