"""``python -m pytest_asyncplay``: the ``asyncplay`` command (see :mod:`pytest_asyncplay.cli`)."""

from __future__ import annotations

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
