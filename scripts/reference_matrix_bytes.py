"""What sagemaker_pyspark 1.4.5's ``ProtobufRequestRowSerializer.serializeRow`` writes for
Spark ML matrices: the golden bytes of ``tests/test_serde_matrices.py``.

Runs INSIDE ``.venv-reference`` (``make .venv-reference``), never in the project's venv::

    .venv-reference/bin/python scripts/reference_matrix_bytes.py golden.json < specs.json

stdin holds ``{"name": spec}`` where a spec is ``["dense", rows, cols, values, transposed]``
or ``["sparse", rows, cols, col_ptrs, row_indices, values, transposed]`` (``NaN`` and
``Infinity`` allowed); the file named on the command line gets ``{"name": "hex of the
framed record"}`` (Spark's own warnings go to stdout), and a last entry
``"validateSchema"`` with what the reference's schema check says about a Matrix column.
Rows are built in the JVM through py4j: pyspark 3.3 cannot pickle functions on Python
3.11, so no Python-side ``createDataFrame``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

MATRIX_SCHEMA = {
    "type": "struct",
    "fields": [
        {
            "name": "features",
            "type": {
                "type": "udt",
                "class": "org.apache.spark.ml.linalg.MatrixUDT",
                "pyClass": "pyspark.ml.linalg.MatrixUDT",
                "sqlType": {"type": "struct", "fields": []},
            },
            "nullable": True,
            "metadata": {},
        }
    ],
}


def main() -> None:
    import sagemaker_pyspark
    from pyspark.sql import SparkSession
    from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.driver.extraClassPath", ":".join(sagemaker_pyspark.classpath_jars()))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    jvm, gateway = spark.sparkContext._jvm, spark.sparkContext._gateway

    def java_array(kind, values):
        array = gateway.new_array(kind, len(values))
        for i, value in enumerate(values):
            array[i] = value
        return array

    def java_matrix(spec):
        linalg = jvm.org.apache.spark.ml.linalg
        if spec[0] == "dense":
            _, rows, cols, values, transposed = spec
            doubles = java_array(jvm.double, [float(v) for v in values])
            return linalg.DenseMatrix(rows, cols, doubles, transposed)
        _, rows, cols, pointers, indices, values, transposed = spec
        return linalg.SparseMatrix(
            rows,
            cols,
            java_array(jvm.int, pointers),
            java_array(jvm.int, indices),
            java_array(jvm.double, [float(v) for v in values]),
            transposed,
        )

    schema = jvm.org.apache.spark.sql.types.DataType.fromJson(json.dumps(MATRIX_SCHEMA))
    wrapper = ProtobufRequestRowSerializer()  # keep it referenced: py4j frees its object
    serializer = wrapper._to_java()
    out = {}
    for name, spec in json.loads(sys.stdin.read()).items():
        row = jvm.org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(
            java_array(jvm.Object, [java_matrix(spec)]), schema
        )
        out[name] = bytes(serializer.serializeRow(row)).hex()
    try:
        serializer.validateSchema(schema)
        out["validateSchema"] = "accepted"
    except Exception as exc:  # py4j's error carries the Java message on its first line
        out["validateSchema"] = str(exc).splitlines()[0]
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    spark.stop()


if __name__ == "__main__":
    main()
