"""Checks for the numeric options SerDes and the packer are built with.

A Spark job builds its serializers, deserializers and packers on the driver and again in
every task. An option that cannot work (``max_batch_records=0``, ``2.5``, ``"10"``, a
vector size past what Spark can hold) must fail where the user wrote it, with the option's
name, not later inside a task as a comparison between ``str`` and ``int`` or an Arrow
overflow. Booleans are refused although Python counts them as integers: ``True`` for a
row count is a slip, not a choice.
"""

from __future__ import annotations

import operator

__all__ = ["whole_number"]


def whole_number(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is a whole number from ``minimum`` to ``maximum``.

    Accepts Python and numpy integers; raises ``TypeError`` for anything else (floats,
    strings, booleans, ``None``) and ``ValueError`` for a number out of range, each naming
    the option, the range and what came.
    """
    span = f"at least {minimum:,}" if maximum is None else f"from {minimum:,} to {maximum:,}"
    if isinstance(value, bool):
        number = None
    else:
        try:
            number = operator.index(value)
        except TypeError:
            number = None
    if number is None:
        raise TypeError(
            f"{name} must be a whole number ({span}), got {value!r} "
            f"({type(value).__name__}); pass an int"
        )
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {span}, got {number:,}")
    return number
