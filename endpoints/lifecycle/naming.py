"""Names for the SageMaker model, endpoint config and endpoint a run creates.

SageMaker accepts a name only if it has 1-63 characters, letters, digits and hyphens, and
starts and ends with a letter or digit (``^[a-zA-Z0-9](-*[a-zA-Z0-9])*$``). The reference
library glued a prefix to a timestamp and could exceed that, failing only at CreateModel
time; :class:`NamePolicy` cleans and shortens the prefix so every generated name is valid,
and rejects an invalid explicit name before any call is made.

Generated names are ``<prefix>-<UTC yyyymmdd-hhmmss>-<6 hex>``; the three resources of one
run share the name, so a listing shows at once which model and config serve an endpoint,
and ``endpoints-cleanup --prefix <prefix>`` finds all three.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = [
    "MAX_NAME_LENGTH",
    "NamePolicy",
    "ResourceNames",
    "check_resource_name",
    "is_valid_resource_name",
]

MAX_NAME_LENGTH = 63
_VALID_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9-]+")
_DEFAULT_PREFIX = "endpoint-serde"


def is_valid_resource_name(name: object) -> bool:
    """True if SageMaker accepts ``name`` for a model, endpoint config or endpoint."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and _VALID_NAME.match(name) is not None
    )


def check_resource_name(name: object, what: str) -> str:
    """Returns ``name`` or raises ``ValueError`` saying why SageMaker would refuse it."""
    if is_valid_resource_name(name):
        return name  # type: ignore[return-value]
    if not isinstance(name, str):
        problem = f"got {type(name).__name__}"
    elif not name:
        problem = "got an empty string"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"got {len(name)} characters"
    else:
        problem = f"got {name!r}"
    raise ValueError(
        f"{what}: expected a SageMaker resource name (1-{MAX_NAME_LENGTH} letters, digits "
        f"and hyphens, starting and ending with a letter or digit), {problem}. Pass a valid "
        "name, or leave it None so NamePolicy generates one from the prefix"
    )


@dataclass(frozen=True)
class ResourceNames:
    """The three names one deployment uses."""

    model_name: str
    endpoint_config_name: str
    endpoint_name: str


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def _random_tag() -> str:
    return secrets.token_hex(3)


class NamePolicy:
    """Chooses resource names: explicit ones as given (validated), the rest generated.

    Args:
        prefix: start of every generated name. Anything is accepted: characters SageMaker
            refuses become hyphens, leading/trailing hyphens go, and it is cut so the whole
            name fits in 63 characters.
        model_name, endpoint_config_name, endpoint_name: fixed names; each must already be
            a valid SageMaker name (``ValueError`` otherwise).

    Example::

        >>> NamePolicy(prefix="nightly scoring!").names().endpoint_name  # doctest: +SKIP
        'nightly-scoring-20261126-210400-3fa1c2'
    """

    #: ``-yyyymmdd-hhmmss-xxxxxx``: what a generated name adds after the prefix.
    SUFFIX_LENGTH = 1 + 15 + 1 + 6

    def __init__(
        self,
        prefix: str = _DEFAULT_PREFIX,
        model_name: str | None = None,
        endpoint_config_name: str | None = None,
        endpoint_name: str | None = None,
        *,
        clock: Callable[[], str] = _utc_stamp,
        random_tag: Callable[[], str] = _random_tag,
    ) -> None:
        if not isinstance(prefix, str):
            raise ValueError(f"prefix: expected a string, got {type(prefix).__name__}")
        self.prefix = self.clean_prefix(prefix)
        self.model_name = _optional_name(model_name, "model_name")
        self.endpoint_config_name = _optional_name(endpoint_config_name, "endpoint_config_name")
        self.endpoint_name = _optional_name(endpoint_name, "endpoint_name")
        self._clock = clock
        self._random_tag = random_tag

    @classmethod
    def clean_prefix(cls, prefix: str) -> str:
        """``prefix`` reduced to what a valid name may start with (possibly empty)."""
        cleaned = _NOT_ALLOWED.sub("-", prefix).strip("-")
        cleaned = cleaned[: MAX_NAME_LENGTH - cls.SUFFIX_LENGTH].rstrip("-")
        return cleaned

    def generate(self) -> str:
        """A fresh name: the cleaned prefix, a UTC timestamp and 24 random bits."""
        unique = f"{self._clock()}-{self._random_tag()}"
        name = f"{self.prefix}-{unique}" if self.prefix else unique
        return check_resource_name(name, "generated name")

    def names(self) -> ResourceNames:
        """Names for one deployment; generated parts are new on every call."""
        generated = self.generate()
        return ResourceNames(
            model_name=self.model_name or generated,
            endpoint_config_name=self.endpoint_config_name or generated,
            endpoint_name=self.endpoint_name or generated,
        )

    def __repr__(self) -> str:
        fixed = {
            "model_name": self.model_name,
            "endpoint_config_name": self.endpoint_config_name,
            "endpoint_name": self.endpoint_name,
        }
        extra = "".join(f", {k}={v!r}" for k, v in fixed.items() if v is not None)
        return f"NamePolicy(prefix={self.prefix!r}{extra})"


def _optional_name(name: str | None, what: str) -> str | None:
    return None if name is None else check_resource_name(name, what)
