"""The local host's S3 API (objects as files under its S3 root) through real boto3 ``s3``
clients over HTTP: what transform-job staging needs (put, get, head, list, delete), S3's
error codes, the folder it shares with model artifacts, and moto's S3 as a second opinion
on the response shapes and error codes."""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from endpoints.local import LocalEndpointHost

SUM = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1) * 10\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("s3-root")


@pytest.fixture(scope="module")
def host(root):
    # the model test deploys a Python model from the S3 root: the operator's opt-in
    with LocalEndpointHost(s3_root=root, allow_python_models=True) as h:
        yield h


@pytest.fixture(scope="module")
def s3(host):
    return host.s3_client()


@pytest.fixture
def bucket(s3):
    name = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def error_of(call, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def test_put_get_head_and_ranges(s3, bucket, root):
    body = bytes(range(256)) * 40
    put = s3.put_object(Bucket=bucket, Key="in/part-00000.bin", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert (root / bucket / "in" / "part-00000.bin").read_bytes() == body  # a plain file

    got = s3.get_object(Bucket=bucket, Key="in/part-00000.bin")
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body) and got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="in/part-00000.bin")
    assert head["ContentLength"] == 10_240 and head["ETag"] == put["ETag"]

    part = s3.get_object(Bucket=bucket, Key="in/part-00000.bin", Range="bytes=2-5")
    assert part["Body"].read() == bytes([2, 3, 4, 5])
    assert part["ContentRange"] == "bytes 2-5/10240"
    tail = s3.get_object(Bucket=bucket, Key="in/part-00000.bin", Range="bytes=-3")
    assert tail["Body"].read() == bytes([253, 254, 255])
    code, status, _ = error_of(
        s3.get_object, Bucket=bucket, Key="in/part-00000.bin", Range="bytes=99999-"
    )
    assert (code, status) == ("InvalidRange", 416)

    s3.put_object(Bucket=bucket, Key="in/part-00000.bin", Body=b"replaced")
    assert s3.get_object(Bucket=bucket, Key="in/part-00000.bin")["Body"].read() == b"replaced"


def test_large_object_streams_back_whole(s3, bucket):
    body = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)  # > 3 MiB
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == body


def test_list_prefix_delimiter_pages_and_odd_keys(s3, bucket):
    keys = [
        "staging/p0/part-00000.csv",
        "staging/p0/part-00001.csv",
        "staging/p1/part-00000.csv",
        "staging/top.csv",
        "staging/with space+plus & ünïcode.csv",
        "other/x.csv",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="staging/")
    assert [c["Key"] for c in listed["Contents"]] == sorted(k for k in keys if "staging/" in k)
    assert listed["KeyCount"] == 5 and listed["IsTruncated"] is False
    assert {c["Size"] for c in listed["Contents"]} == {len(k.encode()) for k in keys[:5]}

    grouped = s3.list_objects_v2(Bucket=bucket, Prefix="staging/", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["staging/p0/", "staging/p1/"]
    assert [c["Key"] for c in grouped["Contents"]] == [keys[3], keys[4]]

    seen, pages, token = [], 0, None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **extra)
        seen += [c["Key"] for c in page.get("Contents", [])]
        pages += 1
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys) and pages == 3
    paginated = [
        c["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 4}
        )
        for c in page["Contents"]
    ]
    assert paginated == sorted(keys)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing/")["KeyCount"] == 0


def test_delete_one_and_many_and_prefixes_vanish(s3, bucket, root):
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"job/in/part-{i}.csv", Body=b"1,2\n")
    assert (
        s3.delete_object(Bucket=bucket, Key="job/in/part-0.csv")["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    s3.delete_object(Bucket=bucket, Key="job/in/part-0.csv")  # already gone: still fine
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "job/in/part-1.csv"},
                {"Key": "job/in/part-2.csv"},
                {"Key": "never"},
            ]
        },
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == [
        "job/in/part-1.csv",
        "job/in/part-2.csv",
        "never",
    ]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert list((root / bucket).iterdir()) == []  # no empty job/in/ directories left


def test_errors_in_s3_codes_and_words(s3, bucket):
    assert error_of(s3.get_object, Bucket=bucket, Key="missing")[:2] == ("NoSuchKey", 404)
    assert error_of(s3.head_object, Bucket=bucket, Key="missing")[:2] == ("404", 404)
    assert error_of(s3.get_object, Bucket="no-such-bucket-x", Key="k")[:2] == (
        "NoSuchBucket",
        404,
    )
    assert error_of(s3.list_objects_v2, Bucket="no-such-bucket-x")[:2] == ("NoSuchBucket", 404)
    assert error_of(s3.head_bucket, Bucket="no-such-bucket-x")[:2] == ("404", 404)
    code, status, message = error_of(s3.put_object, Bucket=bucket, Key="a/../b", Body=b"x")
    assert (code, status) == ("InvalidArgument", 400)
    assert "'..'" in message and "S3 root" in message
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    code, status, message = error_of(s3.put_object, Bucket=bucket, Key="a/b", Body=b"y")
    assert (code, status) == ("KeyConflict", 409)
    assert "already an object" in message
    code, status, message = error_of(
        s3.put_object, Bucket=bucket, Key="k", Body=b"abc", ChecksumCRC32="AAAAAA=="
    )
    assert (code, status) == ("BadDigest", 400)
    assert error_of(s3.get_object, Bucket=bucket, Key="k")[0] == "NoSuchKey"  # nothing stored
    code, status, message = error_of(s3.create_multipart_upload, Bucket=bucket, Key="big")
    assert (code, status) == ("NotImplemented", 501)
    assert "put_object" in message and "multipart_threshold" in message


def test_symbolic_links_out_of_the_root_are_not_followed(s3, bucket, root, tmp_path):
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "passwords.txt").write_bytes(b"hunter2")
    (root / bucket / "escape").symlink_to(secret, target_is_directory=True)
    (root / bucket / "file-link").symlink_to(secret / "passwords.txt")
    for key in ("escape/passwords.txt", "file-link"):
        code, status, message = error_of(s3.get_object, Bucket=bucket, Key=key)
        assert (code, status) == ("AccessDenied", 403)
        assert "symbolic link out of the host's S3 root" in message
    code, status, _ = error_of(s3.put_object, Bucket=bucket, Key="escape/new.txt", Body=b"x")
    assert (code, status) == ("AccessDenied", 403)
    assert not (secret / "new.txt").exists()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.csv", Body=b"1,2\n")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.csv"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.read() == b"1,2\n"


def test_a_model_uploaded_over_s3_deploys_from_its_s3_url(host, s3, bucket):
    payload = SUM.encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.py")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    s3.put_object(Bucket=bucket, Key="models/sum/model.tar.gz", Body=archive.getvalue())
    host.deploy_local("from-s3-api", f"s3://{bucket}/models/sum/model.tar.gz", "python")
    answer = host.runtime_client().invoke_endpoint(
        EndpointName="from-s3-api", Body=b"1,2\n3,4", ContentType="text/csv"
    )
    assert answer["Body"].read() == b"30.0\n70.0"


def test_files_put_in_the_folder_by_hand_are_objects(s3, bucket, root):
    (root / bucket / "hand" / "made").mkdir(parents=True)
    rows = b"5,6\n"
    (root / bucket / "hand" / "made" / "rows.csv").write_bytes(rows)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="hand/")["Contents"]
    etag = f'"{hashlib.md5(rows).hexdigest()}"'
    assert [(c["Key"], c["Size"], c["ETag"]) for c in listed] == [("hand/made/rows.csv", 4, etag)]


def test_a_host_without_s3_root_says_how_to_get_one():
    with LocalEndpointHost() as bare:
        code, status, message = error_of(bare.s3_client().list_objects_v2, Bucket="data")
    assert (code, status) == ("NotImplemented", 501)
    assert "--s3-root" in message


# ------------------------------------------------------------------- moto as a second opinion


def keys_of(value, path="$"):
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("ResponseMetadata", "Body"):
                continue
            found.add(f"{path}.{key}")
            found |= keys_of(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found |= keys_of(item, f"{path}[]")
    return found


# moto stores each object's checksum and answers it back; this host does not keep one
MOTO_ONLY = {
    "$.ChecksumCRC32",
    "$.ChecksumType",
    "$.Contents[].ChecksumAlgorithm",
    "$.Contents[].ChecksumType",
    "$.Metadata",
}


def test_same_calls_same_shapes_and_codes_as_motos_s3(s3, moto_sagemaker_url):
    moto = boto3.client(
        "s3",
        endpoint_url=moto_sagemaker_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"cmp-{uuid.uuid4().hex[:10]}"
    calls = [
        ("create_bucket", {"Bucket": name}),
        ("put_object", {"Bucket": name, "Key": "in/a.csv", "Body": b"1,2\n"}),
        ("put_object", {"Bucket": name, "Key": "in/sub/b.csv", "Body": b"3,4\n"}),
        ("head_object", {"Bucket": name, "Key": "in/a.csv"}),
        ("get_object", {"Bucket": name, "Key": "in/a.csv"}),
        ("list_objects_v2", {"Bucket": name, "Prefix": "in/"}),
        ("list_objects_v2", {"Bucket": name, "Prefix": "in/", "Delimiter": "/"}),
        ("list_objects_v2", {"Bucket": name, "MaxKeys": 1}),
        ("get_object", {"Bucket": name, "Key": "missing"}),
        ("head_object", {"Bucket": name, "Key": "missing"}),
        ("get_object", {"Bucket": name + "-none", "Key": "k"}),
        ("list_objects_v2", {"Bucket": name + "-none"}),
        ("delete_object", {"Bucket": name, "Key": "in/a.csv"}),
        ("delete_objects", {"Bucket": name, "Delete": {"Objects": [{"Key": "in/sub/b.csv"}]}}),
        ("list_objects_v2", {"Bucket": name}),
    ]
    for operation, kwargs in calls:
        answers = []
        for client in (s3, moto):
            try:
                answers.append(getattr(client, operation)(**kwargs))
            except ClientError as exc:
                answers.append(
                    (
                        exc.response["Error"]["Code"],
                        exc.response["ResponseMetadata"]["HTTPStatusCode"],
                    )
                )
        mine, theirs = answers
        if isinstance(theirs, tuple):
            assert mine == theirs, (operation, kwargs, mine, theirs)
            continue
        assert not isinstance(mine, tuple), (operation, mine)
        missing = keys_of(theirs) - keys_of(mine) - MOTO_ONLY
        assert not missing, f"{operation}: keys moto answers and this host does not: {missing}"
        for field in ("KeyCount", "IsTruncated", "Prefix", "ContentLength", "ETag"):
            if field in theirs:
                assert mine[field] == theirs[field], (operation, field)
        if "Contents" in theirs:
            assert [c["Key"] for c in mine["Contents"]] == [c["Key"] for c in theirs["Contents"]]
