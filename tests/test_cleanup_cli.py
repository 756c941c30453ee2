"""``endpoints-cleanup`` against moto's server and the local endpoint host: each selector,
the library's own tag as a precondition, manifest verification, dry run, JSON, exit codes.

moto keeps one state per process, shared by every test of the session, so each test works
under its own name prefix and asserts on that prefix only. Ages are checked against an
injected "now", never by waiting.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from endpoints.lifecycle.cleanup import SageMakerResourceCleanup
from endpoints.lifecycle.cleanup_cli import Selection, main, select
from endpoints.lifecycle.hosting import EndpointDeployer
from endpoints.lifecycle.naming import NamePolicy, ResourceNames
from endpoints.lifecycle.resources import (
    RUN_ID_TAG,
    CreatedResources,
    ResourceIdentity,
    ResourceKind,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer:1"
KINDS = ("endpoint", "endpoint-config", "model")
UNTAGGED = f"carries no {RUN_ID_TAG} tag, so endpoint-serde did not create it"


def make(client, name: str, tags: dict[str, str] | None = None, *, ours: bool = True) -> None:
    """Model, config and endpoint named ``name`` with plain boto3; ``ours`` adds the
    library's run-id tag, as if endpoint-serde had created them."""
    tags = {**(tags or {}), **({RUN_ID_TAG: f"run-{name}"} if ours else {})}
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    client.create_model(
        ModelName=name,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"},
        ExecutionRoleArn=ROLE,
        Tags=tag_list,
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
        Tags=tag_list,
    )
    client.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tag_list)


def existing(client, prefix: str) -> set[tuple[str, str]]:
    found = {("endpoint", e["EndpointName"]) for e in client.list_endpoints()["Endpoints"]}
    found |= {
        ("endpoint-config", c["EndpointConfigName"])
        for c in client.list_endpoint_configs()["EndpointConfigs"]
    }
    found |= {("model", m["ModelName"]) for m in client.list_models()["Models"]}
    return {item for item in found if item[1].startswith(prefix)}


def all_three(*names: str) -> set[tuple[str, str]]:
    return {(kind, name) for name in names for kind in KINDS}


def run(url: str, *args: str, now: datetime | None = None) -> tuple[int, str]:
    out = io.StringIO()
    clock = {"now": (lambda: now)} if now else {}
    code = main(["--endpoint-url", url, "--region", "us-east-1", *args], stdout=out, **clock)
    return code, out.getvalue()


def run_json(url: str, *args: str, now: datetime | None = None) -> tuple[int, dict]:
    code, text = run(url, "--json", *args, now=now)
    return code, json.loads(text)


def outcomes(report: dict) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["name"], r["outcome"]) for r in report["resources"]]


def deploy_with_library(client, names: ResourceNames, *, model_data: str = "s3://b/m.tar.gz"):
    return EndpointDeployer(client).create_from_model_data(
        model_data, IMAGE, ROLE, "ml.m5.large", 1, names=names
    )


def names_for(name: str) -> ResourceNames:
    return ResourceNames(model_name=name, endpoint_config_name=name, endpoint_name=name)


# -- usage errors: exit 2, one line ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dry-run"],
            "no selector given: pass --manifest FILE, --prefix P and/or --tag KEY=VALUE "
            "(--older-than AGE narrows them); endpoints-cleanup never deletes everything by "
            "default",
        ),
        (
            ["--older-than", "1s"],
            "--older-than only narrows a selection: alone it would select every resource in "
            "the account. Add --manifest FILE, --prefix P or --tag KEY=VALUE",
        ),
        (
            ["--older-than", "30d", "--include-untagged"],
            "--older-than only narrows a selection: alone it would select every resource in "
            "the account. Add --manifest FILE, --prefix P or --tag KEY=VALUE",
        ),
        (["--prefix", ""], "--prefix must not be empty (it would match every resource)"),
        (
            ["--manifest", "{manifest}", "--include-untagged"],
            "--include-untagged widens --prefix and --tag, and neither is given; a manifest's "
            "resources are verified instead (see --force-unverified)",
        ),
        (
            ["--prefix", "x-", "--force-unverified"],
            "--force-unverified applies to --manifest, and none is given",
        ),
    ],
)
def test_selectors_that_would_select_too_much_exit_2(
    moto_sagemaker_url, tmp_path, capsys, args, message
):
    manifest = CreatedResources(endpoint_name="usage-x").write_manifest(tmp_path / "run.json")
    args = [a.format(manifest=manifest) for a in args]
    assert main(["--endpoint-url", moto_sagemaker_url, "--region", "us-east-1", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"endpoints-cleanup: error: {message}\n"
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "6 hours"], "expected a number and a unit (s, m, h, d, w)"),
        (["--tag", "team"], "expected KEY=VALUE, got 'team'"),
    ],
)
def test_bad_arguments_exit_2(moto_sagemaker_url, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["--endpoint-url", moto_sagemaker_url, *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


MALFORMED = [
    ("not json", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    ("[]", 'expected a JSON object with "format": "endpoint-serde/created-resources"'),
    (
        '{"format": "endpoint-serde/created-resources", "version": 1, "endpoint_name": ["a"]}',
        '"endpoint_name": expected a non-empty string or null, got an array ["a"]',
    ),
    (
        '{"format": "endpoint-serde/created-resources", "version": 1, "tags": "team=ml"}',
        '"tags": expected an object of strings, got a string "team=ml"',
    ),
    (
        '{"format": "endpoint-serde/created-resources", "version": 1, "created_at": 17}',
        '"created_at": expected an ISO 8601 time such as 2026-11-26T21:04:00+00:00, got the '
        "number 17",
    ),
    (
        '{"format": "endpoint-serde/created-resources", "version": 1, '
        '"identities": {"model": {"creation_time": "noon"}}}',
        '"identities.model.creation_time": expected an ISO 8601 time',
    ),
    (b"\xff\xfe{}", "expected a JSON manifest, got bytes that are not UTF-8 text"),
]


@pytest.mark.parametrize(("content", "message"), MALFORMED)
def test_malformed_manifest_is_a_usage_error_in_one_line(
    moto_sagemaker_url, tmp_path, capsys, content, message
):
    path = tmp_path / "run.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code = main(
        ["--endpoint-url", moto_sagemaker_url, "--region", "us-east-1", "--manifest", str(path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"endpoints-cleanup: error: --manifest {path}: {message}")
    assert err.count("\n") == 1


def test_missing_or_unreadable_manifest_is_a_usage_error(moto_sagemaker_url, tmp_path, capsys):
    base = ["--endpoint-url", moto_sagemaker_url, "--region", "us-east-1"]
    assert main([*base, "--manifest", str(tmp_path / "gone.json")]) == 2
    assert capsys.readouterr().err == (
        f"endpoints-cleanup: error: --manifest {tmp_path / 'gone.json'}: manifest file not found\n"
    )
    assert main([*base, "--manifest", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"endpoints-cleanup: error: --manifest {tmp_path}: cannot read the manifest "
        "(Is a directory)\n"
    )


def test_console_script_malformed_manifest_exits_2_without_traceback(moto_sagemaker_url, tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"format": "endpoint-serde/created-resources", "version": 1, "tags": 5}')
    result = subprocess.run(
        [sys.executable, "-m", "endpoints.lifecycle.cleanup_cli", "--manifest", str(path)],
        env=dict(os.environ, AWS_ENDPOINT_URL_SAGEMAKER=moto_sagemaker_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f'endpoints-cleanup: error: --manifest {path}: "tags": expected an object of strings, '
        "got the number 5\n"
    )
    assert result.stdout == ""


# -- selectors on moto -----------------------------------------------------------------------


def test_dry_run_lists_matches_and_deletes_nothing(moto_sagemaker, moto_sagemaker_url):
    make(moto_sagemaker, "dry-a")
    make(moto_sagemaker, "dry-b")
    make(moto_sagemaker, "other-dry-c")
    code, text = run(moto_sagemaker_url, "--prefix", "dry-", "--dry-run")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "CREATED", "(UTC)", "RESULT"]
    assert [line.split()[:2] for line in lines[1:7]] == [
        ["endpoint", "dry-a"],
        ["endpoint", "dry-b"],
        ["endpoint-config", "dry-a"],
        ["endpoint-config", "dry-b"],
        ["model", "dry-a"],
        ["model", "dry-b"],
    ]
    assert all(line.endswith("would delete") for line in lines[1:7])
    assert lines[7] == "6 matched (6 would delete); dry run: nothing was deleted"
    assert existing(moto_sagemaker, "dry-") == all_three("dry-a", "dry-b")
    assert existing(moto_sagemaker, "other-dry-") == all_three("other-dry-c")

    code, report = run_json(moto_sagemaker_url, "--prefix", "dry-")
    assert code == 0 and report["ok"] and (report["selected"], report["skipped"]) == (6, 0)
    assert {r["outcome"] for r in report["resources"]} == {"deleted"}
    assert existing(moto_sagemaker, "dry-") == set()
    assert existing(moto_sagemaker, "other-dry-") == all_three("other-dry-c")


def test_prefix_and_tag_select_only_tagged_matches(moto_sagemaker, moto_sagemaker_url):
    make(moto_sagemaker, "tagsel-1", {"team": "ml", "env": "nightly"})
    make(moto_sagemaker, "tagsel-2", {"team": "ml"})
    make(moto_sagemaker, "tagsel-3", {"team": "web", "env": "nightly"})
    args = ("--prefix", "tagsel-", "--tag", "team=ml", "--tag", "env=nightly")
    code, dry = run_json(moto_sagemaker_url, *args, "--dry-run")
    assert code == 0 and dry["dry_run"] is True
    assert outcomes(dry) == [(kind, "tagsel-1", "would delete") for kind in KINDS]
    assert dry["resources"][0]["arn"] == (
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/tagsel-1"
    )
    code, report = run_json(moto_sagemaker_url, "--prefix", "tagsel-", "--tag", "team=ml")
    assert code == 0 and report["selected"] == 6
    assert existing(moto_sagemaker, "tagsel-") == all_three("tagsel-3")
    run(moto_sagemaker_url, "--prefix", "tagsel-")


def test_older_than_boundary_against_a_fixed_now(moto_sagemaker):
    """A resource exactly AGE old is selected, one a millisecond younger is not."""
    make(moto_sagemaker, "age-1")
    born = moto_sagemaker.describe_endpoint(EndpointName="age-1")["CreationTime"]
    now = born + timedelta(hours=2)

    def chosen(older_than: timedelta) -> set[tuple[str, str]]:
        found = select(moto_sagemaker, Selection(prefix="age-", older_than=older_than), now=now)
        return {(c.ref.kind.value, c.ref.name) for c in found}

    assert chosen(timedelta(hours=2)) >= {("endpoint", "age-1")}
    assert ("endpoint", "age-1") not in chosen(timedelta(hours=2, milliseconds=1))
    assert chosen(timedelta(hours=3)) == set()
    every = select(moto_sagemaker, Selection(prefix="age-", older_than=timedelta(0)), now=now)
    assert [c.ref.kind.value for c in every] == list(KINDS)
    assert all(c.created is not None and c.arn and c.skipped is None for c in every)


def test_older_than_on_the_command_line_counts_from_the_injected_now(
    moto_sagemaker, moto_sagemaker_url
):
    make(moto_sagemaker, "cliage-1")
    born = moto_sagemaker.describe_model(ModelName="cliage-1")["CreationTime"]
    code, text = run(moto_sagemaker_url, "--prefix", "cliage-", "--older-than", "6h")
    assert (code, text) == (0, "nothing matched the selectors; nothing to delete\n")
    later = born + timedelta(hours=7)
    code, report = run_json(
        moto_sagemaker_url, "--prefix", "cliage-", "--older-than", "6h", now=later
    )
    assert code == 0 and report["selected"] == 3
    assert existing(moto_sagemaker, "cliage-") == set()


def test_failed_deletion_exits_1_with_reason(fault_proxy, sagemaker_client_for):
    client = sagemaker_client_for(fault_proxy.url)
    make(client, "clifail-1")
    fault_proxy.fail(
        "DeleteEndpointConfig", times=1, code="AccessDeniedException", message="not allowed"
    )
    code, report = run_json(fault_proxy.url, "--prefix", "clifail-")
    assert code == 1 and report["ok"] is False
    assert [(r["kind"], r["outcome"], r["reason"]) for r in report["resources"]] == [
        ("endpoint", "deleted", None),
        ("endpoint-config", "failed", "AccessDeniedException: not allowed"),
        ("model", "deleted", None),
    ]
    code, text = run(fault_proxy.url, "--prefix", "clifail-")
    assert code == 0 and text.splitlines()[-1] == "1 matched (1 deleted); done"


def test_listing_failure_exits_1(fault_proxy, capsys):
    fault_proxy.fail("ListEndpoints", times=1, code="AccessDeniedException", message="no list")
    assert main(["--endpoint-url", fault_proxy.url, "--region", "us-east-1", "--prefix", "x"]) == 1
    assert capsys.readouterr().err.strip() == (
        "endpoints-cleanup: could not list resources: AccessDeniedException: no list"
    )


def test_console_script_honours_aws_endpoint_url_sagemaker(moto_sagemaker, moto_sagemaker_url):
    make(moto_sagemaker, "script-1")
    env = dict(os.environ, AWS_ENDPOINT_URL_SAGEMAKER=moto_sagemaker_url)
    script = os.path.join(os.path.dirname(sys.executable), "endpoints-cleanup")
    command = (
        [script]
        if os.path.exists(script)
        else [sys.executable, "-m", "endpoints.lifecycle.cleanup_cli"]
    )
    result = subprocess.run(
        [*command, "--prefix", "script-", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["selected"] == 3
    assert existing(moto_sagemaker, "script-") == set()


# -- an untagged production endpoint survives every selector: moto and the local host ---------


@pytest.fixture(scope="module")
def cli_host(tmp_path_factory):
    from endpoints.local import LocalEndpointHost

    s3_root = tmp_path_factory.mktemp("cli-s3")  # the host reads model data only under it
    model_dir = s3_root / "models" / "sum"
    model_dir.mkdir(parents=True)
    (model_dir / "model.py").write_text("def predict(x):\n    return x.sum(axis=1)\n")
    with LocalEndpointHost(s3_root=s3_root, allow_python_models=True) as host:
        host.model_dir = model_dir
        yield host


def deploy(host, name: str, tags: dict[str, str] | None = None, *, ours: bool = True) -> None:
    """An endpoint serving a Python model on the local host; ``ours`` adds the library's
    run-id tag to all three resources."""
    host.deploy_local(
        name,
        host.model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    tags = {**(tags or {}), **({RUN_ID_TAG: f"run-{name}"} if ours else {})}
    client = host.sagemaker_client()
    arns = (
        client.describe_endpoint(EndpointName=name)["EndpointArn"],
        client.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"],
        client.describe_model(ModelName=name)["ModelArn"],
    )
    for arn in arns if tags else ():
        client.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


@pytest.fixture(params=["moto", "local-host"])
def backend(request, moto_sagemaker_url, sagemaker_client_for):
    """(url, client, create(name, tags, ours=...)) for moto's server or the local host."""
    if request.param == "moto":
        client = sagemaker_client_for(moto_sagemaker_url)
        return moto_sagemaker_url, client, lambda *a, **k: make(client, *a, **k)
    host = request.getfixturevalue("cli_host")
    return host.url, host.sagemaker_client(), lambda *a, **k: deploy(host, *a, **k)


SELECTORS = {
    "prefix": ("--prefix", "{p}"),
    "tag": ("--tag", "team={p}"),
    "prefix-and-age": ("--prefix", "{p}", "--older-than", "1h"),
    "tag-and-age": ("--tag", "team={p}", "--older-than", "1h"),
}


@pytest.mark.parametrize("selector", sorted(SELECTORS))
def test_untagged_production_endpoint_survives_each_selector(backend, request, selector):
    url, client, create = backend
    p = f"survive-{request.node.callspec.params['backend'][0]}{sorted(SELECTORS).index(selector)}-"
    create(f"{p}nightly", {"team": p})
    create(f"{p}production", {"team": p}, ours=False)
    args = [a.format(p=p) for a in SELECTORS[selector]]
    later = datetime.now(timezone.utc) + timedelta(hours=2)

    code, dry = run_json(url, *args, "--dry-run", now=later)
    assert code == 0 and (dry["selected"], dry["skipped"]) == (3, 3)
    assert [(r["kind"], r["name"], r["outcome"]) for r in dry["resources"]] == [
        ("endpoint", f"{p}nightly", "would delete"),
        ("endpoint", f"{p}production", "skipped"),
        ("endpoint-config", f"{p}nightly", "would delete"),
        ("endpoint-config", f"{p}production", "skipped"),
        ("model", f"{p}nightly", "would delete"),
        ("model", f"{p}production", "skipped"),
    ]
    skipped = [r["reason"] for r in dry["resources"] if r["outcome"] == "skipped"]
    assert skipped == [f"{UNTAGGED}; --include-untagged selects it too"] * 3

    code, report = run_json(url, *args, now=later)
    assert code == 0 and report["ok"] and (report["selected"], report["skipped"]) == (3, 3)
    assert existing(client, p) == all_three(f"{p}production")

    code, wide = run_json(url, *args, "--include-untagged", "--dry-run", now=later)
    assert code == 0 and outcomes(wide) == [
        (kind, f"{p}production", "would delete") for kind in KINDS
    ]
    assert existing(client, p) == all_three(f"{p}production")
    SageMakerResourceCleanup(client).delete_resources(
        CreatedResources(f"{p}production", f"{p}production", f"{p}production")
    )


def test_local_host_text_report_and_the_survivor_still_serves(cli_host):
    sm = cli_host.sagemaker_client()
    deploy(cli_host, "nightly-a", {"team": "ml"})
    deploy(cli_host, "nightly-b", {"team": "ml"})
    deploy(cli_host, "nightly-c", {"team": "web"})
    deploy(cli_host, "nightly-production", {"team": "ml"}, ours=False)
    code, text = run(cli_host.url, "--prefix", "nightly-", "--tag", "team=ml")
    assert code == 0
    lines = text.splitlines()
    assert [[*line.split()[:2], line.split()[4]] for line in lines[1:10]] == [
        [kind, name, outcome]
        for kind in KINDS
        for name, outcome in (
            ("nightly-a", "deleted"),
            ("nightly-b", "deleted"),
            ("nightly-production", "skipped:"),
        )
    ]
    assert lines[-1] == "9 matched (6 deleted, 3 skipped); done"
    assert existing(sm, "nightly-") == all_three("nightly-c", "nightly-production")
    answer = cli_host.runtime_client().invoke_endpoint(
        EndpointName="nightly-production", Body=b"1,2\n", ContentType="text/csv"
    )
    assert answer["Body"].read() == b"3.0"


# -- manifests: delete what the run created, and only while it still is that -----------------


def test_manifest_records_identities_and_deletes_exactly_the_run(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    created = EndpointDeployer(moto_sagemaker).create_from_model_data(
        "s3://bucket/m.tar.gz", IMAGE, ROLE, "ml.m5.large", 1, name_policy=NamePolicy("mani")
    )
    name = created.endpoint_name
    described = {
        ResourceKind.ENDPOINT: moto_sagemaker.describe_endpoint(EndpointName=name),
        ResourceKind.ENDPOINT_CONFIG: moto_sagemaker.describe_endpoint_config(
            EndpointConfigName=name
        ),
        ResourceKind.MODEL: moto_sagemaker.describe_model(ModelName=name),
    }
    assert created.identities == {
        kind: ResourceIdentity(answer[kind.calls.arn_key], answer["CreationTime"])
        for kind, answer in described.items()
    }
    manifest = created.write_manifest(tmp_path / "run.json")
    assert CreatedResources.read_manifest(manifest) == created
    make(moto_sagemaker, "mani-neighbour")

    code, report = run_json(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0
    assert outcomes(report) == [(kind, name, "deleted") for kind in KINDS]
    assert existing(moto_sagemaker, "mani-") == all_three("mani-neighbour")

    code, text = run(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0
    assert text.splitlines()[-1] == "3 matched (3 already gone); done"
    run(moto_sagemaker_url, "--prefix", "mani-neighbour")


def test_manifest_replay_skips_a_namesake_created_later(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    created = deploy_with_library(moto_sagemaker, names_for("again-1"))
    manifest = created.write_manifest(tmp_path / "run.json")
    SageMakerResourceCleanup(moto_sagemaker).delete_resources(created)
    make(moto_sagemaker, "again-1", ours=False)  # someone else's, same names

    code, report = run_json(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0 and (report["selected"], report["skipped"]) == (0, 3)
    assert outcomes(report) == [(kind, "again-1", "skipped") for kind in KINDS]
    reason = report["resources"][0]["reason"]
    assert reason.startswith(
        "not the resource the manifest recorded, maybe re-created under the same name: "
        f"no {RUN_ID_TAG} tag (recorded {created.run_id!r})"
    )
    assert existing(moto_sagemaker, "again-1") == all_three("again-1")
    run(moto_sagemaker_url, "--prefix", "again-1", "--include-untagged")


def test_manifest_replay_skips_a_namesake_the_library_created_in_another_run(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    first = deploy_with_library(moto_sagemaker, names_for("rerun-1"))
    manifest = first.write_manifest(tmp_path / "run.json")
    SageMakerResourceCleanup(moto_sagemaker).delete_resources(first)
    second = deploy_with_library(moto_sagemaker, names_for("rerun-1"))

    code, dry = run_json(moto_sagemaker_url, "--manifest", str(manifest), "--dry-run")
    assert code == 0 and outcomes(dry) == [(kind, "rerun-1", "skipped") for kind in KINDS]
    assert (
        f"its {RUN_ID_TAG} tag is {second.run_id!r} (recorded {first.run_id!r})"
        in dry["resources"][2]["reason"]
    )
    code, report = run_json(
        moto_sagemaker_url, "--manifest", str(second.write_manifest(tmp_path / "2.json"))
    )
    assert code == 0 and outcomes(report) == [(kind, "rerun-1", "deleted") for kind in KINDS]


def test_manifest_replay_compares_creation_time_and_arn(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    """The same run-id tag is not enough: a resource re-created (or copied) with its tags
    differs in creation time; one in another account differs in ARN. Both are skipped."""
    created = deploy_with_library(moto_sagemaker, names_for("ident-1"))
    recorded = created.identities
    model, endpoint = recorded[ResourceKind.MODEL], recorded[ResourceKind.ENDPOINT]
    edited = CreatedResources(**{**vars(created), "identities": dict(recorded)})
    edited.identities[ResourceKind.MODEL] = ResourceIdentity(
        model.arn, model.creation_time - timedelta(hours=1)
    )
    other_account = endpoint.arn.replace("123456789012", "210987654321")
    edited.identities[ResourceKind.ENDPOINT] = ResourceIdentity(
        other_account, endpoint.creation_time
    )
    path = edited.write_manifest(tmp_path / "run.json")

    code, report = run_json(moto_sagemaker_url, "--manifest", str(path))
    assert code == 0
    assert outcomes(report) == [
        ("endpoint", "ident-1", "skipped"),
        ("endpoint-config", "ident-1", "deleted"),
        ("model", "ident-1", "skipped"),
    ]
    endpoint_reason, model_reason = (
        report["resources"][0]["reason"],
        report["resources"][2]["reason"],
    )
    assert endpoint_reason.endswith(f"ARN {endpoint.arn} (recorded {other_account})")
    born = model.creation_time.astimezone(timezone.utc)
    assert model_reason.endswith(
        f"created {born.isoformat(timespec='milliseconds')} "
        f"(recorded {(born - timedelta(hours=1)).isoformat(timespec='milliseconds')})"
    )
    assert existing(moto_sagemaker, "ident-1") == {("endpoint", "ident-1"), ("model", "ident-1")}
    SageMakerResourceCleanup(moto_sagemaker).delete_resources(created)


def test_manifest_without_identities_needs_force_unverified(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    created = deploy_with_library(moto_sagemaker, names_for("older-1"))
    data = created.to_dict()
    del data["identities"]  # as manifests were written before identities were recorded
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))

    code, report = run_json(moto_sagemaker_url, "--manifest", str(path))
    assert code == 0 and outcomes(report) == [(kind, "older-1", "skipped") for kind in KINDS]
    assert report["resources"][0]["reason"] == (
        "cannot verify: the manifest records no ARN, creation time for it (written by an older "
        "endpoint-serde, or by hand); --force-unverified deletes it after the checks the "
        "manifest allows"
    )
    assert existing(moto_sagemaker, "older-1") == all_three("older-1")

    stranger = dict(data, run_id="not-this-run")  # what it does record must still match
    (tmp_path / "stranger.json").write_text(json.dumps(stranger))
    code, report = run_json(
        moto_sagemaker_url, "--manifest", str(tmp_path / "stranger.json"), "--force-unverified"
    )
    assert code == 0 and outcomes(report) == [(kind, "older-1", "skipped") for kind in KINDS]

    code, report = run_json(moto_sagemaker_url, "--manifest", str(path), "--force-unverified")
    assert code == 0 and outcomes(report) == [(kind, "older-1", "deleted") for kind in KINDS]


def test_manifest_for_another_region_is_refused(moto_sagemaker_url, tmp_path, capsys):
    path = CreatedResources(endpoint_name="x", region="eu-west-1").write_manifest(
        tmp_path / "eu.json"
    )
    assert (
        main(
            ["--endpoint-url", moto_sagemaker_url, "--region", "us-east-1", "--manifest", str(path)]
        )
        == 2
    )
    assert "--region us-east-1 but the manifests are for eu-west-1" in capsys.readouterr().err


def test_local_host_manifest_and_older_than(cli_host, tmp_path):
    sm = cli_host.sagemaker_client()
    created = EndpointDeployer(sm).create_from_model_data(
        cli_host.model_dir.resolve().as_uri(),
        "local/python:1",
        ROLE,
        "ml.m5.large",
        1,
        model_environment_variables={
            "ENDPOINT_SERDE_RUNTIME": "python",
            "ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict",
        },
        name_policy=NamePolicy("manifest-local"),
    )
    hosting = {ResourceKind.ENDPOINT, ResourceKind.ENDPOINT_CONFIG, ResourceKind.MODEL}
    assert set(created.identities) == hosting
    path = created.write_manifest(tmp_path / "run.json")
    code, text = run(cli_host.url, "--manifest", str(path), "--older-than", "1h")
    assert (code, text) == (0, "nothing matched the selectors; nothing to delete\n")
    later = created.identities[ResourceKind.ENDPOINT].creation_time + timedelta(hours=1)
    code, report = run_json(cli_host.url, "--manifest", str(path), "--older-than", "1h", now=later)
    assert code == 0
    assert [(r["name"], r["outcome"]) for r in report["resources"]] == [
        (created.endpoint_name, "deleted")
    ] * 3
    assert existing(sm, "manifest-local") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
        ("1w", timedelta(days=7)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_parse_age(text, expected):
    from endpoints.lifecycle.cleanup_cli import parse_age

    assert parse_age(text) == expected
