"""Model artifacts: a container's ``ModelDataUrl`` → a local file or directory, and what the
host is allowed to read and run.

``file://`` paths (or plain absolute paths) are used in place; ``s3://bucket/key`` is read
from ``<s3_root>/<bucket>/<key>`` or, with an S3 endpoint URL, downloaded with boto3 from
any S3-compatible server. A ``model.tar.gz`` is extracted once into the cache directory
(keyed by its path, size and mtime), as SageMaker extracts it into ``/opt/ml/model``.

The rules, because anyone who can reach the control plane can name a ``ModelDataUrl``:

- model data is read only from under the **roots** the host was started with (its S3 root
  and each ``--model-root``), after following symbolic links — a ``file://`` URL outside
  them, an ``s3://bucket/../../x`` key or a link out of a model directory is refused,
  naming the rule (400 ``ValidationException`` at CreateModel, a Failed endpoint at load);
- **Python models run code** in the host, so they load only when the operator opted in at
  start (``--allow-python-models``), and only from a module file inside their own model
  data, never an installed module;
- an archive unpacks to at most ``max_bytes`` in at most ``max_members`` members, and never
  outside its directory (absolute paths, ``..``, links out: refused by tarfile's ``data``
  filter); its extraction is removed when its model is deleted and when the host stops.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from endpoints.local.errors import ApiError, ModelLoadError
from endpoints.local.runtimes import HANDLER_ENV, PYTHON_OPT_IN, RUNTIME_ENV

__all__ = ["ArchiveLimits", "ArtifactStore"]

logger = logging.getLogger(__name__)

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class ArchiveLimits:
    """How far a ``model.tar.gz`` may unpack: its members' declared sizes in total, and how
    many members. Checked member by member before each is written, so a small archive
    that declares gigabytes stops at the limit, not at a full disk."""

    max_bytes: int = 2 * 1024**3
    max_members: int = 10_000

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_members < 1:
            raise ValueError(
                f"archive limits must be >= 1, got max_bytes={self.max_bytes}, "
                f"max_members={self.max_members}"
            )


class ArtifactStore:
    """Resolves model URLs to local paths under the host's roots, downloading and extracting
    into ``cache_dir``; says whether Python model code may run."""

    def __init__(
        self,
        cache_dir: Path,
        s3_root: Path | None = None,
        s3_endpoint_url: str | None = None,
        region: str = "us-east-1",
        *,
        model_roots: Iterable[str | Path] = (),
        allow_python_models: bool = False,
        archive_limits: ArchiveLimits | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.s3_root = Path(s3_root) if s3_root is not None else None
        self.s3_endpoint_url = s3_endpoint_url
        self.region = region
        self.model_roots = tuple(Path(root).resolve() for root in model_roots)
        self.allow_python_models = allow_python_models
        self.archive_limits = archive_limits or ArchiveLimits()
        self._lock = threading.Lock()
        self._extracted: dict[str, Path] = {}  # model URL → its extraction directory

    # ------------------------------------------------------------------------------ rules

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every folder model data may be read from, symbolic links resolved."""
        s3 = (self.s3_root.resolve(),) if self.s3_root is not None else ()
        return (*s3, *self.model_roots)

    def _roots_text(self) -> str:
        if not self.roots:
            return "none: it was started without --s3-root or --model-root"
        return ", ".join(str(root) for root in self.roots)

    def _outside(self, url: str, path: Path, why: str = "") -> str:
        return (
            f"ModelDataUrl {url} {why or f'is {path}, which is'} outside the folders this host "
            f"reads model data from ({self._roots_text()}). The host reads model data only "
            "from under its S3 root and the --model-root folders it was started with "
            "(LocalEndpointHost(model_roots=[...])): put the model there, or restart the "
            "host naming the folder that holds it."
        )

    def _confined(self, url: str, path: Path) -> Path:
        """``path`` with symbolic links resolved, if that is under a root; else refused."""
        real = path.resolve()
        if any(real == root or real.is_relative_to(root) for root in self.roots):
            return real
        raise ModelLoadError(self._outside(url, real))

    @staticmethod
    def _dot_segments(url: str, parts: Iterable[str]) -> str | None:
        if any(part in (".", "..") for part in parts):
            return (
                f"ModelDataUrl {url} has a '.' or '..' segment: the host refuses S3 keys that "
                "would name a file outside their bucket's folder. Name the object by its key "
                "without them."
            )
        return None

    def _local_path(self, url: str) -> Path:
        """Where ``url`` lives on this machine (not yet checked against the roots)."""
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            return Path(unquote(parsed.path if parsed.scheme else url))
        if parsed.scheme != "s3":
            raise ModelLoadError(
                f"ModelDataUrl {url!r} is not supported; use s3://bucket/key or file:///path."
            )
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
        refusal = self._dot_segments(url, [bucket, *key.split("/")])
        if refusal:
            raise ModelLoadError(refusal)
        if self.s3_root is None:
            raise ModelLoadError(
                f"ModelDataUrl {url} is on S3 but the host has no --s3-root or "
                "--s3-endpoint-url; start it with one of them."
            )
        return self.s3_root / bucket / key

    def check_container(self, container: Mapping[str, Any]) -> None:
        """CreateModel's check of one container definition: its ``ModelDataUrl`` under the
        roots and, for a Python model, the operator's opt-in. Raises a 400
        ``ValidationException`` naming the rule; whether the data exists is checked at
        load, as on AWS."""
        environment = container.get("Environment") or {}
        if not isinstance(environment, Mapping):
            return  # a shape error, the control plane's to report
        asks_python = environment.get(RUNTIME_ENV) == "python" or bool(environment.get(HANDLER_ENV))
        if asks_python and not self.allow_python_models:
            raise ApiError(
                400,
                "ValidationException",
                f"The container asks for a Python model ({RUNTIME_ENV}=python or "
                f"{HANDLER_ENV}). {PYTHON_OPT_IN}",
            )
        url = container.get("ModelDataUrl")
        if not isinstance(url, str) or not url:
            return
        parsed = urlparse(url)
        try:
            if parsed.scheme == "s3":
                refusal = self._dot_segments(url, [parsed.netloc, *parsed.path.split("/")[1:]])
                if refusal:
                    raise ModelLoadError(refusal)
                if self.s3_root is not None and not self.s3_endpoint_url:
                    self._confined(url, self._local_path(url))
            elif parsed.scheme in ("", "file"):
                self._confined(url, self._local_path(url))
        except ModelLoadError as exc:
            raise ApiError(400, "ValidationException", str(exc)) from None

    # ---------------------------------------------------------------------------- resolve

    def resolve(self, model_data_url: str | None) -> Path | None:
        """The local directory (or single model file) for ``model_data_url``, under the
        roots, with no symbolic link in it pointing outside them."""
        if not model_data_url:
            return None
        path = self._fetch(model_data_url)
        if path.is_file() and path.name.endswith(_ARCHIVE_SUFFIXES):
            return self._extract(model_data_url, path)
        if path.is_dir():
            self._check_links(model_data_url, path)
        return path

    def _fetch(self, url: str) -> Path:
        if self.s3_endpoint_url and urlparse(url).scheme == "s3":
            parsed = urlparse(url)
            bucket, key = parsed.netloc, parsed.path.lstrip("/")
            refusal = self._dot_segments(url, [bucket, *key.split("/")])
            if refusal:
                raise ModelLoadError(refusal)
            return self._download(bucket, key)
        path = self._confined(url, self._local_path(url))
        if not path.exists():
            if urlparse(url).scheme == "s3":
                raise ModelLoadError(
                    f"Could not find ModelDataUrl {url}: expected the file {path} under the "
                    "host's S3 root."
                )
            raise ModelLoadError(f"ModelDataUrl {url} does not exist on this machine.")
        return path

    def _check_links(self, url: str, directory: Path) -> None:
        """Refuse a model directory with a symbolic link to anything outside the roots (or,
        for a download or an extraction, outside that directory)."""
        allowed = (*self.roots, directory.resolve())
        for folder, dirs, files in os.walk(directory):
            for name in (*dirs, *files):
                entry = Path(folder) / name
                if not entry.is_symlink():
                    continue
                target = entry.resolve()
                if not any(target == root or target.is_relative_to(root) for root in allowed):
                    raise ModelLoadError(
                        self._outside(url, target, f"holds the symbolic link {entry} to {target},")
                    )

    def _download(self, bucket: str, key: str) -> Path:
        import boto3

        client = boto3.client("s3", endpoint_url=self.s3_endpoint_url, region_name=self.region)
        downloads = (self.cache_dir / "s3").resolve()
        target = downloads / bucket / key
        try:
            if key and not key.endswith("/"):
                head = client.head_object(Bucket=bucket, Key=key)
                target = downloads / bucket / key / head["ETag"].strip('"') / Path(key).name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, key, str(target))
                return target
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                for item in page.get("Contents", []):
                    local = (target / item["Key"][len(key) :]).resolve()
                    if not local.is_relative_to(target.resolve()):
                        raise ModelLoadError(
                            f"s3://{bucket}/{item['Key']} would be downloaded to {local}, "
                            f"outside {target}: keys with '..' segments are refused."
                        )
                    local.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, item["Key"], str(local))
        except ModelLoadError:
            raise
        except Exception as exc:  # botocore errors, connection failures
            raise ModelLoadError(
                f"Could not download s3://{bucket}/{key} from {self.s3_endpoint_url}: {exc}"
            ) from exc
        self._check_links(f"s3://{bucket}/{key}", target)
        return target

    # ----------------------------------------------------------------------------- archives

    def _members(self, tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
        """The archive's members, counted and their declared sizes summed before each one
        is extracted; stops at the first that would go over a limit."""
        limits = self.archive_limits
        total = 0
        for count, member in enumerate(tar, start=1):
            total += member.size
            if count > limits.max_members:
                raise ModelLoadError(
                    f"{archive} has more than {limits.max_members} members; the host unpacks "
                    f"at most {limits.max_members} (--max-archive-members). Pack the model "
                    "into fewer files, or raise the limit if you trust the archive."
                )
            if total > limits.max_bytes:
                raise ModelLoadError(
                    f"{archive} unpacks to more than {limits.max_bytes} bytes (member "
                    f"{member.name!r} of {member.size} bytes brings it to {total}); the host "
                    f"unpacks at most {limits.max_bytes} bytes (--max-archive-bytes). Raise "
                    "the limit if you trust the archive."
                )
            yield member

    def _extract(self, url: str, archive: Path) -> Path:
        stat = archive.stat()
        digest = hashlib.sha1(
            f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        ).hexdigest()[:16]
        target = self.cache_dir / "extracted" / digest
        with self._lock:
            if not target.is_dir():
                partial = target.with_name(digest + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                try:
                    with tarfile.open(archive) as tar:
                        tar.extractall(partial, members=self._members(tar, archive), filter="data")
                except tarfile.FilterError as exc:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise ModelLoadError(
                        f"{archive}: member {exc.tarinfo.name!r} refused: {exc}. Archive members "
                        "must stay inside the model directory (no absolute paths, '..' or "
                        "links out of it)."
                    ) from exc
                except (tarfile.TarError, OSError) as exc:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise ModelLoadError(f"Could not extract {archive}: {exc}") from exc
                except BaseException:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise
                partial.rename(target)  # complete or absent: never half an extraction
                logger.info("extracted %s into %s", archive, target)
            self._extracted[url] = target
        return target

    def remove_extractions(self, urls: Iterable[str]) -> None:
        """Delete the extracted archives of ``urls`` (their model was deleted): runtimes
        already loaded keep what they read into memory; a later load extracts again."""
        with self._lock:
            for url in urls:
                target = self._extracted.pop(url, None)
                if target is not None and target not in self._extracted.values():
                    shutil.rmtree(target, ignore_errors=True)
                    logger.info("removed the extraction of %s (%s)", url, target)

    def close(self) -> None:
        """Remove every extraction (the host stops); downloads under ``--state-dir`` stay."""
        with self._lock:
            self._extracted.clear()
            shutil.rmtree(self.cache_dir / "extracted", ignore_errors=True)
