"""One ``pyspark.sql.Row`` class per set of field names, so the per-row path builds a row
with a single ``tuple.__new__`` call.

``Row("a", "b")(1, 2)`` runs two Python functions and an attribute write per row;
``tuple.__new__(row_type(("a", "b")), (1, 2))`` runs none, and the class answers
``row["a"]`` and ``row.a`` without searching the field list. Its rows are ``Row``
instances that compare, print and pickle exactly as plain rows (a pickled row comes back
as a plain ``Row``).
"""

from __future__ import annotations

import functools
from operator import itemgetter
from typing import Any

from pyspark.sql import Row

__all__ = ["row_type"]

_TUPLE_GET = tuple.__getitem__


@functools.lru_cache(maxsize=256)
def row_type(names: tuple[str, ...]) -> type[Row]:
    """The ``Row`` subclass whose rows have fields ``names``; build a row with
    ``tuple.__new__(cls, values)``."""
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        positions.setdefault(name, position)  # the first of duplicate names, as Row finds

    def __getitem__(self: Row, item: Any) -> Any:
        if type(item) is str and item in positions:
            return _TUPLE_GET(self, positions[item])
        return Row.__getitem__(self, item)

    namespace: dict[str, Any] = {
        "__fields__": list(names),
        "__getitem__": __getitem__,
    }
    for name, position in positions.items():
        if name.isidentifier() and not name.startswith("__") and not hasattr(Row, name):
            namespace[name] = property(itemgetter(position))
    return type("Row", (Row,), namespace)
