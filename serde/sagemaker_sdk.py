"""The SageMaker Python SDK's serializers and deserializers as row SerDes.

:class:`SDKSerializerAdapter` / :class:`SDKDeserializerAdapter` use an SDK serializer
(``CSVSerializer``, ``JSONSerializer``, ``JSONLinesSerializer``, ``NumpySerializer``...) or
deserializer (``JSONDeserializer``, ``CSVDeserializer``, ``NumpyDeserializer``...) as a row
SerDe, so code written for ``Predictor`` objects keeps its wire format in Spark.

They live in ``serde`` because they touch no network and no endpoint: they only turn rows
into bytes and bytes into rows. Both are built-ins registered as ``"sagemaker-sdk"`` when
``serde`` is imported, so a saved Pipeline naming them loads in a fresh process. The SDK
itself (``sagemaker-core``, or the full ``sagemaker`` package, which contains it) is
imported only when an SDK object is rebuilt from a saved spec: ``import serde`` never
needs it.
"""

from __future__ import annotations

import importlib
import inspect
import io
import traceback
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.ml.linalg import DenseVector, SparseVector
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    StringType,
    StructType,
)

from serde.arrow_types import rows_from_record_batch
from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.ddl import schema_from
from serde.errors import ResponseParseError, RowSerializationError, SerdeError
from serde.features import dense_vector_values, validate_features_schema
from serde.json_coercion import INTEGER_RANGES
from serde.numbers import parse_double, parse_int
from serde.registry import register_deserializer, register_serializer

__all__ = [
    "SDKDeserializerAdapter",
    "SDKSerializerAdapter",
    "sdk_object_from_spec",
    "sdk_object_spec",
]

_INSTALL_HINT = "pip install 'endpoint-serde[sagemaker]'"

#: The built-in SerDe that writes or reads the same format, for an SDK class that is only
#: a stub in the installed SDK (by content type / accept).
_BUILT_IN_FOR = {
    "application/x-recordio-protobuf": (
        "ProtobufRequestRowSerializer",
        "ProtobufResponseRowDeserializer",
    ),
}


def import_sdk_module(module: str, *, needed_by: str = __name__) -> Any:
    """Imports a module of the SageMaker SDK, or explains which extra to install.

    Shared with ``endpoints.sagemaker_sdk`` (its ``image_uri``), so both name the same
    install command. ``needed_by`` is what the message says needs the SDK.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{needed_by} needs the SageMaker SDK ({module} could not be "
            f"imported: {exc}). Install it with: {_INSTALL_HINT}"
        ) from exc


@cache
def _installed_sdk() -> str:
    """``"sagemaker-core 2.27.0"`` (and ``sagemaker 3.x`` when the full package is there):
    stubs differ between releases, so an error about one names the release."""
    found = []
    for dist in ("sagemaker", "sagemaker-core"):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found) or "no sagemaker distribution found"


def _stub_message(obj: Any, method: str, exc: NotImplementedError, media_type: str) -> str:
    """What to say when the SDK's own method is a stub (``RecordSerializer.serialize`` in
    sagemaker-core 2.x: ``write_numpy_to_dense_tensor`` raises ``NotImplementedError``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].name} raised NotImplementedError)" if frames else ""
    detail = f": {exc}" if str(exc) else ""
    built_in = _BUILT_IN_FOR.get(media_type)
    if built_in is None:
        instead = "use a built-in SerDe for this format (serde.list_serializers() names them)"
    else:
        instead = f"use serde's {built_in[0]} / {built_in[1]}, which speak {media_type}"
    return (
        f"{type(obj).__name__}.{method} is not implemented in the installed SageMaker SDK "
        f"({_installed_sdk()}){where}{detail}; {instead}"
    )


# -- saving an SDK object in a Pipeline -----------------------------------------------------

_JSON_SCALARS = (str, int, float, bool, type(None))


def sdk_object_spec(obj: Any) -> dict[str, Any]:
    """``{"class": "sagemaker....CSVSerializer", "init": {...}}``: what rebuilds an SDK
    serializer or deserializer, read from the attributes its constructor stores (the SDK's
    classes keep each argument under its own name: ``content_type``, ``accept``...)."""
    cls = type(obj)
    init: dict[str, Any] = {}
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if not hasattr(obj, param.name):
            if param.default is param.empty:
                raise SerdeError(
                    f"cannot save {cls.__name__}: its required argument {param.name!r} is not "
                    "kept as an attribute, so it could not be rebuilt when loading"
                )
            continue
        value = getattr(obj, param.name)
        if not isinstance(value, _JSON_SCALARS):
            raise SerdeError(
                f"cannot save {cls.__name__}: {param.name}={value!r} is not a JSON value; "
                "build it with plain arguments (strings, numbers) to save it in a Pipeline"
            )
        init[param.name] = value
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "init": init}


def sdk_object_from_spec(spec: dict[str, Any]) -> Any:
    """The SDK object :func:`sdk_object_spec` described. Only classes of the ``sagemaker``
    package are built: a saved Pipeline must not be able to name any class in the process."""
    path = str(spec.get("class", ""))
    module, _, name = path.rpartition(".")
    if not (module == "sagemaker" or module.startswith("sagemaker.")):
        raise SerdeError(
            f"a saved SDK SerDe must name a class of the sagemaker package, got {path!r}"
        )
    cls = getattr(import_sdk_module(module), name, None)
    if not isinstance(cls, type):
        raise SerdeError(f"{path!r} is not a class of the installed SageMaker SDK")
    return cls(**spec.get("init", {}))


def _sdk_object(value: Any, argument: str, method: str, attribute: str) -> Any:
    """An adapter's SDK object: given, or rebuilt from its saved spec; checked to be one."""
    obj = sdk_object_from_spec(value) if isinstance(value, dict) else value
    if not callable(getattr(obj, method, None)):
        kind = argument.removeprefix("sdk_")
        raise TypeError(
            f"{argument}: expected a SageMaker SDK {kind} (with {method}() and {attribute}), "
            f"got {type(obj).__name__}"
        )
    return obj


# -- serializer ---------------------------------------------------------------------------

#: How rows of each row-separable SDK format join into one body (prefix, separator, suffix),
#: matching what the SDK itself writes for a list of rows; and whether one row is written as
#: ``serialize([row])`` (JSON Lines writes one line per element) or ``serialize(row)``.
_ROW_FRAMING = {
    "CSVSerializer": ((b"", b"\n", b""), False),
    "JSONSerializer": ((b"[", b", ", b"]"), False),  # json.dumps separates items with ", "
    "JSONLinesSerializer": ((b"", b"\n", b""), True),
}


@register_serializer("sagemaker-sdk")
class SDKSerializerAdapter(RequestRowSerializer):
    """A SageMaker SDK serializer used as a :class:`~serde.base.RequestRowSerializer`.

    Each row's features (an ML vector, an ``array<number>`` column, or a list of numeric
    columns) become one list of numbers. For CSV, JSON and JSON Lines serializers each row is
    written by the SDK on its own and rows are joined as the SDK joins them, so bodies are
    byte-identical to ``serializer.serialize(list_of_rows)``; any other serializer (NPY,
    custom) is given the whole batch as a 2-D ``numpy`` array per request.

    Registered as ``"sagemaker-sdk"``: a model using it saves in a Pipeline when the SDK
    object's arguments are plain values (see :func:`sdk_object_spec`).

    Args:
        sdk_serializer: an instance of an SDK serializer (``CSVSerializer()``...), or the
            dict :func:`sdk_object_spec` made of one.
        features_column_name: the features column, or a list of scalar columns.
    """

    def __init__(
        self, sdk_serializer: Any, features_column_name: str | Sequence[str] = "features"
    ) -> None:
        sdk_serializer = _sdk_object(sdk_serializer, "sdk_serializer", "serialize", "CONTENT_TYPE")
        self.sdk_serializer = sdk_serializer
        self.features_column_name = features_column_name
        self._columns = (
            [features_column_name]
            if isinstance(features_column_name, str)
            else list(features_column_name)
        )
        self.content_type = str(sdk_serializer.CONTENT_TYPE)  # type: ignore[misc]
        known = next(
            (f for cls in type(sdk_serializer).__mro__ if (f := _ROW_FRAMING.get(cls.__name__))),
            None,
        )
        self.row_separable = known is not None  # type: ignore[misc]
        framing, self._wrap_row = known or ((b"", b"", b""), False)
        self.body_prefix, self.row_separator, self.body_suffix = framing

    def serde_options(self) -> dict[str, Any]:
        return {
            "sdk_serializer": sdk_object_spec(self.sdk_serializer),
            "features_column_name": self.features_column_name,
        }

    def __repr__(self) -> str:  # never raises, even for an SDK object that cannot be saved
        return (
            f"SDKSerializerAdapter({type(self.sdk_serializer).__name__}(), "
            f"features_column_name={self.features_column_name!r})"
        )

    def validate_schema(self, schema: StructType) -> None:
        validate_features_schema(schema, self._columns, allow_scalar_columns=True)

    def serialize_row(self, row: Row) -> bytes:
        values = self._features(row)
        if not self.row_separable:
            return self._serialize(np.asarray([values]))
        return self._serialize([values] if self._wrap_row else values)

    def serialize_body(self, batch: pa.RecordBatch) -> bytes:
        rows = [self._features(row) for row in rows_from_record_batch(batch, self._schema)]
        return self._serialize(np.asarray(rows))

    def _features(self, row: Row) -> list[Any]:
        if len(self._columns) > 1:
            values = [row[name] for name in self._columns]
            for name, value in zip(self._columns, values):
                if value is None:
                    raise RowSerializationError("feature value is null", column=name)
            return values
        value = row[self._columns[0]]
        if value is None:
            raise RowSerializationError("features are null", column=self._columns[0])
        if isinstance(value, (DenseVector, SparseVector)):
            return dense_vector_values(value, self._columns[0]).tolist()
        if isinstance(value, (list, tuple)):
            return list(value)
        return [value]

    def _serialize(self, data: Any) -> bytes:
        try:
            out = self.sdk_serializer.serialize(data)
        except NotImplementedError as exc:
            # a stub in the SDK: every row fails alike, and each is reported as its own row
            # error (an error column keeps the rows), never as a crashed task
            message = _stub_message(self.sdk_serializer, "serialize", exc, self.content_type)
            raise RowSerializationError(message) from exc
        if isinstance(out, str):
            return out.encode("utf-8")
        if isinstance(out, (bytes, bytearray, memoryview)):
            return bytes(out)
        if callable(getattr(out, "read", None)):  # RecordSerializer documents an io.BytesIO
            return bytes(out.read())
        raise TypeError(
            f"{type(self.sdk_serializer).__name__}.serialize returned "
            f"{type(out).__name__}; expected str, bytes or a binary stream to send as a "
            "request body"
        )


# -- deserializer -------------------------------------------------------------------------

#: Keys that wrap the list of results in common JSON responses (TF Serving, many scripts).
_RESULT_KEYS = ("predictions", "outputs", "results", "scores")


@register_deserializer("sagemaker-sdk")
class SDKDeserializerAdapter(ResponseRowDeserializer):
    """A SageMaker SDK deserializer used as a :class:`~serde.base.ResponseRowDeserializer`.

    The SDK object reads the body (``JSONDeserializer`` → Python objects, ``CSVDeserializer``
    → lists of strings, ``NumpyDeserializer`` → an array); the adapter then finds one item
    per row and converts it to ``schema``:

    * a JSON object wrapping the list (``{"predictions": [...]}``) is unwrapped
      (``results_key`` names the key; by default the single list-valued key, or one of
      predictions / outputs / results / scores);
    * an item that is an object gives the fields by name; a list gives them by position
      (or, for a one-column array schema, the whole array); a scalar fills a one-column
      schema;
    * text values (CSV) are parsed as the field's type.

    Registered as ``"sagemaker-sdk"``, savable like :class:`SDKSerializerAdapter`.

    Args:
        sdk_deserializer: an SDK deserializer instance, or the dict
            :func:`sdk_object_spec` made of one.
        schema: the result columns, a ``StructType`` or DDL (``"score double"``).
        results_key: the key holding the results in a JSON object response.
    """

    def __init__(
        self, sdk_deserializer: Any, schema: StructType | str, results_key: str | None = None
    ) -> None:
        sdk_deserializer = _sdk_object(
            sdk_deserializer, "sdk_deserializer", "deserialize", "ACCEPT"
        )
        self.sdk_deserializer = sdk_deserializer
        self._result_schema = schema_from(schema)
        self.results_key = results_key
        accept = sdk_deserializer.ACCEPT
        self.accepts = str(accept if isinstance(accept, str) else accept[0])  # type: ignore[misc]

    def serde_options(self) -> dict[str, Any]:
        return {
            "sdk_deserializer": sdk_object_spec(self.sdk_deserializer),
            "schema": self._result_schema,
            "results_key": self.results_key,
        }

    def __repr__(self) -> str:
        return (
            f"SDKDeserializerAdapter({type(self.sdk_deserializer).__name__}(), "
            f"{self._result_schema.simpleString()!r}, results_key={self.results_key!r})"
        )

    @property
    def schema(self) -> StructType:
        return self._result_schema

    def deserialize_response(self, body: bytes) -> Iterable[tuple]:
        try:
            decoded = self.sdk_deserializer.deserialize(io.BytesIO(body), self.accepts)
        except NotImplementedError as exc:
            message = _stub_message(self.sdk_deserializer, "deserialize", exc, self.accepts)
            raise ResponseParseError(message, body, self.accepts) from exc
        except Exception as exc:  # the SDK raises whatever its parser raises
            raise ResponseParseError(
                f"{type(self.sdk_deserializer).__name__}: {exc}", body, self.accepts
            ) from exc
        items = self._items(decoded, body)
        try:
            return [self._row(item) for item in items]
        except (TypeError, ValueError) as exc:
            raise ResponseParseError(str(exc), body, self.accepts) from exc

    def _items(self, decoded: Any, body: bytes) -> list[Any]:
        if isinstance(decoded, np.ndarray):
            decoded = decoded.tolist()
        if isinstance(decoded, dict):
            decoded = self._unwrap(decoded, body)
        if not isinstance(decoded, list):
            raise ResponseParseError(
                f"expected a list of results (one per row), got {type(decoded).__name__}",
                body,
                self.accepts,
            )
        return decoded

    def _unwrap(self, decoded: dict, body: bytes) -> Any:
        if self.results_key is not None:
            if self.results_key not in decoded:
                raise ResponseParseError(
                    f"expected key {self.results_key!r}, got keys {sorted(decoded)}",
                    body,
                    self.accepts,
                )
            return decoded[self.results_key]
        lists = [k for k, v in decoded.items() if isinstance(v, list)]
        known = [k for k in _RESULT_KEYS if k in decoded]
        key = lists[0] if len(lists) == 1 else (known[0] if known else None)
        if key is None:
            raise ResponseParseError(
                f"expected one list of results in the object, got keys {sorted(decoded)}; "
                "pass results_key=",
                body,
                self.accepts,
            )
        return decoded[key]

    def _row(self, item: Any) -> tuple:
        fields = self._result_schema.fields
        if isinstance(item, dict):
            return tuple(_convert(item.get(f.name), f.dataType) for f in fields)
        if len(fields) == 1:
            only = fields[0].dataType
            if isinstance(item, list) and not isinstance(only, ArrayType):
                if len(item) != 1:
                    raise ValueError(f"expected 1 value for {fields[0].name!r}, got {len(item)}")
                item = item[0]
            return (_convert(item, only),)
        if not isinstance(item, list) or len(item) != len(fields):
            got = f"{len(item)} values" if isinstance(item, list) else repr(item)
            raise ValueError(
                f"expected {len(fields)} values ({', '.join(self._result_schema.names)}), got {got}"
            )
        return tuple(_convert(v, f.dataType) for v, f in zip(item, fields))


def _convert(value: Any, data_type: DataType) -> Any:
    """``value`` as ``data_type`` wants it; text (from CSV) is parsed."""
    if value is None:
        return None
    if isinstance(data_type, (DoubleType, FloatType)):
        return parse_double(value) if isinstance(value, str) else float(value)
    if isinstance(data_type, tuple(INTEGER_RANGES)):
        return parse_int(value) if isinstance(value, str) else int(value)
    if isinstance(data_type, BooleanType):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)
    if isinstance(data_type, StringType):
        return value if isinstance(value, str) else str(value)
    if isinstance(data_type, ArrayType):
        if not isinstance(value, list):
            raise ValueError(f"expected a list for {data_type.simpleString()}, got {value!r}")
        return [_convert(v, data_type.elementType) for v in value]
    return value
