"""Every example runs alone, as a user would run it, and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: float = 240) -> str:
    return run_example_process(name, *args, timeout=timeout).stdout


def run_example_process(
    name: str, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Runs ``examples/<name>`` as a user would; fails the test if it exits non-zero."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    tail = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{name} failed:\n{tail}"
    return result


def test_quickstart():
    out = run_example("quickstart.py")
    assert "scored 10 rows in 2 partition(s) with 2 request(s)" in out
    assert "|9  |[9.0,0.5,-1.0]|8.5       |" in out


def test_custom_serde_pipeline_saved_and_loaded():
    out = run_example("custom_serde.py")
    assert "loaded pipeline scored the same rows identically" in out
    assert "height= 0.50 weight=-0.25 probabilities=[0.6225, 0.3775]" in out
    assert "the batch-way SerDes scored every row as the per-row ones did" in out


def test_tf_serving_mapping():
    out = run_example("tf_serving_mapping.py")
    assert "customer 2: risk_score=0.6300 class_scores=[0.63, 0.37]" in out
    assert "tf serving mapping example OK" in out


def test_builtin_algorithm_protobuf():
    out = run_example("builtin_algorithm_protobuf.py")
    assert "id=1 features=[9.0, 11.0] closest_cluster=1" in out
    assert "protobuf example OK" in out


def test_streaming_with_endpoint_update_and_throttling():
    out = run_example("streaming.py")
    assert "rows in: 12000, rows out: 12000, failed: 0" in out
    assert "streaming example OK" in out


def test_batch_transform_scores_and_cleans_up():
    out = run_example("batch_transform.py")
    assert "scored 100000 rows with transform job " in out
    assert "cleanup: " in out and " 0 failed" in out


def test_cleanup_script():
    out = run_example("cleanup_script.py")
    assert "after the cleanup, endpoints: ['production-scorer']" in out
    assert "nightly-2026-11-24" in out  # listed by the dry run
    assert "cleanup example OK" in out


@pytest.mark.parametrize("rows", [20_000])
def test_demo_end_to_end_small(rows):
    result = run_example_process("demo.py", "--rows", str(rows), "--partitions", "2", timeout=400)
    out = result.stdout
    assert "agreement with in-process predictions: 100.0000%" in out
    # one progress display, the demo's own lines; none of Spark's, Hadoop's, pyspark's or
    # TensorFlow's start-up notes a first run used to print
    assert f"   scoring: 2/2 partitions done ({rows:,} rows, " in out
    assert f"   scoring: 4/4 partitions done ({rows // 10:,} rows, " in out
    noise = [
        "[Stage ",  # Spark's console progress bar
        "resolves to a loopback address",
        "Using Spark's default log4j profile",
        "Setting default log level",
        "NativeCodeLoader",
        "FutureWarning",
        "cpu_feature_guard",
        "absl::InitializeLog",
    ]
    printed = result.stdout + result.stderr
    assert [line for line in noise if line in printed] == []
    # the ONNX story, then the Keras SavedModel one (the test environment has tensorflow)
    assert "agreement with Keras in-process: 100.0000%" in out
    assert out.count("none left") == 6
    assert "demo finished: everything created was deleted" in out
