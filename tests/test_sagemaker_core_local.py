"""The SageMaker SDK's own clients against the local host, end to end.

sagemaker-core's resource classes validate every answer with pydantic models generated from
botocore's shapes, so an answer the shapes refuse (an empty ``VpcConfig``) fails them. They
create no client with an ``endpoint_url``: they are pointed at the host the way a user
would, with ``AWS_ENDPOINT_URL_SAGEMAKER`` / ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` and a
boto3 session of dummy credentials. The SDK's ``NumpySerializer`` / ``NumpyDeserializer``
talk ``application/x-npy`` to the host both ways.
"""

from __future__ import annotations

import io
import uuid

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker.core.deserializers import JSONDeserializer, NumpyDeserializer
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.serializers import CSVSerializer, NumpySerializer
from sagemaker.core.shapes import (
    ContainerDefinition,
    DataCaptureConfig,
    ProductionVariant,
    Tag,
    VpcConfig,
)
from sagemaker.core.utils.utils import Unassigned

from endpoints.local import LocalEndpointHost

ROLE = "arn:aws:iam::123456789012:role/test"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
REGION = "us-east-1"
PY_ENV = {"ENDPOINT_SERDE_RUNTIME": "python", "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"}
SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"
TWO_OUTPUTS = (
    "import numpy as np\n\ndef predict(x):\n    x = np.asarray(x)\n"
    "    return {'total': x.sum(axis=1), 'both': np.stack([x.min(axis=1), x.max(axis=1)], 1)}\n"
)
NPY = "application/x-npy"
ROWS = np.array([[1.0, 2.0], [3.0, 4.5], [-1.0, 0.25]])
SUMS = [3.0, 7.5, -0.75]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("core-models")
    for name, source in (("sum", SUM), ("two", TWO_OUTPUTS)):
        (root / name).mkdir()
        (root / name / "model.py").write_text(source)
    return root


@pytest.fixture(scope="module")
def host(models):
    trusted = {"model_roots": [models], "allow_python_models": True}  # the tests' own models
    with LocalEndpointHost(**trusted) as h, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER", h.url)
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", h.url)
        h.deploy_local("core-sum", models / "sum", "python", PY_ENV)
        h.deploy_local("core-two", models / "two", "python", PY_ENV)
        yield h


@pytest.fixture(scope="module")
def runtime(host):
    return host.runtime_client()


@pytest.fixture(scope="module")
def session(host):
    """A boto3 session of dummy credentials; the host comes from the environment."""
    return boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )


def container(models, model: str = "sum") -> ContainerDefinition:
    return ContainerDefinition(
        image="local/python:1", model_data_url=(models / model).as_uri(), environment=PY_ENV
    )


def variant(model_name: str) -> ProductionVariant:
    return ProductionVariant(
        variant_name="AllTraffic",
        model_name=model_name,
        initial_instance_count=1,
        instance_type="ml.m5.large",
    )


# ------------------------------------------------------------------ resource classes


def test_model_config_and_endpoint_resources_end_to_end(models, session):
    name = f"core-{uuid.uuid4().hex[:8]}"
    where = {"session": session, "region": REGION}
    model = Model.create(
        model_name=name,
        primary_container=container(models),
        execution_role_arn=ROLE,
        tags=[Tag(key="team", value="ml")],
        **where,
    )
    assert model.model_arn == f"{ARN}:model/{name}"
    got = Model.get(name, **where)
    assert got.primary_container.environment == PY_ENV
    assert got.execution_role_arn == ROLE
    assert isinstance(got.vpc_config, Unassigned)  # not set, so not answered
    assert isinstance(got.containers, Unassigned)
    assert name in [m.model_name for m in Model.get_all(name_contains=name, **where)]

    config = EndpointConfig.create(
        endpoint_config_name=name, production_variants=[variant(name)], **where
    )
    assert config.endpoint_config_arn == f"{ARN}:endpoint-config/{name}"
    got_config = EndpointConfig.get(name, **where)
    assert got_config.production_variants[0].model_name == name
    assert isinstance(got_config.data_capture_config, Unassigned)

    endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=name, **where)
    endpoint.wait_for_status("InService", poll=1, timeout=60)  # the first poll settles
    assert endpoint.endpoint_status == "InService"
    described = Endpoint.get(name, **where)
    assert described.endpoint_arn == f"{ARN}:endpoint/{name}"
    assert described.production_variants[0].current_instance_count == 1
    assert isinstance(described.data_capture_config, Unassigned)
    assert name in [e.endpoint_name for e in Endpoint.get_all(name_contains=name, **where)]

    answer = described.invoke(body=b"1,2\n3,4.5", content_type="text/csv", accept="text/csv")
    assert answer.content_type == "text/csv"
    assert answer.body.read() == b"3.0\n7.5"

    described.delete()
    with pytest.raises(ClientError, match=f'Could not find endpoint "{ARN}:endpoint/{name}"'):
        Endpoint.get(name, **where)
    assert name not in [e.endpoint_name for e in Endpoint.get_all(name_contains=name, **where)]


def test_optional_members_set_by_the_caller_come_back_typed(models, session):
    name = f"core-opt-{uuid.uuid4().hex[:6]}"
    where = {"session": session, "region": REGION}
    vpc = VpcConfig(security_group_ids=["sg-0123456789"], subnets=["subnet-0123456789"])
    Model.create(model_name=name, primary_container=container(models), vpc_config=vpc, **where)
    assert Model.get(name, **where).vpc_config == vpc
    capture = DataCaptureConfig(
        enable_capture=True,
        initial_sampling_percentage=20,
        destination_s3_uri="s3://capture/prefix",
        capture_options=[{"capture_mode": "Input"}],
    )
    EndpointConfig.create(
        endpoint_config_name=name,
        production_variants=[variant(name)],
        data_capture_config=capture,
        **where,
    )
    assert EndpointConfig.get(name, **where).data_capture_config.initial_sampling_percentage == 20
    endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=name, **where)
    endpoint.wait_for_status("InService", poll=1, timeout=60)
    summary = endpoint.data_capture_config
    assert (summary.capture_status, summary.current_sampling_percentage) == ("Started", 20)
    assert summary.destination_s3_uri == "s3://capture/prefix"
    endpoint.delete()


# -------------------------------------------------------------------- application/x-npy


def invoke(runtime, endpoint: str, body: bytes, content_type: str, accept: str):
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept
    )
    return answer["ContentType"], answer["Body"]


def test_numpy_serializer_and_deserializer_round_trip(runtime):
    body = NumpySerializer().serialize(ROWS)
    content_type, stream = invoke(runtime, "core-sum", body, NPY, NPY)
    assert content_type == NPY
    result = NumpyDeserializer().deserialize(stream, content_type)
    assert result.dtype == np.float64 and result.tolist() == SUMS


def test_an_integer_and_a_one_dimensional_array_are_rows(runtime):
    body = NumpySerializer().serialize(np.array([[1, 2], [3, 4]], dtype=np.int32))
    content_type, stream = invoke(runtime, "core-sum", body, NPY, NPY)
    assert NumpyDeserializer().deserialize(stream, content_type).tolist() == [3.0, 7.0]
    body = NumpySerializer().serialize([5.0, 6.0, 7.0])  # 1-D: one value per row
    content_type, stream = invoke(runtime, "core-sum", body, NPY, NPY)
    assert NumpyDeserializer().deserialize(stream, content_type).tolist() == [5.0, 6.0, 7.0]


def test_npy_mixes_with_the_other_formats(runtime):
    content_type, stream = invoke(
        runtime, "core-sum", NumpySerializer().serialize(ROWS), NPY, "text/csv"
    )
    assert (content_type, stream.read()) == ("text/csv", b"3.0\n7.5\n-0.75")
    content_type, stream = invoke(
        runtime, "core-sum", NumpySerializer().serialize(ROWS), NPY, "*/*"
    )
    assert content_type == NPY  # the request's own type
    assert NumpyDeserializer().deserialize(stream, content_type).tolist() == SUMS
    csv = CSVSerializer().serialize(ROWS.tolist())
    content_type, stream = invoke(runtime, "core-sum", csv.encode(), "text/csv", NPY)
    assert NumpyDeserializer().deserialize(stream, content_type).tolist() == SUMS
    content_type, stream = invoke(
        runtime,
        "core-sum",
        NumpySerializer().serialize(ROWS),
        NPY,
        "application/json",
    )
    assert JSONDeserializer().deserialize(stream, content_type) == {"predictions": SUMS}


def test_several_outputs_are_one_matrix_in_output_order(runtime):
    content_type, stream = invoke(
        runtime,
        "core-two",
        NumpySerializer().serialize(ROWS),
        NPY,
        NPY,
    )
    result = NumpyDeserializer().deserialize(stream, content_type)
    assert result.tolist() == [[3.0, 1.0, 2.0], [7.5, 3.0, 4.5], [-0.75, -1.0, 0.25]]


def test_sagemaker_core_endpoint_invoke_with_numpy_serializers(session):
    endpoint = Endpoint.get("core-sum", session=session, region=REGION)
    endpoint.serializer = NumpySerializer()
    endpoint.deserializer = NumpyDeserializer()
    answer = endpoint.invoke(body=ROWS, content_type=NPY, accept=NPY)
    assert answer.content_type == NPY
    assert answer.body.tolist() == SUMS


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    """A version 1.0 .npy header declaring ``shape``, as numpy.save writes it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return header.getvalue()  # magic string included


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            npy_header((1 << 30, 1 << 20)) + b"\x00" * 16,
            "The .npy header declares shape (1073741824, 1048576) of float64 "
            "(9007199254740992 bytes) but 16 bytes follow it",
        ),
        (
            NumpySerializer().serialize(ROWS)[:-8],
            "The .npy header declares shape (3, 2) of float64 (48 bytes) but 40 bytes follow",
        ),
        (b"1,2\n3,4", "Expected a NumPy .npy array in the request body (application/x-npy"),
        (
            npy_header((2,), "|O") + b"\x00" * 16,
            "The .npy array has dtype object; the host reads numbers, booleans and strings "
            "(object arrays would need pickle, which it never loads)",
        ),
        (npy_header((0, 3)), "The .npy array has shape (0, 3); send at least one row"),
    ],
    ids=["huge-declared-shape", "truncated", "not-npy", "pickled-objects", "no-rows"],
)
def test_a_bad_npy_body_is_the_containers_400_and_allocates_nothing(runtime, body, reason):
    with pytest.raises(ClientError) as info:
        invoke(runtime, "core-sum", body, NPY, NPY)
    error = info.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 400
    assert reason in error["OriginalMessage"]
