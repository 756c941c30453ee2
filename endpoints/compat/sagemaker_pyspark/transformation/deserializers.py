"""sagemaker_pyspark's response row deserializers, with its keyword arguments.

Its Python wrapper already spells the built-in algorithms' arguments in snake_case
(``distance_to_cluster_column_name``, ``projection_column_name``, ``score_column_name``,
...), exactly as this library does, so those classes are :mod:`serde`'s own. Only the
generic protobuf and the LibSVM deserializers took camelCase (``protobufKeys``,
``labelColumnName``, ``featuresColumnName``); their names here take it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql.types import StructType

from endpoints.compat.sagemaker_pyspark._aliases import SerDeAlias
from serde import libsvm, protobuf
from serde.base import ResponseRowDeserializer
from serde.csv import XGBoostCSVRowDeserializer
from serde.protobuf import (
    FactorizationMachinesBinaryClassifierDeserializer,
    FactorizationMachinesRegressorDeserializer,
    KMeansProtobufResponseRowDeserializer,
    LDAProtobufResponseRowDeserializer,
    LinearLearnerBinaryClassifierProtobufResponseRowDeserializer,
    LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer,
    LinearLearnerRegressorProtobufResponseRowDeserializer,
    PCAProtobufResponseRowDeserializer,
)

__all__ = [
    "FactorizationMachinesBinaryClassifierDeserializer",
    "FactorizationMachinesRegressorDeserializer",
    "KMeansProtobufResponseRowDeserializer",
    "LDAProtobufResponseRowDeserializer",
    "LibSVMResponseRowDeserializer",
    "LinearLearnerBinaryClassifierProtobufResponseRowDeserializer",
    "LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer",
    "LinearLearnerRegressorProtobufResponseRowDeserializer",
    "PCAProtobufResponseRowDeserializer",
    "ProtobufResponseRowDeserializer",
    "ResponseRowDeserializer",
    "XGBoostCSVRowDeserializer",
]


class ProtobufResponseRowDeserializer(SerDeAlias):
    """``ProtobufResponseRowDeserializer(schema, protobufKeys=None)``."""

    builds = protobuf.ProtobufResponseRowDeserializer

    def __new__(cls, schema: StructType, protobufKeys: Sequence[str] | None = None):
        return cls.builds(schema, protobuf_keys=protobufKeys)


class LibSVMResponseRowDeserializer(SerDeAlias):
    """``LibSVMResponseRowDeserializer(dim, labelColumnName, featuresColumnName)``; the
    names default to ``"label"`` and ``"features"``, as in the Scala library."""

    builds = libsvm.LibSVMResponseRowDeserializer

    def __new__(
        cls, dim: int, labelColumnName: str = "label", featuresColumnName: str = "features"
    ):
        return cls.builds(
            dim, label_column_name=labelColumnName, features_column_name=featuresColumnName
        )
