"""botocore's SageMaker service model as the local control plane's contract.

Every control-plane request is checked against its operation's input shape at the host's
boundary, and the tests check every answer against the output shape, with one walker:
:func:`check` takes a JSON value as it travels on the wire (timestamps as epoch seconds or
ISO 8601 strings, blobs as base64) and a botocore ``Shape``, and lists what AWS's own
validation lists — a missing required member, an unknown member, a wrong type, a length,
range, enum or pattern not met — in AWS's wording::

    Value 'abc' at 'productionVariants.1.member.initialInstanceCount' failed to satisfy
    constraint: Member must be an integer (got a string)

so a client that bypasses botocore's own checks (a raw HTTP client, another SDK) gets a
400 ``ValidationException`` naming the field, never a 500 from inside a handler.

botocore ships ``botocore.validate.ParamValidator``, but it checks Python-side arguments
before serialization (``datetime``, ``bytes``; ``True`` passes as an integer) and checks no
maximum, enum or pattern, so it cannot judge a wire body. This walker is the same idea
over the wire form.

Two things differ from AWS on purpose: members a shape does not declare are refused (AWS
ignores them; a local test double should catch the typo), and the ``Url`` and ``S3Uri``
shapes also accept ``file://`` URLs and absolute paths, which the local host serves models
from. Java patterns are translated to Python's ``re`` (``\\p{L}`` and friends become
``\\w``, ``\\s``, ``\\W`` — never stricter than AWS); a pattern that still does not compile is
not checked.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "LOCAL_URL_SHAPES",
    "ShapeViolation",
    "check",
    "input_shape",
    "is_operation",
    "output_shape",
    "parse_timestamp",
    "service_model",
    "validation_message",
]

logger = logging.getLogger(__name__)

LOCAL_URL_SHAPES = frozenset({"Url", "S3Uri"})
MAX_REPORTED = 10  # AWS lists a handful of violations, not thousands
_VALUE_CHARS = 120

# Java regex property classes → Python re escapes valid inside and outside [...]. Each is
# at least as wide as Java's, so a value AWS accepts is never refused here.
_JAVA_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{N}": r"\w",
    r"\p{Alnum}": r"\w",
    r"\p{Z}": r"\s",
    r"\p{M}": r"\W",
    r"\p{S}": r"\W",
    r"\p{P}": r"\W",
}
_JAVA_CLASS = re.compile("|".join(re.escape(k) for k in _JAVA_CLASSES))


@dataclass(frozen=True)
class ShapeViolation:
    """One way a value breaks its shape: where (AWS's member path), what came, what the
    shape wants."""

    path: str
    value: Any
    constraint: str

    def __str__(self) -> str:
        return (
            f"Value {_render(self.value)} at '{self.path}' failed to satisfy constraint: "
            f"{self.constraint}"
        )


# --------------------------------------------------------------------------- service model

_model_lock = threading.Lock()
_model: Any = None


def service_model() -> Any:
    """botocore's ``sagemaker`` service model, loaded once per process (about 0.4 s, paid
    on the first control-plane call, not at host start)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import botocore.session

                _model = botocore.session.get_session().get_service_model("sagemaker")
    return _model


def is_operation(operation: str) -> bool:
    """Whether ``operation`` is a SageMaker API operation botocore knows."""
    return operation in service_model().operation_names


def input_shape(operation: str) -> Any:
    """The request shape of ``operation`` (``None``: it takes no input)."""
    return service_model().operation_model(operation).input_shape


def output_shape(operation: str) -> Any:
    """The answer shape of ``operation`` (``None``: it answers an empty object)."""
    return service_model().operation_model(operation).output_shape


# ---------------------------------------------------------------------------------- walker


def check(value: Any, shape: Any) -> list[ShapeViolation]:
    """Every way ``value`` (a JSON value) breaks ``shape`` (a botocore ``Shape``); empty
    when it conforms. The top-level value is the operation's body, so paths start at its
    members: ``modelName``, ``primaryContainer.environment.KEY``, ``tags.1.member.key``."""
    violations: list[ShapeViolation] = []
    _check(value, shape, "", violations)
    return violations


def validation_message(violations: list[ShapeViolation]) -> str:
    """AWS's ValidationException message: ``N validation errors detected: ...; ...``."""
    count = len(violations)
    shown = "; ".join(str(v) for v in violations[:MAX_REPORTED])
    more = f"; and {count - MAX_REPORTED} more" if count > MAX_REPORTED else ""
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: {shown}{more}"


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _check(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    kind = shape.type_name
    if kind == "structure" and getattr(shape, "is_document_type", False):
        return  # any JSON value
    checker = _CHECKERS.get(kind)
    if checker is not None:
        checker(value, shape, path, out)


def _wrong_type(value: Any, path: str, expected: str, out: list[ShapeViolation]) -> None:
    out.append(ShapeViolation(path, value, f"Member must be {expected} (got {_json_type(value)})"))


def _check_structure(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, dict):
        _wrong_type(value, path, f"an object ({shape.name})", out)
        return
    members = shape.members
    for required in shape.required_members:
        if value.get(required) is None:
            out.append(
                ShapeViolation(_member_path(path, required), None, "Member must not be null")
            )
    for key, item in value.items():
        member = members.get(key)
        if member is None:
            out.append(
                ShapeViolation(
                    _member_path(path, key),
                    item,
                    f"Member must be one of the fields of {shape.name}: {', '.join(members)}",
                )
            )
        elif item is not None:  # null is an absent optional member in AWS's JSON protocols
            _check(item, member, _member_path(path, key), out)


def _check_list(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, list):
        _wrong_type(value, path, "a list", out)
        return
    _check_length(value, shape, path, out)
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            out.append(ShapeViolation(item_path, None, "Member must not be null"))
        else:
            _check(item, shape.member, item_path, out)


def _check_map(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, dict):
        _wrong_type(value, path, "an object (map)", out)
        return
    _check_length(value, shape, path, out)
    for key, item in value.items():
        _check(key, shape.key, f"{path}.key", out)
        item_path = f"{path}.{key}"
        if item is None:
            out.append(ShapeViolation(item_path, None, "Member must not be null"))
        else:
            _check(item, shape.value, item_path, out)


def _check_string(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, str):
        _wrong_type(value, path, "a string", out)
        return
    before = len(out)
    _check_length(value, shape, path, out)
    enum = shape.enum
    if enum and value not in enum:
        out.append(
            ShapeViolation(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        )
    pattern = shape.metadata.get("pattern")
    if pattern and len(out) == before and not _local_url(shape, value):
        compiled = _compiled(pattern)
        if compiled is not None and compiled.fullmatch(value) is None:
            out.append(
                ShapeViolation(
                    path, value, f"Member must satisfy regular expression pattern: {pattern}"
                )
            )


def _check_integer(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _wrong_type(value, path, "an integer", out)
        return
    _check_range(value, shape, path, out)


def _check_number(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _wrong_type(value, path, "a number", out)
        return
    _check_range(value, shape, path, out)


def _check_boolean(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, bool):
        _wrong_type(value, path, "true or false", out)


def _check_timestamp(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if parse_timestamp(value) is None:
        _wrong_type(value, path, "a timestamp (epoch seconds or ISO 8601)", out)


def _check_blob(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    if not isinstance(value, str):
        _wrong_type(value, path, "base64 text", out)
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        out.append(ShapeViolation(path, value, "Member must be valid base64"))


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from a wire timestamp (a number, or an ISO 8601 string, as botocore
    accepts); ``None`` if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None  # a naive time is ambiguous; AWS wants an offset or Z
        return parsed.timestamp()
    return None


def _check_length(value: Any, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    size = len(value)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        out.append(
            ShapeViolation(path, value, f"Member must have length greater than or equal to {low}")
        )
    if high is not None and size > high:
        out.append(
            ShapeViolation(path, value, f"Member must have length less than or equal to {high}")
        )


def _check_range(value: float, shape: Any, path: str, out: list[ShapeViolation]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        out.append(
            ShapeViolation(path, value, f"Member must have value greater than or equal to {low}")
        )
    if high is not None and value > high:
        out.append(
            ShapeViolation(path, value, f"Member must have value less than or equal to {high}")
        )


def _local_url(shape: Any, value: str) -> bool:
    """The local host's one widening: model data from ``file://`` URLs and absolute paths."""
    return shape.name in LOCAL_URL_SHAPES and value.startswith(("file://", "/"))


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    translated = _JAVA_CLASS.sub(lambda m: _JAVA_CLASSES[m.group(0)], pattern)
    try:
        return re.compile(translated)
    except re.error as exc:
        logger.debug("pattern %r is not checked: %s", pattern, exc)
        return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _render(value: Any) -> str:
    """AWS's spelling of the offending value: ``null`` or the value in single quotes,
    shortened so a huge member cannot flood the message."""
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - 3] + "..."
    return f"'{text}'"
