"""Model artifacts: a container's ``ModelDataUrl`` → a local file or directory.

``file://`` paths (or plain absolute paths) are used in place; ``s3://bucket/key`` is read
from ``<s3_root>/<bucket>/<key>`` or, with an S3 endpoint URL, downloaded with boto3 from
any S3-compatible server. A ``model.tar.gz`` is extracted once into the cache directory
(keyed by its path, size and mtime), as SageMaker extracts it into ``/opt/ml/model``.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from endpoints.local.errors import ModelLoadError

__all__ = ["ArtifactStore"]

logger = logging.getLogger(__name__)

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class ArtifactStore:
    """Resolves model URLs to local paths, downloading and extracting into ``cache_dir``."""

    def __init__(
        self,
        cache_dir: Path,
        s3_root: Path | None = None,
        s3_endpoint_url: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.s3_root = Path(s3_root) if s3_root is not None else None
        self.s3_endpoint_url = s3_endpoint_url
        self.region = region
        self._lock = threading.Lock()

    def resolve(self, model_data_url: str | None) -> Path | None:
        """The local directory (or single model file) for ``model_data_url``."""
        if not model_data_url:
            return None
        path = self._fetch(model_data_url)
        if path.is_file() and path.name.endswith(_ARCHIVE_SUFFIXES):
            return self._extract(path)
        return path

    def _fetch(self, url: str) -> Path:
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            path = Path(unquote(parsed.path if parsed.scheme else url))
            if not path.exists():
                raise ModelLoadError(f"ModelDataUrl {url} does not exist on this machine.")
            return path
        if parsed.scheme != "s3":
            raise ModelLoadError(
                f"ModelDataUrl {url!r} is not supported; use s3://bucket/key or file:///path."
            )
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
        if self.s3_endpoint_url:
            return self._download(bucket, key)
        if self.s3_root is None:
            raise ModelLoadError(
                f"ModelDataUrl {url} is on S3 but the host has no --s3-root or "
                "--s3-endpoint-url; start it with one of them."
            )
        path = self.s3_root / bucket / key
        if not path.exists():
            raise ModelLoadError(
                f"Could not find ModelDataUrl {url}: expected the file {path} under the "
                "host's S3 root."
            )
        return path

    def _download(self, bucket: str, key: str) -> Path:
        import boto3

        client = boto3.client("s3", endpoint_url=self.s3_endpoint_url, region_name=self.region)
        target = self.cache_dir / "s3" / bucket / key
        try:
            if key and not key.endswith("/"):
                head = client.head_object(Bucket=bucket, Key=key)
                target = (
                    self.cache_dir / "s3" / bucket / key / head["ETag"].strip('"') / Path(key).name
                )
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, key, str(target))
                return target
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                for item in page.get("Contents", []):
                    local = target / item["Key"][len(key) :]
                    local.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, item["Key"], str(local))
        except Exception as exc:  # botocore errors, connection failures
            raise ModelLoadError(
                f"Could not download s3://{bucket}/{key} from {self.s3_endpoint_url}: {exc}"
            ) from exc
        return target

    def _extract(self, archive: Path) -> Path:
        stat = archive.stat()
        digest = hashlib.sha1(
            f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        ).hexdigest()[:16]
        target = self.cache_dir / "extracted" / digest
        with self._lock:
            if (target / ".complete").exists():
                return target
            target.mkdir(parents=True, exist_ok=True)
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(target, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise ModelLoadError(f"Could not extract {archive}: {exc}") from exc
            (target / ".complete").touch()
            logger.info("extracted %s into %s", archive, target)
        return target
