"""The local host's SageMaker control plane through real boto3 clients over HTTP:
lifecycle with waiters, listing, errors in AWS's wording, tags, training jobs, hot swap
under load, restart from a state dir, and control-plane faults.

Nothing here sleeps to wait for a state: creation times come from a ticking clock, a model
that must stay loading waits on a :class:`LoadGate` the test opens, and the hot swap waits
for answers to arrive."""

from __future__ import annotations

import itertools
import sys
import threading
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from endpoints.local import FaultSpec, LocalEndpointHost

ARN = "arn:aws:sagemaker:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/test"
PY_ENV = {"ENDPOINT_SERDE_RUNTIME": "python", "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
FAST = {"Delay": 1, "MaxAttempts": 30}


def write_model(directory, body: str):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.py").write_text("import numpy as np\n\n" + body)
    return directory


class TickingClock:
    """Epoch seconds that advance one millisecond per reading: every record the host
    stamps gets a distinct, ordered time, and the test never sleeps for it."""

    def __init__(self, start: float) -> None:
        self._start = round(start, 3)
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return round(self._start + next(self._ticks) / 1000, 3)


class LoadGate:
    """A model whose loading blocks until the test opens the gate, so its endpoint stays
    ``Creating`` for exactly as long as the test needs. The in-thread host imports
    ``model.py`` in this process, where the gate is a module in ``sys.modules``."""

    def __init__(self) -> None:
        self.name = f"load_gate_{uuid.uuid4().hex}"
        self.module = types.ModuleType(self.name)
        self.module.opened = threading.Event()

    def write_model(self, directory):
        return write_model(
            directory,
            f"import {self.name}\n\n"
            f"{self.name}.opened.wait(60)  # bound: a failed test must not hang the run\n\n"
            "def predict(x):\n    return np.asarray(x)[:, 0]\n",
        )

    def open(self) -> None:
        self.module.opened.set()

    def __enter__(self) -> LoadGate:
        sys.modules[self.name] = self.module
        return self

    def __exit__(self, *exc_info) -> None:
        self.open()
        sys.modules.pop(self.name, None)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    """What these tests' hosts are started with: the run's temporary folder, where the
    tests write their models, as the model root; Python models allowed."""
    return {"model_roots": [tmp_path_factory.getbasetemp()], "allow_python_models": True}


@pytest.fixture(scope="module")
def host(trusted):
    with LocalEndpointHost(clock=TickingClock(time.time()), **trusted) as h:
        yield h


@pytest.fixture(scope="module")
def sm(host):
    return host.sagemaker_client()


@pytest.fixture(scope="module")
def model_a(tmp_path_factory):
    return write_model(
        tmp_path_factory.mktemp("a"), "def predict(x):\n    return np.asarray(x).sum(axis=1)\n"
    )


@pytest.fixture(scope="module")
def model_b(tmp_path_factory):
    return write_model(
        tmp_path_factory.mktemp("b"),
        "def predict(x):\n    return np.asarray(x).sum(axis=1) + 1000\n",
    )


def create_stack(sm, name, model_dir, *, tags=None, env=PY_ENV):
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "local/python:1",
            "ModelDataUrl": model_dir.as_uri(),
            "Environment": env,
        },
        **({"Tags": tags} if tags else {}),
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    return sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_full_lifecycle_with_waiters(host, sm, model_a):
    created = create_stack(sm, "life-cycle", model_a)
    assert created["EndpointArn"] == f"{ARN}:endpoint/life-cycle"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="life-cycle", WaiterConfig=FAST)
    described = sm.describe_endpoint(EndpointName="life-cycle")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "life-cycle"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert described["CreationTime"] <= described["LastModifiedTime"]
    model = sm.describe_model(ModelName="life-cycle")
    assert model["ModelArn"] == f"{ARN}:model/life-cycle"
    assert model["PrimaryContainer"]["Environment"] == PY_ENV
    assert model["ExecutionRoleArn"] == ROLE
    config = sm.describe_endpoint_config(EndpointConfigName="life-cycle")
    assert config["EndpointConfigArn"] == f"{ARN}:endpoint-config/life-cycle"
    assert config["ProductionVariants"][0]["ModelName"] == "life-cycle"

    body = (
        host.runtime_client()
        .invoke_endpoint(EndpointName="life-cycle", Body=b"1,2\n3,4.5", ContentType="text/csv")[
            "Body"
        ]
        .read()
    )
    assert body == b"3.0\n7.5"

    sm.delete_endpoint(EndpointName="life-cycle")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="life-cycle", WaiterConfig=FAST)
    sm.delete_endpoint_config(EndpointConfigName="life-cycle")
    sm.delete_model(ModelName="life-cycle")
    assert "life-cycle" not in [m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]]


def test_arns_lowercase_names_like_aws(sm, model_a):
    created = create_stack(sm, "MixedCase-Name", model_a)
    assert created["EndpointArn"] == f"{ARN}:endpoint/mixedcase-name"
    assert sm.describe_endpoint(EndpointName="MixedCase-Name")["EndpointName"] == "MixedCase-Name"


def test_failed_model_load_sets_failed_with_reason(sm, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    create_stack(sm, "broken-model", empty, env={"ENDPOINT_SERDE_RUNTIME": "onnx"})
    with pytest.raises(Exception, match="Failed"):
        sm.get_waiter("endpoint_in_service").wait(EndpointName="broken-model", WaiterConfig=FAST)
    described = sm.describe_endpoint(EndpointName="broken-model")
    assert described["EndpointStatus"] == "Failed"
    assert "No *.onnx file" in described["FailureReason"]


def test_creating_status_is_visible_while_a_slow_model_loads(tmp_path, trusted):
    with LoadGate() as gate, LocalEndpointHost(describe_wait_s=0.0, **trusted) as h:
        sm = h.sagemaker_client()
        create_stack(sm, "slow", gate.write_model(tmp_path / "slow"))
        assert sm.describe_endpoint(EndpointName="slow")["EndpointStatus"] == "Creating"
        assert sm.list_endpoints(StatusEquals="Creating")["Endpoints"][0]["EndpointName"] == "slow"
        code, message, _ = error_of(
            h.runtime_client().invoke_endpoint,
            EndpointName="slow",
            Body=b"1",
            ContentType="text/csv",
        )
        assert code == "ValidationError" and "is not InService (status Creating)" in message
        gate.open()
        h.manager.wait_settled("slow", 30)  # the host's own transition, not a poll
        assert sm.describe_endpoint(EndpointName="slow")["EndpointStatus"] == "InService"
        body = h.runtime_client().invoke_endpoint(
            EndpointName="slow", Body=b"7,1", ContentType="text/csv"
        )["Body"]
        assert body.read() == b"7.0"


def test_errors_use_aws_codes_and_wording(sm, model_a):
    create_stack(sm, "errors-ep", model_a)
    assert error_of(sm.describe_model, ModelName="nope") == (
        "ValidationException",
        f'Could not find model "{ARN}:model/nope".',
        400,
    )
    assert error_of(sm.describe_endpoint, EndpointName="Nope")[1] == (
        f'Could not find endpoint "{ARN}:endpoint/nope".'
    )
    assert error_of(sm.describe_endpoint_config, EndpointConfigName="nope")[1] == (
        f'Could not find endpoint configuration "{ARN}:endpoint-config/nope".'
    )
    assert error_of(sm.delete_endpoint, EndpointName="nope")[0] == "ValidationException"
    assert error_of(sm.delete_model, ModelName="nope")[0] == "ValidationException"
    assert error_of(sm.delete_endpoint_config, EndpointConfigName="nope")[0] == (
        "ValidationException"
    )
    code, message, _ = error_of(
        sm.create_endpoint, EndpointName="errors-ep", EndpointConfigName="x"
    )
    assert message == f'Cannot create already existing endpoint "{ARN}:endpoint/errors-ep".'
    assert (
        error_of(sm.create_model, ModelName="errors-ep", PrimaryContainer={"Image": "x"})[1]
        == f'Cannot create already existing model "{ARN}:model/errors-ep".'
    )
    assert (
        error_of(sm.create_endpoint, EndpointName="fresh", EndpointConfigName="missing-config")[1]
        == f'Could not find endpoint configuration "{ARN}:endpoint-config/missing-config".'
    )
    assert (
        error_of(
            sm.create_endpoint_config,
            EndpointConfigName="cfg-missing-model",
            ProductionVariants=[{"VariantName": "v", "ModelName": "ghost"}],
        )[1]
        == f'Could not find model "{ARN}:model/ghost".'
    )
    code, message, _ = error_of(sm.create_model, ModelName="bad_name", PrimaryContainer={})
    assert (code, message) == (
        "ValidationException",
        "1 validation error detected: Value 'bad_name' at 'modelName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?",  # botocore's ModelName pattern
    )
    code, message, _ = error_of(sm.create_model, ModelName="a" * 64, PrimaryContainer={})
    assert message == (
        f"1 validation error detected: Value '{'a' * 64}' at 'modelName' failed to satisfy "
        "constraint: Member must have length less than or equal to 63"
    )
    code, message, status = error_of(sm.describe_training_job, TrainingJobName="nope")
    assert (code, message, status) == ("ResourceNotFound", "Requested resource not found.", 400)


def test_update_of_in_progress_endpoint_is_rejected(tmp_path, model_a, trusted):
    with LoadGate() as gate, LocalEndpointHost(describe_wait_s=0.0, **trusted) as h:
        sm = h.sagemaker_client()
        create_stack(sm, "busy", gate.write_model(tmp_path / "slow2"))
        code, message, _ = error_of(
            sm.update_endpoint, EndpointName="busy", EndpointConfigName="busy"
        )
        assert (code, message) == (
            "ValidationException",
            f'Cannot update in-progress endpoint "{ARN}:endpoint/busy".',
        )
        gate.open()
        h.manager.wait_settled("busy", 30)
        assert sm.update_endpoint(EndpointName="busy", EndpointConfigName="busy")[
            "EndpointArn"
        ] == (f"{ARN}:endpoint/busy")


def test_listing_filters_sorting_and_pagination(sm, model_a):
    names = [f"listing-{i:02d}" for i in range(12)]
    for name in names:
        sm.create_model(
            ModelName=name,
            PrimaryContainer={
                "Image": "x",
                "ModelDataUrl": model_a.as_uri(),
                "Environment": PY_ENV,
            },
        )  # the host's ticking clock gives each a later CreationTime
    first = sm.list_models(NameContains="listing-", SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in first["Models"]] == names[:10]  # AWS's default page: 10
    second = sm.list_models(
        NameContains="listing-", SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert [m["ModelName"] for m in second["Models"]] == names[10:]
    assert "NextToken" not in second
    newest = sm.list_models(NameContains="LISTING", MaxResults=3)  # default: CreationTime desc
    assert [m["ModelName"] for m in newest["Models"]] == names[::-1][:3]
    paginated = [
        m["ModelName"]
        for page in sm.get_paginator("list_models").paginate(
            NameContains="listing-", PaginationConfig={"PageSize": 5}
        )
        for m in page["Models"]
    ]
    assert sorted(paginated) == names
    code, message, _ = error_of(sm.list_models, NextToken="garbage!")
    assert code == "ValidationException" and "Invalid pagination token" in message
    cutoff = sm.describe_model(ModelName="listing-06")["CreationTime"]
    before = sm.list_models(NameContains="listing-", CreationTimeBefore=cutoff, MaxResults=100)
    assert sorted(m["ModelName"] for m in before["Models"]) == names[:6]


def test_list_endpoints_by_status(sm, model_a, tmp_path):
    create_stack(sm, "status-ok", model_a)
    empty = tmp_path / "nothing"
    empty.mkdir()
    create_stack(sm, "status-failed", empty, env={"ENDPOINT_SERDE_RUNTIME": "onnx"})
    for name in ("status-ok", "status-failed"):
        sm.describe_endpoint(EndpointName=name)  # returns once the load settled
    failed = sm.list_endpoints(StatusEquals="Failed", MaxResults=100)["Endpoints"]
    assert "status-failed" in [e["EndpointName"] for e in failed]
    assert "status-ok" not in [e["EndpointName"] for e in failed]
    in_service = sm.list_endpoints(StatusEquals="InService", NameContains="status-")["Endpoints"]
    assert [e["EndpointName"] for e in in_service] == ["status-ok"]
    assert set(in_service[0]) == {
        "EndpointName",
        "EndpointArn",
        "CreationTime",
        "LastModifiedTime",
        "EndpointStatus",
    }


def test_tags_add_list_delete(sm, model_a):
    create_stack(sm, "tagged", model_a, tags=[{"Key": "team", "Value": "ml"}])
    arn = sm.describe_model(ModelName="tagged")["ModelArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    endpoint_arn = sm.describe_endpoint(EndpointName="tagged")["EndpointArn"]
    sm.add_tags(
        ResourceArn=endpoint_arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    )
    sm.add_tags(ResourceArn=endpoint_arn, Tags=[{"Key": "a", "Value": "3"}])
    assert sm.list_tags(ResourceArn=endpoint_arn)["Tags"] == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    sm.delete_tags(ResourceArn=endpoint_arn, TagKeys=["a"])
    assert sm.list_tags(ResourceArn=endpoint_arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    code, message, _ = error_of(sm.list_tags, ResourceArn=f"{ARN}:endpoint/ghost")
    assert code == "ValidationException" and "ghost" in message


def test_registered_training_job_is_described(host, sm):
    host.register_training_job(
        "job-1", model_data_url="s3://bucket/job-1/model.tar.gz", image="img"
    )
    job = sm.describe_training_job(TrainingJobName="job-1")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == "s3://bucket/job-1/model.tar.gz"
    assert job["TrainingJobArn"] == f"{ARN}:training-job/job-1"
    assert job["AlgorithmSpecification"]["TrainingImage"] == "img"


def test_update_endpoint_hot_swaps_with_no_failed_request(host, sm, model_a, model_b):
    create_stack(sm, "swap", model_a)
    sm.create_model(
        ModelName="swap-b",
        PrimaryContainer={"Image": "x", "ModelDataUrl": model_b.as_uri(), "Environment": PY_ENV},
    )
    sm.create_endpoint_config(
        EndpointConfigName="swap-b",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "swap-b"}],
    )
    sm.get_waiter("endpoint_in_service").wait(EndpointName="swap", WaiterConfig=FAST)
    runtime = host.runtime_client()
    answers: list[float] = []
    failures: list[Exception] = []
    arrived = threading.Condition()
    stop = threading.Event()

    def hammer():
        deadline = time.monotonic() + 20  # bound: stops even if the test is stuck
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                body = runtime.invoke_endpoint(
                    EndpointName="swap", Body=b"1,2", ContentType="text/csv"
                )
                answer: float | Exception = float(body["Body"].read())
            except Exception as exc:
                answer = exc
            with arrived:
                (failures if isinstance(answer, Exception) else answers).append(answer)
                arrived.notify_all()

    def wait_until(predicate) -> None:
        with arrived:
            assert arrived.wait_for(lambda: predicate() or failures, timeout=20)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        try:
            wait_until(lambda: len(answers) >= 20)  # the old model serves under load
            sm.update_endpoint(EndpointName="swap", EndpointConfigName="swap-b")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="swap", WaiterConfig=FAST)
            wait_until(lambda: answers.count(1003.0) >= 20)  # and then the new one does
        finally:
            stop.set()
        for f in futures:
            f.result()
    assert failures == []
    assert set(answers) == {3.0, 1003.0}
    switch = answers.index(1003.0)
    # threads interleave around the swap, but once B answers every later answer is B's
    # (allowing for the in-flight requests of the other three threads)
    assert answers[switch + 4 :].count(3.0) == 0
    described = sm.describe_endpoint(EndpointName="swap")
    assert described["EndpointConfigName"] == "swap-b"
    assert described["EndpointStatus"] == "InService"


def test_state_survives_restart(tmp_path, model_a, trusted):
    state = tmp_path / "state"
    with LocalEndpointHost(state_dir=state, **trusted) as first:
        sm = first.sagemaker_client()
        create_stack(sm, "persisted", model_a, tags=[{"Key": "k", "Value": "v"}])
        sm.get_waiter("endpoint_in_service").wait(EndpointName="persisted", WaiterConfig=FAST)
        created = sm.describe_endpoint(EndpointName="persisted")["CreationTime"]
    assert (state / "state.json").is_file()
    with LocalEndpointHost(state_dir=state, **trusted) as second:
        sm = second.sagemaker_client()
        described = sm.describe_endpoint(EndpointName="persisted")
        assert described["EndpointStatus"] == "InService"
        assert described["CreationTime"] == created
        arn = sm.describe_model(ModelName="persisted")["ModelArn"]
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
        body = (
            second.runtime_client()
            .invoke_endpoint(EndpointName="persisted", Body=b"2,2", ContentType="text/csv")["Body"]
            .read()
        )
        assert body == b"4.0"


def test_control_plane_faults_are_injected_then_stop(host, sm):
    host.set_control_plane_faults(FaultSpec(throttle_rate=1.0, seed=1, max_faults=2))
    try:
        for _ in range(2):
            code, message, status = error_of(sm.list_models)
            assert (code, message, status) == ("ThrottlingException", "Rate exceeded", 400)
        assert "Models" in sm.list_models()
        host.set_control_plane_faults(FaultSpec(error_rate=1.0, error_status=503, max_faults=1))
        assert error_of(sm.list_endpoints)[2] == 503
        assert host.metrics()["faults_by_endpoint"]["_control"] == {"throttle": 2, "error": 1}
    finally:
        host.set_control_plane_faults(None)


def test_deploy_local_convenience_raises_with_the_failure_reason(host, tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    with pytest.raises(Exception, match=r"deploy-fails.*Failed.*No \*\.onnx file"):
        host.deploy_local("deploy-fails", empty, runtime="onnx")
