"""The SerDe framework: rows → request bodies, response bodies → rows.

No SparkSession and no network are needed here. ``import serde`` imports every built-in
SerDe module — that is what registers them under their short names (:mod:`serde.registry`)
— and binds their public classes here; it never imports ``endpoints`` or the SageMaker
SDK (the SDK adapters import it when first used).
"""

from __future__ import annotations

import importlib

from serde.base import RequestRowSerializer, ResponseRowDeserializer, SerializedRows
from serde.batch_serde import (
    BytesPerRow,
    ColumnsDeserializer,
    FeatureMatrixSerializer,
    RecordBatchSerializer,
)
from serde.batching import RequestBatchIterator, RequestBody, RowFailure
from serde.errors import (
    EndpointSerdeError,
    ResponseParseError,
    RowSerializationError,
    RowTooLargeError,
    SchemaValidationError,
    SerdeError,
    UnknownSerDeError,
)
from serde.registry import (
    get_deserializer,
    get_serializer,
    list_deserializers,
    list_serializers,
    register_deserializer,
    register_serializer,
    serde_spec,
)

#: Built-in SerDe modules; importing them registers their classes.
_BUILTIN_MODULES = (
    "serde.csv",
    "serde.libsvm",
    "serde.protobuf",
    "serde.json",
    "serde.jsonlines",
    "serde.named_csv",
    "serde.kserve_v2",
    # the SageMaker SDK adapters: registered here, the SDK itself imported only when used
    "serde.sagemaker_sdk",
)


def _import_builtins() -> list[str]:
    """Imports the built-in modules and binds their public names here; returns the names."""
    names = []
    for module_name in _BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            globals()[name] = getattr(module, name)
            names.append(name)
    return names


_BUILTIN_NAMES = _import_builtins()


__all__ = sorted(
    [
        "BytesPerRow",
        "ColumnsDeserializer",
        "FeatureMatrixSerializer",
        "RecordBatchSerializer",
        "EndpointSerdeError",
        "RequestBatchIterator",
        "RequestBody",
        "RequestRowSerializer",
        "ResponseParseError",
        "ResponseRowDeserializer",
        "RowFailure",
        "RowSerializationError",
        "RowTooLargeError",
        "SchemaValidationError",
        "SerdeError",
        "SerializedRows",
        "UnknownSerDeError",
        "get_deserializer",
        "get_serializer",
        "list_deserializers",
        "list_serializers",
        "register_deserializer",
        "register_serializer",
        "serde_spec",
        *_BUILTIN_NAMES,
    ]
)
