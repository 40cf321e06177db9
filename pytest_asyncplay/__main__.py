"""``python -m pytest_asyncplay image [BASE]``: build (or find) the target image ahead of the tests."""

from __future__ import annotations

import sys

from .image import DEFAULT_BASE, ensure_image


def main(argv: list[str]) -> int:
    """Entry point of ``python -m pytest_asyncplay``."""
    if len(argv) < 1 or argv[0] != "image":
        print("usage: python -m pytest_asyncplay image [BASE]   (builds the target image, prints its tag)",
              file=sys.stderr)
        return 2
    print(ensure_image(base=argv[1] if len(argv) > 1 else DEFAULT_BASE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
