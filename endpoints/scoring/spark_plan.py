"""How ``transform`` becomes a Spark plan in which only what the serializer reads crosses
into Python.

The serializer names its input columns; they travel to the Python worker as the
arguments of an iterator Arrow UDF (``ArrowEvalPython`` in the plan, each row evaluated
once). Every other column stays in the JVM: the UDF returns one value per row — the result
column itself when there is only one, else a struct of the result columns and the error
struct — which a projection puts beside the input columns. (Measured on 1M rows: wrapping
the inputs in a struct and the output in a struct costs the JVM ~0.7 CPU-s more than
plain columns, so structs are used only where there is more than one value.)

ML vectors are costly to hand over as Spark's vector struct (~3.6 s per 1M rows of 10
doubles through ``mapInArrow`` on 2 cores, against ~0.5 s for the same values as
``array<double>``). So when a format writes vectors dense anyway (CSV, JSON) and the
column's metadata says the vectors are narrow, the JVM converts them with
``vector_to_array`` first. Formats that keep sparse vectors sparse (LibSVM, protobuf), and
vectors of unknown or large width, get the struct: a 2^20-wide sparse vector must never be
made dense by the JVM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.types import StructField, StructType

from serde.base import RequestRowSerializer

__all__ = [
    "DENSE_IN_JVM_MAX_WIDTH",
    "crossing_columns",
    "declared_vector_width",
    "score_dataframe",
]

#: Vectors up to this many elements (by the column's ML attribute metadata) are made
#: dense by the JVM for formats that write them dense: 10,000 rows of 512 doubles are
#: 40 MB, the most one Arrow batch should hold.
DENSE_IN_JVM_MAX_WIDTH = 512

_RESULT = "__endpoint_serde_result"


def declared_vector_width(field: StructField) -> int | None:
    """The size every vector of ``field`` has, from the ML attribute metadata that
    ``VectorAssembler`` and most feature transformers write; ``None`` if unknown."""
    attributes = field.metadata.get("ml_attr") if field.metadata else None
    if not isinstance(attributes, dict):
        return None
    width = attributes.get("num_attrs")
    return width if isinstance(width, int) and width >= 0 else None


def _crossing_column(dataset: DataFrame, field: StructField, densify: bool) -> Column:
    column = dataset[field.name]
    if isinstance(field.dataType, VectorUDT) and densify:
        width = declared_vector_width(field)
        if width is not None and width <= DENSE_IN_JVM_MAX_WIDTH:
            from pyspark.ml.functions import vector_to_array

            column = vector_to_array(column)
    return column.alias(field.name)


def crossing_columns(
    dataset: DataFrame, serializer: RequestRowSerializer
) -> tuple[list[str], list[Column]]:
    """The columns ``serializer`` reads, in the form they should cross into Python."""
    schema = dataset.schema
    names = serializer.input_columns(schema)
    densify = serializer.writes_vectors_dense
    return names, [_crossing_column(dataset, schema[n], densify) for n in names]


def score_dataframe(
    dataset: DataFrame,
    scorer: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.StructArray]],
    result_type: StructType,
    *,
    prepend_result_rows: bool,
    crossing: tuple[list[str], list[Column]],
) -> DataFrame:
    """``dataset`` scored by ``scorer`` over the ``crossing`` columns (names, columns): its
    columns (if prepended), then ``result_type``'s."""
    schema = dataset.schema
    names, inputs = crossing
    kept = [dataset[n] for n in schema.names] if prepend_result_rows else []
    udf = _scoring_udf(scorer, result_type, names)
    if len(result_type.fields) == 1:
        return dataset.select(*kept, udf(*inputs).alias(result_type.fields[0].name))
    scored = dataset.select(*kept, udf(*inputs).alias(_RESULT))
    kept = [sf.col(_quoted(n)) for n in schema.names] if prepend_result_rows else []
    results = [sf.col(_RESULT).getField(f.name).alias(f.name) for f in result_type.fields]
    return scored.select(*kept, *results)


def _scoring_udf(
    scorer: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.StructArray]],
    result_type: StructType,
    names: list[str],
) -> Any:
    """The Arrow UDF over the columns ``names``; pyspark tells its kind from the hints."""
    from pyspark.sql.functions import arrow_udf

    single = len(result_type.fields) == 1
    return_type = result_type.fields[0].dataType if single else result_type

    def results(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Array]:
        for struct in scorer(batches):
            yield struct.field(0) if single else struct

    if len(names) == 1:

        def score_column(arrays: Iterator[pa.Array]) -> Iterator[pa.Array]:
            return results(pa.RecordBatch.from_arrays([a], names=names) for a in arrays)

        return arrow_udf(score_column, return_type)

    def score_columns(arrays: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        return results(pa.RecordBatch.from_arrays(list(a), names=names) for a in arrays)

    return arrow_udf(score_columns, return_type)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
