"""CreatedResources: deletion order, truthiness, JSON manifest round trip, clear errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from endpoints.lifecycle.resources import (
    RUN_ID_TAG,
    CreatedResources,
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
    }
    assert CreatedResources.from_json(text) == FULL


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
