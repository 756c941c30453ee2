"""Deleting exactly the SageMaker resources a run created, safely and repeatably.

:class:`SageMakerResourceCleanup` deletes what it is given — a
:class:`~endpoints.lifecycle.resources.CreatedResources` or single names — and nothing else:

* order: endpoints, then endpoint configs, then models (what uses a thing goes first);
* idempotent: a resource that is already gone counts as done, so running cleanup twice, or
  after a crash half-way through, is fine;
* patient: throttling (and dropped connections) are retried with backoff;
* complete: every deletion is tried even after one fails; a :class:`CleanupReport` says
  what happened to each, and :class:`~endpoints.errors.CleanupError` (carrying the report)
  is raised only at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError

from endpoints.errors import CleanupError
from endpoints.failures import error_code, error_message, is_not_found
from endpoints.lifecycle.hosting import ControlPlaneCalls, ControlPlaneError
from endpoints.lifecycle.resources import CreatedResources, ResourceKind, ResourceRef
from endpoints.retry import RetryPolicy

__all__ = [
    "CleanupReport",
    "Outcome",
    "ResourceOutcome",
    "SageMakerResourceCleanup",
]

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    DELETED = "deleted"
    ALREADY_GONE = "already gone"
    FAILED = "failed"


@dataclass(frozen=True)
class ResourceOutcome:
    """What happened to one resource; ``reason`` explains a failure."""

    ref: ResourceRef
    outcome: Outcome
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.ref.kind.value,
            "name": self.ref.name,
            "outcome": self.outcome.value,
            "reason": self.reason,
        }


@dataclass
class CleanupReport:
    """One :class:`ResourceOutcome` per resource, in the order they were handled."""

    outcomes: list[ResourceOutcome] = field(default_factory=list)
    retries: int = 0

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def _named(self, outcome: Outcome) -> list[ResourceRef]:
        return [o.ref for o in self.outcomes if o.outcome is outcome]

    @property
    def deleted(self) -> list[ResourceRef]:
        return self._named(Outcome.DELETED)

    @property
    def already_gone(self) -> list[ResourceRef]:
        return self._named(Outcome.ALREADY_GONE)

    @property
    def failed(self) -> list[ResourceOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.FAILED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "retries": self.retries,
            "resources": [o.to_dict() for o in self.outcomes],
        }

    def __str__(self) -> str:
        if not self.outcomes:
            return "cleanup: nothing to delete"
        lines = [
            f"cleanup: {len(self.deleted)} deleted, {len(self.already_gone)} already gone, "
            f"{len(self.failed)} failed"
        ]
        for o in self.outcomes:
            reason = f": {o.reason}" if o.reason else ""
            lines.append(f"  {o.ref.kind.value:<16} {o.ref.name:<63} {o.outcome.value}{reason}")
        return "\n".join(lines)


class SageMakerResourceCleanup:
    """Deletes SageMaker endpoints, endpoint configs and models it is given.

    Args:
        sagemaker_client: a boto3 ``sagemaker`` client.
        wait_for_endpoint_deletion: after DeleteEndpoint, wait until the endpoint is gone
            (it stays ``Deleting`` for a while on AWS; waiting means its name is free and
            billing has stopped when this returns).
        max_attempts: attempts per call when throttled.
        retry_policy: the whole :class:`RetryPolicy` instead (it overrides ``max_attempts``
            and the backoff arguments).
        deletion_timeout_s: how long to wait for an endpoint to disappear.
        sleep: how to wait between retries and polls.

    Example::

        report = SageMakerResourceCleanup(sm).delete_resources(model.created_resources)
        print(report)  # cleanup: 3 deleted, 0 already gone, 0 failed ...
    """

    def __init__(
        self,
        sagemaker_client: Any,
        *,
        wait_for_endpoint_deletion: bool = False,
        max_attempts: int = 8,
        deletion_timeout_s: float = 900.0,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = sagemaker_client
        self.wait_for_endpoint_deletion = wait_for_endpoint_deletion
        self.deletion_timeout_s = deletion_timeout_s
        self._sleep = sleep
        self.calls = ControlPlaneCalls(
            retry_policy
            or RetryPolicy(
                max_attempts=max_attempts,
                backoff_base_s=backoff_base_s,
                backoff_max_s=backoff_max_s,
            ),
            sleep=sleep,
        )

    # -- public ------------------------------------------------------------------------

    def delete_resources(self, created: CreatedResources | None) -> CleanupReport:
        """Deletes everything ``created`` lists (nothing, if it is empty or None).

        Raises :class:`CleanupError` with the report if any deletion failed, after all of
        them were tried.
        """
        refs = created.refs() if created else []
        return self.delete_all(refs)

    def delete_all(self, refs: Iterable[ResourceRef]) -> CleanupReport:
        """Deletes ``refs`` in dependency order; same contract as :meth:`delete_resources`."""
        ordered = sorted(set(refs))
        retries_before = self.calls.retries
        report = CleanupReport([self._delete(ref) for ref in ordered])
        report.retries = self.calls.retries - retries_before
        if not report.ok:
            failed = "; ".join(f"{o.ref}: {o.reason}" for o in report.failed)
            raise CleanupError(
                f"cleanup failed for {len(report.failed)} of {len(report.outcomes)} resources "
                f"({failed}). The rest were deleted or already gone; run the cleanup again "
                "to retry, or delete them in the SageMaker console",
                report,
            )
        return report

    def delete_endpoint(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.ENDPOINT, name))

    def delete_endpoint_config(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.ENDPOINT_CONFIG, name))

    def delete_model(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.MODEL, name))

    # -- internals ---------------------------------------------------------------------

    def _delete_one(self, ref: ResourceRef) -> ResourceOutcome:
        outcome = self._delete(ref)
        if not outcome.ok:
            raise CleanupError(
                f"could not delete {ref}: {outcome.reason}", CleanupReport([outcome])
            )
        return outcome

    def _delete(self, ref: ResourceRef) -> ResourceOutcome:
        api = ref.kind.calls
        method_name, key = api.delete_method, api.name_key
        try:
            self.calls.call(getattr(self.client, method_name), **{key: ref.name})
        except ControlPlaneError as exc:
            if is_not_found(exc):
                log.info("%s is already gone", ref)
                return ResourceOutcome(ref, Outcome.ALREADY_GONE)
            return self._failed(ref, f"{error_code(exc)}: {error_message(exc)}{self._gave_up()}")
        except BotoCoreError as exc:
            return self._failed(ref, f"{type(exc).__name__}: {exc}{self._gave_up()}")
        log.info("deleted %s", ref)
        if ref.kind is ResourceKind.ENDPOINT and self.wait_for_endpoint_deletion:
            problem = self._wait_until_gone(ref.name)
            if problem:
                return self._failed(ref, problem)
        return ResourceOutcome(ref, Outcome.DELETED)

    def _gave_up(self) -> str:
        attempts = self.calls.last_attempts
        return f" (gave up after {attempts} attempts)" if attempts > 1 else ""

    def _failed(self, ref: ResourceRef, reason: str) -> ResourceOutcome:
        log.warning("could not delete %s: %s", ref, reason)
        return ResourceOutcome(ref, Outcome.FAILED, reason)

    def _wait_until_gone(self, endpoint_name: str) -> str | None:
        """None once DescribeEndpoint says not found; otherwise why we stopped waiting."""
        deadline = time.monotonic() + self.deletion_timeout_s
        pause = 0.5
        while True:
            try:
                status = self.calls.call(
                    self.client.describe_endpoint, EndpointName=endpoint_name
                ).get("EndpointStatus")
            except ControlPlaneError as exc:
                if is_not_found(exc):
                    return None
                return f"DeleteEndpoint was accepted, but {error_code(exc)}: {error_message(exc)}"
            if status != "Deleting":
                return f"DeleteEndpoint was accepted, but the endpoint is {status}, not Deleting"
            if time.monotonic() + pause > deadline:
                return (
                    f"DeleteEndpoint was accepted, but the endpoint was still Deleting after "
                    f"{self.deletion_timeout_s:g}s"
                )
            log.info("endpoint %s: Deleting", endpoint_name)
            self._sleep(pause)
            pause = min(pause * 2, 15.0)
