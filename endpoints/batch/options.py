"""What a user says to run a transform as a SageMaker Batch Transform job, checked once.

A transform job reads objects from S3, splits them into records (lines, or RecordIO
records), packs records into mini-batches of at most ``MaxPayloadInMB`` and writes one
``.out`` object per input object. So the request serializer must write records the job
can split — one line per row (CSV, LibSVM, JSON Lines) or one RecordIO record per row
(protobuf) — and the response deserializer must read the mini-batches' answers
concatenated (a line per row, or RecordIO records). :func:`split_format` decides which
and refuses the rest before anything is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from endpoints.errors import ConfigurationError
from serde.base import RequestRowSerializer

__all__ = ["BatchTransform", "S3Location", "SplitFormat", "split_format"]

_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(.+/)?$")
#: SageMaker's own bounds for MaxPayloadInMB (0 = no limit, only for SplitType None).
_MAX_PAYLOAD_MB = 100
RECORDIO_CONTENT_TYPE = "application/x-recordio-protobuf"


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix/`` split in two; ``prefix`` is empty or ends in ``/``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str, what: str) -> S3Location:
        uri = uri if uri.endswith("/") else uri + "/"
        match = _S3_URI.match(uri)
        if match is None:
            raise ConfigurationError(
                f"{what}: expected an S3 URI like 's3://bucket/some/prefix/', got {uri!r}"
            )
        return cls(match.group(1), match.group(2) or "")

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, f"{self.prefix}{name.strip('/')}/")

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class BatchTransform:
    """Run ``transform`` as a Batch Transform job instead of calling a live endpoint.

    Args:
        instance_type / instance_count: the job's instances (billed only while it runs).
        staging_uri: ``s3://bucket/prefix/`` under which each run writes its input
            (``<job>/input/``) and the job its output (``<job>/output/``); both are
            recorded in ``created_resources`` and deleted by cleanup.
        max_payload_mb: the largest mini-batch the job sends the model (SageMaker's
            ``MaxPayloadInMB``, 1-100; the real-time limit, 6, by default).
        max_concurrent_transforms: mini-batches in flight per instance
            (``MaxConcurrentTransforms``); ``None`` lets SageMaker choose.
        batch_strategy: ``"MultiRecord"`` (records packed up to ``max_payload_mb``) or
            ``"SingleRecord"`` (one record per request).
        max_object_mb: the largest staged object; a partition with more rows writes
            several. SageMaker spreads objects over instances, so a job has at least as
            many objects as it has instances when the data allows.
        wait_timeout_s: how long ``transform`` waits for the job; past it the job is
            stopped (nothing keeps billing) and the transform fails.
        poll_interval_s: the longest pause between DescribeTransformJob calls.
        s3_endpoint_url: another S3 API (the local endpoint host's, a VPC endpoint).
        environment: extra environment variables for the job's containers.
    """

    instance_type: str
    staging_uri: str
    instance_count: int = 1
    max_payload_mb: int = 6
    max_concurrent_transforms: int | None = None
    batch_strategy: str = "MultiRecord"
    max_object_mb: int = 64
    wait_timeout_s: float = 24 * 3600.0
    poll_interval_s: float = 30.0
    s3_endpoint_url: str | None = None
    environment: dict[str, str] | None = None

    def __post_init__(self) -> None:
        S3Location.parse(self.staging_uri, "staging_uri")
        if not self.instance_type:
            raise ConfigurationError("instance_type: expected e.g. 'ml.m5.xlarge', got nothing")
        _at_least("instance_count", self.instance_count, 1)
        _at_least("max_object_mb", self.max_object_mb, 1)
        if not (isinstance(self.max_payload_mb, int) and 1 <= self.max_payload_mb <= 100):
            raise ConfigurationError(
                f"max_payload_mb: expected an integer from 1 to {_MAX_PAYLOAD_MB} "
                f"(SageMaker's MaxPayloadInMB), got {self.max_payload_mb!r}"
            )
        if self.max_concurrent_transforms is not None:
            _at_least("max_concurrent_transforms", self.max_concurrent_transforms, 1)
        if self.batch_strategy not in ("MultiRecord", "SingleRecord"):
            raise ConfigurationError(
                "batch_strategy: expected 'MultiRecord' or 'SingleRecord', got "
                f"{self.batch_strategy!r}"
            )
        if self.wait_timeout_s <= 0 or self.poll_interval_s <= 0:
            raise ConfigurationError("wait_timeout_s and poll_interval_s must be positive")

    @property
    def staging(self) -> S3Location:
        return S3Location.parse(self.staging_uri, "staging_uri")


def _at_least(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name}: expected an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class SplitFormat:
    """How the job splits staged objects and joins its answers."""

    split_type: str  # "Line" or "RecordIO"
    assemble_with: str  # "Line" or "None"
    extension: str

    @property
    def line_based(self) -> bool:
        return self.split_type == "Line"


def split_format(serializer: RequestRowSerializer) -> SplitFormat:
    """The split a transform job needs for ``serializer``'s records; raises
    :class:`ConfigurationError` for a format a job cannot split into rows."""
    name = type(serializer).__name__
    if serializer.content_type == RECORDIO_CONTENT_TYPE:
        return SplitFormat("RecordIO", "None", "recordio")
    if (
        serializer.row_separable
        and not serializer.body_prefix
        and not serializer.body_suffix
        and serializer.row_separator in (b"", b"\n")
    ):
        return SplitFormat("Line", "Line", "txt")
    raise ConfigurationError(
        f"{name} writes {serializer.content_type} bodies a transform job cannot split into "
        "one record per row (it splits lines or RecordIO records). Use a line format — "
        "UnlabeledCSVRequestRowSerializer, LibSVMRequestRowSerializer, "
        "JSONLinesRequestRowSerializer — or ProtobufRequestRowSerializer, or score on an "
        "endpoint instead"
    )
