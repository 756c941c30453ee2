"""What one run created on SageMaker and in S3, so exactly that can be deleted later.

A :class:`CreatedResources` holds only names this process created — never an endpoint it
was merely pointed at — which is what makes cleanup safe to automate. A Batch Transform run
adds its transform job and the S3 prefixes it staged input and received output under. It
is written to a JSON manifest (``write_manifest``) as soon as resources exist, so a crashed
job can still be cleaned with ``endpoints-cleanup --manifest run.json``.

Names alone do not identify a resource: after a cleanup, anyone may create another one
under the same name. So the manifest also records what tells them apart — each resource's
ARN and creation time (:class:`ResourceIdentity`) and the run id every resource is tagged
with — and a replay deletes only what still matches.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_FORMAT",
    "RUN_ID_TAG",
    "CreatedResources",
    "KindCalls",
    "ResourceIdentity",
    "ResourceKind",
    "ResourceRef",
    "S3Prefix",
]

#: Tag key set on every resource this library creates; its value is the run's id.
RUN_ID_TAG = "endpoint-serde:run-id"
MANIFEST_FORMAT = "endpoint-serde/created-resources"
#: Version 1 records hosting resources only; version 2 adds a transform job and S3 prefixes,
#: and is written only when a run has them, so that an older endpoint-serde refuses such a
#: manifest ("upgrade to read it") instead of cleaning half of it and reporting success.
_HOSTING_VERSION = 1
_BATCH_VERSION = 2
_MANIFEST_VERSIONS = (_HOSTING_VERSION, _BATCH_VERSION)


class ResourceKind(str, Enum):
    """The kinds of resource a run creates, in the order cleanup handles them."""

    TRANSFORM_JOB = "transform-job"
    ENDPOINT = "endpoint"
    ENDPOINT_CONFIG = "endpoint-config"
    MODEL = "model"
    S3_PREFIX = "s3-prefix"

    @property
    def deletion_rank(self) -> int:
        """A transform job goes first: stopping it stops its billing, and it uses the model
        and the S3 prefixes. Endpoints go next (they use configs), configs before the models
        they name; S3 prefixes last, once no job reads or writes under them."""
        return list(ResourceKind).index(self)

    @property
    def on_sagemaker(self) -> bool:
        """Whether the SageMaker API holds it (an S3 prefix is a set of S3 objects: no ARN,
        no tags, deleted through an S3 client)."""
        return self is not ResourceKind.S3_PREFIX

    @property
    def calls(self) -> KindCalls:
        """How the SageMaker API spells this kind."""
        try:
            return _KIND_CALLS[self]
        except KeyError:
            raise ValueError(
                f"{self.value} is not a SageMaker resource: it has no SageMaker API calls "
                "(an S3 client lists and deletes its objects)"
            ) from None


@dataclass(frozen=True)
class KindCalls:
    """The SageMaker API's names for one resource kind, shared by whatever lists,
    describes or deletes it. ``delete_method`` is the call that ends it: for a transform
    job, which SageMaker never deletes, StopTransformJob."""

    name_key: str
    arn_key: str
    list_method: str
    list_key: str
    describe_method: str
    delete_method: str


_KIND_CALLS = {
    ResourceKind.TRANSFORM_JOB: KindCalls(
        "TransformJobName",
        "TransformJobArn",
        "list_transform_jobs",
        "TransformJobSummaries",
        "describe_transform_job",
        "stop_transform_job",
    ),
    ResourceKind.ENDPOINT: KindCalls(
        "EndpointName",
        "EndpointArn",
        "list_endpoints",
        "Endpoints",
        "describe_endpoint",
        "delete_endpoint",
    ),
    ResourceKind.ENDPOINT_CONFIG: KindCalls(
        "EndpointConfigName",
        "EndpointConfigArn",
        "list_endpoint_configs",
        "EndpointConfigs",
        "describe_endpoint_config",
        "delete_endpoint_config",
    ),
    ResourceKind.MODEL: KindCalls(
        "ModelName", "ModelArn", "list_models", "Models", "describe_model", "delete_model"
    ),
}


#: ``s3://bucket/`` and then one or more path segments, each ending in ``/``.
_S3_PREFIX_URI = re.compile(r"^s3://(?P<bucket>[^/\s]+)/(?P<key>(?:[^/]+/)+)$")


@dataclass(frozen=True)
class S3Prefix:
    """Every object whose key starts with ``key_prefix`` in ``bucket``: a run's staging
    input or a job's output.

    Parsing refuses anything wider than one folder of a bucket: cleanup deletes every object
    under the prefix, so ``s3://bucket/`` (the whole bucket) must never be one, and without
    the trailing ``/`` ``s3://bucket/run-1`` would also match ``run-10/``.
    """

    bucket: str
    key_prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Prefix:
        match = _S3_PREFIX_URI.match(uri) if isinstance(uri, str) else None
        if match is None or any(part in (".", "..") for part in match.group("key").split("/")):
            raise ValueError(
                "expected an S3 prefix such as 's3://bucket/run-1/input/' (a bucket, at least "
                "one folder, ending in '/'; cleanup deletes every object under it, so never "
                f"a whole bucket), got {uri!r}"
            )
        return cls(match.group("bucket"), match.group("key"))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key_prefix}"


@dataclass(frozen=True, order=True)
class ResourceRef:
    """One resource by kind and name; sorts in deletion order. An S3 prefix's name is its
    ``s3://bucket/prefix/`` URI, checked here (``ValueError``), so no cleanup is ever handed
    one that names a whole bucket."""

    rank: int = field(init=False, repr=False, compare=True)
    kind: ResourceKind
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ResourceKind(self.kind))
        object.__setattr__(self, "rank", self.kind.deletion_rank)
        if self.kind is ResourceKind.S3_PREFIX:
            S3Prefix.parse(self.name)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name!r}"


@dataclass(frozen=True)
class ResourceIdentity:
    """What tells a resource from another created later under its name: the ARN (same
    name, other account or region) and the creation time (same name, re-created)."""

    arn: str | None = None
    creation_time: datetime | None = None

    @classmethod
    def from_description(
        cls, kind: ResourceKind, description: Mapping[str, Any]
    ) -> ResourceIdentity:
        """From a Describe* or List* answer for ``kind`` (fields it lacks stay ``None``)."""
        arn = description.get(kind.calls.arn_key)
        created = description.get("CreationTime")
        return cls(
            arn=str(arn) if arn else None,
            creation_time=created if isinstance(created, datetime) else None,
        )


@dataclass
class CreatedResources:
    """The model, endpoint config and endpoint one deployment created (``None`` = not
    created by us), or the model, transform job and S3 prefixes of one Batch Transform run.
    Falsy when nothing was created.

    ``tags`` are the tags put on every SageMaker resource, including :data:`RUN_ID_TAG`;
    ``identities`` what tells each created SageMaker resource from a later namesake
    (recorded by the deployer as each one is created; manifests written before it did lack
    them). ``s3_prefixes`` are ``s3://bucket/prefix/`` URIs unique to the run (its staged
    input, the job's output): S3 objects carry no tags, so cleanup deletes everything under
    them on this record's word alone.
    """

    model_name: str | None = None
    endpoint_config_name: str | None = None
    endpoint_name: str | None = None
    region: str | None = None
    created_at: datetime | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    identities: dict[ResourceKind, ResourceIdentity] = field(default_factory=dict)
    transform_job_name: str | None = None
    s3_prefixes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self._named())

    def _named(self) -> list[tuple[ResourceKind, str]]:
        """(kind, name) of everything created, in deletion order, unchecked (for messages)."""
        pairs = [
            (ResourceKind.TRANSFORM_JOB, self.transform_job_name),
            (ResourceKind.ENDPOINT, self.endpoint_name),
            (ResourceKind.ENDPOINT_CONFIG, self.endpoint_config_name),
            (ResourceKind.MODEL, self.model_name),
            *((ResourceKind.S3_PREFIX, uri) for uri in dict.fromkeys(self.s3_prefixes)),
        ]
        return [(kind, name) for kind, name in pairs if name]

    def refs(self) -> list[ResourceRef]:
        """The created resources, in deletion order (transform job, endpoint, config, model,
        S3 prefixes). Raises ``ValueError`` for an S3 prefix that is not one folder of a
        bucket (see :class:`S3Prefix`)."""
        return [ResourceRef(kind, name) for kind, name in self._named()]

    def name_of(self, kind: ResourceKind) -> str | None:
        """The name this run gave its SageMaker resource of ``kind`` (``None``: not
        created). S3 prefixes are several: read :attr:`s3_prefixes`."""
        names = {
            ResourceKind.TRANSFORM_JOB: self.transform_job_name,
            ResourceKind.ENDPOINT: self.endpoint_name,
            ResourceKind.ENDPOINT_CONFIG: self.endpoint_config_name,
            ResourceKind.MODEL: self.model_name,
        }
        kind = ResourceKind(kind)
        if kind not in names:
            raise ValueError(
                f"a run may create several {kind.value}es: read CreatedResources.s3_prefixes"
            )
        return names[kind]

    def record_identity(self, kind: ResourceKind, description: Mapping[str, Any]) -> None:
        """Keeps the ARN and creation time from a Describe* answer for the resource of
        ``kind``; an answer lacking both changes nothing."""
        identity = ResourceIdentity.from_description(ResourceKind(kind), description)
        if identity.arn or identity.creation_time:
            self.identities[ResourceKind(kind)] = identity

    def describe(self) -> str:
        """One line naming what exists, for error messages and logs."""
        named = [f"{kind.value} {name!r}" for kind, name in self._named()]
        where = f" in {self.region}" if self.region else ""
        return (", ".join(named) + where) if named else "nothing"

    # -- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        batch = bool(self.transform_job_name or self.s3_prefixes)
        return {
            "format": MANIFEST_FORMAT,
            "version": _BATCH_VERSION if batch else _HOSTING_VERSION,
            "model_name": self.model_name,
            "endpoint_config_name": self.endpoint_config_name,
            "endpoint_name": self.endpoint_name,
            "transform_job_name": self.transform_job_name,
            "s3_prefixes": list(self.s3_prefixes),
            "region": self.region,
            "created_at": _iso(self.created_at),
            "run_id": self.run_id,
            "tags": dict(self.tags),
            "identities": {
                kind.value: {
                    "arn": identity.arn,
                    "creation_time": _iso(identity.creation_time),
                }
                for kind, identity in sorted(
                    self.identities.items(), key=lambda kv: kv[0].deletion_rank
                )
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "manifest") -> CreatedResources:
        """Reads a manifest's JSON object; every field is checked, so a damaged or
        hand-edited file fails here with the field named (a ``ValueError``), never later
        with a ``TypeError`` half-way through a cleanup. Fields a manifest written by an
        older version lacks (``identities``, ``transform_job_name``, ``s3_prefixes``) read
        as empty."""
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ValueError(
                f'{source}: expected a JSON object with "format": "{MANIFEST_FORMAT}" '
                "(written by CreatedResources.write_manifest), got "
                f"{_shape(data)}"
            )
        version = data.get("version")
        if version not in _MANIFEST_VERSIONS or isinstance(version, bool):
            raise ValueError(
                f"{source}: expected manifest version "
                f"{' or '.join(map(str, _MANIFEST_VERSIONS))}, got {version!r}; "
                "upgrade endpoint-serde to read it"
            )
        read = _FieldReader(source)
        tags = data.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise ValueError(
                f'{source}: "tags": expected an object of strings, got {_shape_of(tags)}'
            )
        identities = data.get("identities") or {}
        if not isinstance(identities, dict):
            raise ValueError(
                f'{source}: "identities": expected an object keyed by kind, got '
                f"{_shape_of(identities)}"
            )
        return cls(
            model_name=read.text(data, "model_name"),
            endpoint_config_name=read.text(data, "endpoint_config_name"),
            endpoint_name=read.text(data, "endpoint_name"),
            transform_job_name=read.text(data, "transform_job_name"),
            s3_prefixes=read.s3_prefixes(data, "s3_prefixes"),
            region=read.text(data, "region"),
            created_at=read.time(data, "created_at"),
            run_id=read.text(data, "run_id"),
            tags=dict(tags),
            identities={
                read.kind(kind): read.identity(kind, entry) for kind, entry in identities.items()
            },
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "manifest") -> CreatedResources:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not JSON ({exc})") from exc
        return cls.from_dict(data, source=source)

    def write_manifest(self, path: str | os.PathLike[str]) -> Path:
        """Writes the JSON manifest atomically (a reader never sees half a file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json() + "\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def read_manifest(cls, path: str | os.PathLike[str]) -> CreatedResources:
        """Reads a manifest file; any file that is not one raises ``ValueError`` saying
        why in one line (missing, unreadable, not UTF-8, not JSON, a field of the wrong
        type)."""
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"{source}: manifest file not found") from None
        except UnicodeDecodeError:
            raise ValueError(
                f"{source}: expected a JSON manifest, got bytes that are not UTF-8 text"
            ) from None
        except OSError as exc:
            raise ValueError(f"{source}: cannot read the manifest ({exc.strerror})") from None
        return cls.from_json(text, source=source)


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        return f"an object with format {data.get('format')!r}"
    return f"a JSON {type(data).__name__}"


def _shape_of(value: Any) -> str:
    """How a JSON value looks, for "expected X, got Y" messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value!r}"
    return f"{names.get(type(value), type(value).__name__)} {json.dumps(value)[:60]}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class _FieldReader:
    """Typed reads of one manifest's fields, each failure naming the file and field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _fail(self, field_path: str, expected: str, value: Any) -> ValueError:
        return ValueError(
            f'{self.source}: "{field_path}": expected {expected}, got {_shape_of(value)}'
        )

    def text(self, data: Mapping[str, Any], key: str, where: str = "") -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self._fail(f"{where}{key}", "a non-empty string or null", value)
        return value

    def time(self, data: Mapping[str, Any], key: str, where: str = "") -> datetime | None:
        """An ISO 8601 time; one without a zone is taken as UTC (as SageMaker's are)."""
        value = data.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise self._fail(
                f"{where}{key}", "an ISO 8601 time such as 2026-11-26T21:04:00+00:00", value
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def s3_prefixes(self, data: Mapping[str, Any], key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "an array of s3://bucket/prefix/ URIs", value)
        for index, uri in enumerate(value):
            try:
                S3Prefix.parse(uri)
            except ValueError as exc:
                raise ValueError(f'{self.source}: "{key}[{index}]": {exc}') from None
        return list(value)

    def kind(self, name: str) -> ResourceKind:
        kinds = [k for k in ResourceKind if k.on_sagemaker]
        if name not in {k.value for k in kinds}:
            raise ValueError(
                f'{self.source}: "identities": expected keys among '
                f"{', '.join(k.value for k in kinds)}, got {name!r}"
            )
        return ResourceKind(name)

    def identity(self, kind: str, entry: Any) -> ResourceIdentity:
        where = f"identities.{kind}."
        if not isinstance(entry, dict):
            raise self._fail(f"identities.{kind}", 'an object with "arn", "creation_time"', entry)
        return ResourceIdentity(
            arn=self.text(entry, "arn", where),
            creation_time=self.time(entry, "creation_time", where),
        )
