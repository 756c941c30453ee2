"""The control plane's resources (models, endpoint configs, endpoints, tags, training jobs)
and their persistence to ``<state_dir>/state.json``.

Records are plain JSON-able dicts in the shape DescribeX returns them (timestamps as epoch
seconds), so persistence is one ``json.dump`` and Describe is a copy. Every mutation goes
through :meth:`ResourceStore.transaction`, which holds the lock, saves on success and
undoes everything on an exception, so a request that fails half-way leaves nothing behind.
Timestamps come from the store's ``clock``, which tests replace to get distinct, known
times without sleeping.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ACCOUNT_ID", "ResourceStore", "arn_for", "now"]

logger = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"
KINDS = ("models", "endpoint_configs", "endpoints", "training_jobs", "transform_jobs")
_ARN_KIND = {
    "models": "model",
    "endpoint_configs": "endpoint-config",
    "endpoints": "endpoint",
    "training_jobs": "training-job",
    "transform_jobs": "transform-job",
}


def now() -> float:
    """Epoch seconds at millisecond precision, as AWS stores and botocore sends them (so a
    time read back from Describe compares equal when sent in a filter)."""
    return round(time.time(), 3)


# Placeholders earlier versions stored although nobody set them; botocore's shapes refuse
# them (an empty VpcConfig lacks its required members), and so does every client that
# validates answers, such as sagemaker-core's resource classes.
_LEGACY_EMPTY = {
    "models": ("VpcConfig", "Containers", "ExecutionRoleArn"),
    "endpoint_configs": ("DataCaptureConfig",),
    "endpoints": ("DataCaptureConfig",),
}


def arn_for(kind: str, name: str, region: str) -> str:
    """AWS's ARN for a SageMaker resource; AWS lowercases the name in ARNs."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{_ARN_KIND[kind]}/{name.lower()}"


class ResourceStore:
    """Resources by kind and name, plus tags by ARN; optionally saved to ``state_dir``."""

    def __init__(self, state_dir: Path | None = None, clock: Callable[[], float] = now) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.clock = clock
        self._lock = threading.RLock()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.tags: dict[str, list[dict[str, str]]] = {}
        if self.state_dir is not None:
            self._load()

    @property
    def path(self) -> Path | None:
        return self.state_dir / "state.json" if self.state_dir is not None else None

    def _load(self) -> None:
        path = self.path
        assert path is not None
        if not path.exists():
            return
        data = json.loads(path.read_text())
        for kind in KINDS:
            self.resources[kind] = data.get(kind, {})
            for record in self.resources[kind].values():
                for key in _LEGACY_EMPTY.get(kind, ()):
                    if record.get(key) in ({}, [], ""):
                        del record[key]
        self.tags = data.get("tags", {})
        logger.info("loaded state from %s", path)

    def _save(self) -> None:
        path = self.path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**self.resources, "tags": self.tags}, indent=1))
        os.replace(tmp, path)  # atomic: a crash never leaves half a file

    def now(self) -> float:
        """The time to stamp on a record (``CreationTime``, ``LastModifiedTime``)."""
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[ResourceStore]:
        """Hold the lock for a read-modify-write, then persist; on an exception, restore
        what was there before and re-raise (the control plane is not a hot path: a copy
        per transaction is cheap next to an HTTP round trip)."""
        with self._lock:
            resources, tags = copy.deepcopy(self.resources), copy.deepcopy(self.tags)
            try:
                yield self
            except BaseException:
                self.resources, self.tags = resources, tags
                raise
            self._save()

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            record = self.resources[kind].get(name)
            return copy.deepcopy(record) if record is not None else None

    def exists(self, kind: str, name: str) -> bool:
        """Cheap membership test for hot paths (no copy, no lock: dict lookups are atomic)."""
        return name in self.resources[kind]

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self.resources[kind].values()))

    def find_arn(self, arn: str) -> bool:
        with self._lock:
            return any(
                record.get(_arn_key(kind)) == arn
                for kind in KINDS
                for record in self.resources[kind].values()
            )


def _arn_key(kind: str) -> str:
    return {
        "models": "ModelArn",
        "endpoint_configs": "EndpointConfigArn",
        "endpoints": "EndpointArn",
        "training_jobs": "TrainingJobArn",
        "transform_jobs": "TransformJobArn",
    }[kind]
