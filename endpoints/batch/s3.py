"""S3 as the staging area: a picklable description of where it is, clients built once per
worker (like the endpoints'), and every call retried through the one retry loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from endpoints.clients.client_cache import client_cache
from endpoints.failures import error_code, is_not_found
from endpoints.lifecycle.hosting import ControlPlaneCalls
from endpoints.retry import RetryPolicy

__all__ = ["S3Access"]

#: Staging and reading back are sequential per task: back off like the control plane.
_S3_RETRY = ControlPlaneCalls.DEFAULT_POLICY


@dataclass(frozen=True)
class S3Access:
    """Where the S3 API is: AWS (the default chain on each executor), or another URL."""

    endpoint_url: str | None = None
    region: str | None = None
    retry: RetryPolicy = _S3_RETRY

    def client(self) -> Any:
        return client_cache.get(("s3", self.endpoint_url, self.region), self._build)

    def _build(self, pool_size: int) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # ours retry, not botocore's
            max_pool_connections=pool_size,
            # a local S3 API on 127.0.0.1 has no per-bucket host names
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        session = boto3.session.Session(region_name=self.region)
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def call(self, method: str, **kwargs: Any) -> Any:
        """``client.<method>(**kwargs)``, retried as every control-plane call is."""
        return ControlPlaneCalls(self.retry).call(getattr(self.client(), method), **kwargs)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        # put_object, not upload_file: one request, no multipart above 8 MiB
        self.call("put_object", Bucket=bucket, Key=key, Body=body)

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or ``None`` if there is no such key."""
        try:
            answer = self.call("get_object", Bucket=bucket, Key=key)
        except Exception as exc:
            if _missing_key(exc):
                return None
            raise
        return answer["Body"].read()

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, page by page."""
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Bucket=bucket, Prefix=prefix, **token)
            yield from (item["Key"] for item in page.get("Contents", ()))
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}


def _missing_key(exc: BaseException) -> bool:
    return error_code(exc) in ("NoSuchKey", "404") or is_not_found(exc)
