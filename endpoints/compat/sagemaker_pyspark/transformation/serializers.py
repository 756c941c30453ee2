"""sagemaker_pyspark's request row serializers, with its keyword arguments.

``featuresColumnName`` / ``labelColumnName`` are this library's ``features_column_name`` /
``label_column_name``; each call returns the :mod:`serde` class of the same name.
``UnlabeledLibSVMRequestRowSerializer`` is in the Scala library only; it is here too.
"""

from __future__ import annotations

from pyspark.sql.types import StructType

from endpoints.compat.sagemaker_pyspark._aliases import SerDeAlias
from serde import csv, libsvm, protobuf
from serde.base import RequestRowSerializer

__all__ = [
    "LibSVMRequestRowSerializer",
    "ProtobufRequestRowSerializer",
    "RequestRowSerializer",
    "UnlabeledCSVRequestRowSerializer",
    "UnlabeledLibSVMRequestRowSerializer",
]


class _FeaturesColumnAlias(SerDeAlias):
    """The signature three of them share: ``(schema=None, featuresColumnName="features")``."""

    def __new__(cls, schema: StructType | None = None, featuresColumnName: str = "features"):
        return cls.builds(schema=schema, features_column_name=featuresColumnName)


class UnlabeledCSVRequestRowSerializer(_FeaturesColumnAlias):
    """``UnlabeledCSVRequestRowSerializer(schema=None, featuresColumnName="features")``."""

    builds = csv.UnlabeledCSVRequestRowSerializer


class ProtobufRequestRowSerializer(_FeaturesColumnAlias):
    """``ProtobufRequestRowSerializer(schema=None, featuresColumnName="features")``."""

    builds = protobuf.ProtobufRequestRowSerializer


class UnlabeledLibSVMRequestRowSerializer(_FeaturesColumnAlias):
    """``UnlabeledLibSVMRequestRowSerializer(schema=None, featuresColumnName="features")``
    (the Scala library's; its Python wrapper has none)."""

    builds = libsvm.UnlabeledLibSVMRequestRowSerializer


class LibSVMRequestRowSerializer(SerDeAlias):
    """``LibSVMRequestRowSerializer(schema=None, labelColumnName="label",
    featuresColumnName="features")``."""

    builds = libsvm.LibSVMRequestRowSerializer

    def __new__(
        cls,
        schema: StructType | None = None,
        labelColumnName: str = "label",
        featuresColumnName: str = "features",
    ):
        return cls.builds(
            schema=schema,
            label_column_name=labelColumnName,
            features_column_name=featuresColumnName,
        )
