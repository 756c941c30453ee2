"""sagemaker_pyspark's name policies, as this library's :class:`NamePolicy`.

Each is a ``NamePolicy`` built from the reference's arguments, so the names are this
library's: valid for SageMaker (at most 63 characters, the prefix cleaned), and one
generated name shared by model, endpoint config and endpoint
(``<prefix>-<UTC yyyymmdd-hhmmss>-<6 hex>``; the reference wrote
``<prefix>model-<uid>-<timestamp>`` and could pass 63 characters). The factories exist for
estimator code, which this module's package refuses (training), so that its imports work.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from endpoints.lifecycle.naming import NamePolicy

__all__ = [
    "CustomNamePolicy",
    "CustomNamePolicyFactory",
    "CustomNamePolicyWithTimeStampSuffix",
    "CustomNamePolicyWithTimeStampSuffixFactory",
    "NamePolicy",
    "NamePolicyFactory",
    "RandomNamePolicy",
    "RandomNamePolicyFactory",
]


class RandomNamePolicy(NamePolicy):
    """``RandomNamePolicy(prefix="")``: generated names starting with ``prefix`` (this
    library's default prefix, ``endpoint-serde``, when empty, so ``endpoints-cleanup
    --prefix`` can find them)."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(*([prefix] if prefix else []))


class CustomNamePolicy(NamePolicy):
    """``CustomNamePolicy(trainingJobName, modelName, endpointConfigName, endpointName)``:
    these names exactly (``trainingJobName`` is kept but unused: nothing trains here)."""

    def __init__(
        self, trainingJobName: str, modelName: str, endpointConfigName: str, endpointName: str
    ) -> None:
        self.trainingJobName = trainingJobName
        super().__init__(
            model_name=modelName,
            endpoint_config_name=endpointConfigName,
            endpoint_name=endpointName,
        )


class CustomNamePolicyWithTimeStampSuffix(CustomNamePolicy):
    """As :class:`CustomNamePolicy`, each name followed by ``-<UTC yyyymmdd-hhmmss>``, the
    time the policy was made (the reference appends its local ISO time)."""

    def __init__(
        self, trainingJobName: str, modelName: str, endpointConfigName: str, endpointName: str
    ) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        names = (trainingJobName, modelName, endpointConfigName, endpointName)
        super().__init__(*(f"{name}-{stamp}" for name in names))


class NamePolicyFactory:
    """Makes a fresh policy of ``policy`` with the factory's arguments on each
    ``createNamePolicy()``, as sagemaker_pyspark's estimators ask for one per ``fit``."""

    policy: type[NamePolicy] = RandomNamePolicy

    def __init__(self, *args: Any) -> None:
        self.arguments = args

    def createNamePolicy(self) -> NamePolicy:
        return self.policy(*self.arguments)


class RandomNamePolicyFactory(NamePolicyFactory):
    """``RandomNamePolicyFactory(prefix="")``."""

    policy = RandomNamePolicy


class CustomNamePolicyFactory(NamePolicyFactory):
    """``CustomNamePolicyFactory(trainingJobName, modelName, endpointConfigName,
    endpointName)``."""

    policy = CustomNamePolicy


class CustomNamePolicyWithTimeStampSuffixFactory(NamePolicyFactory):
    """``CustomNamePolicyWithTimeStampSuffixFactory(trainingJobName, modelName,
    endpointConfigName, endpointName)``."""

    policy = CustomNamePolicyWithTimeStampSuffix
