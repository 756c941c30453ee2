"""How a transform talks to its endpoint: every knob, its default, and its check.

Each default is written here once; ``SageMakerModel``'s Params and keyword arguments read
them from :class:`EngineOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from endpoints.errors import ConfigurationError
from endpoints.retry import RetryPolicy
from serde.batching import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_RECORDS

__all__ = ["ON_ERROR_CHOICES", "EngineOptions"]

ON_ERROR_CHOICES = ("fail", "column")


@dataclass(frozen=True)
class EngineOptions:
    """How a transform talks to its endpoint (see the README's configuration table)."""

    max_in_flight: int = 8
    max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    on_error: str = "fail"
    error_column_name: str = "error"
    prepend_result_rows: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR_CHOICES:
            raise ConfigurationError(
                f"on_error must be one of {ON_ERROR_CHOICES}, got {self.on_error!r}"
            )
        for name in ("max_in_flight", "max_batch_records", "max_batch_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {getattr(self, name)}")
