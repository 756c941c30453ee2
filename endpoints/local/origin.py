"""Who may talk to the host: requests addressed to a loopback name, and for the ``/_local/``
controls, only clients that could not be a web page on another site.

A browser lets any page send simple cross-origin requests (a form POST, ``text/plain``) to
127.0.0.1, and through DNS rebinding a page can even read the answers: its own domain is
made to resolve to 127.0.0.1, so the browser calls the host "same-origin" — but it still
sends the page's domain in ``Host``. So:

- a host bound to a loopback address answers only requests whose ``Host`` is a loopback
  name (``127.0.0.0/8``, ``localhost`` and ``*.localhost``, ``[::1]``), whatever the port;
- ``/_local/`` (fault injection, metrics) always requires that, and a request that changes
  the host (``POST``) must also carry ``X-Endpoints-Local: 1`` and a JSON content type,
  which no page can send cross-origin without a CORS preflight the host never grants.
"""

from __future__ import annotations

import functools
import ipaddress

from endpoints.local.errors import ApiError

__all__ = [
    "CONTROL_HEADERS",
    "LOCAL_CONTROL_HEADER",
    "check_local_control",
    "is_loopback_address",
    "is_loopback_host",
    "require_loopback_host",
]

LOCAL_CONTROL_HEADER = "X-Endpoints-Local"
_CONTROL_HEADER = LOCAL_CONTROL_HEADER.lower().encode()
#: What a client of ``POST /_local/...`` sends besides its JSON body.
CONTROL_HEADERS = {LOCAL_CONTROL_HEADER: "1", "Content-Type": "application/json"}
_HOW = (
    "LocalEndpointHost.set_faults and LocalHostProcess.set_faults send what it takes; by hand: "
    f"curl -H '{LOCAL_CONTROL_HEADER}: 1' -H 'Content-Type: application/json' -d '{{...}}' "
    "http://127.0.0.1:PORT/_local/faults/ENDPOINT"
)


@functools.lru_cache(maxsize=64)
def is_loopback_address(address: str) -> bool:
    """Whether ``address`` (a bind address or a Host name, without port) is this machine's
    loopback: an IP in 127.0.0.0/8 or ::1, ``localhost`` or a name under it."""
    name = address.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(value: bytes) -> str:
    text = value.decode("latin-1").strip()
    if text.startswith("["):  # [::1]:8080
        return text[: text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def is_loopback_host(headers: dict[bytes, bytes]) -> bool:
    """Whether the request's ``Host`` names a loopback address (HTTP/1.0 requests without a
    Host header come from no browser, and pass)."""
    value = headers.get(b"host")
    return value is None or is_loopback_address(_host_name(value))


def require_loopback_host(headers: dict[bytes, bytes], what: str) -> None:
    """Refuse (403) a request addressed to anything but a loopback name."""
    if not is_loopback_host(headers):
        host = headers.get(b"host", b"").decode("latin-1")
        raise ApiError(
            403,
            "Forbidden",
            f"Host {host!r} is not a loopback name: {what} answers only requests addressed to "
            "127.0.0.1, localhost or [::1], so a web page on another site cannot reach it "
            "by making its own domain resolve here. Address the host as http://127.0.0.1:PORT.",
        )


def check_local_control(method: str, path: str, headers: dict[bytes, bytes]) -> None:
    """``/_local/``: a loopback Host always; for a ``POST``, the control header and a JSON
    content type too (403 / 415 saying what is missing)."""
    require_loopback_host(headers, "/_local/")
    if method != "POST":
        return
    if not headers.get(_CONTROL_HEADER, b"").strip():
        raise ApiError(
            403,
            "Forbidden",
            f"POST {path} changes how the host behaves, so it needs the header "
            f"{LOCAL_CONTROL_HEADER}: 1 (and Content-Type: application/json), which a web page "
            f"on another origin cannot send. {_HOW}",
        )
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json":
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"POST {path} takes Content-Type: application/json, got "
            f"{content_type.decode('latin-1') or 'none'!r}. {_HOW}",
        )
