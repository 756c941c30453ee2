"""What every example needs to run on one machine: the venv's Python for Spark workers,
dummy AWS credentials for the local host, a local SparkSession, a model folder — and quiet
start-ups, so what an example prints is all a user reads.

On a real cluster against AWS you need none of this: Spark is already there and
credentials come from the instance role.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

# Spark's Python workers must run this interpreter (the one with pyarrow and this package).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# The local endpoint host accepts any credentials; boto3 just needs some.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Spark binds to 127.0.0.1 (local_spark); said before its JVM starts, it also stops Spark
# from resolving this machine's name to a loopback address and warning that it binds
# another interface instead.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# TensorFlow's C++ start-up notes (CPU features, absl) on stderr: errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pyspark 4.x warns at every SparkContext start that it "does not yet fully support pandas
# >= 3.0.0" (its py4j converter imports pyspark.testing, which checks pandas' version). It
# concerns pyspark.pandas, which nothing here uses; the Arrow paths the library runs are
# tested on pandas 3. Exactly that message is hidden, from the driver where it is raised.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
#: Spark's log configuration for the examples: warnings and errors only, and none of the
#: start-up notes (default profile, log level hint, Hadoop's native-library warning).
LOG4J2_PROPERTIES = Path(__file__).resolve().with_name("log4j2.properties")

#: Container environment for a Python model whose ``model.py`` defines ``predict``.
PYTHON_MODEL_ENV = {"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
#: The folder the examples' models are written to: the local host is started with it as
#: its model root (it reads model data from nowhere else) and with Python models allowed
#: (a Python model's code runs inside the host: these are the examples' own).
MODEL_ROOT = Path(tempfile.mkdtemp(prefix="endpoint-serde-example-models-"))


def local_spark(app_name: str = "endpoint-serde-example"):
    """A ``local[2]`` SparkSession bound to 127.0.0.1, quiet logs, no UI, and no console
    progress bar: an example prints its own progress where it has any (demo.py), and
    Spark's bar would redraw itself across those lines."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()}",
        )
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def python_model_dir(source: str, name: str = "model") -> Path:
    """A fresh folder under :data:`MODEL_ROOT` holding ``model.py`` with ``source``: a
    model the local host runs."""
    model_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=MODEL_ROOT))
    (model_dir / "model.py").write_text(source)
    return model_dir
