"""CreatedResources: deletion order, truthiness, JSON manifest round trip, clear errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from endpoints.lifecycle.resources import (
    RUN_ID_TAG,
    CreatedResources,
    ResourceIdentity,
    ResourceKind,
    ResourceRef,
)

FULL = CreatedResources(
    model_name="m-1",
    endpoint_config_name="c-1",
    endpoint_name="e-1",
    region="us-east-1",
    created_at=datetime(2026, 11, 26, 21, 4, 0, tzinfo=timezone.utc),
    run_id="0123abcd",
    tags={RUN_ID_TAG: "0123abcd", "team": "ml"},
    identities={
        ResourceKind.ENDPOINT: ResourceIdentity(
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e-1",
            datetime(2026, 11, 26, 21, 4, 2, 125000, tzinfo=timezone.utc),
        ),
        ResourceKind.MODEL: ResourceIdentity(
            "arn:aws:sagemaker:us-east-1:123456789012:model/m-1",
            datetime(2026, 11, 26, 21, 4, 0, 500000, tzinfo=timezone.utc),
        ),
    },
)


def test_empty_is_falsy_and_partial_is_truthy():
    assert not CreatedResources()
    assert not CreatedResources(region="us-east-1", run_id="x")
    assert CreatedResources(model_name="m")
    assert FULL


def test_refs_are_in_deletion_order_endpoint_config_model():
    assert FULL.refs() == [
        ResourceRef(ResourceKind.ENDPOINT, "e-1"),
        ResourceRef(ResourceKind.ENDPOINT_CONFIG, "c-1"),
        ResourceRef(ResourceKind.MODEL, "m-1"),
    ]
    assert CreatedResources(model_name="m").refs() == [ResourceRef(ResourceKind.MODEL, "m")]
    shuffled = [
        ResourceRef("model", "a"),
        ResourceRef("endpoint", "z"),
        ResourceRef("endpoint-config", "b"),
    ]
    assert [r.kind.value for r in sorted(shuffled)] == ["endpoint", "endpoint-config", "model"]


def test_describe_names_everything_created():
    assert FULL.describe() == "endpoint 'e-1', endpoint-config 'c-1', model 'm-1' in us-east-1"
    assert CreatedResources().describe() == "nothing"


def test_json_round_trip_keeps_every_field():
    text = FULL.to_json()
    data = json.loads(text)
    assert data == {
        "format": "endpoint-serde/created-resources",
        "version": 1,
        "model_name": "m-1",
        "endpoint_config_name": "c-1",
        "endpoint_name": "e-1",
        "region": "us-east-1",
        "created_at": "2026-11-26T21:04:00+00:00",
        "run_id": "0123abcd",
        "tags": {"endpoint-serde:run-id": "0123abcd", "team": "ml"},
        "identities": {
            "endpoint": {
                "arn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e-1",
                "creation_time": "2026-11-26T21:04:02.125000+00:00",
            },
            "model": {
                "arn": "arn:aws:sagemaker:us-east-1:123456789012:model/m-1",
                "creation_time": "2026-11-26T21:04:00.500000+00:00",
            },
        },
    }
    assert CreatedResources.from_json(text) == FULL


def test_manifest_without_identities_still_reads():
    """Manifests written before identities were recorded read with none (a replay then
    cannot verify their resources: see endpoints.lifecycle.selection)."""
    data = json.loads(FULL.to_json())
    del data["identities"]
    older = CreatedResources.from_dict(data)
    assert older.identities == {}
    assert older.refs() == FULL.refs() and older.run_id == "0123abcd"


def test_record_identity_keeps_arn_and_creation_time_of_a_describe_answer():
    created = CreatedResources(model_name="m-1")
    born = datetime(2026, 11, 26, 21, 4, 0, tzinfo=timezone.utc)
    created.record_identity(
        ResourceKind.MODEL, {"ModelName": "m-1", "ModelArn": "arn:m-1", "CreationTime": born}
    )
    created.record_identity(ResourceKind.ENDPOINT, {"EndpointStatus": "Creating"})
    assert created.identities == {ResourceKind.MODEL: ResourceIdentity("arn:m-1", born)}


def test_manifest_round_trip_on_disk_leaves_no_temp_files(tmp_path):
    path = tmp_path / "runs" / "run.json"
    FULL.write_manifest(path)
    assert CreatedResources.read_manifest(path) == FULL
    partial = CreatedResources(model_name="m-2", region="eu-west-1")
    partial.write_manifest(path)  # overwrite in place
    assert CreatedResources.read_manifest(path) == partial
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "run.json: not JSON"),
        ("[1, 2]", 'run.json: expected a JSON object with "format": "endpoint-serde/created-'),
        ('{"format": "other"}', "got an object with format 'other'"),
        (
            '{"format": "endpoint-serde/created-resources", "version": 9}',
            "run.json: expected manifest version 1, got 9; upgrade endpoint-serde",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 1, "model_name": 5}',
            'run.json: "model_name": expected a non-empty string or null, got the number 5',
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 1, "tags": ["a"]}',
            'run.json: "tags": expected an object of strings, got an array ["a"]',
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 1, '
            '"created_at": "yesterday"}',
            'run.json: "created_at": expected an ISO 8601 time such as '
            '2026-11-26T21:04:00+00:00, got a string "yesterday"',
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 1, '
            '"identities": {"notebook": {}}}',
            'run.json: "identities": expected keys among endpoint, endpoint-config, model, '
            "got 'notebook'",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 1, '
            '"identities": {"model": {"arn": 7}}}',
            'run.json: "identities.model.arn": expected a non-empty string or null, '
            "got the number 7",
        ),
    ],
)
def test_bad_manifest_is_a_clear_value_error(tmp_path, text, message):
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        CreatedResources.read_manifest(path)
    assert message in str(info.value)


def test_missing_manifest_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.json: manifest file not found"):
        CreatedResources.read_manifest(tmp_path / "nope.json")


def test_unreadable_manifests_are_value_errors(tmp_path):
    binary = tmp_path / "run.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError) as info:
        CreatedResources.read_manifest(binary)
    assert (
        str(info.value) == f"{binary}: expected a JSON manifest, got bytes that are not UTF-8 text"
    )
    with pytest.raises(ValueError) as info:
        CreatedResources.read_manifest(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read the manifest (Is a directory)"
