"""Deleting exactly the SageMaker resources and S3 objects a run created, safely and
repeatably.

:class:`SageMakerResourceCleanup` deletes what it is given — a
:class:`~endpoints.lifecycle.resources.CreatedResources` or single names — and nothing else:

* order: a transform job first (stopping it stops its billing), then endpoints, endpoint
  configs, models (what uses a thing goes first), and S3 prefixes last, once no job writes
  under them;
* transform jobs cannot be deleted: a running one is stopped (StopTransformJob) and waited
  for until it has ended, reported ``stopped``; one that had already ended bills nothing and
  is reported ``already gone``;
* S3 prefixes: every object under ``s3://bucket/prefix/`` is deleted (ListObjectsV2 pages,
  DeleteObjects in batches of 1,000), through an ``s3_client`` the caller gives;
* idempotent: a resource that is already gone counts as done, so running cleanup twice, or
  after a crash half-way through, is fine;
* patient: throttling (SageMaker's and S3's ``SlowDown``) and dropped connections are
  retried with backoff, every call through one :class:`ControlPlaneCalls`;
* complete: every deletion is tried even after one fails (except S3 prefixes while a job
  that failed to stop may still write under them); a :class:`CleanupReport` says what
  happened to each, and :class:`~endpoints.errors.CleanupError` (carrying the report) is
  raised only at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError

from endpoints.errors import CleanupError
from endpoints.failures import error_code, error_message, is_not_found
from endpoints.lifecycle.hosting import ControlPlaneCalls, ControlPlaneError
from endpoints.lifecycle.resources import CreatedResources, ResourceKind, ResourceRef, S3Prefix
from endpoints.retry import RetryPolicy

__all__ = [
    "RUNNING_JOB_STATUSES",
    "S3_DELETE_BATCH",
    "CleanupReport",
    "Outcome",
    "ResourceOutcome",
    "SageMakerResourceCleanup",
    "object_key_pages",
]

log = logging.getLogger(__name__)

#: DeleteObjects takes at most this many keys per call.
S3_DELETE_BATCH = 1000
#: Transform job statuses in which the job still runs (and bills); the others are final.
RUNNING_JOB_STATUSES = frozenset({"InProgress", "Stopping"})


class Outcome(str, Enum):
    """What cleanup did to one resource.

    ``STOPPED`` is for transform jobs, which SageMaker never deletes: this cleanup stopped
    the job (or waited for a stop already under way) and it has ended. A job that had ended
    before cleanup came (Completed, Failed, Stopped) is ``ALREADY_GONE``: it bills nothing
    and nothing more can be done to it, like any other resource already deleted."""

    DELETED = "deleted"
    STOPPED = "stopped"
    ALREADY_GONE = "already gone"
    FAILED = "failed"


@dataclass(frozen=True)
class ResourceOutcome:
    """What happened to one resource. ``reason`` explains a failure, or adds what the
    outcome alone does not say (how many objects a prefix held, how a job had ended)."""

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
    def stopped(self) -> list[ResourceRef]:
        return self._named(Outcome.STOPPED)

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
        has_job = any(o.ref.kind is ResourceKind.TRANSFORM_JOB for o in self.outcomes)
        stopped = f"{len(self.stopped)} stopped, " if has_job else ""
        lines = [
            f"cleanup: {len(self.deleted)} deleted, {stopped}{len(self.already_gone)} already "
            f"gone, {len(self.failed)} failed"
        ]
        for o in self.outcomes:
            reason = f": {o.reason}" if o.reason else ""
            lines.append(f"  {o.ref.kind.value:<16} {o.ref.name:<63} {o.outcome.value}{reason}")
        return "\n".join(lines)


class SageMakerResourceCleanup:
    """Stops transform jobs and deletes SageMaker endpoints, endpoint configs, models and
    the objects under S3 prefixes it is given.

    Args:
        sagemaker_client: a boto3 ``sagemaker`` client.
        s3_client: a boto3 ``s3`` client, needed only to delete S3 prefixes; without one,
            each prefix fails with a reason saying to pass it (never silently skipped).
        wait_for_endpoint_deletion: after DeleteEndpoint, wait until the endpoint is gone
            (it stays ``Deleting`` for a while on AWS; waiting means its name is free and
            billing has stopped when this returns).
        max_attempts: attempts per call when throttled.
        retry_policy: the whole :class:`RetryPolicy` instead (it overrides ``max_attempts``
            and the backoff arguments).
        deletion_timeout_s: how long to wait for an endpoint to disappear, or for a stopped
            transform job to end. A stopped job is always waited for: until it has ended it
            may still write output under the prefixes deleted after it.
        sleep: how to wait between retries and polls.
        clock: what the waits' deadlines are measured on (tests pass one that ``sleep``
            advances).

    Example::

        report = SageMakerResourceCleanup(sm).delete_resources(model.created_resources)
        print(report)  # cleanup: 3 deleted, 0 already gone, 0 failed ...
    """

    def __init__(
        self,
        sagemaker_client: Any,
        *,
        s3_client: Any = None,
        wait_for_endpoint_deletion: bool = False,
        max_attempts: int = 8,
        deletion_timeout_s: float = 900.0,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = sagemaker_client
        self.s3_client = s3_client
        self.wait_for_endpoint_deletion = wait_for_endpoint_deletion
        self.deletion_timeout_s = deletion_timeout_s
        self._sleep = sleep
        self._clock = clock
        self.calls = ControlPlaneCalls(
            retry_policy
            or RetryPolicy(
                max_attempts=max_attempts,
                backoff_base_s=backoff_base_s,
                backoff_max_s=backoff_max_s,
            ),
            sleep=sleep,
            clock=clock,
        )

    # -- public ------------------------------------------------------------------------

    def delete_resources(self, created: CreatedResources | None) -> CleanupReport:
        """Deletes everything ``created`` lists (nothing, if it is empty or None).

        Raises ``ValueError`` before any call if an S3 prefix is not one folder of a bucket
        (see :class:`~endpoints.lifecycle.resources.S3Prefix`), and :class:`CleanupError`
        with the report if any deletion failed, after all of them were tried.
        """
        refs = created.refs() if created else []
        return self.delete_all(refs)

    def delete_all(self, refs: Iterable[ResourceRef]) -> CleanupReport:
        """Deletes ``refs`` in dependency order; same contract as :meth:`delete_resources`.

        While a transform job has not been seen to end (its stop failed or timed out), no S3
        prefix is deleted: the job could write output under one afterwards, and the report
        would say deleted over objects that bill on. Those prefixes fail with that reason,
        and the next cleanup deletes them."""
        ordered = sorted(set(refs))
        retries_before = self.calls.retries
        outcomes: list[ResourceOutcome] = []
        running: list[str] = []
        for ref in ordered:
            if ref.kind is ResourceKind.S3_PREFIX and running:
                outcomes.append(
                    self._failed(
                        ref,
                        f"not deleted while transform job {', '.join(running)} may still "
                        "write under it; run the cleanup again once the job has ended",
                    )
                )
                continue
            outcome = self._delete(ref)
            if ref.kind is ResourceKind.TRANSFORM_JOB and not outcome.ok:
                running.append(repr(ref.name))
            outcomes.append(outcome)
        report = CleanupReport(outcomes)
        report.retries = self.calls.retries - retries_before
        if not report.ok:
            failed = "; ".join(f"{o.ref}: {o.reason}" for o in report.failed)
            raise CleanupError(
                f"cleanup failed for {len(report.failed)} of {len(report.outcomes)} resources "
                f"({failed}). The rest were deleted or already gone; run the cleanup again "
                "to retry, or delete them in the AWS console",
                report,
            )
        return report

    def delete_endpoint(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.ENDPOINT, name))

    def delete_endpoint_config(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.ENDPOINT_CONFIG, name))

    def delete_model(self, name: str) -> ResourceOutcome:
        return self._delete_one(ResourceRef(ResourceKind.MODEL, name))

    def stop_transform_job(self, name: str) -> ResourceOutcome:
        """Stops the job if it runs and waits until it has ended."""
        return self._delete_one(ResourceRef(ResourceKind.TRANSFORM_JOB, name))

    def delete_s3_prefix(self, uri: str) -> ResourceOutcome:
        """Deletes every object under ``s3://bucket/prefix/`` (``ValueError`` for a URI
        that is not one folder of a bucket)."""
        return self._delete_one(ResourceRef(ResourceKind.S3_PREFIX, uri))

    # -- internals ---------------------------------------------------------------------

    def _delete_one(self, ref: ResourceRef) -> ResourceOutcome:
        outcome = self._delete(ref)
        if not outcome.ok:
            raise CleanupError(
                f"could not delete {ref}: {outcome.reason}", CleanupReport([outcome])
            )
        return outcome

    def _delete(self, ref: ResourceRef) -> ResourceOutcome:
        try:
            if ref.kind is ResourceKind.TRANSFORM_JOB:
                return self._stop_transform_job(ref)
            if ref.kind is ResourceKind.S3_PREFIX:
                return self._delete_s3_prefix(ref)
            return self._delete_hosting_resource(ref)
        except ControlPlaneError as exc:
            if is_not_found(exc):
                log.info("%s is already gone", ref)
                return ResourceOutcome(ref, Outcome.ALREADY_GONE)
            return self._failed(ref, f"{error_code(exc)}: {error_message(exc)}{self._gave_up()}")
        except BotoCoreError as exc:
            return self._failed(ref, f"{type(exc).__name__}: {exc}{self._gave_up()}")

    def _delete_hosting_resource(self, ref: ResourceRef) -> ResourceOutcome:
        api = ref.kind.calls
        self.calls.call(getattr(self.client, api.delete_method), **{api.name_key: ref.name})
        log.info("deleted %s", ref)
        if ref.kind is ResourceKind.ENDPOINT and self.wait_for_endpoint_deletion:
            problem = self._wait_until_gone(ref.name)
            if problem:
                return self._failed(ref, problem)
        return ResourceOutcome(ref, Outcome.DELETED)

    # -- transform jobs: stopped, never deleted -----------------------------------------

    def _job_status(self, name: str) -> str:
        answer = self.calls.call(self.client.describe_transform_job, TransformJobName=name)
        return str(answer.get("TransformJobStatus"))

    def _stop_transform_job(self, ref: ResourceRef) -> ResourceOutcome:
        """Describe first, so a job that has ended is left alone (StopTransformJob on it is
        a ValidationException); a job that ends between Describe and Stop is told apart
        from a refused stop by describing it again."""
        status = self._job_status(ref.name)
        if status == "InProgress":
            try:
                self.calls.call(self.client.stop_transform_job, TransformJobName=ref.name)
            except ControlPlaneError as exc:
                if is_not_found(exc):
                    raise
                status = self._job_status(ref.name)
                if status in RUNNING_JOB_STATUSES:
                    raise
            else:
                log.info("stopping %s", ref)
        if status not in RUNNING_JOB_STATUSES:
            log.info("%s had already ended: %s", ref, status)
            return ResourceOutcome(ref, Outcome.ALREADY_GONE, _ended(status))
        problem, final = self._wait_until_ended(ref.name)
        if problem:
            return self._failed(ref, problem)
        log.info("%s ended: %s", ref, final)
        note = None if final == "Stopped" else f"it ended {final} before the stop took effect"
        return ResourceOutcome(ref, Outcome.STOPPED, note)

    def _wait_until_ended(self, name: str) -> tuple[str | None, str]:
        """(None, final status) once the job has left InProgress/Stopping; otherwise why we
        stopped waiting."""
        status = "Stopping"
        for _ in self._polls():
            try:
                status = self._job_status(name)
            except ControlPlaneError as exc:
                return (
                    f"StopTransformJob was accepted, but {error_code(exc)}: {error_message(exc)}",
                    status,
                )
            if status not in RUNNING_JOB_STATUSES:
                return None, status
            log.info("transform job %s: %s", name, status)
        return (
            f"StopTransformJob was accepted, but the job was still {status} after "
            f"{self.deletion_timeout_s:g}s (it bills until it ends); run the cleanup again "
            "later",
            status,
        )

    # -- S3 prefixes: every object under them -------------------------------------------

    def _delete_s3_prefix(self, ref: ResourceRef) -> ResourceOutcome:
        if self.s3_client is None:
            return self._failed(
                ref,
                "no S3 client to delete its objects with: pass s3_client= (a boto3 's3' "
                "client for the bucket's account and region; the local endpoint host's is "
                "host.s3_client()) to SageMakerResourceCleanup",
            )
        prefix = S3Prefix.parse(ref.name)
        deleted = 0
        try:
            for keys in object_key_pages(self.s3_client, prefix, self.calls):
                for start in range(0, len(keys), S3_DELETE_BATCH):
                    batch = keys[start : start + S3_DELETE_BATCH]
                    answer = self.calls.call(
                        self.s3_client.delete_objects,
                        Bucket=prefix.bucket,
                        Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                    )
                    errors = answer.get("Errors") or []
                    deleted += len(batch) - len(errors)
                    if errors:
                        first = errors[0]
                        return self._failed(
                            ref,
                            f"DeleteObjects refused {len(errors)} of {len(batch)} objects "
                            f"(first: {first.get('Key')!r}: {first.get('Code')}: "
                            f"{first.get('Message')}) after {deleted} were deleted; check "
                            "the client's s3:DeleteObject permission and run the cleanup again",
                        )
        except ControlPlaneError as exc:
            if error_code(exc) == "NoSuchBucket" and not deleted:
                log.info("%s is already gone: no bucket %s", ref, prefix.bucket)
                return ResourceOutcome(ref, Outcome.ALREADY_GONE, "no such bucket")
            done = f" after {deleted} objects were deleted" if deleted else ""
            return self._failed(
                ref, f"{error_code(exc)}: {error_message(exc)}{self._gave_up()}{done}"
            )
        if not deleted:
            log.info("%s is already gone: no objects under it", ref)
            return ResourceOutcome(ref, Outcome.ALREADY_GONE)
        log.info("deleted %d objects under %s", deleted, ref.name)
        return ResourceOutcome(ref, Outcome.DELETED, f"{deleted} object{'s' * (deleted != 1)}")

    def _gave_up(self) -> str:
        attempts = self.calls.last_attempts
        return f" (gave up after {attempts} attempts)" if attempts > 1 else ""

    def _failed(self, ref: ResourceRef, reason: str) -> ResourceOutcome:
        log.warning("could not delete %s: %s", ref, reason)
        return ResourceOutcome(ref, Outcome.FAILED, reason)

    def _polls(self) -> Iterator[None]:
        """One step per poll: at once, then after pauses doubling from 0.5 s up to 15 s, as
        long as the next one falls within ``deletion_timeout_s``."""
        deadline = self._clock() + self.deletion_timeout_s
        pause = 0.5
        while True:
            yield
            if self._clock() + pause > deadline:
                return
            self._sleep(pause)
            pause = min(pause * 2, 15.0)

    def _wait_until_gone(self, endpoint_name: str) -> str | None:
        """None once DescribeEndpoint says not found; otherwise why we stopped waiting."""
        for _ in self._polls():
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
            log.info("endpoint %s: Deleting", endpoint_name)
        return (
            f"DeleteEndpoint was accepted, but the endpoint was still Deleting after "
            f"{self.deletion_timeout_s:g}s"
        )


def _ended(status: str) -> str:
    return f"it had ended ({status}); SageMaker keeps a finished job's record, which bills nothing"


def object_key_pages(
    s3_client: Any, prefix: S3Prefix, calls: ControlPlaneCalls, *, page_size: int = 1000
) -> Iterator[list[str]]:
    """The keys under ``prefix``, one ListObjectsV2 page at a time, each call retried when
    throttled. Deleting a page's keys before asking for the next is safe (as ``aws s3 rm
    --recursive`` does): the continuation token marks where the listing stopped, not how
    many keys it passed."""
    token: str | None = None
    while True:
        page = calls.call(
            s3_client.list_objects_v2,
            Bucket=prefix.bucket,
            Prefix=prefix.key_prefix,
            MaxKeys=page_size,
            **({"ContinuationToken": token} if token else {}),
        )
        keys = [item["Key"] for item in page.get("Contents") or []]
        if keys:
            yield keys
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if not token:
            return
