"""Helpers shared by pytest-asyncplay's own tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import docker

from pytest_asyncplay.targets import LABEL, OWNER_PID_LABEL


def orphans() -> list[str]:
    """Labelled containers whose owner process is gone."""
    found = []
    for container in docker.from_env().containers.list(all=True, filters={"label": LABEL}):
        try:
            os.kill(int(container.labels[OWNER_PID_LABEL]), 0)
        except ProcessLookupError:
            found.append(container.name)
    return found


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed; whether it became true.

    Call it as ``assert wait_until(lambda: relay.live == 0, 3.0)``: a test waits for the condition
    it checks, never for a guessed time, and a condition that never comes fails within the deadline.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)
    return True
