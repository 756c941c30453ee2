"""sagemaker_pyspark's ``SageMakerResourceCleanup`` and ``CreatedResources``.

``CreatedResources(model_name, endpoint_config_name, endpoint_name)`` has the reference's
Python arguments already, so it is this library's class. The cleanup keeps its camelCase
methods over this library's cleanup: idempotent (already gone counts as done), ordered,
retried when throttled; every deletion is tried, then :class:`~endpoints.errors.
CleanupError` (with ``.report``) is raised if any failed (the reference stopped at the
first failure with its own exception). Each method returns the report or the outcome (the
reference returned nothing).
"""

from __future__ import annotations

from typing import Any

from endpoints.lifecycle.cleanup import CleanupReport, ResourceOutcome
from endpoints.lifecycle.cleanup import SageMakerResourceCleanup as _Cleanup
from endpoints.lifecycle.resources import CreatedResources

__all__ = ["CreatedResources", "SageMakerResourceCleanup"]


class SageMakerResourceCleanup(_Cleanup):
    """``SageMakerResourceCleanup(sagemakerClient)`` with a boto3 ``sagemaker`` client (the
    model's ``sagemakerClient``); this library's options may follow as keywords."""

    def __init__(self, sagemakerClient: Any, **options: Any) -> None:
        super().__init__(sagemakerClient, **options)

    def deleteResources(self, created_resources: CreatedResources | None) -> CleanupReport:
        return self.delete_resources(created_resources)

    def deleteEndpoint(self, name: str) -> ResourceOutcome:
        return self.delete_endpoint(name)

    def deleteEndpointConfig(self, name: str) -> ResourceOutcome:
        return self.delete_endpoint_config(name)

    def deleteModel(self, name: str) -> ResourceOutcome:
        return self.delete_model(name)
