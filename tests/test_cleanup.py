"""SageMakerResourceCleanup against moto's server, directly and through a fault proxy."""

from __future__ import annotations

import pytest

from endpoints.errors import CleanupError
from endpoints.lifecycle.cleanup import Outcome, SageMakerResourceCleanup
from endpoints.lifecycle.resources import CreatedResources, ResourceKind, ResourceRef

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer:1"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def create_directly(client, name: str) -> CreatedResources:
    """Model, config and endpoint made with plain boto3, as a user's other work would."""
    client.create_model(
        ModelName=name,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    client.create_endpoint_config(
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
    client.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return CreatedResources(model_name=name, endpoint_config_name=name, endpoint_name=name)


def existing(client) -> set[tuple[str, str]]:
    found = {("endpoint", e["EndpointName"]) for e in client.list_endpoints()["Endpoints"]}
    found |= {
        ("endpoint-config", c["EndpointConfigName"])
        for c in client.list_endpoint_configs()["EndpointConfigs"]
    }
    found |= {("model", m["ModelName"]) for m in client.list_models()["Models"]}
    return found


def all_three(name: str) -> set[tuple[str, str]]:
    return {("endpoint", name), ("endpoint-config", name), ("model", name)}


def test_deletes_in_order_and_reports_each(moto_sagemaker):
    created = create_directly(moto_sagemaker, "clean-order")
    report = SageMakerResourceCleanup(moto_sagemaker).delete_resources(created)
    assert [(o.ref.kind.value, o.outcome) for o in report.outcomes] == [
        ("endpoint", Outcome.DELETED),
        ("endpoint-config", Outcome.DELETED),
        ("model", Outcome.DELETED),
    ]
    assert report.ok and report.retries == 0
    assert not all_three("clean-order") & existing(moto_sagemaker)
    assert str(report).splitlines()[0] == "cleanup: 3 deleted, 0 already gone, 0 failed"
    assert report.to_dict()["resources"][0] == {
        "kind": "endpoint",
        "name": "clean-order",
        "outcome": "deleted",
        "reason": None,
    }


def test_empty_created_resources_never_touch_a_pre_existing_endpoint(
    fault_proxy, sagemaker_client_for
):
    client = sagemaker_client_for(fault_proxy.url)
    create_directly(client, "pre-existing-prod")
    cleanup = SageMakerResourceCleanup(client)
    for nothing in (CreatedResources(), CreatedResources(region="us-east-1", run_id="r"), None):
        report = cleanup.delete_resources(nothing)
        assert report.outcomes == [] and str(report) == "cleanup: nothing to delete"
    assert not [a for a in fault_proxy.hits if a.startswith("Delete")]
    assert all_three("pre-existing-prod") <= existing(client)
    assert client.describe_endpoint(EndpointName="pre-existing-prod")["EndpointStatus"] == (
        "InService"
    )
    cleanup.delete_resources(create_directly_refs("pre-existing-prod"))


def create_directly_refs(name: str) -> CreatedResources:
    return CreatedResources(model_name=name, endpoint_config_name=name, endpoint_name=name)


def test_only_what_it_was_given_is_deleted(moto_sagemaker):
    mine = create_directly(moto_sagemaker, "given-mine")
    create_directly(moto_sagemaker, "given-theirs")
    partial = CreatedResources(endpoint_name=mine.endpoint_name, model_name=mine.model_name)
    report = SageMakerResourceCleanup(moto_sagemaker).delete_resources(partial)
    assert [str(r) for r in report.deleted] == ["endpoint 'given-mine'", "model 'given-mine'"]
    left = existing(moto_sagemaker)
    assert ("endpoint-config", "given-mine") in left
    assert all_three("given-theirs") <= left
    SageMakerResourceCleanup(moto_sagemaker).delete_resources(
        CreatedResources(endpoint_config_name="given-mine")
    )
    SageMakerResourceCleanup(moto_sagemaker).delete_resources(create_directly_refs("given-theirs"))


def test_second_cleanup_finds_everything_already_gone(moto_sagemaker):
    created = create_directly(moto_sagemaker, "twice")
    cleanup = SageMakerResourceCleanup(moto_sagemaker)
    assert len(cleanup.delete_resources(created).deleted) == 3
    again = cleanup.delete_resources(created)
    assert again.ok and again.deleted == []
    assert [str(r) for r in again.already_gone] == [
        "endpoint 'twice'",
        "endpoint-config 'twice'",
        "model 'twice'",
    ]
    assert cleanup.delete_model("twice").outcome is Outcome.ALREADY_GONE


def test_throttled_control_plane_still_cleans(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    created = create_directly(client, "throttled-clean")
    fault_proxy.fail("DeleteEndpoint", times=3)
    fault_proxy.fail("DeleteModel", times=2)
    sleeps = Sleeps()
    report = SageMakerResourceCleanup(client, sleep=sleeps).delete_resources(created)
    assert report.ok and len(report.deleted) == 3
    assert report.retries == 5 and len(sleeps) == 5
    assert dict(fault_proxy.faults) == {"DeleteEndpoint": 3, "DeleteModel": 2}
    assert fault_proxy.hits["DeleteEndpoint"] == 4
    assert not all_three("throttled-clean") & existing(client)


def test_partial_failure_is_reported_and_raised_after_trying_all(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    created = create_directly(client, "partial")
    fault_proxy.fail(
        "DeleteEndpointConfig",
        times=1,
        code="AccessDeniedException",
        message="User is not authorized to perform: sagemaker:DeleteEndpointConfig",
    )
    with pytest.raises(CleanupError) as info:
        SageMakerResourceCleanup(client, sleep=Sleeps()).delete_resources(created)
    report = info.value.report
    assert [(o.ref.kind, o.outcome) for o in report.outcomes] == [
        (ResourceKind.ENDPOINT, Outcome.DELETED),
        (ResourceKind.ENDPOINT_CONFIG, Outcome.FAILED),
        (ResourceKind.MODEL, Outcome.DELETED),
    ]
    reason = (
        "AccessDeniedException: User is not authorized to perform: sagemaker:DeleteEndpointConfig"
    )
    assert report.failed[0].reason == reason
    assert str(info.value) == (
        f"cleanup failed for 1 of 3 resources (endpoint-config 'partial': {reason}). The rest "
        "were deleted or already gone; run the cleanup again to retry, or delete them in the "
        "AWS console"
    )
    assert existing(client) & all_three("partial") == {("endpoint-config", "partial")}
    # running it again finishes the job: the others are already gone
    again = SageMakerResourceCleanup(client).delete_resources(created)
    assert [str(r) for r in again.deleted] == ["endpoint-config 'partial'"]
    assert len(again.already_gone) == 2


def test_throttling_that_never_stops_fails_that_resource_only(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    created = create_directly(client, "always-throttled")
    fault_proxy.fail("DeleteEndpoint", times=50)
    sleeps = Sleeps()
    with pytest.raises(CleanupError) as info:
        SageMakerResourceCleanup(client, max_attempts=3, sleep=sleeps).delete_resources(created)
    report = info.value.report
    assert report.failed[0].ref == ResourceRef(ResourceKind.ENDPOINT, "always-throttled")
    assert report.failed[0].reason == (
        "ThrottlingException: Rate exceeded (gave up after 3 attempts)"
    )
    assert fault_proxy.hits["DeleteEndpoint"] == 3 and len(sleeps) == 2
    assert [str(r) for r in report.deleted] == [
        "endpoint-config 'always-throttled'",
        "model 'always-throttled'",
    ]
    fault_proxy.clear()
    assert SageMakerResourceCleanup(client).delete_endpoint("always-throttled").ok


def test_single_delete_raises_with_a_one_line_report(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url, boto_retries=False)
    fault_proxy.fail("DeleteModel", times=1, code="AccessDeniedException", message="denied")
    with pytest.raises(CleanupError) as info:
        SageMakerResourceCleanup(client).delete_model("whatever")
    assert str(info.value) == "could not delete model 'whatever': AccessDeniedException: denied"
    assert len(info.value.report.outcomes) == 1


def test_waiting_for_endpoint_deletion_polls_until_gone(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    created = create_directly(client, "wait-gone")
    fault_proxy.respond("DescribeEndpoint", 2, {"EndpointStatus": "Deleting"})
    sleeps = Sleeps()
    cleanup = SageMakerResourceCleanup(client, wait_for_endpoint_deletion=True, sleep=sleeps)
    report = cleanup.delete_resources(created)
    assert report.ok and len(report.deleted) == 3
    assert sleeps == [0.5, 1.0]
    assert fault_proxy.hits["DescribeEndpoint"] == 3  # Deleting, Deleting, not found
