"""CreatedResources: deletion order, truthiness, JSON manifest round trip, clear errors;
a Batch Transform run's transform job and S3 prefixes beside the hosting resources."""

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
    S3Prefix,
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
JOB_BORN = datetime(2026, 11, 26, 21, 5, 0, 250000, tzinfo=timezone.utc)
BATCH = CreatedResources(
    model_name="m-2",
    transform_job_name="j-2",
    s3_prefixes=["s3://staging/runs/j-2/input/", "s3://staging/runs/j-2/output/"],
    region="us-east-1",
    run_id="4567cdef",
    tags={RUN_ID_TAG: "4567cdef"},
    identities={
        ResourceKind.TRANSFORM_JOB: ResourceIdentity(
            "arn:aws:sagemaker:us-east-1:123456789012:transform-job/j-2", JOB_BORN
        )
    },
)


def test_empty_is_falsy_and_partial_is_truthy():
    assert not CreatedResources()
    assert not CreatedResources(region="us-east-1", run_id="x")
    assert CreatedResources(model_name="m")
    assert FULL
    assert CreatedResources(transform_job_name="j")
    assert CreatedResources(s3_prefixes=["s3://b/run/input/"])
    assert not CreatedResources(s3_prefixes=[])


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


def test_transform_job_goes_first_and_s3_prefixes_last():
    """Stopping the job stops its billing; the prefixes go once no job writes under them."""
    assert BATCH.refs() == [
        ResourceRef(ResourceKind.TRANSFORM_JOB, "j-2"),
        ResourceRef(ResourceKind.MODEL, "m-2"),
        ResourceRef(ResourceKind.S3_PREFIX, "s3://staging/runs/j-2/input/"),
        ResourceRef(ResourceKind.S3_PREFIX, "s3://staging/runs/j-2/output/"),
    ]
    shuffled = [
        ResourceRef("s3-prefix", "s3://a/x/"),
        ResourceRef("model", "a"),
        ResourceRef("endpoint", "z"),
        ResourceRef("transform-job", "j"),
        ResourceRef("endpoint-config", "b"),
    ]
    assert [r.kind.value for r in sorted(shuffled)] == [
        "transform-job",
        "endpoint",
        "endpoint-config",
        "model",
        "s3-prefix",
    ]
    twice = CreatedResources(s3_prefixes=["s3://b/r/in/", "s3://b/r/in/"])
    assert twice.refs() == [ResourceRef(ResourceKind.S3_PREFIX, "s3://b/r/in/")]


def test_name_of_a_transform_job_and_s3_prefixes_read_as_a_list():
    assert BATCH.name_of(ResourceKind.TRANSFORM_JOB) == "j-2"
    assert BATCH.name_of(ResourceKind.MODEL) == "m-2"
    assert BATCH.name_of(ResourceKind.ENDPOINT) is None
    with pytest.raises(ValueError) as info:
        BATCH.name_of(ResourceKind.S3_PREFIX)
    assert str(info.value) == (
        "a run may create several s3-prefixes: read CreatedResources.s3_prefixes"
    )


def test_describe_names_everything_created():
    assert FULL.describe() == "endpoint 'e-1', endpoint-config 'c-1', model 'm-1' in us-east-1"
    assert CreatedResources().describe() == "nothing"
    assert BATCH.describe() == (
        "transform-job 'j-2', model 'm-2', s3-prefix 's3://staging/runs/j-2/input/', "
        "s3-prefix 's3://staging/runs/j-2/output/' in us-east-1"
    )
    # describing never raises, even over a prefix cleanup would refuse (it names it)
    assert CreatedResources(s3_prefixes=["s3://b/"]).describe() == "s3-prefix 's3://b/'"


def test_json_round_trip_keeps_every_field():
    text = FULL.to_json()
    data = json.loads(text)
    assert data == {
        "format": "endpoint-serde/created-resources",
        "version": 1,
        "model_name": "m-1",
        "endpoint_config_name": "c-1",
        "endpoint_name": "e-1",
        "transform_job_name": None,
        "s3_prefixes": [],
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


def test_batch_manifest_is_version_2_and_round_trips():
    """Version 2 only when a transform job or S3 prefixes are recorded: an older
    endpoint-serde refuses such a manifest instead of cleaning half of it."""
    data = BATCH.to_dict()
    assert data["version"] == 2
    assert (data["transform_job_name"], data["s3_prefixes"]) == (
        "j-2",
        ["s3://staging/runs/j-2/input/", "s3://staging/runs/j-2/output/"],
    )
    assert data["identities"] == {
        "transform-job": {
            "arn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/j-2",
            "creation_time": "2026-11-26T21:05:00.250000+00:00",
        }
    }
    assert CreatedResources.from_json(BATCH.to_json()) == BATCH
    assert CreatedResources(s3_prefixes=["s3://b/r/"]).to_dict()["version"] == 2


def test_manifest_without_identities_still_reads():
    """Manifests written before identities were recorded read with none (a replay then
    cannot verify their resources: see endpoints.lifecycle.selection)."""
    data = json.loads(FULL.to_json())
    del data["identities"]
    older = CreatedResources.from_dict(data)
    assert older.identities == {}
    assert older.refs() == FULL.refs() and older.run_id == "0123abcd"


def test_manifest_written_before_transform_jobs_still_reads():
    data = json.loads(FULL.to_json())
    del data["transform_job_name"], data["s3_prefixes"]
    older = CreatedResources.from_dict(data)
    assert older == FULL
    assert (older.transform_job_name, older.s3_prefixes) == (None, [])


def test_record_identity_of_a_transform_job_from_its_describe_answer():
    created = CreatedResources(transform_job_name="j-2")
    created.record_identity(
        ResourceKind.TRANSFORM_JOB,
        {
            "TransformJobName": "j-2",
            "TransformJobArn": "arn:aws:sagemaker:us-east-1:1:transform-job/j-2",
            "TransformJobStatus": "InProgress",
            "CreationTime": JOB_BORN,
        },
    )
    assert created.identities == {
        ResourceKind.TRANSFORM_JOB: ResourceIdentity(
            "arn:aws:sagemaker:us-east-1:1:transform-job/j-2", JOB_BORN
        )
    }


@pytest.mark.parametrize(
    ("uri", "bucket", "key_prefix"),
    [
        ("s3://staging/run-1/", "staging", "run-1/"),
        ("s3://my.bucket-2/a/b/c/input/", "my.bucket-2", "a/b/c/input/"),
        ("s3://b/run 1/in put/", "b", "run 1/in put/"),
    ],
)
def test_s3_prefix_parses_one_folder_of_a_bucket(uri, bucket, key_prefix):
    assert S3Prefix.parse(uri) == S3Prefix(bucket, key_prefix)
    assert S3Prefix.parse(uri).uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/",  # the whole bucket
        "s3://bucket",
        "s3://bucket/run-1",  # no trailing slash: would also match run-10/
        "s3://bucket//",
        "s3://bucket/a//b/",
        "s3://bucket/../",
        "s3://bucket/a/./",
        "s3:///a/",
        "https://bucket.s3.amazonaws.com/a/",
        "bucket/a/",
        "",
        None,
    ],
)
def test_a_prefix_wider_than_a_folder_is_refused(uri):
    expected = (
        "expected an S3 prefix such as 's3://bucket/run-1/input/' (a bucket, at least one "
        "folder, ending in '/'; cleanup deletes every object under it, so never a whole "
        f"bucket), got {uri!r}"
    )
    with pytest.raises(ValueError) as info:
        S3Prefix.parse(uri)
    assert str(info.value) == expected
    with pytest.raises(ValueError) as info:
        ResourceRef(ResourceKind.S3_PREFIX, uri)
    assert str(info.value) == expected
    if uri:
        with pytest.raises(ValueError) as info:
            CreatedResources(model_name="m", s3_prefixes=[uri]).refs()
        assert str(info.value) == expected


def test_s3_prefix_has_no_sagemaker_calls():
    assert [k.value for k in ResourceKind if k.on_sagemaker] == [
        "transform-job",
        "endpoint",
        "endpoint-config",
        "model",
    ]
    assert ResourceKind.TRANSFORM_JOB.calls.delete_method == "stop_transform_job"
    with pytest.raises(ValueError, match="s3-prefix is not a SageMaker resource"):
        ResourceKind.S3_PREFIX.calls  # noqa: B018


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
            "run.json: expected manifest version 1 or 2, got 9; upgrade endpoint-serde",
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
            'run.json: "identities": expected keys among transform-job, endpoint, '
            "endpoint-config, model, got 'notebook'",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 2, '
            '"identities": {"s3-prefix": {}}}',
            'run.json: "identities": expected keys among transform-job, endpoint, '
            "endpoint-config, model, got 's3-prefix'",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": true}',
            "run.json: expected manifest version 1 or 2, got True",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 2, '
            '"s3_prefixes": "s3://b/run/"}',
            'run.json: "s3_prefixes": expected an array of s3://bucket/prefix/ URIs, got a '
            'string "s3://b/run/"',
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 2, '
            '"s3_prefixes": ["s3://b/run/", "s3://b/"]}',
            'run.json: "s3_prefixes[1]": expected an S3 prefix such as '
            "'s3://bucket/run-1/input/' (a bucket, at least one folder, ending in '/'; "
            "cleanup deletes every object under it, so never a whole bucket), got 's3://b/'",
        ),
        (
            '{"format": "endpoint-serde/created-resources", "version": 2, '
            '"transform_job_name": ""}',
            'run.json: "transform_job_name": expected a non-empty string or null, got a string ""',
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
