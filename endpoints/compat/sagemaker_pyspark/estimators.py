"""sagemaker_pyspark's estimators, which this library does not offer: they train.

``KMeansSageMakerEstimator(...).fit(df)`` uploaded the DataFrame to S3, ran a SageMaker
training job and deployed the result. endpoint-serde scores DataFrames against endpoints;
training belongs to the SageMaker Python SDK. Constructing any estimator here raises
:class:`~endpoints.errors.TrainingNotSupportedError` saying so and naming the way on: train
with the SDK, then score the trained model with ``SageMakerModel.fromTrainingJob`` (or
``fromEndpoint`` once deployed).
"""

from __future__ import annotations

from typing import Any

from endpoints.errors import TrainingNotSupportedError

__all__ = [
    "FactorizationMachinesBinaryClassifier",
    "FactorizationMachinesRegressor",
    "KMeansSageMakerEstimator",
    "LDASageMakerEstimator",
    "LinearLearnerBinaryClassifier",
    "LinearLearnerMultiClassClassifier",
    "LinearLearnerRegressor",
    "PCASageMakerEstimator",
    "SageMakerEstimator",
    "SageMakerEstimatorBase",
    "XGBoostSageMakerEstimator",
]


class SageMakerEstimatorBase:
    """Every sagemaker_pyspark estimator; ``algorithm`` is the SageMaker built-in algorithm
    it ran (``None``: the user's own training image)."""

    algorithm: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TrainingNotSupportedError(training_message(type(self).__name__, self.algorithm))


def training_message(estimator: str, algorithm: str | None) -> str:
    """Why ``estimator`` is refused, and what to do instead."""
    what = f"SageMaker's built-in {algorithm!r} algorithm" if algorithm else "your training image"
    return (
        f"{estimator} trains {what} on SageMaker, and endpoint-serde does not train: it "
        "scores DataFrames against endpoints. Train with the SageMaker Python SDK "
        "(pip install sagemaker; its estimators run the same algorithms and images), then "
        "score the trained model here with SageMakerModel.fromTrainingJob(trainingJobName, "
        "modelImage, modelExecutionRoleARN, endpointInstanceType, "
        "endpointInitialInstanceCount, requestRowSerializer, responseRowDeserializer), or "
        "SageMakerModel.fromEndpoint(endpointName, ...) once it is deployed"
    )


class SageMakerEstimator(SageMakerEstimatorBase):
    """Any algorithm, from its training image."""


class KMeansSageMakerEstimator(SageMakerEstimatorBase):
    algorithm = "kmeans"


class PCASageMakerEstimator(SageMakerEstimatorBase):
    algorithm = "pca"


class LDASageMakerEstimator(SageMakerEstimatorBase):
    algorithm = "lda"


class LinearLearnerBinaryClassifier(SageMakerEstimatorBase):
    algorithm = "linear-learner"


class LinearLearnerMultiClassClassifier(SageMakerEstimatorBase):
    algorithm = "linear-learner"


class LinearLearnerRegressor(SageMakerEstimatorBase):
    algorithm = "linear-learner"


class FactorizationMachinesBinaryClassifier(SageMakerEstimatorBase):
    algorithm = "factorization-machines"


class FactorizationMachinesRegressor(SageMakerEstimatorBase):
    algorithm = "factorization-machines"


class XGBoostSageMakerEstimator(SageMakerEstimatorBase):
    algorithm = "xgboost"
