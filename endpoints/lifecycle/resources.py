"""What one run created on SageMaker, so exactly that can be deleted later.

A :class:`CreatedResources` holds only names this process created — never an endpoint it
was merely pointed at — which is what makes cleanup safe to automate. It is written to a
JSON manifest (``write_manifest``) as soon as resources exist, so a crashed job can still
be cleaned with ``endpoints-cleanup --manifest run.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_FORMAT",
    "RUN_ID_TAG",
    "CreatedResources",
    "ResourceKind",
    "ResourceRef",
]

#: Tag key set on every resource this library creates; its value is the run's id.
RUN_ID_TAG = "endpoint-serde:run-id"
MANIFEST_FORMAT = "endpoint-serde/created-resources"
_MANIFEST_VERSION = 1


class ResourceKind(str, Enum):
    """The SageMaker resource kinds we create, in the order they must be deleted."""

    ENDPOINT = "endpoint"
    ENDPOINT_CONFIG = "endpoint-config"
    MODEL = "model"

    @property
    def deletion_rank(self) -> int:
        """Endpoints go first (they use configs), configs before the models they name."""
        return list(ResourceKind).index(self)


@dataclass(frozen=True, order=True)
class ResourceRef:
    """One resource by kind and name; sorts in deletion order."""

    rank: int = field(init=False, repr=False, compare=True)
    kind: ResourceKind
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ResourceKind(self.kind))
        object.__setattr__(self, "rank", self.kind.deletion_rank)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name!r}"


@dataclass
class CreatedResources:
    """The model, endpoint config and endpoint one deployment created (``None`` = not
    created by us). Falsy when nothing was created.

    ``tags`` are the tags put on every resource, including :data:`RUN_ID_TAG`.
    """

    model_name: str | None = None
    endpoint_config_name: str | None = None
    endpoint_name: str | None = None
    region: str | None = None
    created_at: datetime | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.refs())

    def refs(self) -> list[ResourceRef]:
        """The created resources, in deletion order (endpoint, config, model)."""
        pairs = (
            (ResourceKind.ENDPOINT, self.endpoint_name),
            (ResourceKind.ENDPOINT_CONFIG, self.endpoint_config_name),
            (ResourceKind.MODEL, self.model_name),
        )
        return [ResourceRef(kind, name) for kind, name in pairs if name]

    def describe(self) -> str:
        """One line naming what exists, for error messages and logs."""
        refs = self.refs()
        where = f" in {self.region}" if self.region else ""
        return (", ".join(map(str, refs)) + where) if refs else "nothing"

    # -- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": _MANIFEST_VERSION,
            "model_name": self.model_name,
            "endpoint_config_name": self.endpoint_config_name,
            "endpoint_name": self.endpoint_name,
            "region": self.region,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "run_id": self.run_id,
            "tags": dict(self.tags),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "manifest") -> CreatedResources:
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ValueError(
                f'{source}: expected a JSON object with "format": "{MANIFEST_FORMAT}" '
                "(written by CreatedResources.write_manifest), got "
                f"{_shape(data)}"
            )
        version = data.get("version")
        if version != _MANIFEST_VERSION:
            raise ValueError(
                f"{source}: expected manifest version {_MANIFEST_VERSION}, got {version!r}; "
                "upgrade endpoint-serde to read it"
            )
        created_at = data.get("created_at")
        return cls(
            model_name=data.get("model_name"),
            endpoint_config_name=data.get("endpoint_config_name"),
            endpoint_name=data.get("endpoint_name"),
            region=data.get("region"),
            created_at=datetime.fromisoformat(created_at) if created_at else None,
            run_id=data.get("run_id"),
            tags=dict(data.get("tags") or {}),
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
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"{source}: manifest file not found") from None
        return cls.from_json(text, source=source)


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        return f"an object with format {data.get('format')!r}"
    return f"a JSON {type(data).__name__}"
