"""The serving image of a framework, from the SageMaker SDK's bundled tables; and the old
home of the SDK serializer adapters.

* :func:`image_uri` — the ECR image of a framework's serving container (no network, no AWS
  account needed). It stays here: it is about hosting a model, not about SerDes.
* ``SDKSerializerAdapter``, ``SDKDeserializerAdapter``, ``sdk_object_spec`` and
  ``sdk_object_from_spec`` moved to :mod:`serde.sagemaker_sdk`, beside the other SerDes
  (they never needed ``endpoints``). Importing them from here still works and warns
  with a ``DeprecationWarning`` that names the new import.

The SDK is imported only when :func:`image_uri` is called; ``import endpoints`` never
needs it.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from serde.sagemaker_sdk import import_sdk_module

__all__ = ["image_uri"]

#: Names that moved to ``serde.sagemaker_sdk``: resolved lazily, with a warning.
_MOVED_TO_SERDE = frozenset(
    {"SDKDeserializerAdapter", "SDKSerializerAdapter", "sdk_object_from_spec", "sdk_object_spec"}
)


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_SERDE:
        warnings.warn(
            f"endpoints.sagemaker_sdk.{name} moved to serde.sagemaker_sdk.{name}; "
            f"import it with: from serde.sagemaker_sdk import {name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("serde.sagemaker_sdk"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def image_uri(
    framework: str = "tensorflow",
    framework_version: str = "2.16",
    *,
    region: str | None = None,
    instance_type: str = "ml.m5.large",
    image_scope: str = "inference",
    py_version: str | None = None,
) -> str:
    """The serving image for ``framework`` in ``region`` (default: boto3's region).

    >>> image_uri("tensorflow", "2.16", region="us-east-1")  # doctest: +SKIP
    '763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu'
    """
    image_uris = import_sdk_module("sagemaker.core.image_uris", needed_by=__name__)
    if region is None:
        import boto3

        region = boto3.session.Session().region_name
        if not region:
            raise ValueError(
                "image_uri: no region given and boto3 has none; pass region='us-east-1' "
                "(or set AWS_DEFAULT_REGION)"
            )
    try:
        return image_uris.retrieve(
            framework,
            region=region,
            version=framework_version,
            py_version=py_version,
            instance_type=instance_type,
            image_scope=image_scope,
        )
    except ValueError as exc:
        raise ValueError(
            f"image_uri: the SageMaker SDK has no {image_scope} image for {framework} "
            f"{framework_version} on {instance_type} in {region}: {exc}"
        ) from exc
