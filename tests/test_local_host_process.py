"""LocalHostProcess: the host in a child process serves, stops on stop(), and never outlives
the process that started it, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from endpoints.local import LocalHostProcess
from endpoints.local.errors import LocalHostError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes: it serves nothing and holds no port
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_child_host_deploys_serves_and_stops(tmp_path):
    (tmp_path / "model.py").write_text("def predict(x):\n    return x.sum(axis=1) * 2\n")
    with LocalHostProcess(model_roots=[tmp_path], allow_python_models=True) as host:
        pid = host._proc.pid
        assert host.url.startswith("http://127.0.0.1:")
        record = host.deploy_local(
            "doubled", tmp_path, "python", {"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
        )
        assert record["EndpointStatus"] == "InService"
        sm = host.sagemaker_client()
        assert sm.describe_model(ModelName="doubled")["PrimaryContainer"]["ModelDataUrl"] == (
            tmp_path.resolve().as_uri()
        )
        answer = host.runtime_client().invoke_endpoint(
            EndpointName="doubled", Body=b"1,2\n3,4", ContentType="text/csv", Accept="text/csv"
        )
        assert answer["Body"].read() == b"6.0\n14.0"
        with pytest.raises(LocalHostError, match="Cannot create already existing model"):
            host.deploy_local("doubled", tmp_path, "python")
    assert _wait_gone(pid, 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_child_host_stops_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from endpoints.local import LocalHostProcess\n"
            "host = LocalHostProcess()\n"
            "print(host._proc.pid, flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only the pipe closes
        parent.wait(10)
        assert _wait_gone(child, 15), f"host process {child} outlived its killed parent"
    finally:
        parent.kill()
        if "child" in locals() and _alive(child):
            os.kill(child, signal.SIGKILL)
