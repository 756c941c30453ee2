"""A model, its endpoint config and its endpoint, created once and deleted in reverse.

:class:`Deployment` is the lifecycle ``SageMakerModel``'s factories used to carry inside the
Spark model: it creates the three resources (recording each the moment its Create call
succeeds, and writing the manifest as it goes), and deletes exactly what it created —
endpoint, then config, then model. It is a context manager, so a job that scores and tears
down reads as one block::

    with Deployment(sm, model_data_url=..., model_image=..., role_arn=...,
                    instance_type="ml.m5.large") as deployment:
        model = SageMakerModel.from_endpoint(deployment.endpoint_name, ser, de)
        model.transform(df).write.parquet(out)
    # deleted here, even if the job failed

Creation happens once per Deployment whatever calls it (two ``transform`` calls, a Param
copy of the model and the original, two threads): the second caller gets what the first
created, or the first one's error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from endpoints.lifecycle.cleanup import CleanupReport, SageMakerResourceCleanup
from endpoints.lifecycle.hosting import EndpointDeployer
from endpoints.lifecycle.naming import NamePolicy, ResourceNames
from endpoints.lifecycle.resources import CreatedResources
from endpoints.retry import RetryPolicy

__all__ = ["Deployment"]

log = logging.getLogger(__name__)


class Deployment:
    """Creates model → endpoint config → endpoint for ``model_data_url``; deletes them.

    Args:
        sagemaker_client: a boto3 ``sagemaker`` client (AWS, the local endpoint host, moto).
        model_data_url: ``s3://.../model.tar.gz``.
        model_image: the inference container image.
        role_arn: the execution role SageMaker assumes for the model.
        instance_type / instance_count: the endpoint's instances.
        environment: the container's environment variables.
        names: exact resource names; otherwise ``name_policy`` (default: unique names)
            chooses them now, so the endpoint's name is known before it exists.
        tags: extra tags; every resource also gets ``endpoint-serde:run-id``.
        wait_timeout_s: how long to wait for InService.
        manifest_path: where to write what was created (for the cleanup CLI), as it goes.
        retry_policy: control-plane retries, for creating and deleting alike.
    """

    def __init__(
        self,
        sagemaker_client: Any,
        *,
        model_data_url: str,
        model_image: str,
        role_arn: str,
        instance_type: str,
        instance_count: int = 1,
        environment: Mapping[str, str] | None = None,
        names: ResourceNames | None = None,
        name_policy: NamePolicy | None = None,
        tags: Mapping[str, str] | None = None,
        wait_timeout_s: float = 1800.0,
        manifest_path: str | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if names is not None and name_policy is not None:
            raise ValueError("pass names or name_policy, not both")
        self.client = sagemaker_client
        self.model_data_url = model_data_url
        self.model_image = model_image
        self.role_arn = role_arn
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.environment = dict(environment or {})
        self.names = names or (name_policy or NamePolicy()).names()
        self.tags = dict(tags or {})
        self.wait_timeout_s = wait_timeout_s
        self.manifest_path = manifest_path
        self.retry_policy = retry_policy
        self._sleep = sleep
        #: What exists because of this deployment: filled as each Create call succeeds.
        self.created = CreatedResources()
        self._lock = threading.Lock()
        self._attempted = False
        self._error: BaseException | None = None

    @property
    def endpoint_name(self) -> str:
        return self.names.endpoint_name

    def create(self) -> CreatedResources:
        """Creates the three resources and waits for InService — once. Later calls return
        what the first created, or raise the first call's error again (what it left behind
        is in :attr:`created`, for :meth:`delete`)."""
        with self._lock:
            if not self._attempted:
                self._attempted = True
                try:
                    self.created = self._deployer().create_from_model_data(
                        model_data_url=self.model_data_url,
                        model_image=self.model_image,
                        model_execution_role_arn=self.role_arn,
                        endpoint_instance_type=self.instance_type,
                        endpoint_initial_instance_count=self.instance_count,
                        model_environment_variables=self.environment,
                        names=self.names,
                        tags=self.tags,
                    )
                except Exception as exc:
                    self._error = exc
                    self.created = getattr(exc, "created", None) or CreatedResources()
                finally:
                    if self.manifest_path and self.created:
                        self.created.write_manifest(self.manifest_path)
            if self._error is not None:
                raise self._error
            return self.created

    def delete(self, *, wait_for_endpoint_deletion: bool = False) -> CleanupReport:
        """Deletes what this deployment created, endpoint first; nothing it did not create.
        Raises :class:`~endpoints.errors.CleanupError` (with the report) if any deletion
        failed, after trying all."""
        cleanup = SageMakerResourceCleanup(
            self.client,
            wait_for_endpoint_deletion=wait_for_endpoint_deletion,
            retry_policy=self.retry_policy,
            sleep=self._sleep,
        )
        return cleanup.delete_resources(self.created)

    def _deployer(self) -> EndpointDeployer:
        return EndpointDeployer(
            self.client,
            wait_timeout_s=self.wait_timeout_s,
            retry_policy=self.retry_policy,
            sleep=self._sleep,
        )

    def __enter__(self) -> Deployment:
        try:
            self.create()
        except BaseException:
            # the block never runs, so __exit__ never would: delete what was made now
            if self.created:
                try:
                    self.delete()
                except Exception as cleanup_error:
                    log.warning(
                        "%r: deleting after a failed create failed too: %s", self, cleanup_error
                    )
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.delete()

    def __repr__(self) -> str:
        state = "created" if self.created else ("failed" if self._error else "not created")
        return f"Deployment({self.endpoint_name!r}, {state})"
