"""Names for SerDes, so configuration files and saved Pipelines can refer to them.

A SerDe is stored as ``{"name": ..., "options": {...}}`` — its registry name and the
keyword arguments it was built with — and rebuilt with ``get_serializer(name, **options)``.
Third-party packages register theirs without being imported first, through the entry-point
groups ``endpoint_serde.serializers`` and ``endpoint_serde.deserializers`` (entry-point
name = SerDe name, object = the class)::

    [project.entry-points."endpoint_serde.serializers"]
    my-csv = "my_package.serdes:MyCSVSerializer"
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pyspark.sql.types import StructType

from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.errors import SerdeError, UnknownSerDeError

__all__ = [
    "DESERIALIZER_ENTRY_POINT_GROUP",
    "SERIALIZER_ENTRY_POINT_GROUP",
    "NameRegistry",
    "SerDeInfo",
    "deserializer_from_spec",
    "get_deserializer",
    "get_serializer",
    "list_deserializers",
    "list_serializers",
    "register_deserializer",
    "register_serializer",
    "serde_spec",
    "serializer_from_spec",
]

SERIALIZER_ENTRY_POINT_GROUP = "endpoint_serde.serializers"
DESERIALIZER_ENTRY_POINT_GROUP = "endpoint_serde.deserializers"
_SCHEMA_KEY = "__spark_schema__"

T = TypeVar("T", bound=type)

log = logging.getLogger("serde.registry")


@dataclass(frozen=True)
class SerDeInfo:
    """One registry entry, as :func:`list_serializers` shows it."""

    name: str
    kind: str  # "serializer" or "deserializer"
    cls: type
    media_type: str  # content type sent, or accept asked for
    options: tuple[str, ...]  # constructor keyword names

    @property
    def qualified_name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


class NameRegistry:
    """Classes by name, filled by a decorator and by an entry-point group loaded on the
    first miss. The SerDe registries are two of these; ``endpoints`` keeps its endpoint
    kinds in a third, so every pluggable piece is found, saved and refused alike."""

    def __init__(self, kind: str, base: type, group: str, media_attr: str = "") -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self.media_attr = media_attr
        self._by_name: dict[str, type] = {}
        self._lock = threading.Lock()
        self._entry_points_loaded = False
        #: name → why its entry point could not be loaded (import error, wrong class...)
        self._broken: dict[str, Exception] = {}

    def register(self, name: str, cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(
                f"register_{self.kind}({name!r}) needs a {self.base.__name__} subclass, got {cls!r}"
            )
        with self._lock:
            existing = self._by_name.get(name)
            if (
                existing is not None
                and existing is not cls
                and _qualname(existing) != _qualname(cls)
            ):
                raise SerdeError(
                    f"{self.kind} name {name!r} is already registered to {_qualname(existing)}; "
                    f"pick another name for {_qualname(cls)}"
                )
            self._by_name[name] = cls
            cls._serde_registry_name = name  # type: ignore[attr-defined]
        return cls

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._by_name:
                continue
            # One broken third-party package must not hide the others' SerDes.
            try:
                self.register(ep.name, ep.load())
            except Exception as exc:
                self._broken[ep.name] = exc
                log.warning(
                    "%s entry point %r (%s) failed to load: %s", self.kind, ep.name, ep.value, exc
                )

    def lookup(self, name: str) -> type:
        cls = self._by_name.get(name)
        if cls is None:
            self._load_entry_points()
            cls = self._by_name.get(name)
        if cls is None:
            broken = self._broken.get(name)
            if broken is not None:
                raise SerdeError(
                    f"{self.kind} {name!r} is provided by an installed package, but its entry "
                    f"point failed to load: {broken!r}. Fix or reinstall that package"
                ) from broken
            raise UnknownSerDeError(self.kind, name, list(self._by_name))
        return cls

    def infos(self) -> list[SerDeInfo]:
        self._load_entry_points()
        return [
            SerDeInfo(
                name,
                self.kind,
                cls,
                str(getattr(cls, self.media_attr, "")) if self.media_attr else "",
                tuple(_option_names(cls)),
            )
            for name, cls in sorted(self._by_name.items())
        ]


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _option_names(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind is not p.VAR_POSITIONAL]


_serializers = NameRegistry(
    "serializer", RequestRowSerializer, SERIALIZER_ENTRY_POINT_GROUP, "content_type"
)
_deserializers = NameRegistry(
    "deserializer", ResponseRowDeserializer, DESERIALIZER_ENTRY_POINT_GROUP, "accepts"
)


def register_serializer(name: str) -> Callable[[T], T]:
    """Class decorator: makes ``get_serializer(name, **options)`` build this class."""
    return lambda cls: _serializers.register(name, cls)


def register_deserializer(name: str) -> Callable[[T], T]:
    """Class decorator: makes ``get_deserializer(name, **options)`` build this class."""
    return lambda cls: _deserializers.register(name, cls)


def get_serializer(name: str, **options: Any) -> RequestRowSerializer:
    return _serializers.lookup(name)(**_decode_options(options))


def get_deserializer(name: str, **options: Any) -> ResponseRowDeserializer:
    return _deserializers.lookup(name)(**_decode_options(options))


def list_serializers() -> list[SerDeInfo]:
    return _serializers.infos()


def list_deserializers() -> list[SerDeInfo]:
    return _deserializers.infos()


def serde_spec(serde: RequestRowSerializer | ResponseRowDeserializer) -> dict[str, Any]:
    """``{"name", "options"}`` that rebuild ``serde``; JSON-safe (Spark schemas as JSON).

    Raises :class:`SerdeError` for an unregistered class: a saved Pipeline could not load it.
    """
    registry = _serializers if isinstance(serde, RequestRowSerializer) else _deserializers
    name = getattr(type(serde), "_serde_registry_name", None)
    if name is None or registry._by_name.get(name) is not type(serde):
        raise SerdeError(
            f"{_qualname(type(serde))} is not registered, so it cannot be saved by name; "
            f"decorate it with @register_{registry.kind}('some-name')"
        )
    return {"name": name, "options": _encode_options(serde.serde_options())}


def serializer_from_spec(spec: dict[str, Any]) -> RequestRowSerializer:
    return get_serializer(spec["name"], **spec.get("options", {}))


def deserializer_from_spec(spec: dict[str, Any]) -> ResponseRowDeserializer:
    return get_deserializer(spec["name"], **spec.get("options", {}))


def _encode_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: _encode(v) for k, v in options.items()}


def _encode(value: Any) -> Any:
    if isinstance(value, StructType):
        return {_SCHEMA_KEY: value.jsonValue()}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in options.items()}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_SCHEMA_KEY}:
            return StructType.fromJson(value[_SCHEMA_KEY])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
