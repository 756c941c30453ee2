"""Spark ML Matrix features in ProtobufRequestRowSerializer: byte for byte what
sagemaker_pyspark 1.4.5 writes, per row and per batch, from Python objects, hand-built
Arrow and Spark's own batches; bad matrices are per-row errors; other formats refuse a
Matrix with a clear message instead of a raw TypeError.

The golden bytes come from the reference itself: ``scripts/reference_matrix_bytes.py``
run in ``.venv-reference`` on the specs below (its ``serializeRow`` through py4j). The
reference's ``validateSchema`` refuses a Matrix column ("Expecting schema with Vector
column"), so there only ``serializeRow`` writes matrices; here ``transform`` can too.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml.linalg import DenseMatrix, MatrixUDT, SparseMatrix, Vectors
from pyspark.sql import Row
from pyspark.sql.types import StructField, StructType

from serde.arrow_types import is_matrix_struct, rows_from_record_batch, to_arrow_type
from serde.csv import UnlabeledCSVRequestRowSerializer
from serde.errors import RowSerializationError, SchemaValidationError
from serde.features import MATRIX_NOT_A_VECTOR
from serde.json import JSONRequestRowSerializer
from serde.libsvm import LibSVMRequestRowSerializer, UnlabeledLibSVMRequestRowSerializer
from serde.matrices import matrix_tensor
from serde.protobuf import ProtobufRequestRowSerializer

NAN, INF = math.nan, math.inf
GRID = [round(0.37 * i - 3, 2) for i in range(20)]

#: name -> (spec, the reference's framed record as hex). A spec is
#: ("dense", rows, cols, values, transposed) or
#: ("sparse", rows, cols, col_ptrs, row_indices, values, transposed).
REFERENCE = {
    "dense_2x3": (
        ("dense", 2, 3, [1, 2, 3, 4, 5, 6], False),
        "0a23d7ce2c0000000a2a0a0676616c7565731220121e0a180000803f000040400000a04000000040"
        "000080400000c0401a020203",
    ),
    "dense_2x3_transposed": (
        ("dense", 2, 3, [1, 2, 3, 4, 5, 6], True),
        "0a23d7ce2c0000000a2a0a0676616c7565731220121e0a180000803f000000400000404000008040"
        "0000a0400000c0401a020203",
    ),
    "dense_3x2_float32_edges": (
        ("dense", 3, 2, [0.1, -0.0, 1e-40, 3.5e38, NAN, -INF], False),
        "0a23d7ce2c0000000a2a0a0676616c7565731220121e0a18cdcccc3d0000807f000000800000c07f"
        "c2160100000080ff1a020302",
    ),
    "dense_1x1": (
        ("dense", 1, 1, [2.5], False),
        "0a23d7ce180000000a160a0676616c756573120c120a0a04000020401a020101",
    ),
    "dense_0x0": (
        ("dense", 0, 0, [], False),
        "0a23d7ce120000000a100a0676616c756573120612041a0200000000",
    ),
    "dense_4x5": (
        ("dense", 4, 5, GRID, False),
        "0a23d7ce640000000a620a0676616c756573125812560a50000040c05c8fc2bf0ad723bdec51b83f"
        "48e13a40ec5128c0333393bfc3f5a83e14aee73f5c8f5240d7a310c014ae47bf3333333f1f850b40"
        "713d6a4085ebf1bf85ebd1bec3f5883f33332340c3f580401a020405",
    ),
    "dense_4x5_transposed": (
        ("dense", 4, 5, GRID, True),
        "0a23d7ce640000000a620a0676616c756573125812560a50000040c0ec5128c0d7a310c085ebf1bf"
        "5c8fc2bf333393bf14ae47bf85ebd1be0ad723bdc3f5a83e3333333fc3f5883fec51b83f14aee73f"
        "1f850b403333234048e13a405c8f5240713d6a40c3f580401a020405",
    ),
    "sparse_3x4": (  # the example in ProtobufConverter's comment
        ("sparse", 3, 4, [0, 0, 3, 5, 6], [0, 1, 2, 0, 1, 1], [1, 2, 3, 4, 5, 6], False),
        "0a23d7ce340000000a320a0676616c756573122812260a180000803f000000400000404000008040"
        "0000a0400000c04012060105090206071a020304",
    ),
    "sparse_3x4_transposed": (
        ("sparse", 3, 4, [0, 2, 4, 6], [1, 2, 1, 3, 1, 3], [1, 4, 2, 5, 3, 6], True),
        "0a23d7ce340000000a320a0676616c756573122812260a180000803f00008040000000400000a040"
        "000040400000c040120601020507090b1a020304",
    ),
    "sparse_2x3_empty": (
        ("sparse", 2, 3, [0, 0, 0, 0], [], [], False),
        "0a23d7ce120000000a100a0676616c756573120612041a0202030000",
    ),
    "sparse_3x2_unsorted_explicit_zero": (
        ("sparse", 3, 2, [0, 2, 3], [2, 0, 1], [5, 0, 7], False),
        "0a23d7ce250000000a230a0676616c756573121912170a0c0000a040000000000000e04012030400"
        "031a020302000000",
    ),
    "sparse_2x3_transposed_unsorted": (
        ("sparse", 2, 3, [0, 2, 3], [2, 0, 1], [5, 0, 0.1], True),
        "0a23d7ce250000000a230a0676616c756573121912170a0c0000a04000000000cdcccc3d12030200"
        "041a020203000000",
    ),
    "sparse_5x7": (
        (
            "sparse",
            *(5, 7, [0, 1, 1, 3, 4, 6, 6, 8], [4, 0, 3, 2, 1, 4, 0, 2]),
            *([1.5, -2, 3, 4.25, 5, -6, 7, 8], False),
        ),
        "0a23d7ce3e0000000a3c0a0676616c756573123212300a200000c03f000000c00000404000008840"
        "0000a0400000c0c00000e0400000004112081c0217110b2006141a0205070000",
    ),
    "sparse_5x7_transposed": (
        (
            "sparse",
            *(5, 7, [0, 2, 3, 3, 6, 8], [6, 1, 0, 2, 5, 3, 4, 0]),
            *([1.5, -2, 3, 4.25, 5, -6, 7, 8], True),
        ),
        "0a23d7ce3e0000000a3c0a0676616c756573123212300a200000c03f000000c00000404000008840"
        "0000a0400000c0c00000e040000000411208060107171a18201c1a0205070000",
    ),
}

NAMES = list(REFERENCE)
serializer = ProtobufRequestRowSerializer()
MATRIX_TYPE = to_arrow_type(MatrixUDT())


def build(spec) -> DenseMatrix | SparseMatrix:
    if spec[0] == "dense":
        _, rows, cols, values, transposed = spec
        return DenseMatrix(rows, cols, [float(v) for v in values], transposed)
    _, rows, cols, pointers, indices, values, transposed = spec
    return SparseMatrix(rows, cols, pointers, indices, [float(v) for v in values], transposed)


def expected(name: str) -> bytes:
    return bytes.fromhex(REFERENCE[name][1])


def struct_of(matrix) -> dict | None:
    """Spark's matrix struct for one matrix, as Arrow holds it."""
    if matrix is None:
        return None
    names = [f.name for f in MatrixUDT().sqlType().fields]
    return dict(zip(names, MatrixUDT().serialize(matrix)))


def matrix_batch(structs) -> pa.RecordBatch:
    return pa.record_batch([pa.array(structs, type=MATRIX_TYPE)], names=["features"])


@pytest.mark.parametrize("name", NAMES)
def test_per_row_bytes_are_the_references(name):
    assert serializer.serialize_row(Row(features=build(REFERENCE[name][0]))) == expected(name)


def test_batch_bytes_are_the_references_with_null_rows_between():
    structs = []
    for name in NAMES:
        structs += [struct_of(build(REFERENCE[name][0])), None]
    result = serializer.serialize_batch(matrix_batch(structs))
    assert result.num_rows == 2 * len(NAMES)
    for i, name in enumerate(NAMES):
        assert result.row(2 * i) == expected(name), name
        assert result.row(2 * i + 1) == b""
        assert "features are null" in str(result.errors[2 * i + 1])
    assert set(result.errors) == set(range(1, 2 * len(NAMES), 2))


@pytest.mark.parametrize("offset, length", [(0, 3), (3, 5), (9, 5)])
def test_sliced_and_chunked_batches_keep_their_own_rows(offset, length):
    structs = [struct_of(build(spec)) for spec, _ in REFERENCE.values()]
    sliced = matrix_batch(structs).slice(offset, length)
    result = serializer.serialize_batch(sliced)
    assert [result.row(i) for i in range(length)] == [
        expected(n) for n in NAMES[offset : offset + length]
    ]
    chunked = pa.chunked_array(
        [pa.array(structs[:4], MATRIX_TYPE), pa.array(structs[4:], MATRIX_TYPE)]
    )
    table = pa.table({"features": chunked})
    assert serializer.serialize_batch(table.combine_chunks().to_batches()[0]).row(5) == expected(
        NAMES[5]
    )


def test_null_struct_keeping_child_data_is_still_null():
    """Arrow lets a null struct keep child data; it must not leak into the next row."""
    good = struct_of(build(REFERENCE["dense_2x3"][0]))
    column = pa.array([good, good], type=MATRIX_TYPE)
    masked = pa.StructArray.from_arrays(
        column.flatten(), fields=list(MATRIX_TYPE), mask=pa.array([True, False])
    )
    result = serializer.serialize_batch(pa.record_batch([masked], names=["features"]))
    assert result.row(0) == b"" and 0 in result.errors
    assert result.row(1) == expected("dense_2x3")


@pytest.mark.parametrize(
    "struct, fragment",
    [
        (dict(type=1, numRows=2, numCols=2, values=[1.0, 2.0, 3.0]), "must hold 4 values, got 3"),
        (
            dict(type=0, numRows=2, numCols=2, colPtrs=[0, 1], rowIndices=[0], values=[1.0]),
            "needs 3 pointers, got 2",
        ),
        (
            dict(type=0, numRows=2, numCols=2, colPtrs=[0, 1, 2], rowIndices=[0, 5], values=[1, 2]),
            "index outside 0..1",
        ),
        (
            dict(type=0, numRows=2, numCols=2, colPtrs=[0, 2, 1], rowIndices=[0, 1], values=[1, 2]),
            "pointers that do not run from 0",
        ),
    ],
)
def test_malformed_matrices_are_per_row_errors_beside_good_rows(struct, fragment):
    """Spark's constructors check these; a struct built outside Spark reaches us unchecked."""
    bad = {"colPtrs": None, "rowIndices": None, "isTransposed": False, **struct}
    good = struct_of(build(REFERENCE["sparse_3x4"][0]))
    result = serializer.serialize_batch(matrix_batch([good, bad, good]))
    assert set(result.errors) == {1}
    assert fragment in str(result.errors[1])
    assert result.row(0) == result.row(2) == expected("sparse_3x4")


def test_layout_matches_an_independent_dense_reading():
    """Keys and values against numpy's own view of each matrix (``toArray``)."""
    for spec, _ in REFERENCE.values():
        matrix = build(spec)
        tensor = matrix_tensor(matrix)
        dense = matrix.toArray()
        assert tensor.shape == dense.shape
        if tensor.keys is None:
            np.testing.assert_array_equal(tensor.values, dense.reshape(-1))
        else:
            rebuilt = np.zeros(dense.size)
            rebuilt[tensor.keys] = tensor.values
            np.testing.assert_array_equal(rebuilt.reshape(dense.shape), dense)


def test_schema_check_takes_a_matrix_column_for_protobuf_only():
    schema = StructType([StructField("features", MatrixUDT())])
    ProtobufRequestRowSerializer(schema=schema)  # validated at construction, accepted
    others = (UnlabeledCSVRequestRowSerializer, UnlabeledLibSVMRequestRowSerializer)
    for other in (*others, JSONRequestRowSerializer):
        with pytest.raises(SchemaValidationError, match="only ProtobufRequestRowSerializer"):
            other().validate_schema(schema)


@pytest.mark.parametrize(
    "other", [UnlabeledCSVRequestRowSerializer(), LibSVMRequestRowSerializer()]
)
def test_reference_formats_refuse_a_matrix_row_clearly(other):
    """It used to be a raw ``TypeError: cannot unpack non-iterable int object``."""
    row = Row(label=1.0, features=DenseMatrix(2, 2, [1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(RowSerializationError) as info:
        other.serialize_row(row)
    assert MATRIX_NOT_A_VECTOR in str(info.value)
    batch = pa.record_batch(
        [pa.array([1.0]), pa.array([struct_of(row.features)], MATRIX_TYPE)],
        names=["label", "features"],
    )
    with pytest.raises(SchemaValidationError, match="only ProtobufRequestRowSerializer"):
        other.serialize_batch(batch)


def test_per_row_path_of_a_user_serde_gets_matrix_objects():
    structs = [struct_of(build(REFERENCE[n][0])) for n in ("dense_2x3", "sparse_3x4")]
    rows = list(rows_from_record_batch(matrix_batch(structs)))  # no schema: recognized
    assert isinstance(rows[0].features, DenseMatrix) and isinstance(rows[1].features, SparseMatrix)
    np.testing.assert_array_equal(
        rows[1].features.toArray(), build(REFERENCE["sparse_3x4"][0]).toArray()
    )
    schema = StructType([StructField("features", MatrixUDT())])
    (row,) = rows_from_record_batch(matrix_batch(structs[:1]), schema)
    assert row.features == build(REFERENCE["dense_2x3"][0])


def test_spark_hands_matrices_over_as_the_struct_we_read(spark):
    """Spark's own Arrow batches of a MatrixUDT column serialize to the reference's bytes."""
    df = spark.createDataFrame(
        [(i, build(REFERENCE[n][0])) for i, n in enumerate(NAMES)], ["id", "features"]
    ).coalesce(1)

    def serialize(batches):
        for batch in batches:
            assert is_matrix_struct(batch.schema.field("features").type)
            result = serializer.serialize_batch(batch)
            bodies = [result.row(i) for i in range(batch.num_rows)]
            yield pa.record_batch(
                [batch.column("id"), pa.array(bodies, pa.binary())], ["id", "body"]
            )

    rows = df.mapInArrow(serialize, "id long, body binary").collect()
    assert {r.id: bytes(r.body) for r in rows} == {i: expected(n) for i, n in enumerate(NAMES)}


def test_vectors_are_unchanged_beside_the_matrix_support():
    assert serializer.serialize_row(Row(features=Vectors.sparse(4, [1], [2.0]))).startswith(
        bytes.fromhex("0a23d7ce")
    )


SECOND_VALUE_MODEL = """
import numpy as np

def predict(x):
    return np.asarray(x, dtype=float)[:, 1]
"""


def test_transform_scores_a_matrix_column_on_the_local_host(spark, local_host, tmp_path):
    """End to end: the model sees each matrix row-major (the local host reads a dense
    tensor's values as one row), so its second value tells the order apart."""
    from endpoints.scoring.model import SageMakerModel
    from serde.protobuf import LinearLearnerRegressorProtobufResponseRowDeserializer

    (tmp_path / "model.py").write_text(SECOND_VALUE_MODEL)
    local_host.deploy_local("matrices-second-value", tmp_path, runtime="python")
    model = SageMakerModel.from_endpoint(
        "matrices-second-value",
        ProtobufRequestRowSerializer(),
        LinearLearnerRegressorProtobufResponseRowDeserializer(),
        endpoint_url=local_host.url,
        region="us-east-1",
    )
    matrices = [build(REFERENCE[n][0]) for n in ("dense_2x3", "dense_2x3_transposed", "dense_4x5")]
    df = spark.createDataFrame([(i, m) for i, m in enumerate(matrices)], ["id", "features"])
    scores = {r.id: r.score for r in model.transform(df).collect()}
    assert scores == {0: 3.0, 1: 2.0, 2: pytest.approx(GRID[4], rel=1e-6)}
