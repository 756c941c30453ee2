"""``endpoints-cleanup`` against moto's server: each selector, dry run, JSON, exit codes.

moto keeps one state per process, shared by every test of the session, so each test works
under its own name prefix and asserts on that prefix only.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from endpoints.lifecycle.cleanup_cli import Selection, main, select
from endpoints.lifecycle.hosting import EndpointDeployer
from endpoints.lifecycle.naming import NamePolicy

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer:1"
KINDS = ("endpoint", "endpoint-config", "model")


def make(client, name: str, tags: dict[str, str] | None = None) -> None:
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
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


def run(url: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--endpoint-url", url, "--region", "us-east-1", *args], stdout=out)
    return code, out.getvalue()


def run_json(url: str, *args: str) -> tuple[int, dict]:
    code, text = run(url, "--json", *args)
    return code, json.loads(text)


def test_no_selector_is_refused_with_exit_2(moto_sagemaker_url, capsys):
    assert main(["--endpoint-url", moto_sagemaker_url, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "endpoints-cleanup: error: no selector given: pass --manifest FILE, --prefix P" in err
    assert "never deletes everything by default" in err


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
    assert lines[7] == "6 selected (6 would delete); dry run: nothing was deleted"
    assert existing(moto_sagemaker, "dry-") == all_three("dry-a", "dry-b")
    assert existing(moto_sagemaker, "other-dry-") == all_three("other-dry-c")

    code, report = run_json(moto_sagemaker_url, "--prefix", "dry-")
    assert code == 0 and report["ok"] and report["selected"] == 6
    assert {r["outcome"] for r in report["resources"]} == {"deleted"}
    assert existing(moto_sagemaker, "dry-") == set()
    assert existing(moto_sagemaker, "other-dry-") == all_three("other-dry-c")


def test_prefix_and_tag_select_only_tagged_matches(moto_sagemaker, moto_sagemaker_url):
    make(moto_sagemaker, "tagsel-1", {"team": "ml", "env": "nightly"})
    make(moto_sagemaker, "tagsel-2", {"team": "ml"})
    make(moto_sagemaker, "tagsel-3", {"team": "web", "env": "nightly"})
    code, dry = run_json(
        moto_sagemaker_url,
        "--prefix",
        "tagsel-",
        "--tag",
        "team=ml",
        "--tag",
        "env=nightly",
        "--dry-run",
    )
    assert code == 0 and dry["dry_run"] is True
    assert [(r["kind"], r["name"], r["outcome"]) for r in dry["resources"]] == [
        ("endpoint", "tagsel-1", "would delete"),
        ("endpoint-config", "tagsel-1", "would delete"),
        ("model", "tagsel-1", "would delete"),
    ]
    assert dry["resources"][0]["arn"] == (
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/tagsel-1"
    )
    code, report = run_json(moto_sagemaker_url, "--prefix", "tagsel-", "--tag", "team=ml")
    assert code == 0 and report["selected"] == 6
    assert existing(moto_sagemaker, "tagsel-") == all_three("tagsel-3")
    run(moto_sagemaker_url, "--prefix", "tagsel-")


def test_older_than_uses_creation_time(moto_sagemaker):
    """The age boundary, checked with moto's real CreationTimes and a fixed "now"."""
    make(moto_sagemaker, "age-old")
    time.sleep(0.3)
    make(moto_sagemaker, "age-new")
    born = {
        e["EndpointName"]: e["CreationTime"]
        for e in moto_sagemaker.list_endpoints(NameContains="age-")["Endpoints"]
    }
    now = born["age-new"] + timedelta(seconds=1)
    between = now - (born["age-old"] + (born["age-new"] - born["age-old"]) / 2)
    chosen = select(moto_sagemaker, Selection(prefix="age-", older_than=between), now=now)
    assert {(c.ref.kind.value, c.ref.name) for c in chosen} == all_three("age-old")
    assert [c.ref.kind.value for c in chosen] == list(KINDS)
    assert all(c.created is not None and c.arn for c in chosen)


def test_older_than_on_the_command_line(moto_sagemaker, moto_sagemaker_url):
    make(moto_sagemaker, "cliage-1")
    code, text = run(moto_sagemaker_url, "--prefix", "cliage-", "--older-than", "6h")
    assert (code, text) == (0, "nothing matched the selectors; nothing to delete\n")
    assert existing(moto_sagemaker, "cliage-") == all_three("cliage-1")
    code, report = run_json(moto_sagemaker_url, "--prefix", "cliage-", "--older-than", "0s")
    assert code == 0 and report["selected"] == 3
    assert existing(moto_sagemaker, "cliage-") == set()


def test_manifest_deletes_exactly_the_run_and_second_run_finds_it_gone(
    moto_sagemaker, moto_sagemaker_url, tmp_path
):
    created = EndpointDeployer(moto_sagemaker).create_from_model_data(
        "s3://bucket/m.tar.gz", IMAGE, ROLE, "ml.m5.large", 1, name_policy=NamePolicy("mani")
    )
    manifest = created.write_manifest(tmp_path / "run.json")
    make(moto_sagemaker, "mani-neighbour")
    code, report = run_json(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0
    assert [(r["kind"], r["name"], r["outcome"]) for r in report["resources"]] == [
        (kind, created.endpoint_name, "deleted") for kind in KINDS
    ]
    assert existing(moto_sagemaker, "mani-") == all_three("mani-neighbour")

    code, text = run(moto_sagemaker_url, "--manifest", str(manifest))
    assert code == 0
    assert text.splitlines()[-1] == "3 selected (3 already gone); done"
    run(moto_sagemaker_url, "--prefix", "mani-neighbour")


def test_manifest_for_another_region_is_refused(moto_sagemaker_url, tmp_path, capsys):
    from endpoints.lifecycle.resources import CreatedResources

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
    assert code == 0 and text.splitlines()[-1] == "1 selected (1 deleted); done"


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


# -- the local endpoint host ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_host(tmp_path_factory):
    from endpoints.local import LocalEndpointHost

    model_dir = tmp_path_factory.mktemp("cli-model")
    (model_dir / "model.py").write_text("def predict(x):\n    return x.sum(axis=1)\n")
    with LocalEndpointHost() as host:
        host.model_dir = model_dir
        yield host


def deploy(host, name: str, tags: dict[str, str] | None = None) -> None:
    host.deploy_local(
        name,
        host.model_dir,
        runtime="python",
        environment={"ENDPOINT_SERDE_PYTHON_HANDLER": "model:predict"},
    )
    client = host.sagemaker_client()
    arns = (
        client.describe_endpoint(EndpointName=name)["EndpointArn"],
        client.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"],
        client.describe_model(ModelName=name)["ModelArn"],
    )
    for arn in arns if tags else ():
        client.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def test_local_host_prefix_tag_dry_run_then_delete(cli_host):
    sm = cli_host.sagemaker_client()
    for name in ("nightly-a", "nightly-b"):
        deploy(cli_host, name, {"team": "ml"})
    deploy(cli_host, "nightly-c", {"team": "web"})
    deploy(cli_host, "production-scorer", {"team": "ml"})
    args = ("--prefix", "nightly-", "--tag", "team=ml")

    code, dry = run_json(cli_host.url, *args, "--dry-run")
    assert code == 0 and dry["selected"] == 6
    assert {(r["kind"], r["name"]) for r in dry["resources"]} == all_three("nightly-a", "nightly-b")
    assert existing(sm, "") >= all_three("nightly-a", "nightly-b", "nightly-c", "production-scorer")

    code, text = run(cli_host.url, *args, "--older-than", "1h")
    assert (code, text) == (0, "nothing matched the selectors; nothing to delete\n")

    code, text = run(cli_host.url, *args)
    assert code == 0
    assert text.splitlines()[-1] == "6 selected (6 deleted); done"
    left = existing(sm, "")
    assert not left & all_three("nightly-a", "nightly-b")
    assert left >= all_three("nightly-c", "production-scorer")
    # the endpoint that was left really still serves
    answer = cli_host.runtime_client().invoke_endpoint(
        EndpointName="production-scorer", Body=b"1,2\n", ContentType="text/csv"
    )
    assert answer["Body"].read() == b"3.0"


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
    path = created.write_manifest(tmp_path / "run.json")
    time.sleep(1.1)
    code, report = run_json(cli_host.url, "--manifest", str(path), "--older-than", "1s")
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
