"""Spark ML matrices as the shaped tensors sagemaker_pyspark's ``ProtobufConverter`` writes.

A ``Matrix`` features value becomes one ``Float32Tensor`` with ``shape = [numRows,
numCols]`` (the converter's comment and code, ``setFeatures(..., matrix: Matrix)``):

- dense: every value in row-major order. Spark stores a matrix column-major unless it is
  transposed, so a plain one is reordered and a transposed one is written as stored;
- sparse: the stored values in storage order (explicit zeros included), each with the key
  ``row * numCols + col``. Spark stores a sparse matrix column by column (CSC), or row by
  row when transposed, so keys are not sorted in general: the converter writes them in
  storage order and so do we.

This module only computes values, keys and shape; :mod:`serde.protobuf` frames them. Both
serializer paths use the same two layout functions: the per-row path on a
``pyspark.ml.linalg`` matrix, the batch path on Spark's matrix struct read out of an Arrow
column (``MatrixUDT().sqlType()``) without building Python matrix objects.

Keys are computed in 64 bits. The reference computes them with 32-bit ``Int`` arithmetic,
which wraps for matrices of more than 2**31 cells; nothing that size fits a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.linalg import DenseMatrix, Matrix, SparseMatrix

from serde.arrow_types import MATRIX_FIELDS
from serde.features import NULL_FEATURES

__all__ = [
    "MatrixTensor",
    "dense_tensor",
    "matrix_tensor",
    "matrix_tensors",
    "sparse_tensor",
]


@dataclass(frozen=True)
class MatrixTensor:
    """One matrix as written: ``values`` (float64, in wire order), ``keys`` (int64 flat
    row-major positions; ``None`` for a dense matrix) and ``shape`` (rows, columns)."""

    values: np.ndarray
    keys: np.ndarray | None
    shape: tuple[int, int]


def dense_tensor(values: np.ndarray, rows: int, cols: int, transposed: bool) -> MatrixTensor:
    """A dense matrix stored column-major (row-major when ``transposed``), row-major."""
    if rows < 0 or cols < 0 or len(values) != rows * cols:
        raise ValueError(
            f"a dense {rows}x{cols} matrix must hold {max(rows, 0) * max(cols, 0)} values, "
            f"got {len(values)}"
        )
    row_major = values if transposed else values.reshape(cols, rows).T.reshape(-1)
    return MatrixTensor(np.asarray(row_major, dtype=np.float64), None, (rows, cols))


def sparse_tensor(
    values: np.ndarray,
    pointers: np.ndarray,
    indices: np.ndarray,
    rows: int,
    cols: int,
    transposed: bool,
) -> MatrixTensor:
    """A sparse matrix in CSC form (CSR when ``transposed``): its values in storage order,
    keyed by their row-major positions.

    ``pointers`` delimit the stored entries of each column (each row when transposed);
    ``indices`` give each entry's row (column when transposed)."""
    outer, inner = (rows, cols) if transposed else (cols, rows)
    problem = _sparse_problem(values, pointers, indices, outer, inner)
    if problem:
        raise ValueError(f"a sparse {rows}x{cols} matrix {problem}")
    segment = np.repeat(np.arange(outer, dtype=np.int64), np.diff(pointers))
    position = indices.astype(np.int64)
    keys = segment * cols + position if transposed else position * cols + segment
    return MatrixTensor(np.asarray(values, dtype=np.float64), keys, (rows, cols))


def _sparse_problem(
    values: np.ndarray, pointers: np.ndarray, indices: np.ndarray, outer: int, inner: int
) -> str:
    """What makes these CSC/CSR arrays unwritable, or ``""``. Spark's own constructor
    checks most of this, but a matrix struct built outside Spark reaches us unchecked."""
    if outer < 0 or inner < 0:
        return "has a negative dimension"
    if len(pointers) != outer + 1:
        return f"needs {outer + 1} pointers, got {len(pointers)}"
    if len(indices) != len(values):
        return f"has {len(indices)} indices for {len(values)} values"
    if pointers[0] != 0 or pointers[-1] != len(values) or (np.diff(pointers) < 0).any():
        return "has pointers that do not run from 0 up to the number of values"
    if len(indices) and (indices.min() < 0 or indices.max() >= inner):
        return f"has an index outside 0..{inner - 1}"
    return ""


def matrix_tensor(matrix: Matrix) -> MatrixTensor:
    """The tensor of one ``pyspark.ml.linalg`` matrix; ``ValueError`` if it is malformed."""
    values = np.asarray(matrix.values, dtype=np.float64)
    if isinstance(matrix, SparseMatrix):
        return sparse_tensor(
            values,
            np.asarray(matrix.colPtrs, dtype=np.int64),
            np.asarray(matrix.rowIndices, dtype=np.int64),
            matrix.numRows,
            matrix.numCols,
            matrix.isTransposed,
        )
    if isinstance(matrix, DenseMatrix):
        return dense_tensor(values, matrix.numRows, matrix.numCols, matrix.isTransposed)
    raise TypeError(f"expected a DenseMatrix or SparseMatrix, got {type(matrix).__name__}")


def matrix_tensors(
    column: pa.Array | pa.ChunkedArray,
) -> tuple[list[MatrixTensor | None], dict[int, str]]:
    """The tensor of every row of a matrix-struct column, and why each ``None`` row has
    none (null, or malformed). The struct's lists are read once as flat numpy arrays; only
    the per-row slicing runs in Python."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    fields = dict(zip(MATRIX_FIELDS, _children(column)))
    null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    sparse = _filled(fields["type"], 1) == 0
    rows, cols = _filled(fields["numRows"], 0), _filled(fields["numCols"], 0)
    transposed = _filled(fields["isTransposed"], False).astype(bool)
    values, value_offsets = _flat_list(fields["values"], np.float64)
    pointers, pointer_offsets = _flat_list(fields["colPtrs"], np.int64)
    indices, index_offsets = _flat_list(fields["rowIndices"], np.int64)

    tensors: list[MatrixTensor | None] = []
    problems: dict[int, str] = {}
    for i in range(len(column)):
        if null[i]:
            tensors.append(None)
            problems[i] = NULL_FEATURES
            continue
        row_values = _row(values, value_offsets, i)
        args = (int(rows[i]), int(cols[i]), bool(transposed[i]))
        try:
            if sparse[i]:
                row_pointers = _row(pointers, pointer_offsets, i)
                row_indices = _row(indices, index_offsets, i)
                tensors.append(sparse_tensor(row_values, row_pointers, row_indices, *args))
            else:
                tensors.append(dense_tensor(row_values, *args))
        except ValueError as exc:
            tensors.append(None)
            problems[i] = str(exc)
    return tensors, problems


def _children(column: pa.StructArray) -> Sequence[pa.Array]:
    """The struct's fields in :data:`MATRIX_FIELDS` order, a null row null in each (Arrow
    lets a null struct keep child data; ``flatten`` applies the parent's validity)."""
    flat = dict(
        zip((column.type.field(i).name for i in range(column.type.num_fields)), column.flatten())
    )
    return [flat[name] for name in MATRIX_FIELDS]


def _filled(array: pa.Array, default: object) -> np.ndarray:
    return np.asarray(pc.fill_null(array, default).to_numpy(zero_copy_only=False))


def _flat_list(array: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """(every element of every non-null list, row offsets into it); null lists are empty."""
    lengths = np.asarray(
        pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    offsets = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = pc.list_flatten(array)
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=dtype), offsets


def _row(flat: np.ndarray, offsets: np.ndarray, i: int) -> np.ndarray:
    return flat[offsets[i] : offsets[i + 1]]
