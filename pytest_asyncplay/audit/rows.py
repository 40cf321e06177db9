"""One row of the audit's verdict table: a fire-and-forget task with every verdict it got.

The row model alone, so that every writer of rows (``audit.report``'s tables, ``sarif``) imports it without
importing another writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from .lint import SEVERITY

DYNAMIC_KINDS = ("killed", "vanished", "slow")
PASSING = {"surfaced", "ok"}


@dataclass
class AuditRow:
    """One fire-and-forget task with every verdict it got."""

    playbook: str
    task: str
    where: str
    lint: Optional[str] = None
    dynamic: dict[str, str] = field(default_factory=dict)
    runtime: Optional[float] = None
    async_timeout: Optional[str] = None
    reap_budget: Optional[float] = None
    headroom: Optional[float] = None
    messages: list[str] = field(default_factory=list)
    severity: Optional[str] = None
    order: Optional[int] = None
    """The task's position in the session's collection (the same in every shard of a split run)."""
    probes: Optional[str] = None
    """How the audit played its probes: ``parallel`` (each on its own host of one play) or ``isolated``."""
    probes_why: Optional[str] = None
    """Why the probes ran isolated (a coupling between hosts, or the options asked for it)."""

    @property
    def lint_passed(self) -> Optional[bool]:
        """Whether the lint's verdict passes (advice does); None without a lint verdict."""
        if self.lint is None:
            return None
        return self.lint == "ok" or self.severity == "advice"

    @property
    def disagreement(self) -> bool:
        """Lint and the dynamic audit disagree on whether a failure of this job fails the play."""
        if self.lint is None or self.severity == "unknown" or "killed" not in self.dynamic:
            return False
        dynamic = self.dynamic["killed"]
        if dynamic not in ("surfaced", "swallowed"):
            return False
        return bool(self.lint_passed) != (dynamic == "surfaced")

    @property
    def passed(self) -> bool:
        """Every verdict of the row passes (lint advice passes)."""
        return all(v in PASSING for v in self.dynamic.values()) and self.lint_passed is not False


def severity_of(kinds: str) -> str:
    """The worst severity among comma-separated finding kinds: swallows, unknown, advice, or ok."""
    found = {SEVERITY.get(k, "unknown") for k in kinds.split(",") if k and k != "ok"}
    return next((s for s in ("swallows", "unknown", "advice") if s in found), "ok")


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes a row one task: playbook, ``file:line`` and task name (of a record or a JSON row)."""
    return str(row["playbook"]), str(row["where"]), str(row["task"])
