"""Objects by bucket and key: where the local host's S3 API and its transform jobs keep data.

Two stores behind one interface:

- :class:`FolderObjectStore` keeps each object as the file ``<root>/<bucket>/<key>`` — the
  layout :class:`~endpoints.local.artifacts.ArtifactStore` already reads ``s3://`` model
  data from, so a ``model.tar.gz`` uploaded through the host's S3 API deploys at once, and
  a folder prepared by hand is an S3 bucket as it stands. Writes go to a temporary file
  first and are renamed into place, so a reader never sees half an object.
- :class:`RemoteObjectStore` talks to any S3-compatible server (moto, MinIO, AWS) through
  boto3, for a host started with ``--s3-endpoint-url``.

A file system is not a key space: ``a`` and ``a/b`` cannot both be objects, and a key with
an empty, ``.`` or ``..`` segment would name a path outside its place. The folder store
refuses those keys with an error that says so, rather than storing them somewhere else, and
never reads or writes through a symbolic link that leads out of its root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from endpoints.local.errors import LocalHostError

__all__ = [
    "FolderObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectUpload",
    "RemoteObjectStore",
    "parse_s3_uri",
]

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024
_UPLOADS_DIR = ".endpoints-local-uploads"  # not a valid bucket name: never listed as one
_CHUNK = 1 << 20


class ObjectStoreError(LocalHostError):
    """A failed object operation, with S3's error code and HTTP status."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ObjectInfo:
    """One object's listing entry; ``modified`` is epoch seconds."""

    key: str
    size: int
    modified: float
    etag: str


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ``("bucket", "some/key")``; raises ``ValueError``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def no_such_bucket(bucket: str) -> ObjectStoreError:
    return ObjectStoreError(
        404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket
    )


def no_such_key(key: str) -> ObjectStoreError:
    return ObjectStoreError(404, "NoSuchKey", "The specified key does not exist.", Key=key)


class ObjectStore(ABC):
    """What transform jobs need of S3: list a prefix, read an object, write one."""

    @abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key as S3 lists them."""

    @abstractmethod
    def get(self, bucket: str, key: str) -> bytes:
        """The object's bytes; raises :class:`ObjectStoreError` (``NoSuchKey``...)."""

    @abstractmethod
    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (replacing it); returns the ETag (hex MD5)."""

    @abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Remove ``key``; deleting a missing key succeeds, as on S3."""

    @abstractmethod
    def where(self) -> str:
        """Where the objects live, for error messages."""


# ------------------------------------------------------------------------------- folder


class ObjectUpload:
    """An object being written: chunks go to a temporary file, :meth:`commit` renames it
    into place (atomic on one file system), :meth:`abort` discards it."""

    def __init__(self, store: FolderObjectStore, bucket: str, key: str) -> None:
        self._target = store.path_for(bucket, key)
        store.uploads_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=store.uploads_dir, prefix="upload-")
        self._file = os.fdopen(handle, "wb")
        self._temp = Path(name)
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._store = store
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        """Publish the object; returns its ETag (hex MD5 of the content)."""
        self._file.close()
        try:
            self._store.make_parents(self._target)
            if self._target.is_dir():
                raise _key_conflict(self._target, self._store, "is a prefix of other objects")
            os.replace(self._temp, self._target)
        except BaseException:
            self._temp.unlink(missing_ok=True)
            raise
        etag = self._md5.hexdigest()
        self._store.remember_etag(self._target, etag)
        return etag

    def abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


def _key_conflict(path: Path, store: FolderObjectStore, why: str) -> ObjectStoreError:
    relative = path.relative_to(store.root).as_posix()
    return ObjectStoreError(
        409,
        "KeyConflict",
        f"Cannot store {relative!r}: the local host keeps objects as files under its S3 root "
        f"and {why}, which a file system cannot hold at once (S3 can); use another key.",
    )


class FolderObjectStore(ObjectStore):
    """Objects as files: ``<root>/<bucket>/<key>``, buckets as directories."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._real_root = self.root.resolve()
        self.uploads_dir = self.root / _UPLOADS_DIR
        self._etags: dict[Path, tuple[int, int, str]] = {}
        self._etag_lock = threading.Lock()

    def where(self) -> str:
        return f"the host's S3 root {self.root}"

    # -------------------------------------------------------------------------- naming

    def bucket_path(self, bucket: str, *, must_exist: bool = True) -> Path:
        if not BUCKET_PATTERN.match(bucket) or ".." in bucket:
            raise ObjectStoreError(
                400,
                "InvalidBucketName",
                f"The specified bucket is not valid: {bucket!r} (3-63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit).",
                BucketName=bucket,
            )
        path = self.root / bucket
        if must_exist and not path.is_dir():
            raise no_such_bucket(bucket)
        return path

    def path_for(self, bucket: str, key: str) -> Path:
        """The file that holds ``key``; raises for keys a file system cannot name."""
        bucket_dir = self.bucket_path(bucket)
        encoded = key.encode("utf-8", "surrogatepass")
        if not key or len(encoded) > MAX_KEY_BYTES:
            raise ObjectStoreError(
                400,
                "KeyTooLongError" if key else "InvalidArgument",
                f"Object keys are 1 to {MAX_KEY_BYTES} bytes of UTF-8; got {len(encoded)}.",
            )
        segments = key.split("/")
        if "\x00" in key or any(s in ("", ".", "..") for s in segments):
            raise ObjectStoreError(
                400,
                "InvalidArgument",
                f"Key {key!r} has an empty, '.' or '..' path segment (or a NUL byte); the "
                "local host stores objects as files under its S3 root and cannot keep such "
                "a key apart from others. Use keys like 'prefix/part-00000.csv'.",
                Key=key,
            )
        path = bucket_dir.joinpath(*segments)
        if not self.inside(path):
            raise ObjectStoreError(
                403,
                "AccessDenied",
                f"Key {key!r} leads through a symbolic link out of the host's S3 root "
                f"{self.root}; the host reads and writes objects only inside it.",
                Key=key,
            )
        return path

    def inside(self, path: Path) -> bool:
        """Whether ``path``, symbolic links followed, stays under the S3 root."""
        real = path.resolve()
        return real == self._real_root or real.is_relative_to(self._real_root)

    def make_parents(self, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _key_conflict(
                target, self, "a shorter key on its path is already an object"
            ) from None

    # ---------------------------------------------------------------------------- etags

    def remember_etag(self, path: Path, etag: str) -> None:
        stat = path.stat()
        with self._etag_lock:
            self._etags[path] = (stat.st_size, stat.st_mtime_ns, etag)

    def etag(self, path: Path, stat: os.stat_result) -> str:
        """The object's MD5, computed once per content (files may arrive by other means
        than the S3 API, so it is not stored beside them)."""
        with self._etag_lock:
            known = self._etags.get(path)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        etag = digest.hexdigest()
        with self._etag_lock:
            self._etags[path] = (stat.st_size, stat.st_mtime_ns, etag)
        return etag

    # ------------------------------------------------------------------------ operations

    def create_bucket(self, bucket: str) -> None:
        self.bucket_path(bucket, must_exist=False).mkdir(parents=True, exist_ok=True)

    def head(self, bucket: str, key: str) -> tuple[Path, ObjectInfo]:
        path = self.path_for(bucket, key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise no_such_key(key) from None
        if not path.is_file():
            raise no_such_key(key)
        return path, ObjectInfo(key, stat.st_size, stat.st_mtime, self.etag(path, stat))

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        bucket_dir = self.bucket_path(bucket)
        # walk only below the prefix's deepest directory
        start = bucket_dir
        directory = prefix.rpartition("/")[0]
        if directory:
            if any(s in ("", ".", "..") for s in directory.split("/")):
                return []
            start = bucket_dir.joinpath(*directory.split("/"))
            if not start.is_dir():
                return []
        found = []
        for dirpath, _dirnames, filenames in os.walk(start):
            base = Path(dirpath)
            for filename in filenames:
                path = base / filename
                key = path.relative_to(bucket_dir).as_posix()
                if not key.startswith(prefix) or not self.inside(path):
                    continue
                stat = path.stat()
                found.append(ObjectInfo(key, stat.st_size, stat.st_mtime, ""))
        found.sort(key=lambda info: info.key)
        return found

    def with_etags(self, bucket: str, infos: list[ObjectInfo]) -> list[ObjectInfo]:
        """``infos`` with their ETags filled in (listing computes them only for the page
        it answers)."""
        bucket_dir = self.bucket_path(bucket)
        out = []
        for info in infos:
            path = bucket_dir / info.key
            out.append(ObjectInfo(info.key, info.size, info.modified, self.etag(path, path.stat())))
        return out

    def get(self, bucket: str, key: str) -> bytes:
        path, _info = self.head(bucket, key)
        return path.read_bytes()

    def upload(self, bucket: str, key: str) -> ObjectUpload:
        self.path_for(bucket, key)  # validate before any byte is received
        return ObjectUpload(self, bucket, key)

    def put(self, bucket: str, key: str, data: bytes) -> str:
        upload = self.upload(bucket, key)
        try:
            upload.write(data)
        except BaseException:
            upload.abort()
            raise
        return upload.commit()

    def delete(self, bucket: str, key: str) -> None:
        path = self.path_for(bucket, key)
        if path.is_dir():
            return  # a prefix, not an object: S3 has nothing to delete there either
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        with self._etag_lock:
            self._etags.pop(path, None)
        # a prefix exists on S3 only while objects are under it
        bucket_dir = self.bucket_path(bucket)
        parent = path.parent
        while parent != bucket_dir:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


# ------------------------------------------------------------------------------- remote


class RemoteObjectStore(ObjectStore):
    """Objects on an S3-compatible server, through boto3 (credentials: the default chain)."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def where(self) -> str:
        return f"the S3 server at {self.endpoint_url}"

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region
                )
            return self._client

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._s3(), operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            code = str(error.get("Code", "Unknown"))
            if code in ("404", "NoSuchKey"):
                raise no_such_key(kwargs.get("Key", "")) from exc
            raise ObjectStoreError(
                status, code, f"{operation} on {self.where()}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(503, "ServiceUnavailable", f"{self.where()}: {exc}") from exc

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        found = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Bucket=bucket, Prefix=prefix, **extra)
            for item in page.get("Contents", []):
                found.append(
                    ObjectInfo(
                        item["Key"],
                        item["Size"],
                        item["LastModified"].timestamp(),
                        item.get("ETag", "").strip('"'),
                    )
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return found

    def get(self, bucket: str, key: str) -> bytes:
        return self._call("get_object", Bucket=bucket, Key=key)["Body"].read()

    def put(self, bucket: str, key: str, data: bytes) -> str:
        return self._call("put_object", Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')

    def delete(self, bucket: str, key: str) -> None:
        self._call("delete_object", Bucket=bucket, Key=key)
