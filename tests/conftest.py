"""Shared helpers for pytest-asyncplay's own tests. The plugin itself loads through its entry point."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOAD_KEY = pytest.StashKey[list[subprocess.Popen[bytes]]]()
#: A busy process spins only while the pytest process that started it lives: a killed session leaves no load.
SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
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


def load_from_env() -> int:
    """``ASYNCPLAY_LOAD``: how many busy processes to run on the controller for the session (0 when unset)."""
    text = os.environ.get("ASYNCPLAY_LOAD", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise pytest.UsageError(f"ASYNCPLAY_LOAD={text!r} is not a number of processes: "
                                "give a whole number, e.g. ASYNCPLAY_LOAD=4 for two per core on two cores.")
    return int(text)


def pytest_configure(config: pytest.Config) -> None:
    """``ASYNCPLAY_LOAD=N``: N busy processes on the controller while the session runs, started once (by the
    xdist controller, not by each worker), so that faults and moments are tried as a loaded CI runner lives."""
    count = load_from_env()
    if count and not hasattr(config, "workerinput"):
        config.stash[LOAD_KEY] = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def pytest_unconfigure(config: pytest.Config) -> None:
    for process in config.stash.get(LOAD_KEY, []):
        process.kill()
        process.wait()


def pytest_report_header(config: pytest.Config) -> list[str]:
    busy = config.stash.get(LOAD_KEY, [])
    return [f"asyncplay: {len(busy)} busy process(es) on the controller (ASYNCPLAY_LOAD)"] if busy else []
