"""Building throwaway Python environments for install tests, with pip's ordinary client.

Shared by the plain-install test (a fresh venv from the wheel alone) and the full
SageMaker SDK test (this environment plus the full ``sagemaker`` package).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

#: pip of this environment; ``--python`` points it at another interpreter, so the
#: environments it fills need no pip of their own (``venv --without-pip`` is faster).
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """``args`` run to completion; a failure shows the command and everything it printed."""
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args[:6]))}... exited {result.returncode}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def frozen_requirements() -> list[str]:
    """``name==version`` of every distribution installed here (editable ones left out)."""
    frozen = run([*PIP, "freeze", "--exclude-editable"]).stdout
    return [line for line in frozen.splitlines() if "==" in line]


def write_constraints(path: Path) -> Path:
    """A pip constraints file pinning this environment's versions. A constraint never adds
    a package, so pip still resolves what to install from the package's own metadata."""
    path.write_text("\n".join(frozen_requirements()) + "\n")
    return path


def new_venv(path: Path) -> Path:
    """A venv of this interpreter's version at ``path`` (its own site-packages only);
    returns its ``python``."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def site_packages(python: Path) -> Path:
    """The site-packages directory of the venv whose interpreter is ``python``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return python.parent.parent / "lib" / version / "site-packages"


def pip_install(python: Path, *requirements: str, constraints: Path | None = None) -> None:
    """``pip install`` into the environment of ``python``. No ``.pyc`` files are written
    at install time (most of an install's CPU for pyspark's thousands of modules)."""
    extra = [] if constraints is None else ["-c", str(constraints)]
    run([*PIP, "--python", str(python), "install", "-q", "--no-compile", *extra, *requirements])


def installed_names(python: Path) -> set[str]:
    """Lower-case names of the distributions the environment of ``python`` sees."""
    listed = run([*PIP, "--python", str(python), "list", "--format=freeze"]).stdout
    return {line.split("==")[0].lower() for line in listed.splitlines()}


_BUILDS: dict[str, Future] = {}
_BUILDS_LOCK = threading.Lock()
_BUILDER = ThreadPoolExecutor(1, thread_name_prefix="test-env-build")


def in_background(name: str, build: Callable[[], Path]) -> Future:
    """``build()`` started once per session on a thread of its own: an install is mostly
    waiting on downloads and disk, so it overlaps the tests that run before the one that
    needs it (the conftest starts it when that test is collected)."""
    with _BUILDS_LOCK:
        if name not in _BUILDS:
            _BUILDS[name] = _BUILDER.submit(build)
        return _BUILDS[name]
