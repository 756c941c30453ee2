"""The local host against a careless user or a hostile neighbour on the same machine: bodies
that declare huge sizes, model data outside the roots it was started with, Python models
without the operator's opt-in, archive bombs, idle half-sent connections and cross-origin
posts to its fault controls. Every case is bounded in count and time, on loopback."""

from __future__ import annotations

import io
import select
import socket
import struct
import tarfile
import threading
import time
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3
from botocore.exceptions import ClientError

from endpoints.local import FaultSpec, LocalEndpointHost, LocalHostProcess
from endpoints.local.codecs import MAX_DECLARED_WIDTH, MAX_DECODED_VALUES
from endpoints.local.errors import LocalHostError
from endpoints.local.origin import CONTROL_HEADERS, is_loopback_address

SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The folder named as the hosts' model root, with a summing Python model in it."""
    root = tmp_path_factory.mktemp("models")
    (root / "sum").mkdir()
    (root / "sum" / "model.py").write_text(SUM)
    return root


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A folder under no host's roots, holding a Python model that leaves a mark when its
    code runs."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "model.py").write_text(
        f"open({str(folder / 'RAN')!r}, 'w').close()\n\ndef predict(x):\n    return x[:, 0]\n"
    )
    return folder


@pytest.fixture(scope="module")
def host(models):
    """Started as an operator who trusts the Python models in ``models`` would start it."""
    with LocalEndpointHost(
        container_endpoint="sum", model_roots=[models], allow_python_models=True
    ) as h:
        h.deploy_local("sum", models / "sum", "python")
        yield h


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def strict(models, s3):
    """Model roots but no Python opt-in, small archive limits."""
    with LocalEndpointHost(
        s3_root=s3, model_roots=[models], max_archive_bytes=1 << 20, max_archive_members=20
    ) as h:
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


# ------------------------------------------------------------------ roots and Python opt-in

ROLE = "arn:aws:iam::123456789012:role/local"


def create_model(host, name: str, url: str, environment: dict | None = None) -> dict:
    """CreateModel's error answer (``{}`` if it succeeded)."""
    container = {"Image": "local/x:1", "ModelDataUrl": url, "Environment": environment or {}}
    try:
        host.sagemaker_client().create_model(
            ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE
        )
    except ClientError as error:
        return error.response
    return {}


def refused(host, name: str, url: str, environment: dict | None = None) -> str:
    """The 400 ValidationException message CreateModel answers; nothing is created."""
    answer = create_model(host, name, url, environment)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400, answer
    assert answer["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="Could not find model"):
        host.sagemaker_client().describe_model(ModelName=name)
    return answer["Error"]["Message"]


def roots_rule(host) -> str:
    return (
        "outside the folders this host reads model data from "
        f"({', '.join(str(r) for r in host.artifacts.roots)}). The host reads model data only "
        "from under its S3 root and the --model-root folders it was started with"
    )


def test_model_data_outside_every_root_is_refused_at_create_model(strict, outside):
    message = refused(strict, "file-outside", outside.as_uri())
    assert message.startswith(f"ModelDataUrl {outside.as_uri()} is {outside.resolve()}, which is")
    assert roots_rule(strict) in message
    assert "put the model there, or restart the host naming the folder that holds it" in message
    assert refused(strict, "path-outside", "/etc") == message.replace(
        f"{outside.as_uri()} is {outside.resolve()}", "/etc is /etc"
    )
    assert not (outside / "RAN").exists()


def test_s3_keys_cannot_climb_out_of_the_s3_root(strict, s3, outside):
    message = refused(strict, "s3-dotdot", f"s3://bucket/../../{outside.name}/model.py")
    assert message == (
        f"ModelDataUrl s3://bucket/../../{outside.name}/model.py has a '.' or '..' segment: the "
        "host refuses S3 keys that would name a file outside their bucket's folder. Name the "
        "object by its key without them."
    )
    assert "'..' segment" in refused(strict, "s3-bucket-dotdot", "s3://../outside/model.py")


def test_symbolic_links_out_of_the_roots_are_refused(strict, models, s3, outside):
    (models / "link-out").symlink_to(outside, target_is_directory=True)
    message = refused(strict, "link-out", (models / "link-out").as_uri())
    assert f"is {outside.resolve()}, which is outside" in message
    (s3 / "bucket").mkdir(exist_ok=True)
    (s3 / "bucket" / "escape").symlink_to(outside, target_is_directory=True)
    assert roots_rule(strict) in refused(strict, "s3-link-out", "s3://bucket/escape")
    # a link inside a model folder: found when the model loads; the endpoint fails, saying so
    inner = models / "inner-link"
    inner.mkdir()
    (inner / "model.onnx").symlink_to(outside / "model.py")
    strict.sagemaker_client().create_model(
        ModelName="inner-link",
        PrimaryContainer={"Image": "local/onnx:1", "ModelDataUrl": inner.as_uri()},
        ExecutionRoleArn=ROLE,
    )
    with pytest.raises(LocalHostError) as info:
        deploy_created(strict, "inner-link")
    assert f"holds the symbolic link {inner / 'model.onnx'} to {outside / 'model.py'}" in str(
        info.value
    )
    assert not (outside / "RAN").exists()


def deploy_created(host, name: str) -> dict:
    """Endpoint config and endpoint for an existing model; DescribeEndpoint once settled."""
    from endpoints.local.server import require_in_service

    sm = host.sagemaker_client()
    variant = {
        "VariantName": "v",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    host.manager.wait_settled(name, 30)
    return require_in_service(sm.describe_endpoint(EndpointName=name))


def test_a_host_without_roots_reads_no_local_model_data(outside):
    with LocalEndpointHost() as bare:
        message = refused(bare, "no-roots", outside.as_uri())
    assert (
        "outside the folders this host reads model data from (none: it was started without "
        "--s3-root or --model-root)" in message
    )


def test_python_models_need_the_operators_opt_in(strict, models):
    message = refused(
        strict, "py-asked", (models / "sum").as_uri(), {"ENDPOINT_SERDE_RUNTIME": "python"}
    )
    assert message == (
        "The container asks for a Python model (ENDPOINT_SERDE_RUNTIME=python or "
        "ENDPOINT_SERDE_PYTHON_HANDLER). Python models run their code inside the host, so it "
        "loads them only when its operator opted in at start: endpoints-local serve "
        "--allow-python-models (LocalEndpointHost(allow_python_models=True)). Restart the "
        "host so if you trust the code of every model it may be asked to load."
    )
    # found by its model.py alone: the endpoint fails, and the code never ran
    marker = models / "marks"
    marker.mkdir()
    (marker / "model.py").write_text(f"open({str(marker / 'RAN')!r}, 'w').close()\n")
    assert create_model(strict, "py-found", marker.as_uri()) == {}
    with pytest.raises(LocalHostError, match=r"is a Python model\. Python models run their code"):
        deploy_created(strict, "py-found")
    assert not (marker / "RAN").exists()


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        ("pickle:loads", "No pickle.py in the model directory"),
        ("os:system", "No os.py in the model directory"),
        ("..model:predict", "is not a dotted module name"),
    ],
)
def test_a_python_handler_is_a_module_file_of_the_model_never_an_installed_one(
    host, models, handler, reason
):
    with pytest.raises(LocalHostError, match=reason):
        host.deploy_local(
            f"handler-{handler.split(':')[0].strip('.')}",
            models / "sum",
            "python",
            {"ENDPOINT_SERDE_PYTHON_HANDLER": handler},
        )


def test_the_child_process_host_takes_roots_opt_in_and_connection_limits(models, outside):
    with LocalHostProcess(model_roots=[models], read_timeout_s=0.5) as child:
        with pytest.raises(LocalHostError, match="Restart the host so if you trust"):
            child.deploy_local("py", models / "sum", "python")
        with pytest.raises(LocalHostError, match="outside the folders this host reads"):
            child.deploy_local("out", outside, "onnx")
        (stalled,) = half_sent(urlsplit(child.url).port, 1)
        assert answer_of(stalled).startswith(b"HTTP/1.1 408 Request Timeout")
        # its fault controls, through the header a cross-origin page cannot send
        child.set_control_plane_faults(FaultSpec(throttle_rate=1.0, max_faults=1))
        with pytest.raises(ClientError, match="ThrottlingException"):
            child.sagemaker_client().list_models()
        assert child.sagemaker_client().list_models()["Models"] == []
        child.set_faults("any", FaultSpec(error_rate=1.0))
        assert child.metrics()["faults_injected"] == {"throttle": 1}
    assert not (outside / "RAN").exists()


# ------------------------------------------------------------------------------ archives


def archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def file_member(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def failure_of(host, name: str, url: str) -> str:
    assert create_model(host, name, url) == {}
    with pytest.raises(LocalHostError) as info:
        deploy_created(host, name)
    return str(info.value)


def extracted(host) -> list[str]:
    folder = host.artifacts.cache_dir / "extracted"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_an_archive_bomb_stops_at_the_byte_limit(strict, s3):
    bomb = archive(s3 / "bucket" / "bomb.tar.gz", [file_member("model.onnx", bytes(2 << 20))])
    assert bomb.stat().st_size < 10_000  # 2 MiB of zeros, a few KiB packed
    reason = failure_of(strict, "bomb", "s3://bucket/bomb.tar.gz")
    assert (
        f"{bomb} unpacks to more than 1048576 bytes (member 'model.onnx' of 2097152 bytes brings "
        "it to 2097152); the host unpacks at most 1048576 bytes (--max-archive-bytes)"
    ) in reason
    assert extracted(strict) == []  # nothing half-written left behind


def test_an_archive_of_too_many_members_is_refused(strict, s3):
    archive(s3 / "bucket" / "many.tar.gz", [file_member(f"f{i}.txt") for i in range(25)])
    reason = failure_of(strict, "many", "s3://bucket/many.tar.gz")
    assert "has more than 20 members; the host unpacks at most 20 (--max-archive-members)" in reason
    assert extracted(strict) == []


def test_a_member_climbing_out_of_the_archive_is_refused(strict, s3):
    archive(s3 / "bucket" / "climb.tar.gz", [file_member("model.onnx"), file_member("../up.py")])
    reason = failure_of(strict, "climb", "s3://bucket/climb.tar.gz")
    assert "member '../up.py' refused" in reason
    assert "must stay inside the model directory (no absolute paths, '..' or links" in reason
    assert not (strict.artifacts.cache_dir / "extracted" / "up.py").exists()
    assert extracted(strict) == []


def test_an_absolute_member_lands_inside_the_model_folder(tmp_path):
    target = tmp_path / "absolute-escaped.py"
    s3_root = tmp_path / "s3"
    members = [file_member("model.onnx", onnx_model_bytes()), file_member(str(target))]
    archive(s3_root / "b" / "abs.tar.gz", members)
    with LocalEndpointHost(s3_root=s3_root) as h:
        h.deploy_local("abs", "s3://b/abs.tar.gz", "onnx")
        (folder,) = (h.artifacts.cache_dir / "extracted").iterdir()
        assert (folder / str(target).lstrip("/")).is_file()  # its leading "/" stripped
    assert not target.exists()


def test_a_link_member_pointing_out_is_refused(strict, s3):
    link = tarfile.TarInfo("model.onnx")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive(s3 / "bucket" / "link.tar.gz", [(link, b"")])
    reason = failure_of(strict, "link-member", "s3://bucket/link.tar.gz")
    assert "'model.onnx' refused" in reason


def onnx_model_bytes() -> bytes:
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    x = np.arange(8.0).reshape(4, 2)
    return to_onnx(
        LinearRegression().fit(x, x.sum(axis=1)), x[:1].astype(np.float32)
    ).SerializeToString()


def test_the_extraction_goes_with_the_last_model_using_it_and_with_the_host(tmp_path):
    s3_root = tmp_path / "s3"
    archive(s3_root / "b" / "model.tar.gz", [file_member("model.onnx", onnx_model_bytes())])
    url = "s3://b/model.tar.gz"
    with LocalEndpointHost(s3_root=s3_root, state_dir=tmp_path / "state") as h:
        sm = h.sagemaker_client()
        for name in ("first", "second"):
            h.deploy_local(name, url, "onnx")
        assert len(extracted(h)) == 1  # one archive, extracted once for both
        for name in ("first", "second"):
            sm.delete_endpoint(EndpointName=name)
            sm.delete_endpoint_config(EndpointConfigName=name)
        sm.delete_model(ModelName="first")
        assert len(extracted(h)) == 1  # "second" still names it
        sm.delete_model(ModelName="second")
        assert extracted(h) == []
        h.deploy_local("third", url, "onnx")
        assert len(extracted(h)) == 1
    # the host stopped: no extraction outlives it, even under --state-dir
    assert not (tmp_path / "state" / "cache" / "extracted").exists()
    assert (tmp_path / "state" / "state.json").is_file()


# --------------------------------------------------------------------------- connections

HALF_REQUEST = b"POST /endpoints/sum/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"


def half_sent(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each sent half a request's headers, and then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(HALF_REQUEST)
        sockets.append(sock)
    return sockets


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends on ``sock`` until it closes it (10 s at most)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def one_response(sock: socket.socket) -> tuple[int, bytes]:
    """The next HTTP response on ``sock`` (status, body); the connection stays open."""
    response = HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def closed_by_the_server(sockets: list[socket.socket], at_least: int) -> int:
    """How many of ``sockets`` the server closed, waiting (10 s at most) until ``at_least``
    are: a closed socket reads as end of file."""
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + 10
    while len(closed) < at_least and time.monotonic() < deadline:
        readable, _, _ = select.select([s for s in sockets if s not in closed], [], [], 0.5)
        closed |= {s for s in readable if _at_end(s)}
    return len(closed)


def _at_end(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:  # closed with our half request unread: a reset
        return True


def invoke_sum(host) -> bytes:
    answer = host.runtime_client().invoke_endpoint(
        EndpointName="sum", Body=b"1,2", ContentType="text/csv"
    )
    return answer["Body"].read()


def test_a_good_request_succeeds_beside_300_half_sent_connections(host):
    stalled = half_sent(host.port, 300)
    try:
        assert invoke_sum(host) == b"3.0"
        # under the connection cap and inside the read timeout: nobody was thrown out
        assert select.select(stalled, [], [], 0)[0] == []
    finally:
        for sock in stalled:
            sock.close()


def test_at_the_connection_cap_the_longest_waiting_connections_make_room(models):
    with LocalEndpointHost(
        model_roots=[models], allow_python_models=True, max_connections=64
    ) as capped:
        capped.deploy_local("sum", models / "sum", "python")
        stalled = half_sent(capped.port, 300)
        try:
            assert invoke_sum(capped) == b"3.0"
            # 300 arrived for 64 places: the oldest half-sent ones were closed, the good
            # request's connection took the place of one more
            assert closed_by_the_server(stalled, 300 - 63) >= 300 - 63
        finally:
            for sock in stalled:
                sock.close()


def test_when_every_connection_is_serving_a_newcomer_gets_503(models):
    with LocalEndpointHost(
        model_roots=[models], allow_python_models=True, max_connections=2
    ) as capped:
        capped.deploy_local("sum", models / "sum", "python")
        capped.set_faults("sum", FaultSpec(latency_ms=3000))
        busy = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", capped.port), timeout=10)
            sock.sendall(
                b"POST /endpoints/sum/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: text/csv\r\nContent-Length: 3\r\n\r\n1,2"
            )
            busy.append(sock)
        injector = capped.invocations._faults["sum"]
        deadline = time.monotonic() + 10
        while injector.serving < 2 and time.monotonic() < deadline:
            threading.Event().wait(0.01)  # both requests are in the model's hands
        assert injector.serving == 2
        newcomer = socket.create_connection(("127.0.0.1", capped.port), timeout=10)
        answer = answer_of(newcomer)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert b"The local host has 2 connections open, all serving requests" in answer
        for sock in busy:
            assert one_response(sock) == (200, b"3.0")
            sock.close()


def test_headers_and_bodies_that_stop_coming_are_timed_out():
    with LocalEndpointHost(read_timeout_s=0.5) as quick:
        started = time.monotonic()
        (headers_cut,) = half_sent(quick.port, 1)
        silent = socket.create_connection(("127.0.0.1", quick.port), timeout=10)
        body_cut = socket.create_connection(("127.0.0.1", quick.port), timeout=10)
        body_cut.sendall(
            b"POST /endpoints/sum/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,2,3"
        )
        timed_out = answer_of(headers_cut)
        assert time.monotonic() - started >= 0.5
        assert timed_out.startswith(b"HTTP/1.1 408 Request Timeout")
        assert timed_out.endswith(
            b"The request did not arrive within 0.5 s (its headers in that time, its body "
            b"without a longer pause); send it whole, promptly."
        )
        assert answer_of(silent) == b""  # sent nothing: closed without a word
        assert answer_of(body_cut).startswith(b"HTTP/1.1 408 Request Timeout")
        # a keep-alive connection serves request after request within the limits
        with socket.create_connection(("127.0.0.1", quick.port), timeout=10) as kept:
            for _ in range(3):
                kept.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert one_response(kept) == (200, b'{"status": "healthy"}')


# --------------------------------------------------------------------- cross-origin calls


def post_faults(host, http, headers: dict, body: bytes = b'{"error_rate": 1.0}'):
    return http.request("POST", f"{host.url}/_local/faults/sum", body=body, headers=headers)


def test_fault_controls_cannot_be_posted_by_a_web_page(host, http):
    form = post_faults(host, http, {"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 403
    assert form.json()["error"].startswith(
        "POST /_local/faults/sum changes how the host behaves, so it needs the header "
        "X-Endpoints-Local: 1 (and Content-Type: application/json), which a web page on "
        "another origin cannot send."
    )
    plain = post_faults(host, http, {"X-Endpoints-Local": "1", "Content-Type": "text/plain"})
    assert plain.status == 415
    assert "takes Content-Type: application/json, got 'text/plain'" in plain.json()["error"]
    rebound = post_faults(host, http, {**CONTROL_HEADERS, "Host": f"evil.example:{host.port}"})
    assert rebound.status == 403
    assert rebound.json()["error"].startswith(
        f"Host 'evil.example:{host.port}' is not a loopback name: this host answers only "
        "requests addressed to 127.0.0.1, localhost or [::1]"
    )
    assert invoke_sum(host) == b"3.0"  # none of them set a fault
    assert post_faults(host, http, CONTROL_HEADERS, b"").status == 200  # what clients send


def test_requests_addressed_to_another_name_are_refused_everywhere(host, http):
    """DNS rebinding: a page whose domain now resolves to 127.0.0.1 still sends its own
    name as Host; the control plane (which could create a Python model) refuses it."""
    foreign = {"Host": f"attacker.example:{host.port}"}
    create = http.request(
        "POST",
        host.url,
        body=b'{"ModelName": "rebound", "PrimaryContainer": {"Image": "x"}}',
        headers={
            **foreign,
            "X-Amz-Target": "SageMaker.CreateModel",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert create.status == 403
    with pytest.raises(ClientError, match="Could not find model"):
        host.sagemaker_client().describe_model(ModelName="rebound")
    assert http.request("GET", f"{host.url}/_local/metrics", headers=foreign).status == 403
    assert http.request("GET", f"{host.url}/ping", headers=foreign).status == 403
    for name in (f"localhost:{host.port}", f"bucket.localhost:{host.port}", "127.0.0.1"):
        assert http.request("GET", f"{host.url}/ping", headers={"Host": name}).status == 200
    assert http.request("GET", f"{host.url}/_local/metrics").json()["requests"]


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("LocalHost.", True),
        ("models.localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.7", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_what_counts_as_a_loopback_name(name, loopback):
    assert is_loopback_address(name) is loopback
