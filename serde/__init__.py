"""The SerDe framework: rows → request bodies, response bodies → rows.

No SparkSession and no network are needed here. Built-in SerDes are registered under
short names on import; see :mod:`serde.registry`.
"""

from __future__ import annotations

import importlib
from typing import Any

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

#: Public class name → module, imported on first use.
_LAZY: dict[str, str] = {}


def _load_builtins() -> None:
    for module_name in _BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            _LAZY[name] = module_name


_load_builtins()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'serde' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
        *_LAZY,
    ]
)
