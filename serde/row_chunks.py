"""Writing a batch a bounded run of rows at a time, and joining what the runs wrote.

CSV and JSON spell every element of a vector, a sparse vector's zeros included, so they
build rows dense before formatting them. Spark hands Python up to 10,000 rows at once, and
an ML vector may declare 2**20 elements while storing ten: built dense in one piece, such a
batch would be 80 GB of doubles, and formatting needs about twice that again. So the text
writers cut each batch into runs of consecutive rows holding at most
:data:`DENSE_CELL_BUDGET` elements between them (a row wider than that is a run of its
own), build and format one run at a time, and join the texts: whatever the rows declare,
the dense matrix alive at any moment holds one run.

The joined text itself is as large as the format makes it (at least 4 bytes per element);
it is kept in one copy while it grows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["DENSE_CELL_BUDGET", "join_runs", "row_runs", "run_from_rows"]

#: Elements one run of rows may hold dense: 2 MiB as doubles, about 10 MiB at the peak of
#: formatting them (orjson reserves some 32 bytes per number it writes). A batch of 10,000
#: rows of 26 features is still one run, one orjson call; measured, runs of this size write
#: wide batches no slower than larger runs or a whole batch at once.
DENSE_CELL_BUDGET = 1 << 18


def row_runs(cells: np.ndarray, budget: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive runs covering rows ``0..len(cells)``, each holding
    at most ``budget`` cells (``cells[i]`` for row ``i``; default
    :data:`DENSE_CELL_BUDGET`, read at each call), or a single row that alone holds more."""
    budget = DENSE_CELL_BUDGET if budget is None else budget
    ends = np.cumsum(np.asarray(cells, dtype=np.int64))
    start, count = 0, len(ends)
    while start < count:
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + budget, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def join_runs(runs: Iterable[tuple[bytes, np.ndarray]]) -> tuple[bytes, np.ndarray]:
    """Each run's ``(text, row lengths)``, in order → ``(text, offsets)`` of all rows.

    ``runs`` is best a generator, so each run's text is freed once copied. The text grows
    in a ``BytesIO``, whose ``getvalue()`` hands over its own buffer: the result is never
    held twice. A single run is returned as it is, without a copy.
    """
    out: io.BytesIO | None = None
    first: bytes = b""
    all_lengths = []
    for text, lengths in runs:
        all_lengths.append(np.asarray(lengths, dtype=np.int64))
        if len(all_lengths) == 1:
            first = text
            continue
        if out is None:
            out = io.BytesIO()
            out.write(first)
            first = b""
        out.write(text)
    count = sum(len(lengths) for lengths in all_lengths)
    offsets = np.zeros(count + 1, dtype=np.int64)
    if count:
        np.cumsum(np.concatenate(all_lengths), out=offsets[1:])
    return (first if out is None else out.getvalue()), offsets


def run_from_rows(rows: list[bytes]) -> tuple[bytes, np.ndarray]:
    """Rows written one by one → ``(text, row lengths)``, a run as :func:`join_runs`
    takes it."""
    return b"".join(rows), np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
