"""``python -m endpoints.local``: the same as the ``endpoints-local`` console script."""

from __future__ import annotations

import sys

from endpoints.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
