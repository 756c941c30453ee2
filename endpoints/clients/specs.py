"""Endpoint kinds by name, so a saved Pipeline can rebuild the endpoint it scored against.

An endpoint saves itself as ``{"kind": ..., "options": {...}}`` (:meth:`Endpoint.to_spec`)
and is rebuilt with ``cls(**options)`` from the class registered under that kind. The
built-in kinds are ``"sagemaker"`` and ``"http"``; a third party registers its own exactly as
it registers a SerDe — a decorator, or an entry point in the group
``endpoint_serde.endpoints`` so a fresh process finds it without importing it first::

    @register_endpoint_kind("grpc")
    class GrpcEndpoint(Endpoint):
        ...
        def to_spec(self):
            return {"kind": "grpc", "options": {"target": self.target}}

    # or, in the package's pyproject.toml
    [project.entry-points."endpoint_serde.endpoints"]
    grpc = "my_package.endpoints:GrpcEndpoint"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from endpoints.clients.transport import Endpoint
from endpoints.errors import ConfigurationError
from serde.registry import NameRegistry

__all__ = [
    "ENDPOINT_ENTRY_POINT_GROUP",
    "endpoint_from_spec",
    "endpoint_kinds",
    "register_endpoint_kind",
]

ENDPOINT_ENTRY_POINT_GROUP = "endpoint_serde.endpoints"
_BUILTIN_MODULES = ("endpoints.clients.sagemaker_runtime", "endpoints.clients.http")

E = TypeVar("E", bound=type[Endpoint])

_kinds = NameRegistry("endpoint_kind", Endpoint, ENDPOINT_ENTRY_POINT_GROUP)


def register_endpoint_kind(name: str) -> Callable[[E], E]:
    """Class decorator: a spec of kind ``name`` rebuilds this class."""
    return lambda cls: _kinds.register(name, cls)


def endpoint_kinds() -> list[str]:
    """The registered kinds, built-in and installed."""
    _load_builtins()
    return [info.name for info in _kinds.infos()]


def endpoint_from_spec(spec: dict[str, Any]) -> Endpoint:
    """Rebuilds an endpoint saved with :meth:`Endpoint.to_spec`; an unknown kind raises
    :class:`~serde.errors.UnknownSerDeError` listing the known ones."""
    _load_builtins()
    cls = _kinds.lookup(str(spec.get("kind")))
    _refuse_unsaved_credentials(spec)
    return cls(**dict(spec.get("options", {})))


def _refuse_unsaved_credentials(spec: dict[str, Any]) -> None:
    """A saved spec keeps no credentials, only the names of those the endpoint was used
    with (``credentials_not_saved``). Rebuilt without them it would send unauthenticated
    requests, or sign with whatever credentials the executors have: refuse instead."""
    missing = spec.get("credentials_not_saved")
    if missing:
        raise ConfigurationError(
            f"cannot rebuild the saved {spec.get('kind')!r} endpoint without its credentials "
            f"({', '.join(map(str, missing))}): a saved Pipeline never keeps them. After "
            "loading, give the endpoint again with its credentials: "
            "model.set_endpoint(HttpEndpoint(url, headers=...)) or "
            "model.set_endpoint(SageMakerEndpoint(name, aws_access_key_id=...))"
        )


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
