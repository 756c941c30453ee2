"""EndpointDeployer against real control planes: moto's server, behind a fault proxy.

The proxy is a real HTTP server that forwards to moto and answers chosen calls with AWS
errors (throttling, access denied) or a chosen DescribeEndpoint status, so each failure
path runs through boto3 and botocore as it would against AWS.
"""

from __future__ import annotations

import logging

import pytest

from endpoints.errors import EndpointCreationError, HostingError
from endpoints.lifecycle.cleanup import SageMakerResourceCleanup
from endpoints.lifecycle.hosting import EndpointDeployer
from endpoints.lifecycle.naming import NamePolicy
from endpoints.lifecycle.resources import RUN_ID_TAG, CreatedResources

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
MODEL_DATA = "s3://bucket/models/model.tar.gz"


class Sleeps(list):
    """Records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def deploy(client, prefix: str, **kwargs):
    deployer = kwargs.pop("deployer", None) or EndpointDeployer(client, sleep=Sleeps())
    return deployer.create_from_model_data(
        MODEL_DATA,
        IMAGE,
        ROLE,
        "ml.m5.large",
        2,
        model_environment_variables={"SAGEMAKER_PROGRAM": "inference.py"},
        name_policy=NamePolicy(prefix),
        tags={"team": "ml"},
        **kwargs,
    )


def tags_of(client, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]}


def test_create_model_config_endpoint_in_service_tagged_then_cleaned(moto_sagemaker, caplog):
    caplog.set_level(logging.INFO, logger="endpoints.lifecycle.hosting")
    created = deploy(moto_sagemaker, "hosting-e2e")

    name = created.endpoint_name
    assert name.startswith("hosting-e2e-")
    assert created.model_name == created.endpoint_config_name == name
    assert created.region == "us-east-1"
    assert len(created.run_id) == 32
    assert created.tags == {"team": "ml", RUN_ID_TAG: created.run_id}
    assert created.created_at is not None and created.created_at.tzinfo is not None

    endpoint = moto_sagemaker.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == name
    config = moto_sagemaker.describe_endpoint_config(EndpointConfigName=name)
    variant = config["ProductionVariants"][0]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        name,
        "ml.m5.large",
        2,
    )
    model = moto_sagemaker.describe_model(ModelName=name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == MODEL_DATA
    assert model["PrimaryContainer"]["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py"}
    assert model["ExecutionRoleArn"] == ROLE
    for arn in (endpoint["EndpointArn"], config["EndpointConfigArn"], model["ModelArn"]):
        assert tags_of(moto_sagemaker, arn) == {"team": "ml", RUN_ID_TAG: created.run_id}

    progress = [r.getMessage() for r in caplog.records if "waiting up to" in r.getMessage()]
    assert progress == [f"endpoint {name}: InService after 0s (waiting up to 1800s)"]

    report = SageMakerResourceCleanup(moto_sagemaker).delete_resources(created)
    assert [str(r) for r in report.deleted] == [
        f"endpoint {name!r}",
        f"endpoint-config {name!r}",
        f"model {name!r}",
    ]
    assert name not in [e["EndpointName"] for e in moto_sagemaker.list_endpoints()["Endpoints"]]
    assert name not in [m["ModelName"] for m in moto_sagemaker.list_models()["Models"]]


def test_throttled_control_plane_still_deploys(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    sleeps = Sleeps()
    fault_proxy.fail("CreateModel", times=2)
    fault_proxy.fail("CreateEndpoint", times=1)
    fault_proxy.fail("DescribeEndpoint", times=3)
    deployer = EndpointDeployer(client, sleep=sleeps)
    created = deploy(client, "throttled", deployer=deployer)

    assert client.describe_endpoint(EndpointName=created.endpoint_name)["EndpointStatus"] == (
        "InService"
    )
    assert deployer.calls.retries == 6
    assert dict(fault_proxy.faults) == {
        "CreateModel": 2,
        "CreateEndpoint": 1,
        "DescribeEndpoint": 3,
    }
    assert fault_proxy.hits["CreateModel"] == 3
    assert len(sleeps) == 6 and all(0 <= s <= 10 for s in sleeps)
    SageMakerResourceCleanup(client).delete_resources(created)


def test_failure_half_way_raises_with_what_was_created(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    fault_proxy.fail(
        "CreateEndpointConfig",
        times=1,
        code="ResourceLimitExceeded",
        message="The account-level service limit 'ml.m5.large for endpoint usage' is 0",
    )
    with pytest.raises(EndpointCreationError) as info:
        deploy(client, "halfway")
    created = info.value.created
    assert created.model_name.startswith("halfway-")
    assert created.endpoint_config_name is None and created.endpoint_name is None
    assert str(info.value) == (
        "CreateEndpointConfig failed: ResourceLimitExceeded: The account-level service limit "
        "'ml.m5.large for endpoint usage' is 0. Created so far: model "
        f"'{created.model_name}' in us-east-1; delete them with "
        "SageMakerResourceCleanup(client).delete_resources(error.created)."
    )
    # the model really exists until the cleanup the message suggests
    client.describe_model(ModelName=created.model_name)
    report = SageMakerResourceCleanup(client).delete_resources(created)
    assert [r.name for r in report.deleted] == [created.model_name]


def test_endpoint_going_failed_raises_failure_reason_and_created(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    reason = (
        "The primary container for production variant AllTraffic did not pass the ping "
        "health check."
    )
    fault_proxy.respond("DescribeEndpoint", 1, {"EndpointStatus": "Creating"})
    fault_proxy.respond(
        "DescribeEndpoint", 1, {"EndpointStatus": "Failed", "FailureReason": reason}
    )
    sleeps = Sleeps()
    with pytest.raises(EndpointCreationError) as info:
        deploy(client, "goes-failed", deployer=EndpointDeployer(client, sleep=sleeps))
    created = info.value.created
    name = created.endpoint_name
    assert str(info.value).startswith(
        f"endpoint {name!r} went Failed, expected InService: {reason}"
    )
    assert f"Created so far: endpoint {name!r}, endpoint-config {name!r}, model {name!r}" in str(
        info.value
    )
    assert sleeps == [0.5]
    assert SageMakerResourceCleanup(client).delete_resources(created).ok


def test_endpoint_never_in_service_times_out(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    fault_proxy.respond("DescribeEndpoint", 100, {"EndpointStatus": "Creating"})
    now = [0.0]
    sleeps = Sleeps()

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        now[0] += seconds

    deployer = EndpointDeployer(
        client, wait_timeout_s=20, poll_interval_s=4, sleep=sleep, clock=lambda: now[0]
    )
    with pytest.raises(EndpointCreationError) as info:
        deploy(client, "slow", deployer=deployer)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert str(info.value).startswith(
        f"endpoint {info.value.created.endpoint_name!r} was still Creating after 20s "
        "(wait_timeout_s=20), expected InService. Raise wait_timeout_s"
    )
    assert len(info.value.created.refs()) == 3
    SageMakerResourceCleanup(client).delete_resources(info.value.created)


def test_model_data_from_completed_training_job(moto_sagemaker):
    moto_sagemaker.create_training_job(
        TrainingJobName="tj-hosting",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    url = EndpointDeployer(moto_sagemaker).model_data_from_training_job("tj-hosting")
    assert url == "s3://bucket/out/tj-hosting/output/model.tar.gz"


def test_missing_training_job_is_a_clear_error(moto_sagemaker):
    with pytest.raises(HostingError) as info:
        EndpointDeployer(moto_sagemaker).model_data_from_training_job("no-such-job")
    assert str(info.value).startswith(
        "training job 'no-such-job': expected an existing job, got 'Could not find training job"
    )
    assert "Check the name and the region (us-east-1)" in str(info.value)


def test_unfinished_training_job_is_refused(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    fault_proxy.respond(
        "DescribeTrainingJob",
        1,
        {"TrainingJobName": "tj", "TrainingJobStatus": "Failed", "FailureReason": "OOM"},
    )
    with pytest.raises(HostingError) as info:
        EndpointDeployer(client).model_data_from_training_job("tj")
    assert str(info.value) == (
        "training job 'tj': expected status Completed, got Failed (OOM). Wait for the job to "
        "finish, or deploy a model that did"
    )


def test_bad_arguments_are_refused_before_any_call(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    deployer = EndpointDeployer(client)
    with pytest.raises(ValueError, match="endpoint_initial_instance_count: expected at least 1"):
        deployer.create_from_model_data(MODEL_DATA, IMAGE, ROLE, "ml.m5.large", 0)
    with pytest.raises(ValueError, match="'endpoint-serde:run-id' is set by endpoint-serde"):
        deployer.create_from_model_data(
            MODEL_DATA, IMAGE, ROLE, "ml.m5.large", 1, tags={RUN_ID_TAG: "mine"}
        )
    with pytest.raises(ValueError, match="pass names or name_policy, not both"):
        deployer.create_from_model_data(
            MODEL_DATA,
            IMAGE,
            ROLE,
            "ml.m5.large",
            1,
            name_policy=NamePolicy(prefix="a"),
            names=NamePolicy(prefix="b").names(),
        )
    assert sum(fault_proxy.hits.values()) == 0


# -- the local endpoint host: real models, real status transitions ------------------------

SUM_MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
PYTHON_ENV = {"ENDPOINT_SERDE_RUNTIME": "python", "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}


@pytest.fixture(scope="module")
def lifecycle_host(tmp_path_factory):
    from endpoints.local import LocalEndpointHost

    s3_root = tmp_path_factory.mktemp("s3")
    model_dir = s3_root / "bucket" / "models" / "sum"
    model_dir.mkdir(parents=True)
    (model_dir / "model.py").write_text(SUM_MODEL)
    with LocalEndpointHost(s3_root=s3_root, allow_python_models=True) as host:
        yield host


def deploy_local(host, prefix: str, model_data: str = "s3://bucket/models/sum/", deployer=None):
    deployer = deployer or EndpointDeployer(host.sagemaker_client(), sleep=Sleeps())
    return deployer.create_from_model_data(
        model_data,
        "local/python:1",
        ROLE,
        "ml.m5.large",
        1,
        model_environment_variables=PYTHON_ENV,
        name_policy=NamePolicy(prefix),
    )


def names_on(client) -> set[str]:
    return {e["EndpointName"] for e in client.list_endpoints()["Endpoints"]} | {
        m["ModelName"] for m in client.list_models()["Models"]
    }


def test_local_host_deploy_serves_the_model_then_cleanup_removes_it(lifecycle_host):
    sm = lifecycle_host.sagemaker_client()
    created = deploy_local(lifecycle_host, "local-e2e")
    assert sm.describe_endpoint(EndpointName=created.endpoint_name)["EndpointStatus"] == (
        "InService"
    )
    answer = lifecycle_host.runtime_client().invoke_endpoint(
        EndpointName=created.endpoint_name, Body=b"1,2\n3,4.5\n", ContentType="text/csv"
    )
    assert answer["Body"].read() == b"3.0\n7.5"
    report = SageMakerResourceCleanup(sm, wait_for_endpoint_deletion=True).delete_resources(created)
    assert len(report.deleted) == 3
    assert created.endpoint_name not in names_on(sm)


def test_bad_artifact_goes_failed_with_reason_and_created_list(lifecycle_host):
    sm = lifecycle_host.sagemaker_client()
    with pytest.raises(EndpointCreationError) as info:
        deploy_local(lifecycle_host, "bad-artifact", model_data="s3://bucket/models/missing/")
    created = info.value.created
    name = created.endpoint_name
    message = str(info.value)
    assert message.startswith(
        f"endpoint {name!r} went Failed, expected InService: Could not find ModelDataUrl "
        "s3://bucket/models/missing/"
    )
    assert message.endswith(
        f"Created so far: endpoint {name!r}, endpoint-config {name!r}, model {name!r} in "
        "us-east-1; delete them with SageMakerResourceCleanup(client).delete_resources("
        "error.created)."
    )
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Failed"
    assert SageMakerResourceCleanup(sm).delete_resources(created).ok
    assert name not in names_on(sm)


def test_local_host_throttled_control_plane_deploys_and_cleans(lifecycle_host):
    from endpoints.local import FaultSpec

    sm = lifecycle_host.sagemaker_client()  # botocore retries off: we see every throttle
    before = lifecycle_host.metrics()["faults_injected"].get("throttle", 0)
    lifecycle_host.set_control_plane_faults(FaultSpec(throttle_rate=0.5, seed=1, max_faults=5))
    try:
        deployer = EndpointDeployer(sm, sleep=Sleeps())
        created = deploy_local(lifecycle_host, "throttled-local", deployer=deployer)
        cleanup = SageMakerResourceCleanup(sm, sleep=Sleeps())
        report = cleanup.delete_resources(created)
    finally:
        lifecycle_host.set_control_plane_faults(None)
    injected = sum(lifecycle_host.metrics()["faults_injected"].values()) - before
    assert injected == 5
    assert deployer.calls.retries + report.retries == 5
    assert len(report.deleted) == 3
    assert created.endpoint_name not in names_on(sm)


def test_factories_create_score_and_clean_end_to_end(lifecycle_host, spark, tmp_path):
    from endpoints.scoring.model import EndpointCreationPolicy, SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    sm = lifecycle_host.sagemaker_client()
    lifecycle_host.register_training_job("tj-lifecycle", model_data_url="s3://bucket/models/sum/")
    common = dict(
        model_image="local/python:1",
        model_execution_role_arn=ROLE,
        endpoint_instance_type="ml.m5.large",
        endpoint_initial_instance_count=1,
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
        model_environment_variables=PYTHON_ENV,
        endpoint_creation_policy=EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
        sagemaker_client=sm,
        endpoint_url=lifecycle_host.url,
        region="us-east-1",
    )
    from_s3 = SageMakerModel.from_model_s3_path(
        "s3://bucket/models/sum/",
        name_policy=NamePolicy("factory-s3"),
        manifest_path=str(tmp_path / "run.json"),
        **common,
    )
    from_job = SageMakerModel.from_training_job(
        "tj-lifecycle", name_policy=NamePolicy("factory-job"), **common
    )
    df = spark.createDataFrame([(i, [float(i), 1.0]) for i in range(20)], ["id", "features"])
    for model in (from_s3, from_job):
        created = model.created_resources
        assert created and len(created.refs()) == 3
        assert model.endpoint.endpoint_name == created.endpoint_name  # scores what it made
        rows = model.transform(df).orderBy("id").collect()
        assert [r["prediction"] for r in rows] == [i + 1.0 for i in range(20)]
    assert from_s3.created_resources.endpoint_name.startswith("factory-s3-")
    assert from_job.created_resources.endpoint_name.startswith("factory-job-")
    assert CreatedResources.read_manifest(tmp_path / "run.json") == from_s3.created_resources

    cleanup = SageMakerResourceCleanup(sm)
    for model in (from_s3, from_job):
        assert len(cleanup.delete_resources(model.created_resources).deleted) == 3
        assert model.created_resources.endpoint_name not in names_on(sm)


def _deployment(host, prefix: str, model_data: str = "s3://bucket/models/sum/"):
    from endpoints.lifecycle.deployment import Deployment

    return Deployment(
        host.sagemaker_client(),
        model_data_url=model_data,
        model_image="local/python:1",
        role_arn=ROLE,
        instance_type="ml.m5.large",
        environment=PYTHON_ENV,
        name_policy=NamePolicy(prefix),
        sleep=Sleeps(),
    )


def test_a_deployment_is_a_context_manager_that_creates_once_and_deletes_in_reverse(
    lifecycle_host,
):
    sm = lifecycle_host.sagemaker_client()
    deployment = _deployment(lifecycle_host, "ctx")
    name = deployment.endpoint_name  # known before anything exists
    assert name.startswith("ctx-") and name not in names_on(sm)
    with deployment as live:
        assert live.create() is live.created  # a second create makes nothing new
        assert [m["ModelName"] for m in sm.list_models(NameContains="ctx-")["Models"]] == [name]
        answer = lifecycle_host.runtime_client().invoke_endpoint(
            EndpointName=name, Body=b"1,2\n", ContentType="text/csv"
        )
        assert answer["Body"].read() == b"3.0"
        assert repr(live) == f"Deployment({name!r}, created)"
    assert name not in names_on(sm)
    assert sm.list_endpoint_configs(NameContains="ctx-")["EndpointConfigs"] == []


def test_a_deployment_that_fails_to_create_leaves_nothing_behind(lifecycle_host):
    sm = lifecycle_host.sagemaker_client()
    deployment = _deployment(lifecycle_host, "ctx-bad", model_data="s3://bucket/models/missing/")
    with pytest.raises(EndpointCreationError, match="went Failed"), deployment:
        raise AssertionError("the block must not run")
    assert deployment.created.endpoint_name == deployment.endpoint_name  # it got that far
    assert deployment.endpoint_name not in names_on(sm)
    # asking again re-raises the first failure; it does not create a second set
    with pytest.raises(EndpointCreationError, match="went Failed"):
        deployment.create()
    assert sm.list_models(NameContains="ctx-bad-")["Models"] == []


def test_create_on_transform_creates_once_for_the_model_and_its_param_copies(lifecycle_host, spark):
    """transform(df, params) runs on a copy: it used to take the creation step with it, so
    the next transform(df) failed with "already exists" and cleanup found nothing."""
    from endpoints.scoring.model import EndpointCreationPolicy, SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    sm = lifecycle_host.sagemaker_client()
    model = SageMakerModel.from_model_s3_path(
        "s3://bucket/models/sum/",
        "local/python:1",
        ROLE,
        "ml.m5.large",
        1,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        PYTHON_ENV,
        EndpointCreationPolicy.CREATE_ON_TRANSFORM,
        sm,
        name_policy=NamePolicy("on-transform"),
        endpoint_url=lifecycle_host.url,
        region="us-east-1",
    )
    assert not model.created_resources  # nothing until the first transform
    name = model.endpoint.endpoint_name
    df = spark.createDataFrame([(i, [float(i), 2.0]) for i in range(10)], ["id", "features"])
    with_params = model.transform(df, {model.maxInFlight: 2}).orderBy("id").collect()
    plain = model.transform(df).orderBy("id").collect()
    assert [r.prediction for r in with_params] == [r.prediction for r in plain]
    assert [r.prediction for r in plain] == [i + 2.0 for i in range(10)]
    assert model.created_resources.endpoint_name == name
    assert model.copy().created_resources == model.created_resources
    assert [m["ModelName"] for m in sm.list_models(NameContains="on-transform-")["Models"]] == [
        name
    ]
    assert len(SageMakerResourceCleanup(sm).delete_resources(model.created_resources).deleted) == 3
    assert name not in names_on(sm)
