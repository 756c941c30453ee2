"""Request and fault counters, exposed as a dict (tests) and Prometheus text (``/metrics``)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Any

__all__ = ["HostMetrics"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HostMetrics:
    """Counts requests by endpoint and status, their latency, and injected faults by kind.

    ``endpoint`` is the endpoint name for runtime paths and a fixed label (``_control``,
    ``_container``, ``_other``) elsewhere, so the label set stays small.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._latency_sum: dict[str, float] = defaultdict(float)
        self._latency_buckets: dict[str, list[int]] = {}
        self._faults: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(endpoint, status)] += 1
            self._latency_sum[endpoint] += seconds
            buckets = self._latency_buckets.setdefault(endpoint, [0] * len(LATENCY_BUCKETS_S))
            index = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
            if index < len(buckets):
                buckets[index] += 1

    def fault(self, endpoint: str, kind: str) -> None:
        with self._lock:
            self._faults[(endpoint, kind)] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": {endpoint: {status: n}}, "faults_injected": {kind: n},
        "faults_by_endpoint": {endpoint: {kind: n}}, "latency_seconds_sum": {endpoint: s}}``."""
        with self._lock:
            requests: dict[str, dict[str, int]] = {}
            for (endpoint, status), count in self._requests.items():
                requests.setdefault(endpoint, {})[str(status)] = count
            by_kind: dict[str, int] = defaultdict(int)
            by_endpoint: dict[str, dict[str, int]] = {}
            for (endpoint, kind), count in self._faults.items():
                by_kind[kind] += count
                by_endpoint.setdefault(endpoint, {})[kind] = count
            return {
                "requests": requests,
                "faults_injected": dict(by_kind),
                "faults_by_endpoint": by_endpoint,
                "latency_seconds_sum": dict(self._latency_sum),
            }

    def prometheus_text(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines = [
            "# HELP endpoints_local_requests_total Requests answered, by endpoint and status.",
            "# TYPE endpoints_local_requests_total counter",
        ]
        with self._lock:
            for (endpoint, status), count in sorted(self._requests.items()):
                lines.append(
                    f'endpoints_local_requests_total{{endpoint="{endpoint}",status="{status}"}} '
                    f"{count}"
                )
            lines += [
                "# HELP endpoints_local_request_seconds Request latency, by endpoint.",
                "# TYPE endpoints_local_request_seconds histogram",
            ]
            for endpoint, buckets in sorted(self._latency_buckets.items()):
                total = sum(c for (e, _), c in self._requests.items() if e == endpoint)
                running = 0
                for bound, count in zip(LATENCY_BUCKETS_S, buckets):
                    running += count
                    lines.append(
                        f'endpoints_local_request_seconds_bucket{{endpoint="{endpoint}",'
                        f'le="{bound}"}} {running}'
                    )
                lines.append(
                    f'endpoints_local_request_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} '
                    f"{total}"
                )
                lines.append(
                    f'endpoints_local_request_seconds_sum{{endpoint="{endpoint}"}} '
                    f"{self._latency_sum[endpoint]:.6f}"
                )
                lines.append(
                    f'endpoints_local_request_seconds_count{{endpoint="{endpoint}"}} {total}'
                )
            lines += [
                "# HELP endpoints_local_faults_injected_total Faults injected by endpoint, kind.",
                "# TYPE endpoints_local_faults_injected_total counter",
            ]
            for (endpoint, kind), count in sorted(self._faults.items()):
                lines.append(
                    f'endpoints_local_faults_injected_total{{endpoint="{endpoint}",kind="{kind}"}} '
                    f"{count}"
                )
        return "\n".join(lines) + "\n"
