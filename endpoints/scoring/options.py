"""How a transform talks to its endpoint: every knob, its default, and its check.

Each default is written here once; ``SageMakerModel``'s Params and keyword arguments read
them from :class:`EngineOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from endpoints.errors import ConfigurationError
from endpoints.retry import RetryPolicy
from serde.batching import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_RECORDS
from serde.options import whole_number

__all__ = ["ON_ERROR_CHOICES", "EngineOptions"]

ON_ERROR_CHOICES = ("fail", "column")


@dataclass(frozen=True)
class EngineOptions:
    """How a transform talks to its endpoint (see the README's configuration table)."""

    max_in_flight: int = 8
    #: a ceiling on requests in flight for the whole job, shared by its concurrent tasks
    job_max_in_flight: int | None = None
    #: this task's share of ``job_max_in_flight`` (set on the driver; may be below one)
    task_max_in_flight: float | None = None
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
        counts = ["max_in_flight", "max_batch_records", "max_batch_bytes"]
        if self.job_max_in_flight is not None:
            counts.append("job_max_in_flight")
        for name in counts:
            try:  # where the user wrote it, naming it: not a str/int comparison in a task
                whole_number(name, getattr(self, name), minimum=1)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(str(exc)) from None

    def for_tasks(self, concurrent_tasks: int) -> EngineOptions:
        """These options with ``job_max_in_flight`` divided among ``concurrent_tasks``
        tasks running at once: 16 over 32 tasks gives each half a request in flight."""
        if self.job_max_in_flight is None:
            return self
        share = self.job_max_in_flight / max(1, concurrent_tasks)
        return replace(self, task_max_in_flight=min(float(self.max_in_flight), share))

    @property
    def window_max(self) -> float:
        """The most this task keeps in flight: ``max_in_flight``, or its share of the job."""
        if self.task_max_in_flight is None:
            return float(self.max_in_flight)
        return self.task_max_in_flight
