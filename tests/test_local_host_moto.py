"""Second opinion from moto: for every control-plane operation moto implements, the keys our
host returns are a superset of moto's, and error codes agree. Also: s3:// model artifacts
fetched from moto's S3 through ``s3_endpoint_url``."""

from __future__ import annotations

import io
import tarfile
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from endpoints.local import LocalEndpointHost

ROLE = "arn:aws:iam::123456789012:role/test"
SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1) * 10\n"


def keys(value, path="$"):
    """Every key path in a response (list items merged), without ResponseMetadata and
    without empty placeholders: moto answers ``VpcConfig: {}`` or ``Containers: []`` for
    members nobody set, which botocore's shapes refuse and this host leaves out."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "ResponseMetadata" or item in ({}, []):
                continue
            found.add(f"{path}.{key}")
            found |= keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found |= keys(item, f"{path}[]")
    return found


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("moto-cmp-model")
    (directory / "model.py").write_text(SUM)
    return directory


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    roots = [tmp_path_factory.getbasetemp()]
    with LocalEndpointHost(model_roots=roots, allow_python_models=True) as host:
        yield host


@pytest.fixture(scope="module")
def clients(ours, moto_sagemaker_url):
    moto = boto3.client(
        "sagemaker",
        endpoint_url=moto_sagemaker_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return ours.sagemaker_client(), moto


def both(clients, operation, **kwargs):
    """Call ``operation`` on our host and on moto; return (ours, moto) answers or errors."""
    answers = []
    for client in clients:
        try:
            answers.append(getattr(client, operation)(**kwargs))
        except ClientError as exc:
            answers.append(exc.response["Error"]["Code"])
    return answers


def test_response_keys_are_a_superset_of_motos(clients, model_dir):
    name = f"cmp-{uuid.uuid4().hex[:8]}"
    container = {
        "Image": "local/python:1",
        "ModelDataUrl": model_dir.as_uri(),
        "Environment": {"ENDPOINT_SERDE_RUNTIME": "python"},
    }
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    calls = [
        (
            "create_model",
            {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": ROLE},
        ),
        ("describe_model", {"ModelName": name}),
        ("list_models", {"NameContains": name}),
        ("create_endpoint_config", {"EndpointConfigName": name, "ProductionVariants": [variant]}),
        ("describe_endpoint_config", {"EndpointConfigName": name}),
        ("list_endpoint_configs", {"NameContains": name}),
        ("create_endpoint", {"EndpointName": name, "EndpointConfigName": name}),
        ("describe_endpoint", {"EndpointName": name}),
        ("list_endpoints", {"NameContains": name}),
        ("describe_model", {"ModelName": name + "-missing"}),
        ("describe_endpoint", {"EndpointName": name + "-missing"}),
        ("describe_endpoint_config", {"EndpointConfigName": name + "-missing"}),
    ]  # duplicate creates are not compared: moto accepts them, AWS and this host do not
    compared = 0
    for operation, kwargs in calls:
        mine, theirs = both(clients, operation, **kwargs)
        if isinstance(theirs, str):  # moto answered an error: the codes must agree
            assert mine == theirs, (operation, mine, theirs)
            continue
        assert not isinstance(mine, str), (operation, mine)
        missing = keys(theirs) - keys(mine)
        assert not missing, f"{operation}: keys moto returns and we do not: {sorted(missing)}"
        compared += 1
    # tags need each side's own ARN
    for client in clients:
        arn = client.describe_endpoint(EndpointName=name)["EndpointArn"]
        client.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    tags = [
        c.list_tags(ResourceArn=c.describe_endpoint(EndpointName=name)["EndpointArn"])
        for c in clients
    ]
    assert tags[0]["Tags"] == tags[1]["Tags"] == [{"Key": "team", "Value": "ml"}]
    for operation, kwargs in [
        ("delete_endpoint", {"EndpointName": name}),
        ("delete_endpoint_config", {"EndpointConfigName": name}),
        ("delete_model", {"ModelName": name}),
    ]:
        mine, theirs = both(clients, operation, **kwargs)
        assert keys(theirs) <= keys(mine)
    assert compared == 9


def test_model_artifact_from_moto_s3(moto_sagemaker_url):
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_sagemaker_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    payload = SUM.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.py")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    s3.put_object(Bucket=bucket, Key="sum/model.tar.gz", Body=buffer.getvalue())
    with LocalEndpointHost(s3_endpoint_url=moto_sagemaker_url, allow_python_models=True) as host:
        host.register_training_job("moto-job", model_data_url=f"s3://{bucket}/sum/model.tar.gz")
        url = host.sagemaker_client().describe_training_job(TrainingJobName="moto-job")[
            "ModelArtifacts"
        ]["S3ModelArtifacts"]
        host.deploy_local("from-moto-s3", url, "python")
        body = (
            host.runtime_client()
            .invoke_endpoint(EndpointName="from-moto-s3", Body=b"1,2\n3,4", ContentType="text/csv")[
                "Body"
            ]
            .read()
        )
        assert body == b"30.0\n70.0"
        with pytest.raises(Exception, match="Could not download s3://"):
            host.deploy_local("missing-s3", f"s3://{bucket}/nope/model.tar.gz", "python")
