"""Endpoint kinds are registered like SerDes (decorator or entry point) and the per-process
client cache sizes pools and evicts: a third-party endpoint saves in a Pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from endpoints.clients.client_cache import DEFAULT_POOL_SIZE, ClientCache
from endpoints.clients.specs import endpoint_from_spec, endpoint_kinds, register_endpoint_kind
from endpoints.clients.transport import Endpoint
from serde.errors import SerdeError

REPO = Path(__file__).resolve().parents[1]


@register_endpoint_kind("test-uppercase")
class UppercaseEndpoint(Endpoint):
    """Answers each CSV row with its first value, as a model would: lives in a test module,
    as a third party's endpoint lives in its own package."""

    def __init__(self, label: str = "upper") -> None:
        self.label = label
        self.name = f"uppercase:{label}"

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        return b"".join(line.split(b",")[0] + b"\n" for line in body.splitlines())

    def to_spec(self) -> dict[str, Any]:
        return {"kind": "test-uppercase", "options": {"label": self.label}}


def test_a_registered_kind_round_trips_through_its_spec():
    assert "test-uppercase" in endpoint_kinds()
    rebuilt = endpoint_from_spec(json.loads(json.dumps(UppercaseEndpoint("x").to_spec())))
    assert type(rebuilt) is UppercaseEndpoint and rebuilt.label == "x"
    assert rebuilt.invoke(b"1.5,2\n3,4\n", "text/csv", "text/csv") == b"1.5\n3\n"


def test_a_kind_name_cannot_be_taken_twice_nor_given_a_non_endpoint():
    with pytest.raises(SerdeError, match="'test-uppercase' is already registered"):

        @register_endpoint_kind("test-uppercase")
        class Other(Endpoint):
            def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
                return body

    with pytest.raises(TypeError, match="needs a Endpoint subclass"):
        register_endpoint_kind("not-an-endpoint")(dict)


def test_a_third_party_endpoint_saves_and_loads_in_a_pipeline(spark, tmp_path):
    from pyspark import cloudpickle
    from pyspark.ml import Pipeline, PipelineModel

    from endpoints import SageMakerModel
    from serde.csv import UnlabeledCSVRequestRowSerializer, XGBoostCSVRowDeserializer

    # executors cannot import this test module: ship its classes by value, as Spark does
    # for a class defined in a notebook
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    model = SageMakerModel(
        endpoint=UppercaseEndpoint("saved"),
        request_row_serializer=UnlabeledCSVRequestRowSerializer(),
        response_row_deserializer=XGBoostCSVRowDeserializer(),
    )
    df = spark.createDataFrame([([float(i), 1.0],) for i in range(50)], "features array<double>")
    Pipeline(stages=[model]).fit(df).write().save(str(tmp_path / "p"))
    loaded = PipelineModel.load(str(tmp_path / "p"))
    assert loaded.stages[0].endpoint.label == "saved"
    got = [r.prediction for r in loaded.transform(df).collect()]
    assert got == [float(i) for i in range(50)]


def test_an_entry_point_kind_loads_in_a_fresh_process(tmp_path):
    # an installed distribution, as pip leaves it: a module and its dist-info
    (tmp_path / "grpc_kind.py").write_text(
        textwrap.dedent(
            """
            from endpoints.clients.transport import Endpoint

            class GrpcEndpoint(Endpoint):
                def __init__(self, target):
                    self.target = target

                def invoke(self, body, content_type, accept):
                    return body

                def to_spec(self):
                    return {"kind": "grpc", "options": {"target": self.target}}
            """
        )
    )
    info = tmp_path / "grpc_kind-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: grpc-kind\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[endpoint_serde.endpoints]\ngrpc = grpc_kind:GrpcEndpoint\n"
    )
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from endpoints.clients.specs import endpoint_from_spec\n"
        "e = endpoint_from_spec({'kind': 'grpc', 'options': {'target': '127.0.0.1:1'}})\n"
        "print(type(e).__module__, e.target, 'grpc_kind' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == ["grpc_kind", "127.0.0.1:1", "True"]


# --- the client cache ------------------------------------------------------------------


class Client:
    def __init__(self, key: str, pool_size: int) -> None:
        self.key, self.pool_size, self.closed = key, pool_size, 0

    def close(self) -> None:
        self.closed += 1


def test_clients_are_built_once_per_key_and_pool_size():
    cache = ClientCache()
    first = cache.get("a", lambda size: Client("a", size))
    assert cache.get("a", lambda size: Client("a2", size)) is first
    assert (first.pool_size, cache.constructions) == (DEFAULT_POOL_SIZE, 1)
    cache.reserve(4)  # a smaller window never shrinks the pool
    assert cache.get("a", lambda size: Client("a3", size)) is first
    cache.reserve(32)  # a larger one gets a client that can hold it
    bigger = cache.get("a", lambda size: Client("a4", size))
    assert (bigger.key, bigger.pool_size, cache.constructions) == ("a4", 32, 2)


def test_the_least_recently_used_client_is_evicted_and_closed():
    cache = ClientCache(capacity=2)
    a = cache.get("a", lambda size: Client("a", size))
    b = cache.get("b", lambda size: Client("b", size))
    assert cache.get("a", lambda size: Client("a-again", size)) is a  # a is now the newest
    c = cache.get("c", lambda size: Client("c", size))  # evicts b, the least recently used
    assert (a.closed, b.closed, c.closed) == (0, 1, 0)
    assert cache.get("b", lambda size: Client("b2", size)).key == "b2"  # rebuilt
    assert a.closed == 1  # and a, now the oldest, made room for it
    cache.clear()
    assert (b.closed, c.closed) == (1, 1)
    assert cache.constructions == 4
