"""A sagemaker_pyspark SerDe name whose constructor takes that library's camelCase keyword
arguments and returns this library's own SerDe.

The object built is the real class from :mod:`serde` — registered under its name, saved
in a Pipeline with its snake_case options, vectorized — not a wrapper around it, so a
model scores exactly as with the class imported from :mod:`serde`. ``isinstance`` against
the alias answers for that class.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["SerDeAlias"]


class _AliasType(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        builds = cls.__dict__.get("builds")
        return (
            type.__instancecheck__(cls, instance)
            if builds is None
            else isinstance(instance, builds)
        )


class SerDeAlias(metaclass=_AliasType):
    """Base of the aliases: a subclass sets ``builds`` and writes ``__new__`` with the
    reference's signature, returning ``cls.builds(...)`` with this library's keywords."""

    builds: ClassVar[type]
