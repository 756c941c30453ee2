"""Deterministic fault injection: what goes wrong with the next request, if anything.

A :class:`FaultSpec` says how often each fault happens; a :class:`FaultInjector` draws from a
seeded generator so a test sees the same sequence every run, and stops injecting after
``max_faults`` faults so a retrying client always finishes.

A spec can also make the endpoint capacity-limited (``max_concurrency``): it serves that many
requests at once and refuses the next one at once, as a real endpoint's instances do when a
cluster offers more than they serve. Those refusals depend on the load, not on chance, so
they are neither drawn nor capped by ``max_faults``: a client that slows down gets through.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Fault", "FaultInjector", "FaultSpec"]

THROTTLE_KINDS = ("ThrottlingException", "ModelNotReady")
ERROR_STATUSES = (500, 503)
OVER_CAPACITY_STATUSES = (400, 429)


@dataclass(frozen=True)
class FaultSpec:
    """How an endpoint misbehaves. Rates are probabilities per request, checked in the
    order drop, throttle, error, wrong count, malformed; ``latency_ms`` applies always, and
    ``latency_per_row_us`` more per row of the request (a model whose work grows with the
    batch). With ``max_concurrency`` N, a request arriving while N are being served is
    refused at once with ``ThrottlingException`` (HTTP ``over_capacity_status``: 400, as
    SageMaker answers, or 429), before any other fault is drawn. Those last three apply to
    invocations only, not to the control plane.

    >>> FaultSpec(throttle_rate=0.3, seed=1, max_faults=100).throttle_kind
    'ThrottlingException'
    """

    latency_ms: float = 0.0
    throttle_rate: float = 0.0
    throttle_kind: str = "ThrottlingException"
    retry_after_s: float = 1.0
    error_rate: float = 0.0
    error_status: int = 500
    drop_rate: float = 0.0
    wrong_count_rate: float = 0.0
    wrong_count_delta: int = -1
    malformed_rate: float = 0.0
    seed: int | None = None
    max_faults: int | None = None
    max_concurrency: int | None = None
    over_capacity_status: int = 400
    latency_per_row_us: float = 0.0

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "drop_rate", "wrong_count_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if not 0.0 <= self.malformed_rate <= 1.0:
            raise ValueError(f"malformed_rate must be in [0, 1], got {self.malformed_rate!r}")
        if self.throttle_kind not in THROTTLE_KINDS:
            raise ValueError(
                f"throttle_kind must be one of {THROTTLE_KINDS}, got {self.throttle_kind!r}"
            )
        if self.error_status not in ERROR_STATUSES:
            raise ValueError(f"error_status must be 500 or 503, got {self.error_status!r}")
        if self.wrong_count_delta not in (-1, 1):
            raise ValueError(f"wrong_count_delta must be -1 or 1, got {self.wrong_count_delta!r}")
        for name in ("latency_ms", "latency_per_row_us"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be >= 1 or None (no limit), got {self.max_concurrency!r}"
            )
        if self.over_capacity_status not in OVER_CAPACITY_STATUSES:
            raise ValueError(
                f"over_capacity_status must be 400 or 429, got {self.over_capacity_status!r}"
            )
        if self.max_faults is not None and self.max_faults < 0:
            raise ValueError(f"max_faults must be >= 0 or None, got {self.max_faults!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSpec:
        """Build from a JSON object (the ``POST /_local/faults/{endpoint}`` body)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown FaultSpec fields {unknown}; expected some of {sorted(known)}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    """One decision: the kind of fault to inject (``None``: answer normally)."""

    kind: str | None
    spec: FaultSpec


class FaultInjector:
    """Draws faults for one endpoint (or the control plane) from a seeded generator, and
    counts the requests being served against ``max_concurrency``.

    Thread-safe: requests are decided under a lock, so the sequence depends only on the
    order requests arrive in.
    """

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._random = random.Random(spec.seed)
        self._lock = threading.Lock()
        self.injected = 0
        self.serving = 0

    def admit(self) -> bool:
        """Take a slot for one request (``False``: all ``max_concurrency`` are taken, refuse
        it). Every admitted request must :meth:`release` its slot when answered."""
        with self._lock:
            limit = self.spec.max_concurrency
            if limit is not None and self.serving >= limit:
                return False
            self.serving += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.serving -= 1

    def next_fault(self) -> Fault:
        spec = self.spec
        with self._lock:
            if spec.max_faults is not None and self.injected >= spec.max_faults:
                return Fault(None, spec)
            for kind, rate in (
                ("drop", spec.drop_rate),
                ("throttle", spec.throttle_rate),
                ("error", spec.error_rate),
                ("wrong_count", spec.wrong_count_rate),
                ("malformed", spec.malformed_rate),
            ):
                if rate and self._random.random() < rate:
                    self.injected += 1
                    return Fault(kind, spec)
        return Fault(None, spec)
