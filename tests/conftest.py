"""Shared helpers for pytest-asyncplay's own tests. The plugin itself loads through its entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_playbooks"


@pytest.fixture
def examples() -> Path:
    """The folder of example playbooks."""
    return EXAMPLES
