"""Endpoint clients, the Spark transformer, hosting lifecycle, cleanup, and the local host.

Public names are imported lazily so ``import endpoints`` stays cheap on executors and does
not pull in optional pieces.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CreatedResources": "endpoints.lifecycle.resources",
    "EndpointCreationPolicy": "endpoints.scoring.model",
    "HttpEndpoint": "endpoints.clients.http",
    "NamePolicy": "endpoints.lifecycle.naming",
    "RetryPolicy": "endpoints.retry",
    "SageMakerEndpoint": "endpoints.clients.sagemaker_runtime",
    "SageMakerModel": "endpoints.scoring.model",
    "SageMakerResourceCleanup": "endpoints.lifecycle.cleanup",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'endpoints' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
