"""What every example needs to run on one machine: the venv's Python for Spark workers,
dummy AWS credentials for the local host, a local SparkSession, a model folder.

On a real cluster against AWS you need none of this: Spark is already there and
credentials come from the instance role.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Spark's Python workers must run this interpreter (the one with pyarrow and this package).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# The local endpoint host accepts any credentials; boto3 just needs some.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

#: Container environment for a Python model whose ``model.py`` defines ``predict``.
PYTHON_MODEL_ENV = {"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}


def local_spark(app_name: str = "endpoint-serde-example"):
    """A ``local[2]`` SparkSession bound to 127.0.0.1, quiet logs, no UI."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def python_model_dir(source: str, name: str = "model") -> Path:
    """A fresh folder holding ``model.py`` with ``source``: a model the local host runs."""
    model_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    (model_dir / "model.py").write_text(source)
    return model_dir
