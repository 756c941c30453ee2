"""The options every one-features-column serializer takes, and their schema check.

Protobuf and both LibSVM serializers write one vector or array column — never a list of
scalar columns, which their formats cannot tell from a vector — and may be given the input
schema up front, as sagemaker_pyspark's serializers are. Keeping the constructor here keeps
their saved options (``schema``, ``features_column_name``) and their error for a wrong
column the same.
"""

from __future__ import annotations

from pyspark.sql.types import StructType

from serde.base import RequestRowSerializer
from serde.features import validate_features_schema

__all__ = ["FeaturesColumnSerializer"]


class FeaturesColumnSerializer(RequestRowSerializer):
    """A serializer of the vector or ``array<number>`` column ``features_column_name``.

    Args:
        schema: the input schema, if known now (validated at once).
        features_column_name: an ML ``Vector`` or ``array<number>`` column.
    """

    def __init__(
        self, schema: StructType | None = None, features_column_name: str = "features"
    ) -> None:
        self.features_column_name = features_column_name
        if schema is not None:
            self.set_schema(schema)

    def validate_schema(self, schema: StructType) -> None:
        validate_features_schema(schema, self.features_column_name, allow_scalar_columns=False)

    def input_columns(self, schema: StructType) -> list[str]:
        return [self.features_column_name]
