"""Network clients built once per Python worker process and reused across tasks.

Spark reuses Python workers between tasks (``spark.python.worker.reuse``, on by default),
so a module-level cache lives as long as the worker: one boto3 client or urllib3 pool per
endpoint configuration, not one per partition. Entries are few (one per endpoint a job
talks to); a small LRU bounds them anyway. ``constructions`` counts builds so tests and
metrics can prove reuse.

Pool sizing lives here too, not on each endpoint: the engine asks for as many connections
as its window may keep in flight (:meth:`ClientCache.reserve`), and a client is built with
the process's largest reservation — a client built for a smaller pool is a different entry,
so a larger window never queues behind a pool sized for a smaller one.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["ClientCache", "client_cache"]


#: Connections per client before any reservation (botocore's and urllib3's own default).
DEFAULT_POOL_SIZE = 10


class ClientCache:
    """Clients by configuration key, least recently used evicted (and closed) first."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._clients: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.constructions = 0
        self.pool_size = DEFAULT_POOL_SIZE

    def reserve(self, connections: int) -> None:
        """Clients built from now on hold at least ``connections`` at once (never fewer
        than before: several partitions of one worker may run with different windows)."""
        with self._lock:
            self.pool_size = max(self.pool_size, int(connections))

    def get(self, key: Hashable, build: Callable[[int], Any]) -> Any:
        """The client for ``key``, built with ``build(pool_size)`` on the first call."""
        with self._lock:
            key = (key, self.pool_size)
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = build(self.pool_size)
            self.constructions += 1
            self._clients[key] = client
            while len(self._clients) > self.capacity:
                _, evicted = self._clients.popitem(last=False)
                _close_quietly(evicted)
            return client

    def clear(self) -> None:
        with self._lock:
            for client in self._clients.values():
                _close_quietly(client)
            self._clients.clear()


def _close_quietly(client: Any) -> None:
    close = getattr(client, "close", None) or getattr(client, "clear", None)
    if close is not None:
        with contextlib.suppress(Exception):  # closing a pool must never fail a task
            close()


#: The process-wide cache every endpoint uses.
client_cache = ClientCache()
