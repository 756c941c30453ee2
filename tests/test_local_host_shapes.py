"""The local host's control plane against botocore's own shapes, over raw HTTP.

Every operation the host implements is called and its answer, as it travels on the wire,
is checked against the operation's output shape (required members present, no unknown
members, types, enums, patterns). Malformed requests — sent with urllib3, since botocore
validates client-side — get a 400 ``ValidationException`` in SageMaker's JSON error shape
naming the field, and a create that fails leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import uuid

import orjson
import pytest
import urllib3

from endpoints.local import LocalEndpointHost
from endpoints.local.api_shapes import (
    check,
    input_shape,
    output_shape,
    parse_timestamp,
    validation_message,
)
from endpoints.local.state import ResourceStore

ROLE = "arn:aws:iam::123456789012:role/test"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
PY_ENV = {"ENDPOINT_SERDE_RUNTIME": "python", "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 50,
    "DestinationS3Uri": "s3://capture-bucket/prefix",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
}
VPC = {"SecurityGroupIds": ["sg-0123456789"], "Subnets": ["subnet-0123456789"]}


class RawControlPlane:
    """SageMaker's JSON 1.1 protocol by hand: what botocore would send, minus its checks."""

    def __init__(self, url: str) -> None:
        self.url = url + "/"
        self.pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30), retries=False)

    def send(self, operation: str, body: bytes) -> tuple[int, dict]:
        response = self.pool.request(
            "POST",
            self.url,
            body=body,
            headers={
                "X-Amz-Target": f"SageMaker.{operation}",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        return response.status, json.loads(response.data)

    def call(self, operation: str, params: dict) -> tuple[int, dict]:
        return self.send(operation, orjson.dumps(params))

    def ok(self, operation: str, params: dict) -> dict:
        status, answer = self.call(operation, params)
        assert status == 200, (operation, status, answer)
        return answer

    def names(self) -> dict[str, list[str]]:
        """Every model, endpoint config and endpoint, by name."""
        return {
            kind: sorted(
                item[f"{kind[:-1]}Name"]
                for item in self.ok(f"List{kind}", {"MaxResults": 100})[kind]
            )
            for kind in ("Models", "EndpointConfigs", "Endpoints")
        }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shapes-model")
    (directory / "model.py").write_text(SUM)
    return directory


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    roots = [tmp_path_factory.getbasetemp()]  # where the tests write their models
    with LocalEndpointHost(model_roots=roots, allow_python_models=True) as h:
        yield h


@pytest.fixture(scope="module")
def raw(host):
    return RawControlPlane(host.url)


def container(model_dir) -> dict:
    return {"Image": "local/python:1", "ModelDataUrl": model_dir.as_uri(), "Environment": PY_ENV}


def no_image(model_dir) -> dict:
    """A container named by its model data alone (Image is optional in the shape)."""
    return {key: value for key, value in container(model_dir).items() if key != "Image"}


def variant(model_name: str) -> dict:
    return {
        "VariantName": "AllTraffic",
        "ModelName": model_name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }


# --------------------------------------------------------------------- answers fit shapes


def test_every_operation_answers_in_its_output_shape(host, raw, model_dir, tmp_path):
    p = f"shape-{uuid.uuid4().hex[:6]}"
    empty = tmp_path / "no-model"
    empty.mkdir()
    host.register_training_job(f"{p}-job", model_data_url="s3://bucket/job/model.tar.gz")
    full, bare, broken = f"{p}-full", f"{p}-bare", f"{p}-broken"
    calls: list[tuple[str, dict]] = [
        (
            "CreateModel",
            {
                "ModelName": full,
                "PrimaryContainer": container(model_dir),
                "ExecutionRoleArn": ROLE,
                "VpcConfig": VPC,
                "Tags": [{"Key": "team", "Value": "ml"}],
            },
        ),
        ("CreateModel", {"ModelName": bare, "PrimaryContainer": no_image(model_dir)}),
        (
            "CreateModel",
            {
                "ModelName": broken,
                "PrimaryContainer": {
                    "ModelDataUrl": empty.as_uri(),
                    "Environment": {"ENDPOINT_SERDE_RUNTIME": "onnx"},
                },
            },
        ),
        ("DescribeModel", {"ModelName": full}),
        ("DescribeModel", {"ModelName": bare}),
        ("ListModels", {"NameContains": p}),
        (
            "CreateEndpointConfig",
            {
                "EndpointConfigName": full,
                "ProductionVariants": [variant(full)],
                "DataCaptureConfig": CAPTURE,
                "Tags": [{"Key": "team", "Value": "ml"}],
            },
        ),
        (
            "CreateEndpointConfig",
            {"EndpointConfigName": bare, "ProductionVariants": [variant(bare)]},
        ),
        (
            "CreateEndpointConfig",
            {"EndpointConfigName": broken, "ProductionVariants": [variant(broken)]},
        ),
        ("DescribeEndpointConfig", {"EndpointConfigName": full}),
        ("DescribeEndpointConfig", {"EndpointConfigName": bare}),
        ("ListEndpointConfigs", {"NameContains": p, "SortBy": "Name"}),
        ("CreateEndpoint", {"EndpointName": full, "EndpointConfigName": full}),
        ("CreateEndpoint", {"EndpointName": bare, "EndpointConfigName": bare}),
        ("CreateEndpoint", {"EndpointName": broken, "EndpointConfigName": broken}),
        ("DescribeEndpoint", {"EndpointName": full}),
        ("DescribeEndpoint", {"EndpointName": bare}),
        ("DescribeEndpoint", {"EndpointName": broken}),
        ("ListEndpoints", {"NameContains": p, "SortBy": "Status", "SortOrder": "Ascending"}),
        ("UpdateEndpoint", {"EndpointName": bare, "EndpointConfigName": full}),
        ("DescribeEndpoint", {"EndpointName": bare}),
        ("AddTags", {"ResourceArn": f"{ARN}:endpoint/{bare}", "Tags": [{"Key": "k", "Value": ""}]}),
        ("ListTags", {"ResourceArn": f"{ARN}:endpoint/{bare}"}),
        ("DeleteTags", {"ResourceArn": f"{ARN}:endpoint/{bare}", "TagKeys": ["k"]}),
        ("DescribeTrainingJob", {"TrainingJobName": f"{p}-job"}),
        ("DeleteEndpoint", {"EndpointName": bare}),
        ("DeleteEndpointConfig", {"EndpointConfigName": bare}),
        ("DeleteModel", {"ModelName": bare}),
    ]
    # the operations the control plane itself implements; those other modules add (batch
    # transform) are walked by their own tests with the same check
    own = {
        op for op, handler in host.control.operations.items() if handler.__self__ is host.control
    }
    answers: dict[str, list[dict]] = {}
    for operation, params in calls:
        answer = raw.ok(operation, params)
        shape = output_shape(operation)
        if shape is None:
            assert answer == {}, operation
        else:
            assert check(answer, shape) == [], (operation, validation_message(check(answer, shape)))
        answers.setdefault(operation, []).append(answer)
    # every operation was walked, so a new one needs a call here
    assert set(answers) == own

    full_model, bare_model = answers["DescribeModel"]
    assert full_model["VpcConfig"] == VPC and full_model["ExecutionRoleArn"] == ROLE
    assert set(bare_model) == {
        "ModelName",
        "ModelArn",
        "CreationTime",
        "PrimaryContainer",
        "EnableNetworkIsolation",  # AWS answers it unset, as false
    }
    full_config, bare_config = answers["DescribeEndpointConfig"]
    assert full_config["DataCaptureConfig"] == CAPTURE
    assert "DataCaptureConfig" not in bare_config
    full_endpoint, bare_endpoint, broken_endpoint, updated = answers["DescribeEndpoint"]
    assert full_endpoint["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 50,
        "DestinationS3Uri": "s3://capture-bucket/prefix",
        "KmsKeyId": "",
    }
    assert "DataCaptureConfig" not in bare_endpoint
    assert bare_endpoint["EndpointStatus"] == "InService"
    assert full_endpoint["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == (
        "local/python:1"
    )
    assert "DeployedImages" not in bare_endpoint["ProductionVariants"][0]  # none to report
    assert broken_endpoint["EndpointStatus"] == "Failed"
    assert "No *.onnx file" in broken_endpoint["FailureReason"]
    # after UpdateEndpoint to the capturing config, the summary follows the new config
    assert updated["EndpointConfigName"] == full and updated["DataCaptureConfig"]["EnableCapture"]
    assert [e["EndpointStatus"] for e in answers["ListEndpoints"][0]["Endpoints"]] == [
        "Failed",
        "InService",
        "InService",
    ]
    assert answers["ListTags"][0]["Tags"] == [{"Key": "k", "Value": ""}]
    job = answers["DescribeTrainingJob"][0]
    assert job["AlgorithmSpecification"] == {"TrainingInputMode": "File"}  # no image given


def test_a_long_failure_reason_is_cut_to_the_shapes_limit(host, raw, tmp_path):
    model = tmp_path / "long-failure"
    model.mkdir()
    (model / "model.py").write_text("raise RuntimeError('x' * 5000)\n")
    name = f"long-fail-{uuid.uuid4().hex[:6]}"
    raw.ok("CreateModel", {"ModelName": name, "PrimaryContainer": container(model)})
    raw.ok(
        "CreateEndpointConfig", {"EndpointConfigName": name, "ProductionVariants": [variant(name)]}
    )
    raw.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name})
    described = raw.ok("DescribeEndpoint", {"EndpointName": name})
    assert described["EndpointStatus"] == "Failed"
    assert len(described["FailureReason"]) == 1024
    assert "RuntimeError" in described["FailureReason"]
    assert check(described, output_shape("DescribeEndpoint")) == []


# ------------------------------------------------------------------ malformed requests: 400

MALFORMED = [
    # (operation, params, the message's first violation)
    (
        "CreateModel",
        {"ModelName": 123, "PrimaryContainer": {"Image": "x"}},
        "Value '123' at 'modelName' failed to satisfy constraint: Member must be a string "
        "(got a number)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-primary", "PrimaryContainer": "local/python:1"},
        "Value 'local/python:1' at 'primaryContainer' failed to satisfy constraint: Member "
        "must be an object (ContainerDefinition) (got a string)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-env", "PrimaryContainer": {"Environment": ["A=1"]}},
        "Value '[\"A=1\"]' at 'primaryContainer.environment' failed to satisfy constraint: "
        "Member must be an object (map) (got a list)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-env-value", "PrimaryContainer": {"Environment": {"A": 1}}},
        "Value '1' at 'primaryContainer.environment.A' failed to satisfy constraint: Member "
        "must be a string (got a number)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-isolation", "PrimaryContainer": {}, "EnableNetworkIsolation": "yes"},
        "Value 'yes' at 'enableNetworkIsolation' failed to satisfy constraint: Member must be "
        "true or false (got a string)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-tags-string", "PrimaryContainer": {}, "Tags": "team=ml"},
        "Value 'team=ml' at 'tags' failed to satisfy constraint: Member must be a list (got a "
        "string)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-tags-item", "PrimaryContainer": {}, "Tags": ["team"]},
        "Value 'team' at 'tags.1.member' failed to satisfy constraint: Member must be an "
        "object (Tag) (got a string)",
    ),
    (
        "CreateModel",
        {"ModelName": "m-tags-novalue", "PrimaryContainer": {}, "Tags": [{"Key": "team"}]},
        "Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null",
    ),
    (
        "CreateModel",
        {"ModelName": "m-tags-key", "PrimaryContainer": {}, "Tags": [{"Key": 5, "Value": "v"}]},
        "Value '5' at 'tags.1.member.key' failed to satisfy constraint: Member must be a "
        "string (got a number)",
    ),
    (
        "CreateModel",
        {"PrimaryContainer": {"Image": "x"}},
        "Value null at 'modelName' failed to satisfy constraint: Member must not be null",
    ),
    (
        "CreateModel",
        {"ModelName": "m-typo", "PrimaryContainer": {"Image": "x", "ModelDataURL": "s3://b/k"}},
        "Value 's3://b/k' at 'primaryContainer.modelDataURL' failed to satisfy constraint: "
        "Member must be one of the fields of ContainerDefinition: ContainerHostname, Image,",
    ),
    (
        "CreateModel",
        {"ModelName": "m-url", "PrimaryContainer": {"ModelDataUrl": "ftp://host/model"}},
        "Value 'ftp://host/model' at 'primaryContainer.modelDataUrl' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)",
    ),
    (
        "CreateEndpointConfig",
        {"EndpointConfigName": "c-dict", "ProductionVariants": {"VariantName": "v"}},
        "at 'productionVariants' failed to satisfy constraint: Member must be a list (got an "
        "object)",
    ),
    (
        "CreateEndpointConfig",
        {"EndpointConfigName": "c-empty", "ProductionVariants": []},
        "Value '[]' at 'productionVariants' failed to satisfy constraint: Member must have "
        "length greater than or equal to 1",
    ),
    (
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "c-count",
            "ProductionVariants": [{**variant("m"), "InitialInstanceCount": "1"}],
        },
        "Value '1' at 'productionVariants.1.member.initialInstanceCount' failed to satisfy "
        "constraint: Member must be an integer (got a string)",
    ),
    (
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "c-weight",
            "ProductionVariants": [{**variant("m"), "InitialVariantWeight": True}],
        },
        "Value 'true' at 'productionVariants.1.member.initialVariantWeight' failed to satisfy "
        "constraint: Member must be a number (got a boolean)",
    ),
    (
        "CreateEndpointConfig",
        {"EndpointConfigName": "c-novariant", "ProductionVariants": [{"ModelName": "m"}]},
        "Value null at 'productionVariants.1.member.variantName' failed to satisfy "
        "constraint: Member must not be null",
    ),
    (
        "CreateEndpointConfig",
        {"EndpointConfigName": "c-nomodel", "ProductionVariants": [{"VariantName": "v"}]},
        "Value null at 'productionVariants.1.member.modelName' failed to satisfy constraint: "
        "Member must not be null",
    ),
    (
        "CreateEndpoint",
        {"EndpointName": "e-config", "EndpointConfigName": ["c"]},
        "Value '[\"c\"]' at 'endpointConfigName' failed to satisfy constraint: Member must be "
        "a string (got a list)",
    ),
    (
        "CreateEndpoint",
        {"EndpointName": "e-tag", "EndpointConfigName": "c", "Tags": [{"Key": "", "Value": ""}]},
        "Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length "
        "greater than or equal to 1",
    ),
    (
        "ListModels",
        {"MaxResults": "10"},
        "Value '10' at 'maxResults' failed to satisfy constraint: Member must be an integer "
        "(got a string)",
    ),
    (
        "ListModels",
        {"MaxResults": 0},
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value "
        "greater than or equal to 1",
    ),
    (
        "ListModels",
        {"CreationTimeBefore": "yesterday"},
        "Value 'yesterday' at 'creationTimeBefore' failed to satisfy constraint: Member must "
        "be a timestamp (epoch seconds or ISO 8601) (got a string)",
    ),
    (
        "ListModels",
        {"SortBy": "Status"},
        "Value 'Status' at 'sortBy' failed to satisfy constraint: Member must satisfy enum "
        "value set: [Name, CreationTime]",
    ),
    (
        "ListEndpoints",
        {"StatusEquals": 1},
        "Value '1' at 'statusEquals' failed to satisfy constraint: Member must be a string "
        "(got a number)",
    ),
    (
        "ListTags",
        {"ResourceArn": f"{ARN}:model/x", "NextToken": 7},
        "Value '7' at 'nextToken' failed to satisfy constraint: Member must be a string (got a "
        "number)",
    ),
    (
        "AddTags",
        {"ResourceArn": f"{ARN}:model/x", "Tags": {"team": "ml"}},
        "Value '{\"team\":\"ml\"}' at 'tags' failed to satisfy constraint: Member must be a "
        "list (got an object)",
    ),
    (
        "DeleteTags",
        {"ResourceArn": f"{ARN}:model/x", "TagKeys": "team"},
        "Value 'team' at 'tagKeys' failed to satisfy constraint: Member must be a list (got a "
        "string)",
    ),
    (
        "DescribeEndpoint",
        {"EndpointName": None},
        "Value null at 'endpointName' failed to satisfy constraint: Member must not be null",
    ),
    (
        "UpdateEndpoint",
        {"EndpointName": "e", "EndpointConfigName": 3},
        "Value '3' at 'endpointConfigName' failed to satisfy constraint: Member must be a "
        "string (got a number)",
    ),
    (
        "DescribeTrainingJob",
        {"TrainingJobName": {}},
        "Value '{}' at 'trainingJobName' failed to satisfy constraint: Member must be a string "
        "(got an object)",
    ),
]


@pytest.mark.parametrize(
    ("operation", "params", "violation"),
    MALFORMED,
    ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(MALFORMED)],
)
def test_malformed_request_is_a_400_naming_the_field_and_creates_nothing(
    raw, operation, params, violation
):
    before = raw.names()
    status, error = raw.call(operation, params)
    assert status == 400, error
    assert error["__type"] == "ValidationException"
    assert re.match(r"\d+ validation errors? detected: ", error["message"])
    assert violation in error["message"]
    assert raw.names() == before


def test_every_violation_is_listed_in_one_message(raw):
    status, error = raw.call(
        "CreateModel",
        {"ModelName": 1, "PrimaryContainer": {"Image": 2}, "Tags": [{"Key": "k", "Value": 3}]},
    )
    assert status == 400
    assert error["message"] == (
        "3 validation errors detected: "
        "Value '1' at 'modelName' failed to satisfy constraint: Member must be a string (got a "
        "number); "
        "Value '2' at 'primaryContainer.image' failed to satisfy constraint: Member must be a "
        "string (got a number); "
        "Value '3' at 'tags.1.member.value' failed to satisfy constraint: Member must be a "
        "string (got a number)"
    )


@pytest.mark.parametrize(
    ("body", "got"), [(b"[1, 2]", "list"), (b'"CreateModel"', "str"), (b"7", "int")]
)
def test_a_body_that_is_not_an_object_is_a_400_serialization_error(raw, body, got):
    status, error = raw.send("CreateModel", body)
    assert (status, error["__type"]) == (400, "SerializationException")
    assert error["message"] == (
        f"Expected a JSON object as the body of SageMaker.CreateModel, got {got}."
    )


def test_a_create_that_fails_on_an_existing_name_changes_nothing(raw, model_dir):
    name = f"keep-{uuid.uuid4().hex[:6]}"
    raw.ok(
        "CreateModel",
        {
            "ModelName": name,
            "PrimaryContainer": container(model_dir),
            "Tags": [{"Key": "owner", "Value": "first"}],
        },
    )
    first = raw.ok("DescribeModel", {"ModelName": name})
    status, error = raw.call(
        "CreateModel",
        {
            "ModelName": name,
            "PrimaryContainer": {"Image": "other"},
            "Tags": [{"Key": "owner", "Value": "second"}],
        },
    )
    assert (status, error["__type"]) == (400, "ValidationException")
    assert error["message"] == f'Cannot create already existing model "{ARN}:model/{name}".'
    assert raw.ok("DescribeModel", {"ModelName": name}) == first
    assert raw.ok("ListTags", {"ResourceArn": f"{ARN}:model/{name}"})["Tags"] == [
        {"Key": "owner", "Value": "first"}
    ]


def test_a_config_naming_a_missing_model_is_not_created(raw):
    name = f"orphan-{uuid.uuid4().hex[:6]}"
    status, error = raw.call(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": name,
            "ProductionVariants": [variant("no-such-model")],
            "Tags": [{"Key": "team", "Value": "ml"}],
        },
    )
    assert (status, error["message"]) == (400, f'Could not find model "{ARN}:model/no-such-model".')
    assert name not in raw.names()["EndpointConfigs"]
    status, error = raw.call("ListTags", {"ResourceArn": f"{ARN}:endpoint-config/{name}"})
    assert (status, error["__type"]) == (400, "ValidationException")


# --------------------------------------------------------------------- the store and hooks


def test_a_failed_transaction_restores_records_and_tags(tmp_path):
    store = ResourceStore(tmp_path)
    with store.transaction() as s:
        s.resources["models"]["kept"] = {"ModelName": "kept"}
    with pytest.raises(RuntimeError, match="half-way"), store.transaction() as s:
        s.resources["models"]["half"] = {"ModelName": "half"}
        s.resources["models"]["kept"]["ModelName"] = "changed"
        s.tags["arn:half"] = [{"Key": "k", "Value": "v"}]
        raise RuntimeError("failed half-way")
    assert store.resources["models"] == {"kept": {"ModelName": "kept"}}
    assert store.tags == {}
    assert json.loads((tmp_path / "state.json").read_text())["models"] == {
        "kept": {"ModelName": "kept"}
    }


def test_empty_placeholders_from_an_older_state_file_are_dropped(tmp_path, model_dir):
    record = {
        "ModelName": "old",
        "ModelArn": f"{ARN}:model/old",
        "CreationTime": 1_700_000_000.0,
        "PrimaryContainer": container(model_dir),
        "Containers": [],
        "VpcConfig": {},
        "ExecutionRoleArn": "",
        "EnableNetworkIsolation": False,
    }
    config = {
        "EndpointConfigName": "old",
        "EndpointConfigArn": f"{ARN}:endpoint-config/old",
        "ProductionVariants": [variant("old")],
        "CreationTime": 1_700_000_000.0,
        "DataCaptureConfig": {},
    }
    (tmp_path / "state.json").write_text(
        json.dumps({"models": {"old": record}, "endpoint_configs": {"old": config}})
    )
    with LocalEndpointHost(state_dir=tmp_path) as h:
        client = RawControlPlane(h.url)
        model = client.ok("DescribeModel", {"ModelName": "old"})
        described = client.ok("DescribeEndpointConfig", {"EndpointConfigName": "old"})
    assert not {"Containers", "VpcConfig", "ExecutionRoleArn"} & set(model)
    assert "DataCaptureConfig" not in described
    assert check(model, output_shape("DescribeModel")) == []
    assert check(described, output_shape("DescribeEndpointConfig")) == []


def test_added_operations_are_validated_like_the_built_in_ones(host, raw):
    seen: list[dict] = []

    def describe_transform_job(params: dict) -> dict:
        seen.append(params)
        return {"TransformJobName": params["TransformJobName"]}

    with pytest.raises(ValueError, match="DescribeTransfromJob: not SageMaker operations"):
        host.control.add_operations({"DescribeTransfromJob": describe_transform_job})
    host.control.add_operations({"DescribeTransformJob": describe_transform_job})
    try:
        status, error = raw.call("DescribeTransformJob", {"TransformJobName": 5})
        assert (status, error["__type"]) == (400, "ValidationException")
        assert "at 'transformJobName'" in error["message"] and seen == []
        assert raw.ok("DescribeTransformJob", {"TransformJobName": "tj"}) == {
            "TransformJobName": "tj"
        }
        assert seen == [{"TransformJobName": "tj"}]
    finally:
        del host.control.operations["DescribeTransformJob"]


def test_register_training_job_refuses_an_answer_outside_the_shape(host):
    with pytest.raises(ValueError, match=r"at 'trainingJobStatus'.*enum value set"):
        host.register_training_job("bad-status", "s3://b/k", TrainingJobStatus="Done")
    with pytest.raises(ValueError, match=r"at 'modelArtifacts.s3ModelArtifacts'.*pattern"):
        host.register_training_job("bad-url", "ftp://b/k")


# ------------------------------------------------------------------------- the walker


def test_walker_translates_java_patterns_and_widens_only_local_urls():
    tags = input_shape("AddTags")
    arn = f"{ARN}:model/x"
    assert check({"ResourceArn": arn, "Tags": [{"Key": "équipe ml", "Value": "été:1"}]}, tags) == []
    model = input_shape("CreateModel")
    for url in ("file:///models/sum", "/models/sum", "s3://bucket/key", "https://h/k"):
        assert check({"ModelName": "m", "PrimaryContainer": {"ModelDataUrl": url}}, model) == []
    role = "/roles/" + "r" * 20  # a path is a local model URL, not a role ARN
    assert [v.constraint for v in check({"ModelName": "m", "ExecutionRoleArn": role}, model)] == [
        "Member must satisfy regular expression pattern: "
        "arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
    ]


def test_walker_types_follow_json_not_python():
    shape = input_shape("CreateEndpointConfig")
    body = {
        "EndpointConfigName": "c",
        "ProductionVariants": [{"VariantName": "v", "InitialInstanceCount": True}],
    }
    assert [str(v) for v in check(body, shape)] == [
        "Value 'true' at 'productionVariants.1.member.initialInstanceCount' failed to satisfy "
        "constraint: Member must be an integer (got a boolean)"
    ]
    body["ProductionVariants"][0].update(InitialInstanceCount=1, InitialVariantWeight=1)
    body["KmsKeyId"] = None  # null is an absent optional member
    assert check(body, shape) == []


def test_timestamps_on_the_wire():
    assert parse_timestamp(1_700_000_000) == 1_700_000_000.0
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1_700_000_000.0
    assert parse_timestamp("2023-11-14T22:13:20") is None  # no offset: ambiguous
    assert parse_timestamp(True) is None
    assert parse_timestamp("yesterday") is None


def test_a_message_lists_ten_violations_then_counts_the_rest():
    shape = input_shape("DeleteTags")
    violations = check({"ResourceArn": f"{ARN}:model/x", "TagKeys": list(range(25))}, shape)
    message = validation_message(violations)
    assert message.startswith("25 validation errors detected: Value '0' at 'tagKeys.1.member'")
    assert message.count("failed to satisfy constraint") == 10
    assert message.endswith("; and 15 more")
