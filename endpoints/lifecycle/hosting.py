"""Creating a SageMaker model, endpoint config and endpoint, and waiting for InService.

:class:`EndpointDeployer` talks to any boto3 ``sagemaker`` client (AWS, the local endpoint
host, moto). Each resource is recorded in the returned :class:`CreatedResources` the moment
its Create call succeeds, and every failure after that raises
:class:`~endpoints.errors.EndpointCreationError` carrying what exists, so nothing is
orphaned silently. Control-plane throttling is retried with the package's one
:class:`~endpoints.retry.RetryPolicy`; :class:`ControlPlaneCalls` is shared with cleanup.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from endpoints.errors import (
    EndpointCreationError,
    HostingError,
    InvocationError,
    RetriesExhaustedError,
    TransportError,
)
from endpoints.failures import (
    THROTTLING_CODES,
    error_code,
    error_message,
    from_backend_error,
    is_not_found,
)
from endpoints.lifecycle.naming import NamePolicy, ResourceNames
from endpoints.lifecycle.resources import RUN_ID_TAG, CreatedResources, ResourceKind
from endpoints.retry import RetryPolicy, RetryState, call_with_retries

__all__ = [
    "THROTTLING_CODES",
    "ControlPlaneCalls",
    "EndpointDeployer",
    "error_code",
    "is_not_found",
]

log = logging.getLogger(__name__)

#: SageMaker allows 50 tags per resource.
MAX_TAGS = 50
#: What a control-plane call may raise once retries are over.
ControlPlaneError = (InvocationError, RetriesExhaustedError)


class ControlPlaneCalls:
    """Calls a boto3 client method, retrying throttling and dropped connections.

    boto3 retries a few times on its own; a deployment or cleanup running beside a busy
    account needs more patience than that, and one visible count of it. Failures come out
    as :mod:`endpoints.errors` (the botocore exception chained), like every other failure
    of the library.

    Args:
        policy: attempts and backoff (the package-wide :class:`RetryPolicy`).
        sleep: how to wait (tests pass a recorder).
    """

    #: Sequential calls wait longer between attempts than the engine's requests.
    DEFAULT_POLICY = RetryPolicy(max_attempts=8, backoff_base_s=0.2, backoff_max_s=10.0)

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or self.DEFAULT_POLICY
        self._sleep = sleep
        self._clock = clock
        self.retries = 0
        #: attempts the latest call made (1 = no retry); for error messages.
        self.last_attempts = 0

    def call(self, method: Callable[..., Any], *, idempotent: bool = True, **kwargs: Any) -> Any:
        """``method(**kwargs)``; raises an :class:`InvocationError` (not retryable) or a
        :class:`RetriesExhaustedError` when the policy gives up.

        A dropped connection is retried only for ``idempotent`` calls: a Create call may
        have succeeded before the connection broke, and repeating it would then fail with
        "already exists" and hide that the resource was made."""
        policy = self.policy
        if not idempotent and policy.retry_transport_errors:
            policy = replace(policy, retry_transport_errors=False)
        name = getattr(method, "__name__", "call")
        self.last_attempts = 0

        def attempt() -> Any:
            self.last_attempts += 1
            return method(**kwargs)

        def on_retry(error: InvocationError, delay: float, state: RetryState) -> None:
            log.info(
                "%s: %s, retrying in %.2fs (attempt %d of %d)",
                name,
                error.code or error.kind,
                delay,
                state.attempts,
                policy.max_attempts,
            )
            self.retries += 1

        return call_with_retries(
            attempt,
            policy,
            sleep=self._sleep,
            clock=self._clock,
            translate=from_backend_error,
            on_retry=on_retry,
        )


class EndpointDeployer:
    """Creates model → endpoint config → endpoint and waits until the endpoint serves.

    Args:
        sagemaker_client: a boto3 ``sagemaker`` client.
        wait_timeout_s: give up waiting for InService after this long (the endpoint is
            left as it is and reported in the error, for cleanup).
        poll_interval_s: the longest pause between DescribeEndpoint calls. Polling starts at
            half a second and doubles up to this, so a fast host is seen InService at once
            and AWS is not polled more than needed.
    """

    #: Statuses from which an endpoint can still become InService.
    PENDING_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
    FIRST_POLL_S = 0.5

    def __init__(
        self,
        sagemaker_client: Any,
        *,
        wait_timeout_s: float = 1800.0,
        poll_interval_s: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if wait_timeout_s <= 0 or poll_interval_s <= 0:
            raise ValueError(
                "wait_timeout_s and poll_interval_s must be positive, got "
                f"{wait_timeout_s} and {poll_interval_s}"
            )
        self.client = sagemaker_client
        self.wait_timeout_s = wait_timeout_s
        self.poll_interval_s = poll_interval_s
        self.calls = ControlPlaneCalls(retry_policy, sleep=sleep, clock=clock)
        self._sleep = sleep
        self._clock = clock

    # -- public ------------------------------------------------------------------------

    def create_from_model_data(
        self,
        model_data_url: str,
        model_image: str,
        model_execution_role_arn: str,
        endpoint_instance_type: str,
        endpoint_initial_instance_count: int,
        model_environment_variables: Mapping[str, str] | None = None,
        name_policy: NamePolicy | None = None,
        tags: Mapping[str, str] | None = None,
        names: ResourceNames | None = None,
    ) -> CreatedResources:
        """Deploys ``model_data_url`` (``s3://.../model.tar.gz``) behind a new endpoint.

        ``names`` are the exact names to use, for a caller that had to know them first (a
        runtime client pointed at an endpoint created later); otherwise ``name_policy``
        chooses them.

        Returns the :class:`CreatedResources` once the endpoint is InService; raises
        :class:`EndpointCreationError` (its ``created`` lists what to clean) otherwise.
        """
        if names is not None and name_policy is not None:
            raise ValueError("pass names or name_policy, not both")
        if endpoint_initial_instance_count < 1:
            raise ValueError(
                "endpoint_initial_instance_count: expected at least 1, got "
                f"{endpoint_initial_instance_count}"
            )
        names = names or (name_policy or NamePolicy()).names()
        created = self.new_run(tags)
        tag_list = tag_list_of(created)
        self.create_model(
            created,
            names.model_name,
            model_data_url,
            model_image,
            model_execution_role_arn,
            model_environment_variables,
        )

        self._create(
            created,
            "CreateEndpointConfig",
            self.client.create_endpoint_config,
            EndpointConfigName=names.endpoint_config_name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": names.model_name,
                    "InitialInstanceCount": int(endpoint_initial_instance_count),
                    "InstanceType": endpoint_instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            Tags=tag_list,
        )
        created.endpoint_config_name = names.endpoint_config_name
        log.info("created endpoint config %s", names.endpoint_config_name)
        self._record_identity(created, ResourceKind.ENDPOINT_CONFIG)

        self._create(
            created,
            "CreateEndpoint",
            self.client.create_endpoint,
            EndpointName=names.endpoint_name,
            EndpointConfigName=names.endpoint_config_name,
            Tags=tag_list,
        )
        created.endpoint_name = names.endpoint_name
        log.info("created endpoint %s; waiting for InService", names.endpoint_name)
        self.wait_for_in_service(names.endpoint_name, created)
        return created

    def new_run(self, tags: Mapping[str, str] | None = None) -> CreatedResources:
        """An empty record for one run: its run id, region and tags (``tags`` plus the
        run-id tag) that every resource it creates carries."""
        run_id = uuid.uuid4().hex
        return CreatedResources(
            region=region_of(self.client),
            created_at=datetime.now(timezone.utc),
            run_id=run_id,
            tags=_merge_tags(tags, run_id),
        )

    def create_model(
        self,
        created: CreatedResources,
        model_name: str,
        model_data_url: str,
        model_image: str,
        model_execution_role_arn: str,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """CreateModel, tagged with ``created``'s tags and recorded in it at once."""
        container: dict[str, Any] = {"Image": model_image, "ModelDataUrl": model_data_url}
        if environment:
            container["Environment"] = dict(environment)
        self._create(
            created,
            "CreateModel",
            self.client.create_model,
            ModelName=model_name,
            PrimaryContainer=container,
            ExecutionRoleArn=model_execution_role_arn,
            Tags=tag_list_of(created),
        )
        created.model_name = model_name
        log.info("created model %s (%s)", model_name, model_data_url)
        self._record_identity(created, ResourceKind.MODEL)

    def wait_for_in_service(self, endpoint_name: str, created: CreatedResources) -> None:
        """Polls DescribeEndpoint until InService; raises on Failed, on any status it
        cannot recover from, and on timeout."""
        started = self._clock()
        pause = self.FIRST_POLL_S
        while True:
            description = self._describe(endpoint_name, created)
            if endpoint_name == created.endpoint_name:
                created.record_identity(ResourceKind.ENDPOINT, description)
            status = description.get("EndpointStatus", "<none>")
            waited = self._clock() - started
            log.info(
                "endpoint %s: %s after %.0fs (waiting up to %.0fs)",
                endpoint_name,
                status,
                waited,
                self.wait_timeout_s,
            )
            if status == "InService":
                return
            if status not in self.PENDING_STATUSES:
                reason = (description.get("FailureReason") or "no FailureReason given").rstrip(".")
                raise EndpointCreationError(
                    f"endpoint {endpoint_name!r} went {status}, expected InService: {reason}. "
                    f"{_cleanup_hint(created)}",
                    created,
                )
            if waited + pause > self.wait_timeout_s:
                raise EndpointCreationError(
                    f"endpoint {endpoint_name!r} was still {status} after {waited:.0f}s "
                    f"(wait_timeout_s={self.wait_timeout_s:g}), expected InService. Raise "
                    f"wait_timeout_s or check the endpoint's logs. {_cleanup_hint(created)}",
                    created,
                )
            self._sleep(pause)
            pause = min(pause * 2, self.poll_interval_s)

    def model_data_from_training_job(self, training_job_name: str) -> str:
        """The ``s3://`` URL of a Completed training job's model artifacts."""
        try:
            job = self.calls.call(
                self.client.describe_training_job, TrainingJobName=training_job_name
            )
        except ControlPlaneError as exc:
            if is_not_found(exc):
                raise HostingError(
                    f"training job {training_job_name!r}: expected an existing job, got "
                    f"'{error_message(exc)}'. Check the name and the region "
                    f"({getattr(self.client.meta, 'region_name', None)})"
                ) from exc
            raise HostingError(
                f"DescribeTrainingJob {training_job_name!r} failed: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        status = job.get("TrainingJobStatus")
        if status != "Completed":
            reason = job.get("FailureReason")
            detail = f" ({reason})" if reason else ""
            raise HostingError(
                f"training job {training_job_name!r}: expected status Completed, got "
                f"{status}{detail}. Wait for the job to finish, or deploy a model that did"
            )
        url = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not url:
            raise HostingError(
                f"training job {training_job_name!r} is Completed but reports no "
                "ModelArtifacts.S3ModelArtifacts; pass the model's S3 path to "
                "from_model_s3_path instead"
            )
        return str(url)

    # -- internals ---------------------------------------------------------------------

    def _create(
        self, created: CreatedResources, action: str, method: Callable[..., Any], **kwargs: Any
    ) -> None:
        try:
            self.calls.call(method, idempotent=False, **kwargs)
        except TransportError as exc:
            raise EndpointCreationError(
                f"{action} failed: the connection broke ({exc}), so SageMaker may or may not "
                f"have created {_created_name(kwargs)!r}; check for it. "
                f"{_cleanup_hint(created)}",
                created,
            ) from exc
        except ControlPlaneError as exc:
            raise EndpointCreationError(
                f"{action} failed: {error_code(exc)}: {error_message(exc)}. "
                f"{_cleanup_hint(created)}",
                created,
            ) from exc

    def _record_identity(self, created: CreatedResources, kind: ResourceKind) -> None:
        """Keeps the new resource's ARN and creation time in ``created``, so that a replay
        of its manifest can tell it from one created later under the same name (the
        endpoint's come from the DescribeEndpoint calls that wait for InService).
        Bookkeeping only: a failure is logged, never raised."""
        calls, name = kind.calls, created.name_of(kind)
        try:
            description = self.calls.call(
                getattr(self.client, calls.describe_method), **{calls.name_key: name}
            )
        except Exception as exc:  # whatever the client raised, the resource exists
            log.warning(
                "could not describe %s %r after creating it (%s); cleaning it up from a "
                "manifest will need --force-unverified",
                kind.value,
                name,
                exc,
            )
            return
        created.record_identity(kind, description)

    def _describe(self, endpoint_name: str, created: CreatedResources) -> dict[str, Any]:
        try:
            return self.calls.call(self.client.describe_endpoint, EndpointName=endpoint_name)
        except ControlPlaneError as exc:
            raise EndpointCreationError(
                f"DescribeEndpoint {endpoint_name!r} failed while waiting for InService: "
                f"{error_code(exc) or exc.kind}: {error_message(exc)}. "
                f"{_cleanup_hint(created)}",
                created,
            ) from exc


def region_of(client: Any) -> str | None:
    """The region a boto3 client was made for (``None`` for a stand-in without one)."""
    return getattr(getattr(client, "meta", None), "region_name", None)


def tag_list_of(created: CreatedResources) -> list[dict[str, str]]:
    """``created``'s tags as the SageMaker API takes them."""
    return [{"Key": k, "Value": v} for k, v in created.tags.items()]


def _merge_tags(tags: Mapping[str, str] | None, run_id: str) -> dict[str, str]:
    merged = {str(k): str(v) for k, v in (tags or {}).items()}
    if RUN_ID_TAG in merged:
        raise ValueError(f"tags: {RUN_ID_TAG!r} is set by endpoint-serde itself; remove it")
    merged[RUN_ID_TAG] = run_id
    if len(merged) > MAX_TAGS:
        raise ValueError(
            f"tags: SageMaker allows {MAX_TAGS} tags per resource, got {len(merged)} "
            f"(including {RUN_ID_TAG!r})"
        )
    return merged


def _created_name(kwargs: Mapping[str, Any]) -> str:
    for key in ("EndpointName", "EndpointConfigName", "ModelName"):
        if key in kwargs:
            return str(kwargs[key])
    return "?"


def _cleanup_hint(created: CreatedResources) -> str:
    if not created:
        return "Nothing was created."
    return (
        f"Created so far: {created.describe()}; delete them with "
        "SageMakerResourceCleanup(client).delete_resources(error.created)."
    )
