"""``endpoints.compat.sagemaker_pyspark``: every name and signature of sagemaker_pyspark
1.4.5's Python API that scores, its constructor's two forms and its errors, the built-in
SerDes built from camelCase arguments as this library's own classes, the name policies,
cleanup, and estimators refusing to train with a way on.

The reference's names and signatures are copied below from its Python wrapper
(``sagemaker_pyspark/__init__.py``, ``SageMakerModel.py``, ``transformation/*``, ...), whose
package cannot be imported here (it pins pyspark 3.3).
"""

from __future__ import annotations

import inspect
import re

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql.types import DoubleType, StructField, StructType

import endpoints.compat.sagemaker_pyspark as compat
from endpoints.compat.sagemaker_pyspark import algorithms
from endpoints.compat.sagemaker_pyspark.transformation import deserializers, serializers
from endpoints.errors import ConfigurationError, TrainingNotSupportedError
from endpoints.lifecycle.cleanup import Outcome
from endpoints.lifecycle.naming import NamePolicy
from serde import csv, libsvm, protobuf, serde_spec

# sagemaker_pyspark/__init__.py's __all__, less its py4j plumbing (SageMakerJavaWrapper, Option)
REFERENCE_TOP_LEVEL = [
    "IAMRole",
    "IAMRoleFromConfig",
    "SageMakerClients",
    "SageMakerModel",
    "S3DataPath",
    "S3AutoCreatePath",
    "S3Resource",
    "EndpointCreationPolicy",
    "SageMakerEstimator",
    "SageMakerEstimatorBase",
    "RandomNamePolicy",
    "RandomNamePolicyFactory",
    "CustomNamePolicy",
    "CustomNamePolicyFactory",
    "CustomNamePolicyWithTimeStampSuffix",
    "CustomNamePolicyWithTimeStampSuffixFactory",
    "classpath_jars",
    "SageMakerResourceCleanup",
    "CreatedResources",
]
REFERENCE_ALGORITHMS = [
    "KMeansSageMakerEstimator",
    "LinearLearnerRegressor",
    "LinearLearnerBinaryClassifier",
    "LinearLearnerMultiClassClassifier",
    "LDASageMakerEstimator",
    "FactorizationMachinesBinaryClassifier",
    "FactorizationMachinesRegressor",
    "PCASageMakerEstimator",
    "XGBoostSageMakerEstimator",
]
REFERENCE_SERIALIZERS = {
    "UnlabeledCSVRequestRowSerializer": ["schema", "featuresColumnName"],
    "ProtobufRequestRowSerializer": ["schema", "featuresColumnName"],
    "LibSVMRequestRowSerializer": ["schema", "labelColumnName", "featuresColumnName"],
}
REFERENCE_DESERIALIZERS = {
    "ProtobufResponseRowDeserializer": ["schema", "protobufKeys"],
    "KMeansProtobufResponseRowDeserializer": [
        "distance_to_cluster_column_name",
        "closest_cluster_column_name",
    ],
    "PCAProtobufResponseRowDeserializer": ["projection_column_name"],
    "LDAProtobufResponseRowDeserializer": ["projection_column_name"],
    "LinearLearnerBinaryClassifierProtobufResponseRowDeserializer": [
        "score_column_name",
        "predicted_label_column_name",
    ],
    "LinearLearnerMultiClassClassifierProtobufResponseRowDeserializer": [
        "score_column_name",
        "predicted_label_column_name",
    ],
    "LinearLearnerRegressorProtobufResponseRowDeserializer": ["score_column_name"],
    "LibSVMResponseRowDeserializer": ["dim", "labelColumnName", "featuresColumnName"],
    "XGBoostCSVRowDeserializer": ["prediction_column_name"],
    "FactorizationMachinesBinaryClassifierDeserializer": [
        "score_column_name",
        "predicted_label_column_name",
    ],
    "FactorizationMachinesRegressorDeserializer": ["score_column_name"],
}
MODEL_FACTORY_TAIL = [
    "requestRowSerializer",
    "responseRowDeserializer",
    "modelEnvironmentVariables",
    "endpointCreationPolicy",
    "sagemakerClient",
    "prependResultRows",
    "namePolicy",
    "uid",
]
REFERENCE_MODEL = {  # the constructor less ``javaObject`` (its py4j plumbing)
    "SageMakerModel": [
        "endpointInstanceType",
        "endpointInitialInstanceCount",
        "requestRowSerializer",
        "responseRowDeserializer",
        "existingEndpointName",
        "modelImage",
        "modelPath",
        "modelEnvironmentVariables",
        "modelExecutionRoleARN",
        "endpointCreationPolicy",
        "sagemakerClient",
        "prependResultRows",
        "namePolicy",
        "uid",
    ],
    "fromEndpoint": [
        "endpointName",
        "requestRowSerializer",
        "responseRowDeserializer",
        "modelEnvironmentVariables",
        "sagemakerClient",
        "prependResultRows",
        "namePolicy",
        "uid",
    ],
    "fromModelS3Path": [
        "modelPath",
        "modelImage",
        "modelExecutionRoleARN",
        "endpointInstanceType",
        "endpointInitialInstanceCount",
        *MODEL_FACTORY_TAIL,
    ],
    "fromTrainingJob": [
        "trainingJobName",
        "modelImage",
        "modelExecutionRoleARN",
        "endpointInstanceType",
        "endpointInitialInstanceCount",
        *MODEL_FACTORY_TAIL,
    ],
}
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def parameter_names(callable_) -> list[str]:
    """Named parameters in order (this library's ``**engine_options`` left out)."""
    params = inspect.signature(callable_).parameters.values()
    return [p.name for p in params if p.kind is not p.VAR_KEYWORD]


def test_every_reference_name_is_here():
    assert set(REFERENCE_TOP_LEVEL) <= set(compat.__all__)
    for name in REFERENCE_TOP_LEVEL:
        assert getattr(compat, name) is not None
    assert set(REFERENCE_ALGORITHMS) == set(algorithms.__all__)
    assert set(REFERENCE_SERIALIZERS) < set(serializers.__all__)
    assert set(REFERENCE_DESERIALIZERS) < set(deserializers.__all__)
    assert compat.classpath_jars() == []


@pytest.mark.parametrize("name", REFERENCE_MODEL)
def test_model_constructor_and_factories_keep_the_reference_signatures(name):
    target = (
        compat.SageMakerModel if name == "SageMakerModel" else getattr(compat.SageMakerModel, name)
    )
    assert parameter_names(target) == REFERENCE_MODEL[name]


@pytest.mark.parametrize(
    "module, name, expected",
    [(serializers, n, a) for n, a in REFERENCE_SERIALIZERS.items()]
    + [(deserializers, n, a) for n, a in REFERENCE_DESERIALIZERS.items()],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_serdes_keep_the_reference_signatures(module, name, expected):
    assert parameter_names(getattr(module, name)) == expected


def test_camel_case_serdes_build_this_librarys_classes():
    cases = [
        (
            serializers.UnlabeledCSVRequestRowSerializer(featuresColumnName="f"),
            csv.UnlabeledCSVRequestRowSerializer,
            {"schema": None, "features_column_name": "f"},
        ),
        (
            serializers.ProtobufRequestRowSerializer(None, "f"),
            protobuf.ProtobufRequestRowSerializer,
            {"schema": None, "features_column_name": "f"},
        ),
        (
            serializers.LibSVMRequestRowSerializer(labelColumnName="y", featuresColumnName="f"),
            libsvm.LibSVMRequestRowSerializer,
            {"schema": None, "label_column_name": "y", "features_column_name": "f"},
        ),
        (
            serializers.UnlabeledLibSVMRequestRowSerializer(featuresColumnName="f"),
            libsvm.UnlabeledLibSVMRequestRowSerializer,
            {"schema": None, "features_column_name": "f"},
        ),
        (
            deserializers.LibSVMResponseRowDeserializer(7, "y", "f"),
            libsvm.LibSVMResponseRowDeserializer,
            {"dim": 7, "label_column_name": "y", "features_column_name": "f"},
        ),
    ]
    for built, cls, options in cases:
        assert type(built) is cls
        assert built.serde_options() == options
        assert serde_spec(built)["options"] == options  # saves in a Pipeline by name
    schema = StructType([StructField("s", DoubleType())])
    generic = deserializers.ProtobufResponseRowDeserializer(schema, protobufKeys=["score"])
    assert type(generic) is protobuf.ProtobufResponseRowDeserializer
    assert generic.protobuf_keys == ["score"] and generic.schema == schema
    assert isinstance(generic, deserializers.ProtobufResponseRowDeserializer)
    assert not isinstance(generic, serializers.ProtobufRequestRowSerializer)
    assert deserializers.KMeansProtobufResponseRowDeserializer is (
        protobuf.KMeansProtobufResponseRowDeserializer
    )


def test_constructor_is_keyword_only_like_the_references():
    with pytest.raises(TypeError, match="keyword"):
        compat.SageMakerModel("ml.m5.large", 1)
    with pytest.raises(TypeError, match="endpointInstanceType"):  # required there too
        compat.SageMakerModel(
            existingEndpointName="ep",
            endpointCreationPolicy=compat.EndpointCreationPolicy.DO_NOT_CREATE,
            requestRowSerializer=serializers.ProtobufRequestRowSerializer(),
            responseRowDeserializer=deserializers.KMeansProtobufResponseRowDeserializer(),
        )


def attach(**changes):
    arguments = dict(
        existingEndpointName="ep",
        endpointCreationPolicy=compat.EndpointCreationPolicy.DO_NOT_CREATE,
        endpointInstanceType=None,
        endpointInitialInstanceCount=None,
        requestRowSerializer=serializers.UnlabeledCSVRequestRowSerializer(),
        responseRowDeserializer=deserializers.XGBoostCSVRowDeserializer(),
    )
    return compat.SageMakerModel(**{**arguments, **changes})


def test_attach_form_is_this_librarys_model_on_the_endpoint():
    model = attach(region="eu-west-1", max_in_flight=3, uid="sagemaker_attach")
    assert isinstance(model, compat.SageMakerModel)
    assert model.endpointName == model.existingEndpointName == "ep"
    assert model.endpoint.region == "eu-west-1"
    assert model.getOrDefault(model.maxInFlight) == 3  # this library's options pass through
    assert model.uid == "sagemaker_attach"
    assert type(model.requestRowSerializer) is csv.UnlabeledCSVRequestRowSerializer
    assert not model.getCreatedResources()  # never lists an endpoint it did not create
    assert model.endpointCreationPolicy is compat.EndpointCreationPolicy.DO_NOT_CREATE
    assert model.params and model._sagemaker_client is None  # Params never made a client


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"endpointCreationPolicy": compat.EndpointCreationPolicy.CREATE_ON_CONSTRUCT},
            "must be DO_NOT_CREATE if creating an SageMakerModel from an existing endpoint",
        ),
        ({"existingEndpointName": None}, "expected existingEndpointName"),
        (
            {
                "existingEndpointName": None,
                "endpointCreationPolicy": compat.EndpointCreationPolicy.CREATE_ON_TRANSFORM,
                "modelPath": "s3://bucket/model.tar.gz",
            },
            "expected modelImage, modelExecutionRoleARN, endpointInstanceType",
        ),
    ],
)
def test_constructor_errors_name_what_is_wrong(changes, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        attach(**changes)


@pytest.mark.parametrize("factory", ["fromModelS3Path", "fromTrainingJob"])
def test_creating_factories_refuse_do_not_create_as_there(factory):
    with pytest.raises(ConfigurationError, match="must not be DO_NOT_CREATE"):
        getattr(compat.SageMakerModel, factory)(
            "s3://bucket/m/",
            "image",
            ROLE,
            "ml.m5.large",
            1,
            serializers.UnlabeledCSVRequestRowSerializer(),
            deserializers.XGBoostCSVRowDeserializer(),
            endpointCreationPolicy=compat.EndpointCreationPolicy.DO_NOT_CREATE,
        )


def test_create_form_on_the_local_host_with_its_client_and_accessors(local_host):
    sm = local_host.sagemaker_client()
    model = compat.SageMakerModel(
        modelPath=compat.S3DataPath("bucket", "models/none/"),
        modelImage="local/python:1",
        modelExecutionRoleARN=ROLE,
        endpointInstanceType="ml.m5.large",
        endpointInitialInstanceCount=1,
        requestRowSerializer=serializers.UnlabeledCSVRequestRowSerializer(),
        responseRowDeserializer=deserializers.XGBoostCSVRowDeserializer(),
        endpointCreationPolicy=compat.EndpointCreationPolicy.CREATE_ON_TRANSFORM,
        sagemakerClient=sm,
        namePolicy=compat.RandomNamePolicy("compat-create-"),
    )
    assert model.sagemakerClient is sm and model.resourceCleanup.client is sm
    assert model.modelPath == compat.S3DataPath("bucket", "models/none/")
    assert (model.modelImage, model.modelExecutionRoleARN) == ("local/python:1", ROLE)
    assert (model.endpointInstanceType, model.endpointInitialInstanceCount) == ("ml.m5.large", 1)
    assert model.endpointName.startswith("compat-create-")
    assert not model.getCreatedResources()  # CREATE_ON_TRANSFORM: nothing yet


def test_cleanup_keeps_the_camel_case_methods(local_host):
    cleanup = compat.SageMakerResourceCleanup(local_host.sagemaker_client())
    assert cleanup.deleteEndpoint("compat-never-made").outcome is Outcome.ALREADY_GONE
    assert cleanup.deleteEndpointConfig("compat-never-made").outcome is Outcome.ALREADY_GONE
    assert cleanup.deleteModel("compat-never-made").outcome is Outcome.ALREADY_GONE
    created = compat.CreatedResources(model_name="compat-never-made")
    assert [o.outcome for o in cleanup.deleteResources(created).outcomes] == [Outcome.ALREADY_GONE]


def test_name_policies():
    assert compat.RandomNamePolicy("sparksm-1b-").names().endpoint_name.startswith("sparksm-1b-")
    assert compat.RandomNamePolicy().prefix == NamePolicy().prefix  # findable by prefix
    custom = compat.CustomNamePolicy("job", "m", "c", "e").names()
    assert (custom.model_name, custom.endpoint_config_name, custom.endpoint_name) == ("m", "c", "e")
    stamped = compat.CustomNamePolicyWithTimeStampSuffix("job", "m", "c", "e").names()
    assert re.fullmatch(r"e-\d{8}-\d{6}", stamped.endpoint_name)
    assert stamped.model_name == "m" + stamped.endpoint_name[1:]
    factory = compat.RandomNamePolicyFactory("pre")
    assert isinstance(factory.createNamePolicy(), compat.RandomNamePolicy)
    assert factory.createNamePolicy().prefix == "pre"
    for bad in ("not valid!", "x" * 64):
        with pytest.raises(ValueError, match="SageMaker resource name"):
            compat.CustomNamePolicy("job", bad, "c", "e")


def test_s3_data_path_and_clients():
    path = compat.S3DataPath.fromS3URI("s3://bucket/a/b/model.tar.gz")
    assert (path.bucket, path.objectPath) == ("bucket", "a/b/model.tar.gz")
    assert str(path) == path.toS3UriString() == "s3://bucket/a/b/model.tar.gz"
    assert compat.SageMakerClients.create_sagemaker_client().meta.service_model.service_name == (
        "sagemaker"
    )


@pytest.mark.parametrize(
    "estimator", [*REFERENCE_ALGORITHMS, "SageMakerEstimator", "SageMakerEstimatorBase"]
)
def test_estimators_refuse_to_train_and_say_what_to_do(estimator):
    cls = getattr(algorithms, estimator, None) or getattr(compat, estimator)
    with pytest.raises(TrainingNotSupportedError) as info:
        cls(
            trainingInstanceType="ml.m4.xlarge",
            trainingInstanceCount=1,
            endpointInstanceType="ml.m4.xlarge",
            endpointInitialInstanceCount=1,
            sagemakerRole=compat.IAMRole("arn:aws:iam::0123456789012:role/MySageMakerRole"),
        )
    message = str(info.value)
    assert estimator in message and "SageMaker Python SDK" in message
    assert "SageMakerModel.fromTrainingJob" in message
    assert isinstance(info.value, NotImplementedError)


def test_saved_pipeline_with_a_compat_model_loads(spark, tmp_path):
    """Spark's ``load`` calls the class with no arguments: the engine's constructor."""
    model = attach(endpoint_url="http://127.0.0.1:9")
    PipelineModel(stages=[model]).write().overwrite().save(str(tmp_path / "p"))
    (loaded,) = PipelineModel.load(str(tmp_path / "p")).stages
    assert type(loaded) is compat.SageMakerModel
    assert loaded.endpointName is None  # endpoint rebuilt on first use, from the Params
    assert loaded.endpoint.endpoint_name == "ep" and loaded.endpointName == "ep"
    assert type(loaded.requestRowSerializer) is csv.UnlabeledCSVRequestRowSerializer
