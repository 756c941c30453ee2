"""How large a request may say it is: the caps the host's decoders check before they
allocate (in a module of its own, so the CSV/JSON/LibSVM codecs and the protobuf codec
share them without importing each other)."""

from __future__ import annotations

from endpoints.local.errors import BadInput

__all__ = ["MAX_DECLARED_WIDTH", "MAX_DECODED_VALUES", "check_declared_size"]

#: The widest row a request may declare (a LibSVM index, a protobuf tensor's shape or
#: sparse keys): 2^20 features, 8 MiB as a dense float64 row. Formats that declare sizes
#: instead of spelling every value could otherwise make a 13-byte body allocate gigabytes.
MAX_DECLARED_WIDTH = 1 << 20
#: The most values such a request may decode to (rows x widest row): 2^24 float64, 128 MiB.
#: CSV and JSON spell every value, so the 6 MB body cap already bounds them.
MAX_DECODED_VALUES = 1 << 24


def check_declared_size(rows: int, width: int, what: str) -> None:
    """Refuse (400) a decoded size over :data:`MAX_DECLARED_WIDTH` per row or
    :data:`MAX_DECODED_VALUES` in all, before anything of that size is allocated."""
    if width > MAX_DECLARED_WIDTH:
        raise BadInput(
            f"{what} declares rows of {width} values; the host decodes rows of at most "
            f"{MAX_DECLARED_WIDTH} (2^20) values. Send narrower rows."
        )
    if rows * width > MAX_DECODED_VALUES:
        raise BadInput(
            f"{what} declares {rows} rows x {width} values = {rows * width} values; the host "
            f"decodes at most {MAX_DECODED_VALUES} (2^24) values per request. Send fewer "
            "rows per request."
        )
