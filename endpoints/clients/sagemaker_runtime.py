"""A SageMaker real-time endpoint, invoked through boto3's ``sagemaker-runtime`` client."""

from __future__ import annotations

from typing import Any

from endpoints.clients.client_cache import client_cache
from endpoints.clients.specs import register_endpoint_kind
from endpoints.clients.transport import Endpoint, Secret
from endpoints.failures import from_backend_error
from endpoints.redaction import install_botocore_log_filter

__all__ = ["SageMakerEndpoint"]

_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


@register_endpoint_kind("sagemaker")
class SageMakerEndpoint(Endpoint):
    """``invoke_endpoint`` on ``endpoint_name``.

    Credentials come from the standard AWS chain on each executor (instance role,
    environment, ``profile_name``) unless passed here; passed ones are kept as
    :class:`~endpoints.clients.transport.Secret` and never printed. botocore's own retries are
    switched off (one attempt per call) so they cannot multiply with the engine's.

    Args:
        endpoint_name: the SageMaker endpoint.
        region: AWS region; default from the executor's environment.
        profile_name: a named profile from the executor's AWS config.
        endpoint_url: another runtime URL (the local endpoint host, a VPC endpoint).
        connect_timeout_s / read_timeout_s: socket timeouts per attempt.
        target_variant / target_model / custom_attributes / inference_component_name:
            passed through to ``invoke_endpoint``.
    """

    def __init__(
        self,
        endpoint_name: str,
        *,
        region: str | None = None,
        profile_name: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 70.0,
        target_variant: str | None = None,
        target_model: str | None = None,
        custom_attributes: str | None = None,
        inference_component_name: str | None = None,
        aws_access_key_id: str | Secret | None = None,
        aws_secret_access_key: str | Secret | None = None,
        aws_session_token: str | Secret | None = None,
    ) -> None:
        if not endpoint_name:
            raise ValueError("endpoint_name must be a non-empty SageMaker endpoint name")
        self.endpoint_name = endpoint_name
        self.region = region
        self.profile_name = profile_name
        self.endpoint_url = endpoint_url
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.target_variant = target_variant
        self.target_model = target_model
        self.custom_attributes = custom_attributes
        self.inference_component_name = inference_component_name
        self._credentials = tuple(
            None if v is None else (v if isinstance(v, Secret) else Secret(v))
            for v in (aws_access_key_id, aws_secret_access_key, aws_session_token)
        )
        self.name = f"sagemaker:{endpoint_name}"

    def _build_client(self, pool_size: int) -> Any:
        import boto3
        from botocore.config import Config

        key_id, secret, token = (None if c is None else c.reveal() for c in self._credentials)
        session = boto3.session.Session(
            profile_name=self.profile_name,
            region_name=self.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
        )
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            # every call's parameters are built here, never by a user; validating them
            # again costs about a tenth of a call's CPU, and the endpoint validates anyway
            parameter_validation=False,
            max_pool_connections=pool_size,
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            tcp_keepalive=True,
        )
        client = session.client("sagemaker-runtime", endpoint_url=self.endpoint_url, config=config)
        install_botocore_log_filter()  # botocore's DEBUG lines carry the session token
        return client

    @property
    def client(self) -> Any:
        key = (
            "sagemaker-runtime",
            self.region,
            self.profile_name,
            self.endpoint_url,
            self.connect_timeout_s,
            self.read_timeout_s,
            self._credentials,
        )
        return client_cache.get(key, self._build_client)

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        kwargs: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": body,
            "ContentType": content_type,
            "Accept": accept,
        }
        for arg, value in (
            ("TargetVariant", self.target_variant),
            ("TargetModel", self.target_model),
            ("CustomAttributes", self.custom_attributes),
            ("InferenceComponentName", self.inference_component_name),
        ):
            if value is not None:
                kwargs[arg] = value
        try:
            response = self.client.invoke_endpoint(**kwargs)
            return response["Body"].read()
        except Exception as exc:
            error = from_backend_error(exc, self.name)
            if error is None:
                raise
            raise error from exc

    def to_spec(self) -> dict[str, Any]:
        options = {
            "endpoint_name": self.endpoint_name,
            "region": self.region,
            "profile_name": self.profile_name,
            "endpoint_url": self.endpoint_url,
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "target_variant": self.target_variant,
            "target_model": self.target_model,
            "custom_attributes": self.custom_attributes,
            "inference_component_name": self.inference_component_name,
        }
        spec: dict[str, Any] = {
            "kind": "sagemaker",
            "options": {k: v for k, v in options.items() if v is not None},
        }
        given = [name for name, v in zip(_CREDENTIALS, self._credentials) if v is not None]
        if given:  # names only: loading refuses until they are given again
            spec["credentials_not_saved"] = given
        return spec

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (("region", self.region), ("endpoint_url", self.endpoint_url))
            if v is not None
        )
        creds = ", credentials='**********'" if any(self._credentials) else ""
        return f"SageMakerEndpoint({self.endpoint_name!r}{extra}{creds})"
