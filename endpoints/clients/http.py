"""Any HTTP model server: TF Serving's REST API, KServe v2, a SageMaker container's
``/invocations``, or a URL of your own — through a urllib3 connection pool."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from endpoints.clients.client_cache import client_cache
from endpoints.clients.specs import register_endpoint_kind
from endpoints.clients.transport import Endpoint, Secret
from endpoints.errors import TransportError
from endpoints.failures import error_for_response, parse_retry_after
from endpoints.redaction import is_harmless_header, redact_headers, redact_url, split_user_info

__all__ = ["HttpEndpoint"]

_MAX_MESSAGE = 500


@register_endpoint_kind("http")
class HttpEndpoint(Endpoint):
    """POSTs each body to ``url``.

    Every header but the harmless ones (:data:`endpoints.redaction.HARMLESS_HEADERS`:
    Content-Type, Accept, User-Agent, SageMaker's routing headers) may carry a credential, so
    it is kept as a :class:`~endpoints.clients.transport.Secret`: sent, never shown, never
    saved. User info in ``url`` (``https://user:password@host/...``) is sent as HTTP Basic
    ``Authorization`` (urllib3 would drop it) and is not part of :attr:`url`. Status handling
    matches SageMaker's: 429 and 503 are throttles (``Retry-After`` honoured), other 5xx
    server errors, 4xx rejections.

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
            raise ValueError(f"url must start with http:// or https://, got {redact_url(url)!r}")
        self.url, user_info = split_user_info(url)
        self.headers = {
            k: (Secret(v) if isinstance(v, str) and not is_harmless_header(k) else v)
            for k, v in (headers or {}).items()
        }
        if user_info is not None:
            if any(k.lower() == "authorization" for k in self.headers):
                raise ValueError(
                    "url carries user info and headers carry Authorization: give the "
                    "credentials once"
                )
            basic = base64.b64encode(user_info.encode("utf-8")).decode("ascii")
            self.headers["Authorization"] = Secret(f"Basic {basic}")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.name = redact_url(name) if name else self.url

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

    def _build_pool(self, pool_size: int) -> Any:
        import urllib3

        return urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
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
        key = ("urllib3", self.connect_timeout_s, self.read_timeout_s)
        pool = client_cache.get(key, self._build_pool)
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
        spec: dict[str, Any] = {"kind": "http", "options": options}
        secret = sorted(k for k, v in self.headers.items() if isinstance(v, Secret))
        if secret:  # names only: loading refuses until they are given again
            spec["credentials_not_saved"] = secret
        return spec

    def __repr__(self) -> str:
        headers = f", headers={redact_headers(self.headers)!r}" if self.headers else ""
        return f"HttpEndpoint({self.url!r}{headers})"
