"""Base classes, the default per-row path, and the Spark ↔ Arrow conversions under it.

The Arrow layouts are checked against what a real SparkSession produces, because
``mapInArrow`` hands us Spark's batches and takes ours back.
"""

from __future__ import annotations

import datetime
import pickle
from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml.linalg import DenseVector, SparseVector, Vectors, VectorUDT
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from serde.arrow_types import (
    VECTOR_ARROW_TYPE,
    record_batch_from_rows,
    rows_from_record_batch,
    to_arrow_schema,
    to_arrow_type,
    vector_from_struct,
    vector_to_struct,
)
from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.errors import RowSerializationError, SchemaValidationError

POINT = StructType([StructField("x", StringType()), StructField("y", DoubleType())])
INPUT_SCHEMA = StructType(
    [
        StructField("id", LongType(), False),
        StructField("features", VectorUDT()),
        StructField("weights", ArrayType(DoubleType())),
        StructField("grid", ArrayType(ArrayType(IntegerType(), False))),
        StructField("point", POINT),
        StructField("tags", MapType(StringType(), IntegerType())),
    ]
)
INPUT_ROWS = [
    (1, Vectors.dense([1.0, 2.0]), [1.0, None], [[1, 2], []], ("a", 1.5), {"k": 1}),
    (2, Vectors.sparse(4, [1, 3], [5.0, -1.0]), None, None, None, None),
    (3, None, [], [], ("b", None), {}),
    (4, Vectors.dense([]), [0.5], [[7]], (None, 2.0), {"x": None}),
]
EXPECTED_ROWS = [
    Row(
        id=1,
        features=DenseVector([1.0, 2.0]),
        weights=[1.0, None],
        grid=[[1, 2], []],
        point=Row(x="a", y=1.5),
        tags={"k": 1},
    ),
    Row(
        id=2,
        features=SparseVector(4, [1, 3], [5.0, -1.0]),
        weights=None,
        grid=None,
        point=None,
        tags=None,
    ),
    Row(id=3, features=None, weights=[], grid=[], point=Row(x="b", y=None), tags={}),
    Row(
        id=4,
        features=DenseVector([]),
        weights=[0.5],
        grid=[[7]],
        point=Row(x=None, y=2.0),
        tags={"x": None},
    ),
]


class FeatureTextSerializer(RequestRowSerializer):
    """A user's per-row serializer: ``id:kind:values`` with nothing vectorized."""

    content_type = "text/plain"

    def serialize_row(self, row: Row) -> bytes:
        vector = row.features
        if vector is None:
            raise ValueError("features are null")
        if isinstance(vector, SparseVector):
            body = f"S{vector.size}:" + ",".join(
                f"{i}={v:g}" for i, v in zip(vector.indices, vector.values)
            )
        else:
            body = "D:" + ",".join(f"{v:g}" for v in vector.values)
        extra = "" if row.point is None else f"@{row.point.x}"
        return f"{row.id}:{body}{extra}|{sorted((row.tags or {}).items())}\n".encode()


# --- the default per-row serialize_batch ---------------------------------------------


def test_default_serialize_batch_uses_serialize_row_and_keeps_errors_per_row():
    batch = record_batch_from_rows(INPUT_ROWS, INPUT_SCHEMA)
    ser = FeatureTextSerializer()
    ser.set_schema(INPUT_SCHEMA)
    out = ser.serialize_batch(batch)

    assert isinstance(out, SerializedRows)
    assert out.num_rows == 4
    assert [out.row(i) for i in range(4)] == [
        b"1:D:1,2@a|[('k', 1)]\n",
        b"2:S4:1=5,3=-1|[]\n",
        b"",
        b"4:D:@None|[('x', None)]\n",
    ]
    assert out.offsets.tolist() == [0, 21, 38, 38, 62]
    assert list(out.errors) == [2]
    assert str(out.errors[2]) == "row 2: features are null"
    assert out.errors[2].row_index == 2
    assert out.trailing_separator is False


def test_default_serialize_batch_without_a_schema_still_sees_vectors():
    batch = record_batch_from_rows(INPUT_ROWS, INPUT_SCHEMA).select(["id", "features"])
    rows = list(rows_from_record_batch(batch))
    assert rows[0] == Row(id=1, features=DenseVector([1.0, 2.0]))
    assert rows[1].features == SparseVector(4, {1: 5.0, 3: -1.0})
    assert rows[2].features is None


def test_row_errors_of_every_accepted_kind_are_readdressed_to_their_row():
    class Picky(RequestRowSerializer):
        def serialize_row(self, row: Row) -> bytes:
            if row.id == 1:
                raise RowSerializationError("NaN cannot be written", row_index=99, column="v")
            if row.id == 2:
                raise TypeError("not a number")
            return b"%d" % row.id

    batch = pa.record_batch([pa.array([0, 1, 2, 3])], names=["id"])
    out = Picky().serialize_batch(batch)
    assert [out.row(i) for i in range(4)] == [b"0", b"", b"", b"3"]
    assert {i: str(e) for i, e in out.errors.items()} == {
        1: "row 1, column 'v': NaN cannot be written",
        2: "row 2: not a number",
    }


def test_set_schema_validates_and_remembers():
    class NeedsId(RequestRowSerializer):
        def validate_schema(self, schema: StructType) -> None:
            if "id" not in schema.names:
                raise SchemaValidationError("id", "a long column", "no such column")

        def serialize_row(self, row: Row) -> bytes:
            return b""

    ser = NeedsId()
    with pytest.raises(SchemaValidationError) as info:
        ser.set_schema(StructType([StructField("x", LongType())]))
    assert str(info.value) == "column 'id': expected a long column, got no such column"
    assert isinstance(info.value, ValueError)
    assert ser.schema is None
    ser.set_schema(INPUT_SCHEMA)
    assert ser.schema is INPUT_SCHEMA


def test_abstract_methods_must_be_implemented():
    class NoRow(RequestRowSerializer):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoRow()
    with pytest.raises(NotImplementedError, match="FeatureTextSerializer is row-separable"):
        FeatureTextSerializer().serialize_body(pa.record_batch([pa.array([1])], names=["a"]))


def test_options_repr_and_pickle_keep_constructor_arguments():
    class Opts(RequestRowSerializer):
        def __init__(self, column: str = "features", *, scale: float = 1.0, **extra) -> None:
            self.column = column
            self.scale = scale
            self.extra = extra

        def serialize_row(self, row: Row) -> bytes:
            return b""

    ser = Opts("f", scale=2.0, flavour="x")
    assert ser.serde_options() == {"column": "f", "scale": 2.0, "flavour": "x"}
    assert repr(ser) == "Opts(column='f', scale=2.0, flavour='x')"
    assert Opts().serde_options() == {}
    copy = pickle.loads(pickle.dumps(FeatureTextSerializer()))
    assert copy.serde_options() == {}


def test_default_deserialize_batch_builds_arrow_of_the_result_schema():
    class VectorResults(ResponseRowDeserializer):
        accepts = "text/plain"
        schema = StructType(
            [
                StructField("projection", VectorUDT()),
                StructField("label", DoubleType(), False),
                StructField("top", ArrayType(LongType())),
            ]
        )

        def deserialize_response(self, body: bytes) -> Iterable[tuple]:
            for line in body.decode().splitlines():
                values = [float(v) for v in line.split(",")]
                yield (np.array(values), np.float64(values[0]), [np.int64(1), 2])

    des = VectorResults()
    batch = des.deserialize_batch(b"1,2\n3,4\n")
    assert batch.schema == des.arrow_schema
    assert batch.schema.field("projection").type == VECTOR_ARROW_TYPE
    assert batch.to_pylist() == [
        {
            "projection": {"type": 1, "size": None, "indices": None, "values": [1.0, 2.0]},
            "label": 1.0,
            "top": [1, 2],
        },
        {
            "projection": {"type": 1, "size": None, "indices": None, "values": [3.0, 4.0]},
            "label": 3.0,
            "top": [1, 2],
        },
    ]


# --- arrow_types ------------------------------------------------------------------------


def test_to_arrow_schema_for_vectors_nested_arrays_structs_and_maps():
    schema = to_arrow_schema(
        StructType(
            [
                StructField("v", VectorUDT()),
                StructField("vs", ArrayType(VectorUDT())),
                StructField("grid", ArrayType(ArrayType(DoubleType(), False), True)),
                StructField("point", POINT, False),
                StructField("m", MapType(StringType(), VectorUDT(), False)),
                StructField("d", DecimalType(10, 2)),
                StructField("t", TimestampType()),
            ]
        )
    )
    assert schema.field("v").type == pa.struct(
        [
            pa.field("type", pa.int8(), nullable=False),
            pa.field("size", pa.int32()),
            pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
            pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
        ]
    )
    assert schema.field("vs").type == pa.list_(pa.field("element", VECTOR_ARROW_TYPE))
    assert schema.field("grid").type == pa.list_(
        pa.field("element", pa.list_(pa.field("element", pa.float64(), nullable=False)))
    )
    assert schema.field("point").type == pa.struct([("x", pa.string()), ("y", pa.float64())])
    assert schema.field("point").nullable is False
    assert schema.field("m").type == pa.map_(
        pa.field("key", pa.string(), nullable=False),
        pa.field("value", VECTOR_ARROW_TYPE, nullable=False),
    )
    assert schema.field("d").type == pa.decimal128(10, 2)
    assert schema.field("t").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("vector", "struct"),
    [
        (
            DenseVector([1.0, -2.5]),
            {"type": 1, "size": None, "indices": None, "values": [1.0, -2.5]},
        ),
        (
            SparseVector(5, [0, 4], [3.0, 1.0]),
            {"type": 0, "size": 5, "indices": [0, 4], "values": [3.0, 1.0]},
        ),
        (SparseVector(3, [], []), {"type": 0, "size": 3, "indices": [], "values": []}),
        (DenseVector([]), {"type": 1, "size": None, "indices": None, "values": []}),
    ],
)
def test_vector_struct_round_trip(vector, struct):
    assert vector_to_struct(vector) == struct
    assert vector_from_struct(struct) == vector
    assert type(vector_from_struct(struct)) is type(vector)


def test_vector_to_struct_takes_plain_sequences_and_none():
    assert vector_to_struct(np.array([1, 2])) == vector_to_struct(DenseVector([1.0, 2.0]))
    assert vector_to_struct([0.5]) == {"type": 1, "size": None, "indices": None, "values": [0.5]}
    assert vector_to_struct(None) is None
    assert vector_from_struct(None) is None


def test_record_batch_from_rows_round_trips_through_rows():
    batch = record_batch_from_rows(INPUT_ROWS, INPUT_SCHEMA)
    assert batch.schema == to_arrow_schema(INPUT_SCHEMA)
    assert batch.num_rows == 4
    assert batch.column("features").null_count == 1
    assert batch.column("features").to_pylist()[1] == {
        "type": 0,
        "size": 4,
        "indices": [1, 3],
        "values": [5.0, -1.0],
    }
    assert batch.column("tags").to_pylist() == [[("k", 1)], None, [], [("x", None)]]
    assert list(rows_from_record_batch(batch, INPUT_SCHEMA)) == EXPECTED_ROWS


def test_record_batch_from_rows_accepts_numpy_values_dicts_and_empty_input():
    schema = StructType(
        [
            StructField("n", LongType()),
            StructField("arr", ArrayType(DoubleType())),
            StructField("point", POINT),
            StructField("vs", ArrayType(VectorUDT())),
            StructField("dec", DecimalType(5, 2)),
        ]
    )
    rows = [
        (np.int64(3), np.array([1.5, 2.5]), {"y": 1.0, "x": "p"}, [[1.0], None], Decimal("1.25")),
        (None, None, None, None, None),
    ]
    batch = record_batch_from_rows(rows, schema)
    assert batch.to_pylist()[0] == {
        "n": 3,
        "arr": [1.5, 2.5],
        "point": {"x": "p", "y": 1.0},
        "vs": [{"type": 1, "size": None, "indices": None, "values": [1.0]}, None],
        "dec": Decimal("1.25"),
    }
    assert batch.to_pylist()[1] == dict.fromkeys(schema.names)
    assert record_batch_from_rows([], schema).num_rows == 0
    assert record_batch_from_rows([], schema).schema == to_arrow_schema(schema)


def test_to_arrow_type_delegates_plain_types_to_spark():
    assert to_arrow_type(StringType()) == pa.string()
    assert to_arrow_type(ArrayType(StringType(), True)) == pa.list_(pa.string())


# --- against a real SparkSession ------------------------------------------------------


def test_arrow_layout_matches_what_spark_produces(spark):
    df = spark.createDataFrame(INPUT_ROWS, INPUT_SCHEMA)
    batches = df._collect_as_arrow()
    assert sum(b.num_rows for b in batches) == 4
    expected = to_arrow_schema(df.schema)
    for batch in batches:
        assert batch.schema.names == expected.names
        assert batch.schema.types == expected.types
    ours = [row for batch in batches for row in rows_from_record_batch(batch, df.schema)]
    assert ours == df.collect() == EXPECTED_ROWS


def test_map_in_arrow_takes_batches_built_by_record_batch_from_rows(spark):
    result_schema = StructType(
        [
            StructField("id", LongType(), False),
            StructField("projection", VectorUDT()),
            StructField("top", ArrayType(IntegerType(), False)),
            StructField("point", POINT),
            StructField("scores", MapType(StringType(), DoubleType(), False)),
            StructField("at", TimestampType()),
        ]
    )
    at = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    def score(batches):
        for batch in batches:
            rows = []
            for row in rows_from_record_batch(batch):
                if row.id % 3 == 0:
                    projection = None
                elif row.id % 3 == 1:
                    projection = DenseVector([row.id, -row.id])
                else:
                    projection = SparseVector(3, [2], [float(row.id)])
                point = None if row.id == 4 else ("p", row.id / 2)
                rows.append((row.id, projection, [row.id, 0], point, {"s": 0.5}, at))
            yield record_batch_from_rows(rows, result_schema)

    out = sorted(spark.range(0, 6, numPartitions=2).mapInArrow(score, result_schema).collect())
    assert [r.projection for r in out] == [
        None,
        DenseVector([1.0, -1.0]),
        SparseVector(3, {2: 2.0}),
        None,
        DenseVector([4.0, -4.0]),
        SparseVector(3, {2: 5.0}),
    ]
    assert [r.top for r in out] == [[i, 0] for i in range(6)]
    assert out[1].point == Row(x="p", y=0.5)
    assert out[4].point is None
    assert {tuple(r.scores.items()) for r in out} == {(("s", 0.5),)}
    # an instant survives, whatever time zone Spark renders it in on the driver
    assert {r.at.astimezone(datetime.timezone.utc) for r in out} == {at}
