"""Credentials go into the request actually sent, and nowhere else: not ``repr``, specs,
``explainParams``, saved Pipelines, error or task messages, nor botocore's DEBUG log.

Real parts throughout: a recording HTTP server on 127.0.0.1 (it checks what was really
sent), real boto3 clients, a local SparkSession for the model's save/load and task errors.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from endpoints.clients.http import HttpEndpoint
from endpoints.clients.sagemaker_runtime import SageMakerEndpoint
from endpoints.clients.specs import endpoint_from_spec
from endpoints.errors import ConfigurationError, RejectedError
from endpoints.redaction import (
    MASK,
    install_botocore_log_filter,
    is_harmless_header,
    redact_headers,
    redact_text,
    redact_url,
    split_user_info,
)

PASSWORD = "pw-8e4d@x"  # percent-encoded in the URL as pw-8e4d%40x
API_KEY = "key-7f3a9c1e"
AUTH_TOKEN = "tok-51be22d0"
COOKIE = "session=sess-0c9d77"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
ACCESS_KEY_ID = "AKIAEXAMPLEKEYID0001"
SECRETS = (PASSWORD, API_KEY, AUTH_TOKEN, "sess-0c9d77", SESSION_TOKEN, ACCESS_KEY_ID)
BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def assert_no_secret(text: str) -> None:
    leaked = [s for s in (*SECRETS, BASIC.split()[1]) if s in text]
    assert not leaked, f"leaked {leaked} in {text[:2000]}"


class RecordingServer:
    """Answers each CSV body with the sum of each line (``/deny``: 403); keeps the headers
    of every request it received."""

    def __init__(self) -> None:
        server = self
        self.requests: list[tuple[str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append((self.path, dict(self.headers.items())))
                if "deny" in self.path:
                    status, answer = 403, b"denied: bad credentials"
                else:
                    sums = [sum(map(float, line.split(","))) for line in body.decode().split()]
                    status, answer = 200, "".join(f"{s}\n" for s in sums).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def server():
    recording = RecordingServer()
    yield recording
    recording.close()


def secret_endpoint(server: RecordingServer, path: str = "/ok") -> HttpEndpoint:
    return HttpEndpoint(
        f"http://alice:pw-8e4d%40x@{server.base}{path}",
        headers={
            "X-Api-Key": API_KEY,
            "X-Auth-Token": AUTH_TOKEN,
            "Cookie": COOKIE,
            "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
        },
    )


# -- the module's rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "harmless"),
    [
        ("Content-Type", True),
        ("accept", True),
        ("User-Agent", True),
        ("X-Amzn-SageMaker-Custom-Attributes", True),
        ("X-Amzn-SageMaker-Target-Model", True),
        ("Authorization", False),
        ("X-Api-Key", False),
        ("X-Auth-Token", False),
        ("Cookie", False),
        ("Proxy-Authorization", False),
        ("X-My-Vendor-Signature", False),
    ],
)
def test_only_allowlisted_headers_are_harmless(name, harmless):
    assert is_harmless_header(name) is harmless
    shown = redact_headers({name: "value-1"})[name]
    assert shown == ("value-1" if harmless else MASK)


def test_user_info_is_split_out_and_redacted():
    assert split_user_info("https://u:p%40ss@h.example:8443/v1?q=1") == (
        "https://h.example:8443/v1?q=1",
        "u:p@ss",
    )
    assert split_user_info("http://127.0.0.1:8501/v1") == ("http://127.0.0.1:8501/v1", None)
    assert redact_url("https://u:p@h.example/x") == f"https://{MASK}@h.example/x"
    assert redact_url("http://h/x") == "http://h/x"


def test_redact_text_masks_what_botocore_logs():
    sent = (
        "Sending http request: <AWSPreparedRequest method=POST, headers={'X-Amz-Date': "
        f"b'20261130T124559Z', 'X-Amz-Security-Token': b'{SESSION_TOKEN}', 'Authorization': "
        f"b'AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261130/us-east-1/sagemaker/"
        "aws4_request, SignedHeaders=host, Signature=ab12'}>"
    )
    assert redact_text(sent) == (
        "Sending http request: <AWSPreparedRequest method=POST, headers={'X-Amz-Date': "
        f"b'20261130T124559Z', 'X-Amz-Security-Token': b'{MASK}', 'Authorization': "
        f"b'{MASK}'}}>"
    )
    canonical = f"POST\n/\n\nhost:h\nx-amz-security-token:{SESSION_TOKEN}\n\nhost;x"
    assert redact_text(canonical) == f"POST\n/\n\nhost:h\nx-amz-security-token:{MASK}\n\nhost;x"
    sts = (
        "<AccessKeyId>A</AccessKeyId><SecretAccessKey>s/k</SecretAccessKey>"
        f"<SessionToken>{SESSION_TOKEN}</SessionToken>"
    )
    assert redact_text(sts) == (
        f"<AccessKeyId>A</AccessKeyId><SecretAccessKey>{MASK}</SecretAccessKey>"
        f"<SessionToken>{MASK}</SessionToken>"
    )
    assert redact_text('{"Token": "t1", "NextToken": "page-2"}') == (
        f'{{"Token": "{MASK}", "NextToken": "page-2"}}'
    )
    assert redact_text("u?X-Amz-Security-Token=abc%2F&X-Amz-Signature=ff&a=1") == (
        f"u?X-Amz-Security-Token={MASK}&X-Amz-Signature={MASK}&a=1"
    )


# -- HttpEndpoint ----------------------------------------------------------------------------


def test_http_endpoint_shows_and_saves_no_credential(server):
    endpoint = secret_endpoint(server)
    url = f"http://{server.base}/ok"
    assert endpoint.url == url and endpoint.name == url
    assert repr(endpoint) == (
        f"HttpEndpoint({url!r}, headers={{'X-Api-Key': '{MASK}', 'X-Auth-Token': '{MASK}', "
        f"'Cookie': '{MASK}', 'X-Amzn-SageMaker-Custom-Attributes': 'trace=1', "
        f"'Authorization': '{MASK}'}})"
    )
    assert endpoint.to_spec() == {
        "kind": "http",
        "options": {
            "url": url,
            "connect_timeout_s": 10.0,
            "read_timeout_s": 70.0,
            "name": url,
            "headers": {"X-Amzn-SageMaker-Custom-Attributes": "trace=1"},
        },
        "credentials_not_saved": ["Authorization", "Cookie", "X-Api-Key", "X-Auth-Token"],
    }
    assert_no_secret(repr(endpoint) + json.dumps(endpoint.to_spec()) + str(vars(endpoint)))
    with pytest.raises(ValueError) as info:
        HttpEndpoint("ftp://alice:pw-8e4d%40x@files.example/model")
    assert str(info.value) == (
        f"url must start with http:// or https://, got 'ftp://{MASK}@files.example/model'"
    )
    with pytest.raises(ValueError, match="url carries user info and headers carry Authorization"):
        HttpEndpoint("http://a:b@h/x", headers={"authorization": "Bearer t"})


def test_credentials_are_sent_and_errors_name_only_the_clean_url(server):
    server.requests.clear()
    assert secret_endpoint(server).invoke(b"1,2\n3,4\n", "text/csv", "text/csv") == b"3.0\n7.0\n"
    path, headers = server.requests[-1]
    assert path == "/ok"
    assert {k: headers[k] for k in ("Authorization", "X-Api-Key", "X-Auth-Token", "Cookie")} == {
        "Authorization": BASIC,
        "X-Api-Key": API_KEY,
        "X-Auth-Token": AUTH_TOKEN,
        "Cookie": COOKIE,
    }
    with pytest.raises(RejectedError) as info:
        secret_endpoint(server, "/deny").invoke(b"1,2\n", "text/csv", "text/csv")
    assert str(info.value) == (
        f"endpoint 'http://{server.base}/deny' HTTP 403: denied: bad credentials"
    )
    assert_no_secret(str(info.value))


def test_explicit_credentials_travel_in_the_pickled_task_by_design(server):
    """What executors receive is the endpoint itself: its secrets must be in it to be sent."""
    payload = pickle.dumps(secret_endpoint(server))
    assert API_KEY.encode() in payload
    copy = pickle.loads(payload)
    server.requests.clear()
    assert copy.invoke(b"5,5\n", "text/csv", "text/csv") == b"10.0\n"
    assert server.requests[-1][1]["X-Api-Key"] == API_KEY


@pytest.mark.parametrize(
    ("endpoint", "names"),
    [
        (
            HttpEndpoint("http://127.0.0.1:1/x", headers={"X-Api-Key": API_KEY}),
            "X-Api-Key",
        ),
        (
            SageMakerEndpoint(
                "ep", aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key="s3cret"
            ),
            "aws_access_key_id, aws_secret_access_key",
        ),
    ],
)
def test_a_spec_saved_without_credentials_is_refused_on_rebuild(endpoint, names):
    spec = json.loads(json.dumps(endpoint.to_spec()))
    assert_no_secret(json.dumps(spec))
    with pytest.raises(ConfigurationError) as info:
        endpoint_from_spec(spec)
    assert str(info.value) == (
        f"cannot rebuild the saved {spec['kind']!r} endpoint without its credentials "
        f"({names}): a saved Pipeline never keeps them. After loading, give the endpoint "
        "again with its credentials: model.set_endpoint(HttpEndpoint(url, headers=...)) or "
        "model.set_endpoint(SageMakerEndpoint(name, aws_access_key_id=...))"
    )
    plain = SageMakerEndpoint("ep", region="us-east-1").to_spec()
    assert "credentials_not_saved" not in plain
    assert endpoint_from_spec(plain).endpoint_name == "ep"


# -- the Spark model: explainParams, save/load, task errors, driver logs -------------------------


def test_model_params_saved_pipeline_and_task_errors_carry_no_credential(
    spark, server, tmp_path, caplog
):
    from pyspark.ml.linalg import Vectors

    from endpoints import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    caplog.set_level(logging.INFO)
    df = spark.createDataFrame(
        [(Vectors.dense([1.0, 2.0]),), (Vectors.dense([3.0, 4.5]),)], ["features"]
    )
    model = SageMakerModel(
        endpoint=secret_endpoint(server),
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
    )
    assert [r.prediction for r in model.transform(df).collect()] == [3.0, 7.5]
    assert_no_secret(model.explainParams() + repr(model))

    model.write().overwrite().save(str(tmp_path / "saved"))
    saved = "".join(
        p.read_text(errors="replace") for p in Path(tmp_path / "saved").rglob("*") if p.is_file()
    )
    assert "credentials_not_saved" in saved
    assert_no_secret(saved)

    loaded = SageMakerModel.load(str(tmp_path / "saved"))
    with pytest.raises(ConfigurationError, match="without its credentials"):
        loaded.transform(df)
    loaded.set_endpoint(secret_endpoint(server))
    assert [r.prediction for r in loaded.transform(df).collect()] == [3.0, 7.5]

    model.set_endpoint(secret_endpoint(server, "/deny"))
    with pytest.raises(Exception) as info:
        model.transform(df).collect()
    message = str(info.value)
    assert f"endpoint 'http://{server.base}/deny' HTTP 403: denied: bad credentials" in message
    assert_no_secret(message)
    assert_no_secret(caplog.text)


# -- botocore's DEBUG log --------------------------------------------------------------------


def test_botocore_debug_log_does_not_show_the_session_token(server, caplog):
    endpoint = SageMakerEndpoint(
        "scorer",
        region="us-east-1",
        endpoint_url=f"http://{server.base}",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key="wJalrXUtnFEMIEXAMPLESECRET",
        aws_session_token=SESSION_TOKEN,
    )
    caplog.set_level(logging.DEBUG)
    server.requests.clear()
    assert endpoint.invoke(b"1,2\n", "text/csv", "text/csv") == b"3.0\n"
    path, headers = server.requests[-1]
    assert path == "/endpoints/scorer/invocations"
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN  # sent...
    assert f"Credential={ACCESS_KEY_ID}/" in headers["Authorization"]
    assert f"'X-Amz-Security-Token': b'{MASK}'" in caplog.text  # ...logged, masked
    assert f"x-amz-security-token:{MASK}" in caplog.text
    assert_no_secret(caplog.text)
    assert "wJalrXUtnFEMIEXAMPLESECRET" not in caplog.text


def test_the_filter_is_installed_once_per_logger():
    install_botocore_log_filter()
    install_botocore_log_filter()
    for name in ("botocore.endpoint", "botocore.auth", "botocore.parsers"):
        filters = logging.getLogger(name).filters
        assert sum(type(f).__name__ == "SecretsLogFilter" for f in filters) == 1
