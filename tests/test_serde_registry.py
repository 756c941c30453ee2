"""The SerDe registry: names, options, specs, and third-party entry points."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from serde import registry
from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.errors import SerdeError, UnknownSerDeError
from serde.registry import (
    SerDeInfo,
    deserializer_from_spec,
    get_deserializer,
    get_serializer,
    list_deserializers,
    list_serializers,
    register_deserializer,
    register_serializer,
    serde_spec,
    serializer_from_spec,
)

RESULT_SCHEMA = StructType([StructField("score", DoubleType())])


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Each test sees an empty registry (built-ins are other files' business) and leaves
    the real one as it found it; installed entry points count as already scanned."""
    for reg in (registry._serializers, registry._deserializers):
        monkeypatch.setattr(reg, "_by_name", {})
        monkeypatch.setattr(reg, "_broken", {})
        monkeypatch.setattr(reg, "_entry_points_loaded", True)


def make_serializer_class():
    class PipeSerializer(RequestRowSerializer):
        """A user's SerDe: values joined by ``|``."""

        content_type = "text/x-pipe"

        def __init__(
            self,
            schema: StructType | None = None,
            features_column_name: str = "features",
            columns: tuple[str, ...] = (),
        ) -> None:
            self.features_column_name = features_column_name
            self.columns = columns
            if schema is not None:
                self.set_schema(schema)

        def serialize_row(self, row: Row) -> bytes:
            return "|".join(str(v) for v in row[self.features_column_name]).encode() + b"\n"

    return PipeSerializer


class ScoreDeserializer(ResponseRowDeserializer):
    accepts = "text/plain"

    def __init__(self, score_column_name: str = "score") -> None:
        self.score_column_name = score_column_name

    @property
    def schema(self) -> StructType:
        return StructType([StructField(self.score_column_name, DoubleType())])

    def deserialize_response(self, body: bytes) -> Iterable[tuple]:
        return [(float(line),) for line in body.decode().split()]


def test_decorators_register_and_get_builds_with_options():
    PipeSerializer = register_serializer("pipe")(make_serializer_class())
    register_deserializer("score-lines")(ScoreDeserializer)

    ser = get_serializer("pipe", features_column_name="f")
    assert type(ser) is PipeSerializer
    assert ser.features_column_name == "f"
    assert ser.serialize_row(Row(f=[1, 2.5])) == b"1|2.5\n"
    assert ser.serde_options() == {"features_column_name": "f"}

    des = get_deserializer("score-lines", score_column_name="p")
    assert des.schema.names == ["p"]
    assert list(des.deserialize_response(b"0.5\n1.5\n")) == [(0.5,), (1.5,)]
    assert repr(des) == "ScoreDeserializer(score_column_name='p')"


def test_listing_shows_name_media_type_and_options():
    register_serializer("pipe")(make_serializer_class())
    register_deserializer("score-lines")(ScoreDeserializer)

    [ser_info] = list_serializers()
    assert ser_info == SerDeInfo(
        name="pipe",
        kind="serializer",
        cls=ser_info.cls,
        media_type="text/x-pipe",
        options=("schema", "features_column_name", "columns"),
    )
    assert ser_info.qualified_name == (f"{__name__}.make_serializer_class.<locals>.PipeSerializer")
    [des_info] = list_deserializers()
    assert (des_info.name, des_info.kind, des_info.media_type, des_info.options) == (
        "score-lines",
        "deserializer",
        "text/plain",
        ("score_column_name",),
    )


def test_listing_is_sorted_by_name():
    cls = make_serializer_class()
    for name in ["zeta", "alpha", "mid"]:
        register_serializer(name)(cls)
    assert [i.name for i in list_serializers()] == ["alpha", "mid", "zeta"]


def test_unknown_name_lists_the_known_ones():
    register_serializer("pipe")(make_serializer_class())
    register_serializer("csv-like")(make_serializer_class())
    with pytest.raises(UnknownSerDeError) as info:
        get_serializer("nope")
    assert str(info.value) == (
        "no serializer registered as 'nope'; known: csv-like, pipe. "
        "Register one with register_serializer('nope') or install the package providing it"
    )
    assert isinstance(info.value, KeyError)
    assert info.value.known == ["pipe", "csv-like"]

    with pytest.raises(
        UnknownSerDeError, match=r"no deserializer registered as 'x'; known: \(none\)"
    ):
        get_deserializer("x")


def test_registering_another_class_under_a_taken_name_is_refused():
    register_serializer("pipe")(make_serializer_class())

    class Other(RequestRowSerializer):
        def serialize_row(self, row: Row) -> bytes:
            return b""

    with pytest.raises(SerdeError) as info:
        register_serializer("pipe")(Other)
    assert str(info.value) == (
        "serializer name 'pipe' is already registered to "
        f"{__name__}.make_serializer_class.<locals>.PipeSerializer; pick another name for "
        f"{__name__}.test_registering_another_class_under_a_taken_name_is_refused.<locals>.Other"
    )
    # the same class again (a module imported twice) is fine and keeps the name
    again = make_serializer_class()
    assert register_serializer("pipe")(again) is again
    assert type(get_serializer("pipe")) is again


def test_only_the_right_base_class_can_register():
    with pytest.raises(TypeError, match="register_deserializer\\('p'\\) needs a ResponseRow"):
        register_deserializer("p")(make_serializer_class())
    with pytest.raises(TypeError, match="needs a RequestRowSerializer subclass, got 3"):
        register_serializer("p")(3)


def test_spec_round_trip_with_a_spark_schema_option():
    register_serializer("pipe")(make_serializer_class())
    schema = StructType(
        [StructField("id", StringType(), False), StructField("features", DoubleType())]
    )
    ser = get_serializer("pipe", schema=schema, columns=("a", "b"))

    spec = serde_spec(ser)
    assert spec == {
        "name": "pipe",
        "options": {"schema": {"__spark_schema__": schema.jsonValue()}, "columns": ["a", "b"]},
    }
    restored = serializer_from_spec(json.loads(json.dumps(spec)))
    assert type(restored) is type(ser)
    assert restored.schema == schema
    assert restored.columns == ["a", "b"]  # tuples come back as JSON lists
    assert serde_spec(restored) == spec


def test_deserializer_spec_round_trip():
    register_deserializer("score-lines")(ScoreDeserializer)
    des = ScoreDeserializer("p")  # positional arguments are saved by name
    spec = serde_spec(des)
    assert spec == {"name": "score-lines", "options": {"score_column_name": "p"}}
    assert deserializer_from_spec(spec).schema.names == ["p"]


def test_spec_of_unregistered_class_says_how_to_register():
    PipeSerializer = make_serializer_class()
    with pytest.raises(SerdeError) as info:
        serde_spec(PipeSerializer())
    assert str(info.value) == (
        f"{__name__}.make_serializer_class.<locals>.PipeSerializer is not registered, so it "
        "cannot be saved by name; decorate it with @register_serializer('some-name')"
    )


def test_spec_of_unregistered_subclass_of_a_registered_class_is_refused():
    Base = register_serializer("pipe")(make_serializer_class())

    class Sub(Base):
        pass

    with pytest.raises(SerdeError, match="Sub is not registered"):
        serde_spec(Sub())
    with pytest.raises(SerdeError, match="@register_deserializer"):
        serde_spec(ScoreDeserializer())


# --- third-party packages through entry points ----------------------------------------

TINY_MODULE = """
from pyspark.sql.types import DoubleType, StructField, StructType

from serde.base import RequestRowSerializer, ResponseRowDeserializer


class TinyCSVSerializer(RequestRowSerializer):
    content_type = "text/csv"

    def __init__(self, separator: str = ","):
        self.separator = separator

    def serialize_row(self, row):
        return self.separator.join(str(v) for v in row).encode() + b"\\n"


class TinyCSVDeserializer(ResponseRowDeserializer):
    accepts = "text/csv"
    schema = StructType([StructField("prediction", DoubleType())])

    def deserialize_response(self, body):
        return [(float(v),) for v in body.split()]
"""


def install_tiny_distribution(root: Path, entry_points: str) -> None:
    """A real installed distribution, as pip would leave it in site-packages."""
    package = root / "tinyserde"
    package.mkdir()
    (package / "__init__.py").write_text(TINY_MODULE)
    info = root / "tinyserde-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyserde\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def tiny_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tinyserde", raising=False)
    for reg in (registry._serializers, registry._deserializers):
        monkeypatch.setattr(reg, "_entry_points_loaded", False)
    # only tinyserde's entry points: this project's own (the SDK adapters) would add names
    real = registry.entry_points
    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: [ep for ep in real(group=group) if ep.value.startswith("tinyserde")],
    )
    yield tmp_path
    sys.modules.pop("tinyserde", None)


def test_third_party_serde_is_found_through_entry_points(tiny_path):
    install_tiny_distribution(
        tiny_path,
        """
        [endpoint_serde.serializers]
        tiny-csv = tinyserde:TinyCSVSerializer

        [endpoint_serde.deserializers]
        tiny-csv = tinyserde:TinyCSVDeserializer
        """,
    )
    assert "tinyserde" not in sys.modules
    ser = get_serializer("tiny-csv", separator=";")
    assert type(ser).__module__ == "tinyserde"
    assert ser.serialize_row(Row(a=1, b=2.5)) == b"1;2.5\n"
    assert serde_spec(ser) == {"name": "tiny-csv", "options": {"separator": ";"}}

    des = get_deserializer("tiny-csv")
    assert list(des.deserialize_response(b"1.5\n2")) == [(1.5,), (2.0,)]
    assert [(i.name, i.media_type, i.options) for i in list_serializers()] == [
        ("tiny-csv", "text/csv", ("separator",))
    ]


def test_a_broken_entry_point_hides_neither_the_others_nor_its_own_error(tiny_path, caplog):
    install_tiny_distribution(
        tiny_path,
        """
        [endpoint_serde.serializers]
        aaa-broken = tinyserde.missing:Nothing
        tiny-csv = tinyserde:TinyCSVSerializer
        zzz-wrong-kind = tinyserde:TinyCSVDeserializer
        """,
    )
    with caplog.at_level(logging.WARNING, logger="serde.registry"):
        assert get_serializer("tiny-csv").serialize_row(Row(a=1)) == b"1\n"
    assert sorted(r.getMessage().split(" (")[0] for r in caplog.records) == [
        "serializer entry point 'aaa-broken'",
        "serializer entry point 'zzz-wrong-kind'",
    ]
    with pytest.raises(SerdeError) as info:
        get_serializer("aaa-broken")
    assert str(info.value).startswith(
        "serializer 'aaa-broken' is provided by an installed package, but its entry point "
        "failed to load: ModuleNotFoundError("
    )
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    with pytest.raises(SerdeError, match=r"'zzz-wrong-kind'.*needs a RequestRowSerializer"):
        get_serializer("zzz-wrong-kind")
    with pytest.raises(UnknownSerDeError, match="known: tiny-csv"):
        get_serializer("other")


def test_an_already_registered_name_wins_over_an_entry_point(tiny_path):
    install_tiny_distribution(
        tiny_path,
        """
        [endpoint_serde.serializers]
        pipe = tinyserde:TinyCSVSerializer
        """,
    )
    Pipe = register_serializer("pipe")(make_serializer_class())
    assert [i.cls for i in list_serializers()] == [Pipe]
    assert "tinyserde" not in sys.modules  # never imported
