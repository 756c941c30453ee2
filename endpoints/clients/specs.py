"""Endpoints rebuilt from the JSON form a saved Pipeline keeps (``Endpoint.to_spec``)."""

from __future__ import annotations

from typing import Any

from endpoints.clients.http import HttpEndpoint
from endpoints.clients.sagemaker_runtime import SageMakerEndpoint
from endpoints.clients.transport import Endpoint

__all__ = ["endpoint_from_spec"]

_KINDS: dict[str, type[Endpoint]] = {"sagemaker": SageMakerEndpoint, "http": HttpEndpoint}


def endpoint_from_spec(spec: dict[str, Any]) -> Endpoint:
    """Rebuilds an endpoint saved with :meth:`Endpoint.to_spec`."""
    kind = spec.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise ValueError(
            f"unknown endpoint kind {kind!r} in saved spec; expected one of {sorted(_KINDS)}"
        )
    return cls(**dict(spec.get("options", {})))
