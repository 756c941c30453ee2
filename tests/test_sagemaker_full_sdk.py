"""The SDK adapters with the full ``sagemaker`` package, not only ``sagemaker-core``.

The ``sagemaker`` extra installs ``sagemaker-core`` (measured: the full 3.x package is a
meta-package of sagemaker-core plus train/serve/mlops and mlflow — about 2.3 times the
installed size and 2.6 times the distributions — and the serializers users import,
``sagemaker.core.serializers``, come from sagemaker-core in both). What the full package
changes is the environment around them: it pulls mlflow, which moves pyarrow back to 25.

So this test builds that environment once and runs ``tests/test_sagemaker_sdk.py`` in it,
unchanged: a venv layered on this one (its own site-packages first, then this venv's, the
way a user adds ``pip install sagemaker`` to an install with every extra), into which pip
installs the full package and whatever it moves. It is cached under ``.venv/``, keyed by
this environment's versions, so only the first run pays for the install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest
from install_helpers import (
    frozen_requirements,
    in_background,
    new_venv,
    pip_install,
    run,
    site_packages,
)

ROOT = Path(__file__).resolve().parents[1]
FULL_SDK = "sagemaker>=3,<4"
ADAPTER_TESTS = ["tests/test_sagemaker_sdk.py"]
#: Tests of this package's own import mechanics (fresh processes, the old import path, an
#: environment without the SDK): they do not depend on which SDK package is installed.
NOT_ABOUT_THE_SDK = (
    "not fresh_process and not importing_serde_registers and not old_import_path "
    "and not core_imports_without_the_sdk"
)


def layered_env_with_full_sdk() -> Path:
    """The interpreter of this environment plus the full SDK, built on first use."""
    here = site_packages(Path(sys.executable))
    key = hashlib.sha256(
        "\n".join([FULL_SDK, str(here), *frozen_requirements()]).encode()
    ).hexdigest()[:12]
    home = Path(sys.prefix) / "test-envs" / f"sagemaker-full-{key}"
    python = home / "bin" / "python"
    if python.exists():
        return python
    for stale in home.parent.glob("sagemaker-full-*"):  # built for versions since replaced
        shutil.rmtree(stale, ignore_errors=True)
    building = home.with_name(f"{home.name}.building-{os.getpid()}")
    new_python = new_venv(building)
    # processed at start-up after the layer's own site-packages: this venv's packages
    # (and its editable install of serde/endpoints) are found unless the layer has its own
    layer = "import site; site.addsitedir(" + repr(str(here)) + ")\n"
    (site_packages(new_python) / "zz_layer_on_project_venv.pth").write_text(layer)
    pip_install(new_python, FULL_SDK)
    building.rename(home)  # complete: later runs reuse it
    return python


@pytest.mark.timeout(3000)
def test_adapter_tests_pass_with_the_full_sagemaker_package():
    # started at collection (conftest), built while the suite ran
    python = in_background("sagemaker-full", layered_env_with_full_sdk).result()
    facts = run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version\n"
            "import sagemaker.serve, sagemaker.train, serde\n"
            "print(version('sagemaker').split('.')[0], version('sagemaker-core').split('.')[0])\n"
            "print(serde.__file__)\n",
        ]
    ).stdout.splitlines()
    # the full 3.x package (its serve and train parts import) over sagemaker-core 2.x, and
    # serde from this tree
    assert facts == ["3 2", str(ROOT / "serde" / "__init__.py")]
    env = {**os.environ, "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python)}
    result = run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfEs",
            "-k",
            NOT_ABOUT_THE_SDK,
            *ADAPTER_TESTS,
        ],
        cwd=ROOT,
        env=env,
        timeout=1800,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary
