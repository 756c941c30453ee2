"""The factories take what code moving from sagemaker_pyspark passes them (issue 16): a
``sagemaker_client`` on ``from_endpoint``, ``from_training_job``'s arguments by position
with the client tenth, and ``created_resources`` is an empty ``CreatedResources`` (never
``None``) when nothing was created. Against the local endpoint host's control plane."""

from __future__ import annotations

import pytest

from endpoints.lifecycle.cleanup import SageMakerResourceCleanup
from endpoints.lifecycle.naming import NamePolicy
from endpoints.lifecycle.resources import CreatedResources
from endpoints.scoring.model import EndpointCreationPolicy, SageMakerModel
from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


class RegionOnly:
    """Stands in for a boto3 client: ``from_endpoint`` may only read its region."""

    class meta:
        region_name = "eu-west-1"


def test_from_endpoint_takes_a_sagemaker_client_and_creates_nothing():
    model = SageMakerModel.from_endpoint(
        "existing",
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        sagemaker_client=RegionOnly(),
    )
    assert model.endpoint.region == "eu-west-1"
    assert isinstance(model.created_resources, CreatedResources)
    assert not model.created_resources and model.created_resources.refs() == []
    explicit = SageMakerModel.from_endpoint(
        "existing",
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        sagemaker_client=RegionOnly(),
        region="us-east-1",
    )
    assert explicit.endpoint.region == "us-east-1"


def test_cleanup_of_an_attached_model_deletes_nothing(local_host):
    model = SageMakerModel.from_endpoint(
        "existing", UnlabeledCSVRequestRowSerializer(), XGBoostCSVRowDeserializer()
    )
    report = SageMakerResourceCleanup(local_host.sagemaker_client()).delete_resources(
        model.created_resources
    )
    assert report.outcomes == []


def test_from_training_job_takes_sagemaker_pyspark_positional_arguments(local_host):
    """The tenth argument is the client, as in sagemaker_pyspark: it used to collide with
    the keyword the factory passed on ("got multiple values for 'sagemaker_client'")."""
    local_host.register_training_job("tj-positional", "s3://bucket/models/tj/model.tar.gz")
    client = local_host.sagemaker_client()
    model = SageMakerModel.from_training_job(
        "tj-positional",
        "local/python:1",
        ROLE,
        "ml.m5.large",
        1,
        UnlabeledCSVRequestRowSerializer(),
        XGBoostCSVRowDeserializer(),
        None,
        EndpointCreationPolicy.DO_NOT_CREATE,
        client,
        False,
        NamePolicy("positional"),
        endpoint_url=local_host.url,
    )
    assert model.endpoint.endpoint_name.startswith("positional-")
    assert model.endpoint.region == client.meta.region_name
    assert model.getOrDefault(model.prependResultRows) is False
    assert not model.created_resources  # DO_NOT_CREATE: nothing made, nothing to clean


def test_from_training_job_asks_the_given_client(local_host):
    with pytest.raises(Exception, match="tj-nowhere"):
        SageMakerModel.from_training_job(
            "tj-nowhere",
            "local/python:1",
            ROLE,
            "ml.m5.large",
            1,
            UnlabeledCSVRequestRowSerializer(),
            XGBoostCSVRowDeserializer(),
            sagemaker_client=local_host.sagemaker_client(),
        )
