"""``pip install endpoint-serde`` without extras runs the main job.

The wheel is built from this tree, installed without extras into a fresh venv (its own
site-packages: nothing of this environment is visible to it), and that venv scores a
small DataFrame with Spark against a stdlib ``http.server`` endpoint on 127.0.0.1. It
catches a core dependency that the job needs but the package does not declare (pandas,
which pyspark's Arrow UDF path imports, was one).

To stay fast and repeatable, the install is constrained to the versions this environment
already runs (``pip freeze``): pip still resolves the dependency set from the wheel's own
metadata — a constraint never adds a package — but finds every file in its warm cache.
"""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pytest
from install_helpers import (
    PIP,
    installed_names,
    new_venv,
    pip_install,
    run,
    site_packages,
    write_constraints,
)

ROOT = Path(__file__).resolve().parents[1]

#: What the project ships in its wheel; copied so the build writes nothing into the tree.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "serde", "endpoints")

#: Run inside the fresh venv: a model server that answers each CSV row with the sum of
#: its values, and a Spark job that scores 12 rows against it through the CSV SerDes.
SCORE_SCRIPT = r"""
import importlib.util
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


class SumModel(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        sums = [sum(float(v) for v in line.split(",")) for line in body.splitlines()]
        out = "".join(f"{s!r}\n" for s in sums).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = ThreadingHTTPServer(("127.0.0.1", 0), SumModel)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()

import pyspark
from pyspark.sql import SparkSession

from endpoints import SageMakerModel
from endpoints.clients.http import HttpEndpoint
from serde import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

print("prefix", sys.prefix)
print("pyspark", os.path.dirname(pyspark.__file__))
print("extras", [m for m in ("sagemaker", "uvicorn", "onnxruntime", "pytest")
                 if importlib.util.find_spec(m)])

spark = (
    SparkSession.builder.master("local[1]")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.sql.shuffle.partitions", "1")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
df = spark.range(12).selectExpr("id", "array(cast(id as double), 0.5, 2.0) as features")
model = SageMakerModel(
    endpoint=HttpEndpoint(f"http://127.0.0.1:{server.server_address[1]}/invocations"),
    request_row_serializer=UnlabeledCSVRequestRowSerializer(features_column_name="features"),
    response_row_deserializer=XGBoostCSVRowDeserializer(),
    max_batch_records=5,
)
rows = model.transform(df).collect()  # sorted here: no shuffle, no 200 tiny tasks
print("scored", sorted((r.id, r.prediction) for r in rows))
spark.stop()
server.shutdown()
"""


@pytest.mark.timeout(600)
def test_wheel_without_extras_scores_a_dataframe(tmp_path: Path):
    phases: dict[str, float] = {}
    started = last = time.monotonic()

    def phase(name: str) -> None:
        nonlocal last
        now = time.monotonic()
        phases[name] = now - last
        last = now

    src = tmp_path / "src"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(source, src / name)
    dist = tmp_path / "dist"
    built = run([*PIP, "wheel", "--no-deps", "-q", "-w", str(dist), str(src)])
    [wheel] = dist.glob("endpoint_serde-*.whl")
    phase("build")
    # the build backend has nothing to warn about (it warned of the license table), and the
    # SPDX license travels with the wheel, its text too
    assert "BuildBackendWarning" not in built.stderr, built.stderr
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
        [metadata] = [archive.read(f).decode() for f in files if f.endswith(".dist-info/METADATA")]
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert [f for f in files if f.endswith("/licenses/LICENSE")] != []

    venv = tmp_path / "venv"
    python = new_venv(venv)
    pip_install(python, str(wheel), constraints=write_constraints(tmp_path / "constraints.txt"))
    phase("install")
    names = installed_names(python)
    assert {"endpoint-serde", "pyspark", "pyarrow", "pandas", "boto3", "numpy"} <= names
    assert not names & {"sagemaker-core", "sagemaker", "uvicorn", "onnxruntime", "pytest"}

    script = tmp_path / "score.py"
    script.write_text(SCORE_SCRIPT)
    out = run([str(python), str(script)], cwd=tmp_path, timeout=300).stdout.splitlines()
    phase("score")
    assert out[:3] == [
        f"prefix {venv}",
        f"pyspark {site_packages(python) / 'pyspark'}",
        "extras []",
    ]
    assert out[3] == "scored " + repr([(i, i + 2.5) for i in range(12)])
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
    print(f"plain install: {time.monotonic() - started:.0f} s ({times})")
