"""Any HTTP model server: TF Serving's REST API, KServe v2, a SageMaker container's
``/invocations``, or a URL of your own — through a urllib3 connection pool."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from endpoints.clients.client_cache import client_cache
from endpoints.clients.transport import Endpoint, Secret
from endpoints.errors import TransportError
from endpoints.failures import error_for_response, parse_retry_after

__all__ = ["HttpEndpoint"]

_SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})
_MAX_MESSAGE = 500


class HttpEndpoint(Endpoint):
    """POSTs each body to ``url``.

    Headers named like credentials (Authorization, X-Api-Key, Cookie) are kept as
    :class:`~endpoints.clients.transport.Secret`. Status handling matches SageMaker's: 429 and 503
    are throttles (``Retry-After`` honoured), other 5xx server errors, 4xx rejections.

    >>> HttpEndpoint.tf_serving("http://127.0.0.1:8501", "half_plus_two")
    HttpEndpoint('http://127.0.0.1:8501/v1/models/half_plus_two:predict')
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str | Secret] | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 70.0,
        name: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        self.url = url
        self.headers = {
            k: (Secret(v) if k.lower() in _SENSITIVE_HEADERS and isinstance(v, str) else v)
            for k, v in (headers or {}).items()
        }
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.name = name or url
        self._pool_size = 10

    @classmethod
    def tf_serving(
        cls, base_url: str, model_name: str, *, version: int | None = None, **kwargs: Any
    ) -> HttpEndpoint:
        """TF Serving's REST predict API: ``/v1/models/{name}[/versions/{v}]:predict``."""
        path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version else "")
        return cls(base_url.rstrip("/") + path + ":predict", **kwargs)

    @classmethod
    def kserve_v2(
        cls, base_url: str, model_name: str, *, version: str | None = None, **kwargs: Any
    ) -> HttpEndpoint:
        """The KServe / Open Inference Protocol v2 infer URL."""
        path = f"/v2/models/{model_name}" + (f"/versions/{version}" if version else "")
        return cls(base_url.rstrip("/") + path + "/infer", **kwargs)

    @classmethod
    def sagemaker_container(cls, base_url: str, **kwargs: Any) -> HttpEndpoint:
        """A SageMaker inference container's own ``/invocations`` route."""
        return cls(base_url.rstrip("/") + "/invocations", **kwargs)

    def client_key(self) -> Hashable:
        return ("urllib3", self.connect_timeout_s, self.read_timeout_s, self._pool_size)

    def _build_pool(self) -> Any:
        import urllib3

        return urllib3.PoolManager(
            num_pools=4,
            maxsize=self._pool_size,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s),
        )

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        import urllib3
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

        headers = {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in self.headers.items()}
        headers["Content-Type"] = content_type
        headers["Accept"] = accept
        pool = client_cache.get(self.client_key(), self._build_pool)
        try:
            response = pool.request("POST", self.url, body=body, headers=headers, retries=False)
        except (ConnectTimeoutError, NewConnectionError) as exc:
            raise TransportError(
                f"could not connect: {exc}", endpoint=self.name, maybe_processed=False
            ) from exc
        except urllib3.exceptions.HTTPError as exc:  # read timeout, reset, protocol error
            raise TransportError(f"no response: {exc}", endpoint=self.name) from exc
        if response.status < 300:
            return response.data
        raise error_for_response(
            endpoint=self.name,
            status=response.status,
            code=response.headers.get("x-amzn-ErrorType", "").split(":")[0] or None,
            message=response.data[:_MAX_MESSAGE].decode("utf-8", "replace"),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def to_spec(self) -> dict[str, Any]:
        public = {k: v for k, v in self.headers.items() if not isinstance(v, Secret)}
        options: dict[str, Any] = {
            "url": self.url,
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "name": self.name,
        }
        if public:
            options["headers"] = public
        return {"kind": "http", "options": options}

    def __repr__(self) -> str:
        return f"HttpEndpoint({self.url!r})"
