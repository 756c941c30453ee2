"""sagemaker_pyspark's own scoring snippets, run with only their import lines changed
(``from sagemaker_pyspark`` → ``from endpoints.compat.sagemaker_pyspark``), against the
local endpoint host serving built-in-algorithm-like Python models.

Sources (aws/sagemaker-spark and aws/amazon-sagemaker-examples): the notebook
``sagemaker-spark/pyspark_mnist/pyspark_mnist_kmeans.ipynb`` (its "Re-using existing
endpoints or models" and "Clean-up" cells, code as written, long comments trimmed), the
XGBoost notebook's model (``LibSVMRequestRowSerializer`` + ``XGBoostCSVRowDeserializer``,
the ``XGBoostSageMakerEstimator`` defaults) and the CSV pair ``bench_vs_reference`` runs,
and the sagemaker-spark README's "SageMakerModel From an Endpoint" and PCA → KMeans
pipeline, in the Python wrapper's spelling (the README shows Scala). Training cells are
not run: nothing here trains (see ``test_compat_sagemaker_pyspark.py``); the variables
they would have produced (an endpoint name, model data) are given by the test.

Spark's Python workers find the host through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` (set in
``SparkContext.environment`` for these tests), the driver's default boto3 ``sagemaker``
client through ``AWS_ENDPOINT_URL_SAGEMAKER``: exactly how a user points unchanged code at
the host.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

COMPAT = "from endpoints.compat.sagemaker_pyspark"

KMEANS = """
import numpy as np

CENTERS = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])

def predict(x):
    x = np.asarray(x, dtype=float)
    d = np.linalg.norm(x[:, None, :] - CENTERS[None, :, :], axis=2)
    return {"closest_cluster": d.argmin(axis=1).astype(float), "distance_to_cluster": d.min(axis=1)}
"""

PCA = """
import numpy as np

W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])

def predict(x):
    return {"projection": np.asarray(x, dtype=float) @ W}
"""

LINEAR_LEARNER = """
import numpy as np

def predict(x):
    score = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float).sum(axis=1)))
    return {"score": score, "predicted_label": (score > 0.5).astype(float)}
"""

ROW_SUM = """
import numpy as np

def predict(x):
    return np.asarray(x, dtype=float).sum(axis=1)
"""

POINTS = [(0.5, -0.5), (9.0, 11.0), (-9.5, 4.0), (1.0, 1.0), (11.0, 9.5), (-12.0, 6.0)]
CLUSTERS = [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]

# --- the snippets, as sagemaker_pyspark users wrote them ----------------------------------

NOTEBOOK_ATTACH = """
from sagemaker_pyspark import SageMakerModel
from sagemaker_pyspark import EndpointCreationPolicy
from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer
from sagemaker_pyspark.transformation.deserializers import KMeansProtobufResponseRowDeserializer

attachedModel = SageMakerModel(
    existingEndpointName = ENDPOINT_NAME,
    endpointCreationPolicy = EndpointCreationPolicy.DO_NOT_CREATE,
    endpointInstanceType = None, # Required
    endpointInitialInstanceCount = None, # Required
    requestRowSerializer = ProtobufRequestRowSerializer(featuresColumnName = "features"),
    responseRowDeserializer = KMeansProtobufResponseRowDeserializer( # Optional
      distance_to_cluster_column_name = "distance_to_cluster",
      closest_cluster_column_name = "closest_cluster")
)

transformedData2 = attachedModel.transform(testData)
transformedData2.show()
"""

NOTEBOOK_FROM_MODEL_DATA = """
from sagemaker_pyspark import S3DataPath

MODEL_S3_PATH = S3DataPath(MODEL_BUCKET, MODEL_OBJECT_PATH)  # there: initialModel.modelPath

from sagemaker_pyspark import RandomNamePolicy

retrievedModel = SageMakerModel(
    modelPath = MODEL_S3_PATH,
    modelExecutionRoleARN = MODEL_ROLE_ARN,
    modelImage = MODEL_IMAGE_PATH,
    endpointInstanceType = "ml.t2.medium",
    endpointInitialInstanceCount = 1,
    requestRowSerializer = ProtobufRequestRowSerializer(),
    responseRowDeserializer = KMeansProtobufResponseRowDeserializer(),
    namePolicy = RandomNamePolicy("sparksm-1b-"),
    endpointCreationPolicy = EndpointCreationPolicy.CREATE_ON_TRANSFORM
)

transformedData3 = retrievedModel.transform(testData)
transformedData3.show()
"""

NOTEBOOK_FROM_TRAINING_JOB = """
modelFromJob = SageMakerModel.fromTrainingJob(
    trainingJobName = TRAINING_JOB_NAME,
    modelExecutionRoleARN = MODEL_ROLE_ARN,
    modelImage = MODEL_IMAGE_PATH,
    endpointInstanceType = "ml.t2.medium",
    endpointInitialInstanceCount = 1,
    requestRowSerializer = ProtobufRequestRowSerializer(),
    responseRowDeserializer = KMeansProtobufResponseRowDeserializer(),
    namePolicy = RandomNamePolicy("sparksm-1c-"),
    endpointCreationPolicy = EndpointCreationPolicy.CREATE_ON_TRANSFORM
)

transformedData4 = modelFromJob.transform(testData)
transformedData4.show()
"""

NOTEBOOK_CLEANUP = """
# Delete the resources
from sagemaker_pyspark import SageMakerResourceCleanup

def cleanUp(model):
    resource_cleanup = SageMakerResourceCleanup(model.sagemakerClient)
    resource_cleanup.deleteResources(model.getCreatedResources())

# Don't forget to include any models or pipeline models that you created in the notebook
models = [initialModel, retrievedModel, modelFromJob]

# Delete regular SageMakerModels
for m in models:
    cleanUp(m)
"""

README_FROM_ENDPOINT = """
from sagemaker_pyspark import SageMakerModel
from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer
from sagemaker_pyspark.transformation.deserializers import KMeansProtobufResponseRowDeserializer

model = SageMakerModel.fromEndpoint(
    endpointName="my-endpoint-name",
    requestRowSerializer=ProtobufRequestRowSerializer(featuresColumnName="MyFeaturesColumn"),
    responseRowDeserializer=KMeansProtobufResponseRowDeserializer(
        distance_to_cluster_column_name="DistanceToCluster",
        closest_cluster_column_name="ClusterLabel"))
"""

README_PCA_KMEANS_PIPELINE = """
from pyspark.ml import PipelineModel
from sagemaker_pyspark import SageMakerModel
from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer
from sagemaker_pyspark.transformation.deserializers import (
    KMeansProtobufResponseRowDeserializer, PCAProtobufResponseRowDeserializer)

pcaModel = SageMakerModel.fromEndpoint(
    endpointName=PCA_ENDPOINT_NAME,
    requestRowSerializer=ProtobufRequestRowSerializer(),
    responseRowDeserializer=PCAProtobufResponseRowDeserializer(
        projection_column_name="projectionDim20"))
kmeansModel = SageMakerModel.fromEndpoint(
    endpointName=KMEANS_ENDPOINT_NAME,
    requestRowSerializer=ProtobufRequestRowSerializer(featuresColumnName="projectionDim20"),
    responseRowDeserializer=KMeansProtobufResponseRowDeserializer())

transformedData = PipelineModel(stages=[pcaModel, kmeansModel]).transform(dataset)
transformedData.show()
"""

LINEAR_LEARNER_ATTACH = """
from sagemaker_pyspark import SageMakerModel, EndpointCreationPolicy
from sagemaker_pyspark.transformation.serializers import ProtobufRequestRowSerializer
from sagemaker_pyspark.transformation.deserializers import (
    LinearLearnerBinaryClassifierProtobufResponseRowDeserializer)

model = SageMakerModel(
    existingEndpointName=ENDPOINT_NAME,
    endpointCreationPolicy=EndpointCreationPolicy.DO_NOT_CREATE,
    endpointInstanceType=None,
    endpointInitialInstanceCount=None,
    requestRowSerializer=ProtobufRequestRowSerializer(),
    responseRowDeserializer=LinearLearnerBinaryClassifierProtobufResponseRowDeserializer())
transformedData = model.transform(testData)
"""

XGBOOST_LIBSVM_AND_CSV = """
from sagemaker_pyspark import SageMakerModel, EndpointCreationPolicy
from sagemaker_pyspark.transformation.serializers import (
    LibSVMRequestRowSerializer, UnlabeledCSVRequestRowSerializer)
from sagemaker_pyspark.transformation.deserializers import XGBoostCSVRowDeserializer

libsvmModel = SageMakerModel(
    existingEndpointName=ENDPOINT_NAME,
    endpointCreationPolicy=EndpointCreationPolicy.DO_NOT_CREATE,
    endpointInstanceType=None,
    endpointInitialInstanceCount=None,
    requestRowSerializer=LibSVMRequestRowSerializer(
        labelColumnName="label", featuresColumnName="features"),
    responseRowDeserializer=XGBoostCSVRowDeserializer())
csvModel = SageMakerModel.fromEndpoint(
    ENDPOINT_NAME, UnlabeledCSVRequestRowSerializer(), XGBoostCSVRowDeserializer())
transformedLibSVM = libsvmModel.transform(testData)
transformedCSV = csvModel.transform(testData)
"""


def run(snippet: str, namespace: dict) -> dict:
    """Runs a sagemaker_pyspark snippet whose only change is its imports."""
    exec(compile(snippet.replace("from sagemaker_pyspark", COMPAT), "<snippet>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def host_for_unchanged_code(local_host, spark):
    """The local host where unchanged code looks for AWS: the driver's environment for
    boto3's default clients, ``SparkContext.environment`` for the Python workers."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER", local_host.url)
    mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", local_host.url)
    workers = spark.sparkContext.environment
    workers["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = local_host.url
    yield local_host
    del workers["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    mp.undo()


@pytest.fixture(scope="module")
def model_bucket(host_for_unchanged_code):
    """``s3://compat-models/<name>/`` on the host: each model's ``model.py``."""
    root = host_for_unchanged_code.artifacts.s3_root / "compat-models"
    for name, source in {
        "kmeans": KMEANS,
        "pca": PCA,
        "linear-learner": LINEAR_LEARNER,
        "row-sum": ROW_SUM,
    }.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "model.py").write_text(source)
    return root


@pytest.fixture(scope="module")
def deployed(host_for_unchanged_code, model_bucket):
    """``deployed("kmeans", name=None)``: an InService endpoint serving that model (named
    ``compat-<model>`` unless the snippet names it), made once."""
    made: set[str] = set()

    def endpoint(model: str, name: str | None = None) -> str:
        name = name or f"compat-{model}"
        if name not in made:
            url = f"s3://compat-models/{model}/"
            host_for_unchanged_code.deploy_local(name, url, runtime="python")
            made.add(name)
        return name

    return endpoint


def points_df(spark, column="features"):
    return spark.createDataFrame(
        [(float(i % 2), Vectors.dense(p)) for i, p in enumerate(POINTS)], ["label", column]
    ).coalesce(2)


def names_on(client) -> set[str]:
    listed = (
        [e["EndpointName"] for e in client.list_endpoints()["Endpoints"]]
        + [c["EndpointConfigName"] for c in client.list_endpoint_configs()["EndpointConfigs"]]
        + [m["ModelName"] for m in client.list_models()["Models"]]
    )
    return set(listed)


def assert_kmeans(df, distance="distance_to_cluster", cluster="closest_cluster"):
    rows = df.collect()
    order = [POINTS.index(tuple(r.features)) for r in rows]
    assert [r[cluster] for r in rows] == [CLUSTERS[i] for i in order]
    centers = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])
    for r, i in zip(rows, order):
        expected = np.linalg.norm(np.array(POINTS[i]) - centers[int(CLUSTERS[i])])
        assert r[distance] == pytest.approx(expected, rel=1e-6)  # float32 on the wire


def test_kmeans_notebook_attach_create_from_data_and_job_then_clean_up(
    spark, host_for_unchanged_code, deployed
):
    host = host_for_unchanged_code
    sm = host.sagemaker_client()
    host.register_training_job("compat-kmeans-job", "s3://compat-models/kmeans/")
    from endpoints.compat.sagemaker_pyspark import SageMakerModel
    from endpoints.compat.sagemaker_pyspark.transformation import deserializers, serializers

    endpoint = deployed("kmeans")
    # what the notebook's training cells would have left: a model on an endpoint
    initial = SageMakerModel.fromEndpoint(
        endpoint,
        serializers.ProtobufRequestRowSerializer(),
        deserializers.KMeansProtobufResponseRowDeserializer(),
    )
    ns = run(
        NOTEBOOK_ATTACH,
        {"ENDPOINT_NAME": endpoint, "testData": points_df(spark), "initialModel": initial},
    )
    assert_kmeans(ns["transformedData2"])
    assert ns["attachedModel"].endpointName == endpoint

    ns.update(
        MODEL_BUCKET="compat-models",
        MODEL_OBJECT_PATH="kmeans/",
        MODEL_ROLE_ARN="arn:aws:iam::123456789012:role/SageMakerRole",
        MODEL_IMAGE_PATH="382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
        TRAINING_JOB_NAME="compat-kmeans-job",
    )
    run(NOTEBOOK_FROM_MODEL_DATA, ns)
    run(NOTEBOOK_FROM_TRAINING_JOB, ns)
    assert_kmeans(ns["transformedData3"])
    assert_kmeans(ns["transformedData4"])
    retrieved, from_job = ns["retrievedModel"], ns["modelFromJob"]
    assert retrieved.modelPath.toS3UriString() == "s3://compat-models/kmeans/"
    assert retrieved.getCreatedResources().endpoint_name.startswith("sparksm-1b-")
    assert from_job.getCreatedResources().endpoint_name.startswith("sparksm-1c-")
    created = {
        name
        for model in (retrieved, from_job)
        for name in (
            model.getCreatedResources().model_name,
            model.getCreatedResources().endpoint_config_name,
            model.getCreatedResources().endpoint_name,
        )
    }
    assert created <= names_on(sm)

    run(NOTEBOOK_CLEANUP, ns)
    assert not created & names_on(sm)
    # the endpoint the attached model only pointed at is still there (the reference's
    # getCreatedResources listed it, and its cleanup deleted it)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_readme_from_endpoint_with_its_own_column_names(spark, host_for_unchanged_code, deployed):
    deployed("kmeans", name="my-endpoint-name")  # the README's endpoint, InService
    ns = run(README_FROM_ENDPOINT, {})
    scored = ns["model"].transform(points_df(spark, "MyFeaturesColumn"))
    assert scored.columns == ["label", "MyFeaturesColumn", "DistanceToCluster", "ClusterLabel"]
    renamed = scored.withColumnRenamed("MyFeaturesColumn", "features")
    assert_kmeans(renamed, "DistanceToCluster", "ClusterLabel")


def test_readme_pca_then_kmeans_pipeline(spark, host_for_unchanged_code, deployed):
    wide = spark.createDataFrame(
        [(Vectors.dense([x / 2, y / 2, x / 2, y / 2]),) for x, y in POINTS], ["features"]
    )
    ns = run(
        README_PCA_KMEANS_PIPELINE,
        {
            "PCA_ENDPOINT_NAME": deployed("pca"),
            "KMEANS_ENDPOINT_NAME": deployed("kmeans"),
            "dataset": wide,
        },
    )
    rows = ns["transformedData"].collect()
    by_input = {tuple(r.features): r for r in rows}
    for (x, y), cluster in zip(POINTS, CLUSTERS):
        row = by_input[(x / 2, y / 2, x / 2, y / 2)]
        assert row.projectionDim20.toArray().tolist() == pytest.approx([x, y])
        assert row.closest_cluster == cluster


def test_linear_learner_binary_classifier(spark, host_for_unchanged_code, deployed):
    ns = run(
        LINEAR_LEARNER_ATTACH,
        {"ENDPOINT_NAME": deployed("linear-learner"), "testData": points_df(spark)},
    )
    for row in ns["transformedData"].collect():
        score = 1.0 / (1.0 + np.exp(-sum(row.features)))
        assert row.score == pytest.approx(score, rel=1e-6)
        assert row.predicted_label == float(score > 0.5)


def test_xgboost_libsvm_and_csv_answers(spark, host_for_unchanged_code, deployed):
    ns = run(
        XGBOOST_LIBSVM_AND_CSV, {"ENDPOINT_NAME": deployed("row-sum"), "testData": points_df(spark)}
    )
    for name in ("transformedLibSVM", "transformedCSV"):
        rows = ns[name].collect()
        assert [r.prediction for r in rows] == [sum(r.features) for r in rows], name
        assert len(rows) == len(POINTS)
