"""Finding and deleting leftovers: the ``endpoints-cleanup`` CLI, dry run first.

Three "nightly" runs of the library left endpoints behind (tagged ``team=ml``; the library
adds its own ``endpoint-serde:run-id`` tag to everything it creates). A production endpoint
made by hand lives beside them, also tagged ``team=ml``. The cleanup selects by that tag,
shows what it would delete — the production endpoint listed as skipped, because the
library did not create it — then deletes exactly the nightly ones.
"""

from __future__ import annotations

import json
import subprocess
import sys

from _local import MODEL_ROOT, PYTHON_MODEL_ENV, python_model_dir

MODEL = "import numpy as np\n\ndef predict(x):\n    return np.asarray(x).sum(axis=1)\n"


def cleanup_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "endpoints.lifecycle.cleanup_cli",
        "--endpoint-url",
        url,
        "--region",
        "us-east-1",
        *args,
    ]
    print("$ endpoints-cleanup " + " ".join(command[3:]))
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    print(result.stdout)
    return result


def main() -> int:
    from endpoints.lifecycle.hosting import EndpointDeployer
    from endpoints.lifecycle.naming import ResourceNames
    from endpoints.local import LocalEndpointHost

    model_dir = python_model_dir(MODEL, "cleanup-model")
    env = PYTHON_MODEL_ENV
    with LocalEndpointHost(model_roots=[MODEL_ROOT], allow_python_models=True) as host:
        sm = host.sagemaker_client()
        deployer = EndpointDeployer(sm)
        for name in ("nightly-2026-11-24", "nightly-2026-11-25", "nightly-2026-11-26"):
            deployer.create_from_model_data(
                model_dir.as_uri(),
                "local/python:1",
                "arn:aws:iam::123456789012:role/SageMakerRole",
                "ml.m5.large",
                1,
                model_environment_variables={"ENDPOINT_SERDE_RUNTIME": "python", **env},
                names=ResourceNames(name, name, name),
                tags={"team": "ml"},
            )
        host.deploy_local("production-scorer", model_dir, runtime="python", environment=env)
        arn = sm.describe_endpoint(EndpointName="production-scorer")["EndpointArn"]
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])

        dry = cleanup_cli(host.url, "--tag", "team=ml", "--dry-run")
        still = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
        print(f"after the dry run, endpoints: {sorted(still)}")
        real = cleanup_cli(host.url, "--tag", "team=ml", "--json")
        report = json.loads(real.stdout)
        left = sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"])
        print(f"after the cleanup, endpoints: {left}")
    ok = (
        dry.returncode == 0
        and len(still) == 4
        and real.returncode == 0
        and left == ["production-scorer"]
        and bool(report)
    )
    print("cleanup example", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
