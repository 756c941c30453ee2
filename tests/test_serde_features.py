"""Reading features out of Arrow batches: schema checks and the CSR FeatureBlock."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml.linalg import DenseVector, SparseVector, Vectors, VectorUDT
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

from serde.arrow_types import VECTOR_ARROW_TYPE, record_batch_from_rows
from serde.errors import RowSerializationError, SchemaValidationError
from serde.features import (
    FeatureBlock,
    features_from_batch,
    features_from_row,
    validate_features_schema,
)

SCHEMA = StructType(
    [
        StructField("vec", VectorUDT()),
        StructField("arr", ArrayType(DoubleType())),
        StructField("ints", ArrayType(IntegerType())),
        StructField("names", ArrayType(StringType())),
        StructField("a", IntegerType()),
        StructField("b", DoubleType()),
        StructField("s", StringType()),
        StructField("short", ShortType()),
        StructField("dec", DecimalType(6, 2)),
    ]
)
VECTOR_MESSAGE = "an ML Vector or array<float|double|int|long>"


def vector_batch(vectors) -> pa.RecordBatch:
    return record_batch_from_rows(
        [(v,) for v in vectors], StructType([StructField("f", VectorUDT())])
    )


def as_lists(block: FeatureBlock) -> dict[str, list]:
    return {
        "values": block.values.tolist(),
        "indices": block.indices.tolist(),
        "offsets": block.offsets.tolist(),
        "sizes": block.sizes.tolist(),
        "is_sparse": block.is_sparse.tolist(),
        "null": block.null.tolist(),
    }


# --- validate_features_schema ---------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "allow_scalar"),
    [
        ("vec", False),
        ("arr", False),
        ("ints", False),
        (["vec"], False),
        ("a", True),
        (["a", "b", "short", "dec"], True),
    ],
)
def test_schema_accepted(columns, allow_scalar):
    validate_features_schema(SCHEMA, columns, allow_scalar_columns=allow_scalar)


@pytest.mark.parametrize(
    ("columns", "allow_scalar", "message"),
    [
        (
            "missing",
            False,
            "column 'missing': expected a column of the DataFrame, got no such column. "
            "available columns: vec, arr, ints, names, a, b, s, short, dec",
        ),
        ("s", False, f"column 's': expected {VECTOR_MESSAGE}, got string"),
        ("a", False, f"column 'a': expected {VECTOR_MESSAGE}, got int"),
        (
            "s",
            True,
            f"column 's': expected {VECTOR_MESSAGE} or numeric scalar columns, got string",
        ),
        ("names", True, f"column 'names': expected {VECTOR_MESSAGE}, got array<string>"),
        (
            ["a", "b"],
            False,
            f"column 'a, b': expected one column holding {VECTOR_MESSAGE}, got several columns",
        ),
        (["a", "s"], True, "column 's': expected a numeric scalar column, got string"),
        (
            ["a", "vec"],
            True,
            "column 'vec': expected a numeric scalar column, got vector",
        ),
        ([], True, "column '<features>': expected at least one column, got an empty list"),
    ],
)
def test_schema_refused_with_column_expected_and_actual(columns, allow_scalar, message):
    with pytest.raises(SchemaValidationError) as info:
        validate_features_schema(SCHEMA, columns, allow_scalar_columns=allow_scalar)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_schema_error_carries_its_parts():
    with pytest.raises(SchemaValidationError) as info:
        validate_features_schema(SCHEMA, "names", allow_scalar_columns=False)
    assert (info.value.column, info.value.expected, info.value.actual) == (
        "names",
        VECTOR_MESSAGE,
        "array<string>",
    )


# --- FeatureBlock from vectors ---------------------------------------------------------


def test_dense_vectors_are_a_reshaped_matrix():
    block = features_from_batch(vector_batch([Vectors.dense([1, 2]), Vectors.dense([3, 4])]), "f")
    assert as_lists(block) == {
        "values": [1.0, 2.0, 3.0, 4.0],
        "indices": [0, 1, 0, 1],
        "offsets": [0, 2, 4],
        "sizes": [2, 2],
        "is_sparse": [False, False],
        "null": [False, False],
    }
    assert block.dense_matrix().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert block.num_rows == 2


def test_sparse_vectors_keep_indices_and_sizes():
    block = features_from_batch(
        vector_batch([Vectors.sparse(5, [1, 4], [2.0, 3.0]), Vectors.sparse(5, [], [])]), "f"
    )
    assert as_lists(block) == {
        "values": [2.0, 3.0],
        "indices": [1, 4],
        "offsets": [0, 2, 2],
        "sizes": [5, 5],
        "is_sparse": [True, True],
        "null": [False, False],
    }
    assert block.dense_matrix().tolist() == [[0, 2, 0, 0, 3], [0, 0, 0, 0, 0]]
    indices, values, size = block.row_values(0)
    assert (indices.tolist(), values.tolist(), size) == ([1, 4], [2.0, 3.0], 5)
    assert block.dense_row(1).tolist() == [0.0] * 5


def test_mixed_dense_sparse_and_null_rows():
    vectors = [
        Vectors.dense([1.0, 2.0, 3.0]),
        Vectors.sparse(3, [0, 2], [4.0, 5.0]),
        None,
        Vectors.sparse(3, [], []),
        Vectors.dense([7.0, 8.0, 9.0]),
    ]
    block = features_from_batch(vector_batch(vectors), "f")
    assert as_lists(block) == {
        "values": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0],
        "indices": [0, 1, 2, 0, 2, 0, 1, 2],
        "offsets": [0, 3, 5, 5, 5, 8],
        "sizes": [3, 3, 0, 3, 3],
        "is_sparse": [False, True, False, True, False],
        "null": [False, False, True, False, False],
    }
    expected = [[1, 2, 3], [4, 0, 5], [0, 0, 0], [0, 0, 0], [7, 8, 9]]
    assert block.dense_matrix().tolist() == expected
    # slices (how the engine re-packs part of a batch) read the same rows
    for start in range(5):
        sliced = features_from_batch(vector_batch(vectors).slice(start), "f")
        assert sliced.dense_matrix().tolist() == expected[start:]
        assert sliced.null.tolist() == [v is None for v in vectors[start:]]


def test_ragged_rows_have_no_dense_matrix_and_all_null_rows_have_width_zero():
    ragged = features_from_batch(vector_batch([Vectors.dense([1.0]), Vectors.dense([1, 2])]), "f")
    assert ragged.dense_matrix() is None
    assert ragged.dense_row(1).tolist() == [1.0, 2.0]
    nothing = features_from_batch(vector_batch([None, None]), "f")
    assert nothing.null.tolist() == [True, True]
    assert nothing.dense_matrix().shape == (2, 0)


def test_sparse_vector_with_mismatched_indices_names_the_row():
    struct = pa.array(
        [
            {"type": 1, "size": None, "indices": None, "values": [1.0]},
            {"type": 0, "size": 4, "indices": [0, 1], "values": [1.0]},
        ],
        type=VECTOR_ARROW_TYPE,
    )
    batch = pa.record_batch([struct], names=["f"])
    with pytest.raises(RowSerializationError) as info:
        features_from_batch(batch, "f")
    assert str(info.value) == (
        "row 1: a sparse vector must have as many indices as values, got 2 indices and 1 values"
    )


def test_vectors_as_spark_writes_them(spark):
    df = spark.createDataFrame(
        [(0, Vectors.dense([1.0, 2.0])), (1, None), (2, Vectors.sparse(2, [1], [3.0]))],
        StructType([StructField("id", LongType()), StructField("f", VectorUDT())]),
    ).coalesce(1)
    [batch] = df._collect_as_arrow()
    block = features_from_batch(batch, "f")
    assert block.null.tolist() == [False, True, False]
    assert block.is_sparse.tolist() == [False, False, True]
    assert block.sizes.tolist() == [2, 0, 2]
    assert block.dense_matrix().tolist() == [[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]


# --- FeatureBlock from arrays and scalar columns --------------------------------------


@pytest.mark.parametrize(
    ("element", "values", "expected"),
    [
        (IntegerType(), [[1, 2], [3, -4]], [1.0, 2.0, 3.0, -4.0]),
        (LongType(), [[2**40, 0], [1, 1]], [float(2**40), 0.0, 1.0, 1.0]),
        (FloatType(), [[0.5, 1.5], [2.0, -0.25]], [0.5, 1.5, 2.0, -0.25]),
        (DoubleType(), [[0.1, 0.2], [0.3, 0.4]], [0.1, 0.2, 0.3, 0.4]),
    ],
)
def test_arrays_of_numbers(element, values, expected):
    schema = StructType([StructField("f", ArrayType(element))])
    block = features_from_batch(record_batch_from_rows([(v,) for v in values], schema), "f")
    assert block.values.dtype == np.float64
    assert block.values.tolist() == expected
    assert block.indices.tolist() == [0, 1, 0, 1]
    assert block.sizes.tolist() == [2, 2]
    assert block.is_sparse.tolist() == [False, False]
    assert block.dense_matrix().tolist() == [expected[:2], expected[2:]]


def test_arrays_with_null_and_empty_rows_and_slices():
    schema = StructType([StructField("f", ArrayType(LongType()))])
    batch = record_batch_from_rows([([1, 2],), (None,), ([],), ([3, 4, 5],)], schema)
    block = features_from_batch(batch, "f")
    assert as_lists(block) == {
        "values": [1.0, 2.0, 3.0, 4.0, 5.0],
        "indices": [0, 1, 0, 1, 2],
        "offsets": [0, 2, 2, 2, 5],
        "sizes": [2, 0, 0, 3],
        "is_sparse": [False] * 4,
        "null": [False, True, False, False],
    }
    sliced = features_from_batch(batch.slice(1, 3), "f")
    assert sliced.offsets.tolist() == [0, 0, 0, 3]
    assert sliced.values.tolist() == [3.0, 4.0, 5.0]


def test_scalar_columns_form_a_matrix_in_column_order_with_nulls_flagged():
    schema = StructType(
        [
            StructField("a", IntegerType()),
            StructField("b", DoubleType()),
            StructField("dec", DecimalType(6, 2)),
        ]
    )
    rows = [(1, 0.5, Decimal("2.25")), (None, 1.5, Decimal("1")), (3, None, None)]
    block = features_from_batch(record_batch_from_rows(rows, schema), ["b", "a", "dec"])
    assert block.dense_matrix().tolist() == [[0.5, 1.0, 2.25], [1.5, 0.0, 1.0], [0.0, 3.0, 0.0]]
    assert block.null.tolist() == [False, True, True]
    assert block.sizes.tolist() == [3, 3, 3]
    assert block.offsets.tolist() == [0, 3, 6, 9]
    assert block.indices.tolist() == [0, 1, 2] * 3
    single = features_from_batch(record_batch_from_rows(rows, schema), "a")
    assert single.dense_matrix().tolist() == [[1.0], [0.0], [3.0]]


# --- features_from_row ----------------------------------------------------------------


def test_features_from_row_for_each_kind():
    indices, values, size, sparse = features_from_row(SparseVector(4, [3], [1.5]))
    assert (indices.tolist(), values.tolist(), size, sparse) == ([3], [1.5], 4, True)
    indices, values, size, sparse = features_from_row(DenseVector([1.0, 2.0]))
    assert (indices.tolist(), values.tolist(), size, sparse) == ([0, 1], [1.0, 2.0], 2, False)
    indices, values, size, sparse = features_from_row((1, 2.5, 3))
    assert (indices.tolist(), values.tolist(), size, sparse) == ([0, 1, 2], [1, 2.5, 3], 3, False)


def test_features_from_row_errors_name_row_and_column():
    with pytest.raises(RowSerializationError) as info:
        features_from_row(None, row_index=7, column="features")
    assert str(info.value) == "row 7, column 'features': features are null"
    with pytest.raises(RowSerializationError) as info:
        features_from_row(["a", "b"], row_index=2, column="f")
    assert str(info.value) == "row 2, column 'f': features must be numbers, got ['a', 'b']"
