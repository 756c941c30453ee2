"""Connection limits for the host's HTTP server: a deadline for a request's headers, an idle
timeout for its body, and a cap on open connections — on top of uvicorn's httptools
protocol, which has none of them.

uvicorn's ``timeout_keep_alive`` covers only the quiet time between requests, and any byte
received cancels it, so a client that sends half a request (or trickles one) holds its
connection forever; ``limit_concurrency`` answers 503 once headers are complete, but the
connection was accepted and may already have idled. 300 such connections were enough to
make a good request time out. Here:

- the headers of a request must be complete within ``read_timeout_s`` of its first byte
  (or of the connection opening); else ``408`` and close (a connection that sent nothing is
  closed without a word, as an idle keep-alive one is);
- once headers are in, the body may pause at most ``read_timeout_s`` between chunks;
- at most ``max_connections`` are open: a connection beyond that evicts the one that has
  waited longest without a request in progress (half-sent, or idle between requests), so
  idle and half-sent connections can never lock a good client out; if every connection
  is busy serving, the newcomer gets ``503`` and is closed.

Everything runs on the event loop thread, so the bookkeeping needs no lock.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnectionLimits", "guarded_protocol"]


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive, and how many connections may be open."""

    read_timeout_s: float = 10.0
    max_connections: int = 1024

    def __post_init__(self) -> None:
        if self.read_timeout_s <= 0:
            raise ValueError(f"read_timeout_s must be > 0, got {self.read_timeout_s!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections!r}")


def _plain(status: int, reason: str, message: str) -> bytes:
    body = message.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """An httptools protocol class enforcing ``limits`` for one server (pass it to
    ``uvicorn.Config(http=...)``); each server gets its own class, holding its own list of
    connections without a request in progress."""
    idle: OrderedDict[GuardedProtocol, None] = OrderedDict()  # oldest first: evicted first
    timed_out = _plain(
        408,
        "Request Timeout",
        f"The request did not arrive within {limits.read_timeout_s:g} s (its headers in "
        "that time, its body without a longer pause); send it whole, promptly.",
    )
    full = _plain(
        503,
        "Service Unavailable",
        f"The local host has {limits.max_connections} connections open, all serving "
        "requests (--max-connections); retry, or use fewer connections.",
    )

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._read_timer: asyncio.TimerHandle | None = None
            self._request_started = False
            self._in_body = False

        # ------------------------------------------------------------------- accounting

        def _arm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
            self._read_timer = self.loop.call_later(limits.read_timeout_s, self._read_timeout)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _read_timeout(self) -> None:
            self._read_timer = None
            idle.pop(self, None)
            if not self.transport.is_closing():
                if self._request_started:
                    self.transport.write(timed_out)
                self.transport.close()

        # --------------------------------------------------------------- protocol events

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                victim = next(iter(idle), None)
                if victim is None:
                    transport.write(full)
                    transport.close()
                    return
                idle.pop(victim)
                victim._disarm()
                victim.transport.close()
            idle[self] = None
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._in_body:
                self._arm()  # the body keeps coming: its idle timeout starts over
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._request_started = True
            if self._read_timer is None:  # a keep-alive connection's next request
                self._arm()

        def on_headers_complete(self) -> None:
            idle.pop(self, None)
            self._in_body = True
            self._arm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            busy = bool(self.pipeline)  # a pipelined request starts right away
            super().on_response_complete()
            if not busy and not self.transport.is_closing():
                self._request_started = False
                idle[self] = None  # evictable again; uvicorn's keep-alive timer runs

        def connection_lost(self, exc: Exception | None) -> None:
            idle.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

    return GuardedProtocol
