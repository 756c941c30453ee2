"""sagemaker_pyspark's Python API on endpoint-serde: change the imports, keep the code.

::

    from sagemaker_pyspark import SageMakerModel, EndpointCreationPolicy
    from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer

becomes::

    from endpoints.compat.sagemaker_pyspark import SageMakerModel, EndpointCreationPolicy
    from endpoints.compat.sagemaker_pyspark.transformation.serializers import (
        ProtobufRequestRowSerializer,
    )

Everything that scores works: ``SageMakerModel`` (its keyword-only constructor in both
forms, ``fromEndpoint``, ``fromModelS3Path``, ``fromTrainingJob``, ``getCreatedResources``
and the other accessors), ``EndpointCreationPolicy``, the name policies,
``SageMakerResourceCleanup(sagemakerClient).deleteResources(...)``, every built-in SerDe
with its keyword arguments, ``S3DataPath``, ``SageMakerClients``. Clients are boto3's.
What trains (the estimators) raises :class:`~endpoints.errors.TrainingNotSupportedError`
pointing to the SageMaker Python SDK. Every behaviour that differs is listed in the README
("Migrating from sagemaker_pyspark").

The package is ``endpoints.compat.sagemaker_pyspark``, not ``sagemaker_pyspark``, so it
never shadows the real one installed beside it.
"""

from endpoints.compat.sagemaker_pyspark.aws import (
    IAMRole,
    IAMRoleFromConfig,
    S3AutoCreatePath,
    S3DataPath,
    S3Resource,
    SageMakerClients,
)
from endpoints.compat.sagemaker_pyspark.cleanup import CreatedResources, SageMakerResourceCleanup
from endpoints.compat.sagemaker_pyspark.estimators import (
    SageMakerEstimator,
    SageMakerEstimatorBase,
)
from endpoints.compat.sagemaker_pyspark.model import SageMakerModel
from endpoints.compat.sagemaker_pyspark.naming import (
    CustomNamePolicy,
    CustomNamePolicyFactory,
    CustomNamePolicyWithTimeStampSuffix,
    CustomNamePolicyWithTimeStampSuffixFactory,
    NamePolicy,
    NamePolicyFactory,
    RandomNamePolicy,
    RandomNamePolicyFactory,
)
from endpoints.scoring.model import EndpointCreationPolicy

__all__ = [
    "CreatedResources",
    "CustomNamePolicy",
    "CustomNamePolicyFactory",
    "CustomNamePolicyWithTimeStampSuffix",
    "CustomNamePolicyWithTimeStampSuffixFactory",
    "EndpointCreationPolicy",
    "IAMRole",
    "IAMRoleFromConfig",
    "NamePolicy",
    "NamePolicyFactory",
    "RandomNamePolicy",
    "RandomNamePolicyFactory",
    "S3AutoCreatePath",
    "S3DataPath",
    "S3Resource",
    "SageMakerClients",
    "SageMakerEstimator",
    "SageMakerEstimatorBase",
    "SageMakerModel",
    "SageMakerResourceCleanup",
    "classpath_jars",
]


def classpath_jars() -> list[str]:
    """No JARs: nothing here runs in the JVM. Code that puts this on
    ``spark.driver.extraClassPath`` (``":".join(classpath_jars())``) sets it empty."""
    return []
