"""Shared helpers for pytest-asyncplay's own tests. The plugin itself loads through its entry point."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_playbooks"
CORPUS = ROOT / "tests" / "corpus"


def _register_corpus_expectations() -> None:
    """Make ``tests/corpus/expectations.py`` importable as ``asyncplay_corpus_expectations``."""
    spec = importlib.util.spec_from_file_location("asyncplay_corpus_expectations", CORPUS / "expectations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_register_corpus_expectations()


@pytest.fixture
def examples() -> Path:
    """The folder of example playbooks."""
    return EXAMPLES


_HOST_FIXTURES = frozenset({"asyncplay", "asyncplay_hosts", "asyncplay_pool"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that asks for hosts needs Docker: mark it ``docker`` (tests that start hosts in a subprocess
    carry the mark themselves). ``slow`` tests are opt-in: deselected unless the ``-m`` expression names
    ``slow`` (``-m slow``, ``-m "slow and docker"``, ...)."""
    for item in items:
        if _HOST_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)
    if "slow" in (config.option.markexpr or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
