"""sagemaker_pyspark's small AWS value types, as plain Python.

There they wrapped Java objects (the AWS SDK for Java's clients, Scala case classes);
here clients are boto3's, built from the same default chain (environment, profile,
instance role; ``AWS_ENDPOINT_URL_SAGEMAKER`` points them elsewhere, such as the local
endpoint host). ``S3DataPath`` names model data; the IAM role and auto-created S3 path
types only configure estimators, which this package refuses (it does not train), and
exist so that code importing them gets that clear refusal rather than an ImportError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "IAMRole",
    "IAMRoleFromConfig",
    "S3AutoCreatePath",
    "S3DataPath",
    "S3Resource",
    "SageMakerClients",
]


class SageMakerClients:
    """Default boto3 clients, made when asked for (the reference made its default client
    when its module was imported, which fails without a region)."""

    @classmethod
    def create_sagemaker_client(cls) -> Any:
        import boto3

        return boto3.client("sagemaker")

    @classmethod
    def create_s3_default_client(cls) -> Any:
        import boto3

        return boto3.client("s3")

    @classmethod
    def create_sts_default_client(cls) -> Any:
        import boto3

        return boto3.client("sts")


class S3Resource:
    """An S3 location for SageMaker to use."""


@dataclass(frozen=True)
class S3DataPath(S3Resource):
    """``S3DataPath(bucket, objectPath)``: ``s3://bucket/objectPath``."""

    bucket: str
    objectPath: str

    @classmethod
    def fromS3URI(cls, uri: str) -> S3DataPath:
        """``s3://bucket/key`` → ``S3DataPath("bucket", "key")``."""
        if not uri.startswith("s3://"):
            raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        return cls(bucket, key)

    def toS3UriString(self) -> str:
        return f"s3://{self.bucket}/{self.objectPath}"

    def __str__(self) -> str:
        return self.toS3UriString()


@dataclass(frozen=True)
class S3AutoCreatePath(S3Resource):
    """An S3 location an estimator would create (estimators only)."""


@dataclass(frozen=True)
class IAMRole:
    """``IAMRole(role)``: a role ARN or name (estimators only)."""

    role: str


@dataclass(frozen=True)
class IAMRoleFromConfig:
    """``IAMRoleFromConfig(configKey)``: a role named in the Spark config (estimators
    only)."""

    configKey: str = "com.amazonaws.services.sagemaker.sparksdk.sagemakerrole"
