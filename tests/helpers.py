"""Helpers shared by pytest-asyncplay's own tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import os

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
