"""The reap audit: discover fire-and-forget tasks in playbooks and lint how they are reaped.

Nothing here starts a container or runs a play: discovery reads YAML (PyYAML), and the lint evaluates
templates with ansible-core's own Jinja2 filters and tests (loaded, never run against a host).
"""

from __future__ import annotations

from pytest_asyncplay.audit.discover import (
    AsyncTask,
    BlockFrame,
    Playbook,
    Task,
    discover,
    is_playbook,
    is_playbook_candidate,
)
from pytest_asyncplay.audit.lint import FINDING_KINDS, Finding, FindingKind, TaskVerdict, analyze, lint

__all__ = [
    "FINDING_KINDS",
    "AsyncTask",
    "BlockFrame",
    "Finding",
    "FindingKind",
    "Playbook",
    "Task",
    "TaskVerdict",
    "analyze",
    "discover",
    "is_playbook",
    "is_playbook_candidate",
    "lint",
]
