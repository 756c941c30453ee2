"""sagemaker_pyspark's ``algorithms`` module: its estimators, each refusing to train
(see :mod:`endpoints.compat.sagemaker_pyspark.estimators`)."""

from endpoints.compat.sagemaker_pyspark.estimators import (
    FactorizationMachinesBinaryClassifier,
    FactorizationMachinesRegressor,
    KMeansSageMakerEstimator,
    LDASageMakerEstimator,
    LinearLearnerBinaryClassifier,
    LinearLearnerMultiClassClassifier,
    LinearLearnerRegressor,
    PCASageMakerEstimator,
    XGBoostSageMakerEstimator,
)

__all__ = [
    "FactorizationMachinesBinaryClassifier",
    "FactorizationMachinesRegressor",
    "KMeansSageMakerEstimator",
    "LDASageMakerEstimator",
    "LinearLearnerBinaryClassifier",
    "LinearLearnerMultiClassClassifier",
    "LinearLearnerRegressor",
    "PCASageMakerEstimator",
    "XGBoostSageMakerEstimator",
]
