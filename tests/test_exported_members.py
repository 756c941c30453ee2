"""The public surface: every exported name resolves and ``__all__`` stays sorted.

Modeled on httpx's ``tests/test_exported_members.py``. Every module an export names must
exist: deleting one fails here instead of shrinking the test.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import endpoints
import serde


@pytest.mark.parametrize("package", [serde, endpoints], ids=lambda p: p.__name__)
def test_package_all_is_sorted_and_unique(package: ModuleType):
    assert package.__all__ == sorted(package.__all__)
    assert len(set(package.__all__)) == len(package.__all__)


@pytest.mark.parametrize("name", serde.__all__)
def test_every_serde_export_resolves(name: str):
    member = getattr(serde, name)
    assert member is not None
    if isinstance(member, type) or callable(member):
        # classes and functions are the real objects from their defining module
        module = importlib.import_module(member.__module__)
        assert getattr(module, member.__name__) is member


def test_serde_exports_the_framework_contract():
    assert {
        "RequestRowSerializer",
        "ResponseRowDeserializer",
        "SerializedRows",
        "SerdeError",
        "UnknownSerDeError",
        "get_serializer",
        "get_deserializer",
        "list_serializers",
        "list_deserializers",
        "register_serializer",
        "register_deserializer",
        "serde_spec",
    } <= set(serde.__all__)


def test_serde_exports_every_builtin_module_public_name():
    for module_name in serde._BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        assert set(module.__all__) <= set(serde.__all__), module_name
        for name in module.__all__:
            assert getattr(serde, name) is getattr(module, name)


def test_endpoints_all_lists_exactly_the_lazy_exports():
    assert endpoints.__all__ == sorted(endpoints._EXPORTS)
    assert "SageMakerModel" in endpoints.__all__


@pytest.mark.parametrize("name", sorted(endpoints._EXPORTS))
def test_every_endpoints_export_resolves_to_its_module(name: str):
    assert importlib.util.find_spec(endpoints._EXPORTS[name]) is not None, name
    member = getattr(endpoints, name)
    assert member.__name__ == name
    assert member.__module__ == endpoints._EXPORTS[name]


def test_importing_serde_loads_no_endpoints_module_nor_the_sdk():
    """serde is the lower floor: a fresh process that imports it (and builds a SerDe by
    name) has not loaded endpoints, nor the SageMaker SDK the adapters wrap."""
    script = (
        "import sys, serde\n"
        "serde.get_serializer('csv')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'endpoints', 'sagemaker'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", [serde, endpoints], ids=lambda p: p.__name__)
def test_unknown_attribute_is_an_attribute_error(package: ModuleType):
    with pytest.raises(
        AttributeError, match=f"module '{package.__name__}' has no attribute 'Nope'"
    ):
        package.Nope  # noqa: B018
    assert not hasattr(package, "Nope")


def all_modules() -> list[str]:
    names = []
    for package in (serde, endpoints):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("_pb2"):  # generated code has no __all__
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", all_modules())
def test_every_module_imports_and_its_all_resolves(module_name: str):
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if module_name.endswith("__main__") or exported is None:
        return
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []
    assert len(set(exported)) == len(exported)
