"""What ``endpoints-cleanup`` may delete: selectors, the library's own tag, manifest checks.

Three rules keep a cleanup from deleting what nobody asked it to:

* **Only the library's own resources.** ``--prefix`` and ``--tag`` match names and tags
  that anyone can use, so they select only resources carrying the
  :data:`~endpoints.lifecycle.resources.RUN_ID_TAG` tag the library puts on everything it
  creates. A matching resource without it is reported as skipped, and selected only when
  the user says so by name (``include_untagged``).
* **Age narrows, never selects.** ``older_than`` alone would match every resource in the
  account; it must come with a manifest, a prefix or a tag.
* **A manifest names resources as they were.** After a cleanup anyone may create another
  resource under the same name, so a manifest's resource is deleted only if it still is
  the one the run created: same run-id tag, same ARN, same creation time (within
  :data:`CREATION_TIME_TOLERANCE`). One that differs is skipped and reported. One the
  manifest cannot vouch for (a manifest written before identities were recorded, or by
  hand) is skipped too unless ``force_unverified``; a recorded value that differs always
  skips.
* **S3 prefixes ride on their manifest.** S3 objects carry no run-id tag, ARN or creation
  time to check, and no name a prefix or tag selector could match: they come only from a
  manifest, and are deleted only when a SageMaker resource of the same manifest still
  exists and verifies as that run's (a finished transform job keeps its record, so a
  Batch Transform run can always be verified by its job), or with ``force_unverified``.
  Narrowing selectors keep a manifest's prefixes when they keep any of its SageMaker
  resources.
* **Transform jobs are stopped, not deleted.** ``prefix`` and ``tag`` select only running
  ones (InProgress, Stopping): a finished job bills nothing and cannot be removed, so
  listing every one an account ever ran would only be noise. A manifest's job is looked
  up whatever its status, as it is what vouches for the run's S3 prefixes.

Skipped resources come back as :class:`Candidate` with ``skipped`` set to the reason, so
the caller shows them; nothing is ever deleted here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from endpoints.errors import ConfigurationError
from endpoints.failures import error_code, is_not_found
from endpoints.lifecycle.cleanup import RUNNING_JOB_STATUSES, object_key_pages
from endpoints.lifecycle.hosting import ControlPlaneCalls, ControlPlaneError
from endpoints.lifecycle.resources import (
    RUN_ID_TAG,
    CreatedResources,
    ResourceKind,
    ResourceRef,
    S3Prefix,
)

__all__ = [
    "CREATION_TIME_TOLERANCE",
    "S3_UNVERIFIED",
    "Candidate",
    "Selection",
    "UsageError",
    "select",
    "verify_against_manifest",
]

#: How far a resource's CreationTime may be from the one its manifest recorded (both come
#: from SageMaker; the slack only absorbs rounding between its List and Describe answers).
CREATION_TIME_TOLERANCE = timedelta(seconds=1)
#: ListX's NameContains accepts only these characters; other prefixes are matched here.
_NAME_CONTAINS_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class UsageError(ConfigurationError):
    """Selectors that cannot be used as given (the CLI's exit status 2)."""


@dataclass(frozen=True)
class Candidate:
    """A resource that exists (``arn`` set) or that a manifest names but is gone.

    ``skipped`` says why a resource that matched the selectors will not be deleted;
    ``status`` is a transform job's (InProgress, Stopping, Completed...). An S3 prefix with
    objects under it has the ARN that names them, ``arn:aws:s3:::bucket/prefix/*``."""

    ref: ResourceRef
    arn: str | None = None
    created: datetime | None = None
    skipped: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Selection:
    """Selectors; given together, a resource must match all of them."""

    manifests: tuple[CreatedResources, ...] = ()
    prefix: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    older_than: timedelta | None = None
    #: also select resources without the library's run-id tag (``--prefix`` / ``--tag``)
    include_untagged: bool = False
    #: delete a manifest's resources even where it records too little to verify them
    force_unverified: bool = False

    def __bool__(self) -> bool:
        return bool(self.manifests or self.prefix or self.tags or self.older_than is not None)

    def check(self) -> None:
        """Raises :class:`UsageError` for selectors that would select too much or mean
        nothing."""
        if self.prefix == "":
            raise UsageError("--prefix must not be empty (it would match every resource)")
        if not self:
            raise UsageError(
                "no selector given: pass --manifest FILE, --prefix P and/or --tag KEY=VALUE "
                "(--older-than AGE narrows them); endpoints-cleanup never deletes everything "
                "by default"
            )
        if not (self.manifests or self.prefix or self.tags):
            raise UsageError(
                "--older-than only narrows a selection: alone it would select every resource "
                "in the account. Add --manifest FILE, --prefix P or --tag KEY=VALUE"
            )
        if self.include_untagged and not (self.prefix or self.tags):
            raise UsageError(
                "--include-untagged widens --prefix and --tag, and neither is given; a "
                "manifest's resources are verified instead (see --force-unverified)"
            )
        if self.force_unverified and not self.manifests:
            raise UsageError("--force-unverified applies to --manifest, and none is given")


def select(
    client: Any,
    selection: Selection,
    *,
    calls: ControlPlaneCalls | None = None,
    now: datetime | None = None,
    s3_client: Any = None,
) -> list[Candidate]:
    """The resources matching every selector, in deletion order, those that must not be
    deleted marked ``skipped``. Without manifests, lists every SageMaker kind (narrowed by
    name server-side when a prefix allows it; transform jobs only while running); with
    them, only the kinds they name, and their transform jobs and S3 prefixes one by one
    (``s3_client`` looks under each prefix). Tags are fetched only for resources that
    passed the other selectors, and only when a rule needs them."""
    selection.check()
    calls = calls or ControlPlaneCalls()
    now = now or datetime.now(timezone.utc)
    recorded: dict[ResourceRef, list[CreatedResources]] = {}
    for manifest in selection.manifests:
        for ref in manifest.refs():
            recorded.setdefault(ref, []).append(manifest)
    on_sagemaker = [ref for ref in recorded if ref.kind.on_sagemaker]
    pool: Iterable[Candidate]
    if selection.manifests:  # exactly what they name: never a listing's other resources
        found = {c.ref: c for c in _find_recorded(client, calls, selection.prefix, on_sagemaker)}
        pool = [found.get(ref, Candidate(ref)) for ref in on_sagemaker]
    else:
        pool = _list_all(client, calls, selection.prefix)

    chosen: list[Candidate] = []
    kept: set[int] = set()  # manifests (by id) with a resource the selectors kept
    vouched: set[int] = set()  # manifests with a resource that verified as the run's
    for candidate in pool:
        if selection.prefix and not candidate.ref.name.startswith(selection.prefix):
            continue
        if selection.older_than is not None and not (
            candidate.created and candidate.created <= now - selection.older_than
        ):
            continue
        manifests = recorded.get(candidate.ref, [])
        if candidate.arn is None:  # named by a manifest, already gone: nothing to verify
            kept.update(map(id, manifests))
            chosen.append(candidate)
            continue
        needs_tags = bool(manifests or selection.tags or not selection.include_untagged)
        tags = _tags(client, calls, candidate.arn) if needs_tags else {}
        if any(tags.get(key) != value for key, value in selection.tags):
            continue
        kept.update(map(id, manifests))
        if manifests:
            vouched.update(
                id(m) for m in manifests if verify_against_manifest(m, candidate, tags) is None
            )
            reason = _first_failure(
                verify_against_manifest(
                    m, candidate, tags, force_unverified=selection.force_unverified
                )
                for m in manifests
            )
        elif RUN_ID_TAG not in tags and not selection.include_untagged:
            reason = (
                f"carries no {RUN_ID_TAG} tag, so endpoint-serde did not create it; "
                "--include-untagged selects it too"
            )
        else:
            reason = None
        chosen.append(replace(candidate, skipped=reason))

    narrowed = bool(selection.prefix or selection.tags or selection.older_than is not None)
    for ref, manifests in recorded.items():
        if ref.kind is not ResourceKind.S3_PREFIX:
            continue
        if narrowed and not any(id(m) in kept for m in manifests):
            continue
        verified = selection.force_unverified or any(id(m) in vouched for m in manifests)
        chosen.append(_s3_candidate(s3_client, calls, ref, verified))
    return sorted(chosen, key=lambda c: c.ref)


#: Why a manifest's S3 prefix is skipped when nothing vouches for it (empty or not).
S3_UNVERIFIED = (
    f"S3 objects carry no {RUN_ID_TAG} tag to verify: a manifest's S3 prefixes are deleted "
    "only while a SageMaker resource it names still exists and matches it (run-id tag, ARN, "
    "creation time), and none does; --force-unverified deletes them"
)


def _s3_candidate(
    s3_client: Any, calls: ControlPlaneCalls, ref: ResourceRef, verified: bool
) -> Candidate:
    """The prefix as found: gone when no object is under it (or its bucket is gone). An
    unverified one is skipped even while empty: someone else's job may write there before
    the deletion runs."""
    if not verified:
        return Candidate(ref, skipped=S3_UNVERIFIED)
    if s3_client is None:
        return Candidate(
            ref, skipped="cannot look under it: no S3 client given (select(s3_client=...))"
        )
    prefix = S3Prefix.parse(ref.name)
    try:
        present = next(object_key_pages(s3_client, prefix, calls, page_size=1), [])
    except ControlPlaneError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        present = []
    if not present:
        return Candidate(ref)
    return Candidate(ref, f"arn:aws:s3:::{prefix.bucket}/{prefix.key_prefix}*")


def verify_against_manifest(
    manifest: CreatedResources,
    found: Candidate,
    tags: Mapping[str, str],
    *,
    force_unverified: bool = False,
) -> str | None:
    """``None`` when ``found`` (an existing resource and its tags) is the one ``manifest``
    recorded; otherwise why it must not be deleted on the manifest's word."""
    differs: list[str] = []
    unknown: list[str] = []
    actual_run = tags.get(RUN_ID_TAG)
    if manifest.run_id is None:
        unknown.append("run id")
    elif actual_run != manifest.run_id:
        tag = f"its {RUN_ID_TAG} tag is {actual_run!r}" if actual_run else f"no {RUN_ID_TAG} tag"
        differs.append(f"{tag} (recorded {manifest.run_id!r})")
    identity = manifest.identities.get(found.ref.kind)
    if identity is None or identity.arn is None:
        unknown.append("ARN")
    elif identity.arn != found.arn:
        differs.append(f"ARN {found.arn} (recorded {identity.arn})")
    if identity is None or identity.creation_time is None:
        unknown.append("creation time")
    elif found.created is None or (
        abs(found.created - identity.creation_time) > CREATION_TIME_TOLERANCE
    ):
        differs.append(f"created {_when(found.created)} (recorded {_when(identity.creation_time)})")
    if differs:
        return (
            "not the resource the manifest recorded, maybe re-created under the same name: "
            + "; ".join(differs)
        )
    if unknown and not force_unverified:
        return (
            f"cannot verify: the manifest records no {', '.join(unknown)} for it (written "
            "by an older endpoint-serde, or by hand); --force-unverified deletes it after "
            "the checks the manifest allows"
        )
    return None


def _first_failure(reasons: Iterable[str | None]) -> str | None:
    """``None`` if any manifest vouches for the resource, else the first reason."""
    first: str | None = None
    for reason in reasons:
        if reason is None:
            return None
        first = first or reason
    return first


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "at an unknown time"
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _name_filter(prefix: str | None) -> dict[str, str]:
    narrow = prefix and set(prefix) <= _NAME_CONTAINS_SAFE
    return {"NameContains": prefix} if narrow and prefix else {}


def _list_all(client: Any, calls: ControlPlaneCalls, prefix: str | None) -> Iterator[Candidate]:
    """Every SageMaker resource whose name may start with ``prefix``; transform jobs only
    while they run."""
    for kind in ResourceKind:
        if not kind.on_sagemaker:
            continue
        if kind is ResourceKind.TRANSFORM_JOB:
            for status in sorted(RUNNING_JOB_STATUSES):
                yield from _list_kind(
                    client, calls, kind, StatusEquals=status, **_name_filter(prefix)
                )
        else:
            yield from _list_kind(client, calls, kind, **_name_filter(prefix))


def _find_recorded(
    client: Any, calls: ControlPlaneCalls, prefix: str | None, refs: list[ResourceRef]
) -> Iterator[Candidate]:
    """What exists of ``refs``: the kinds they name listed, their transform jobs described
    one by one (an account keeps every job it ever ran, so listing them all would be slow)."""
    kinds = {ref.kind for ref in refs}
    for kind in ResourceKind:
        if kind not in kinds:
            continue
        if kind is ResourceKind.TRANSFORM_JOB:
            for ref in refs:
                if ref.kind is kind:
                    yield from _describe_job(client, calls, ref)
        else:
            yield from _list_kind(client, calls, kind, **_name_filter(prefix))


def _list_kind(
    client: Any, calls: ControlPlaneCalls, kind: ResourceKind, **filters: str
) -> Iterator[Candidate]:
    api = kind.calls
    for page in _pages(calls, getattr(client, api.list_method), MaxResults=100, **filters):
        for item in page.get(api.list_key, []):
            yield _candidate(kind, item)


def _describe_job(client: Any, calls: ControlPlaneCalls, ref: ResourceRef) -> Iterator[Candidate]:
    try:
        answer = calls.call(client.describe_transform_job, TransformJobName=ref.name)
    except ControlPlaneError as exc:
        if is_not_found(exc):
            return
        raise
    yield _candidate(ref.kind, answer)


def _candidate(kind: ResourceKind, item: Mapping[str, Any]) -> Candidate:
    """From a List* summary or a Describe* answer."""
    api = kind.calls
    return Candidate(
        ResourceRef(kind, item[api.name_key]),
        item.get(api.arn_key),
        item.get("CreationTime"),
        status=item.get("TransformJobStatus"),
    )


def _pages(calls: ControlPlaneCalls, method: Callable[..., Any], **kwargs: Any) -> Iterator[dict]:
    """Every page of a NextToken-paginated call, each call throttle-retried."""
    token = None
    while True:
        page = calls.call(method, **kwargs, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _tags(client: Any, calls: ControlPlaneCalls, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in _pages(calls, client.list_tags, ResourceArn=arn):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags
