"""pytest-asyncplay: prove that no fire-and-forget Ansible job can fail silently in your playbooks.

Real SSH hosts in containers, a runner that returns a structured result with a ledger of every async
job, fault injection at chosen moments, assertion helpers, and a reap audit for CI.
"""

from __future__ import annotations

import importlib.metadata

from .assertions import (
    assert_all_jobs_reaped,
    assert_no_swallowed_failures,
    assert_play_failed,
    assert_play_ok,
)
from .audit.discover import discover
from .audit.lint import Finding, lint
from .errors import (
    AsyncplayError,
    CommandLineError,
    DockerUnavailableError,
    FaultError,
    HostStartError,
    ImageBuildError,
    InventoryError,
    PlaybookNotFoundError,
    PlaybookSyntaxError,
    RelayError,
    ReportMergeError,
)
from .faults import (
    FaultRecord,
    after,
    drop_connection,
    job_launched,
    job_polled,
    kill_job,
    restart_host,
    slow_job,
    task_end,
    task_start,
    vanish_job,
)
from .ledger import AsyncJob
from .result import PlayResult, TaskFailure
from .runner import PlaybookRunner
from .targets import HostPool, Target

try:  # single source: `version` in pyproject.toml, read from the installed metadata
    __version__: str = importlib.metadata.version("pytest-asyncplay")
except importlib.metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AsyncJob",
    "AsyncplayError",
    "CommandLineError",
    "DockerUnavailableError",
    "FaultError",
    "FaultRecord",
    "Finding",
    "HostPool",
    "HostStartError",
    "ImageBuildError",
    "InventoryError",
    "PlayResult",
    "PlaybookNotFoundError",
    "PlaybookRunner",
    "PlaybookSyntaxError",
    "RelayError",
    "ReportMergeError",
    "Target",
    "TaskFailure",
    "__version__",
    "after",
    "assert_all_jobs_reaped",
    "assert_no_swallowed_failures",
    "assert_play_failed",
    "assert_play_ok",
    "discover",
    "drop_connection",
    "job_launched",
    "job_polled",
    "kill_job",
    "lint",
    "restart_host",
    "slow_job",
    "task_end",
    "task_start",
    "vanish_job",
]
