"""pytest collectors and items for ``--asyncplay-reap-audit`` and ``--asyncplay-lint``.

One ``PlaybookFile`` per playbook; under it one item per fire-and-forget task and kind:
``<playbook>::<task name>[killed]`` (also ``[vanished]``, ``[slow]``) and ``<playbook>::<task name>[lint]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import pytest

from ..errors import AsyncplayError
from .discover import AsyncTask, Playbook
from .lint import TaskVerdict, analyze
from .reap import Probe, ReapAuditor

RECORD_KEY = "asyncplay"


class AuditFailure(Exception):
    """An audit or lint verdict that fails its item; shown as its message alone, without a traceback."""


class NoVerdict(Exception):
    """The item cannot get a verdict (broken playbook, failing baseline); it errors with the reason."""


class PlaybookFile(pytest.File):
    """A playbook under an audit or lint path; collects one item per fire-and-forget task and kind."""

    playbook: Playbook
    kinds: Sequence[str]
    lint: bool

    @classmethod
    def from_playbook(cls, parent: pytest.Collector, playbook: Playbook, kinds: Sequence[str],
                      lint: bool) -> PlaybookFile:
        """A collector for ``playbook`` with the item kinds asked for on the command line."""
        node = super().from_parent(parent, path=playbook.path)
        node.playbook, node.kinds, node.lint = playbook, kinds, lint
        return node

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        verdicts = {v.task: v for v in analyze([self.playbook])}
        if not self.playbook.tasks and self.playbook.error is not None:
            yield BrokenPlaybookItem.from_parent(self, name="[broken]")
            return
        for task in self.playbook.tasks:
            if self.lint:
                yield LintItem.from_parent(self, name=f"{task.node_name}[lint]", task=task,
                                           verdict=verdicts.get(task))
            for kind in self.kinds:
                yield ReapAuditItem.from_parent(self, name=f"{task.node_name}[{kind}]", task=task, kind=kind,
                                                verdict=verdicts.get(task))


class _AuditItem(pytest.Item):
    """Shared reporting of audit and lint items."""

    task: AsyncTask

    def _repr_failure_py(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        # setup errors (no verdict) come here directly, call failures through repr_failure: for our own
        # exceptions show the message alone (it is also the summary line), never pytest's internals
        if isinstance(excinfo.value, (AuditFailure, NoVerdict, AsyncplayError)):
            style = "value"
        return super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.task.file, self.task.line - 1, self.name

    def where(self) -> str:
        """``file:line`` of the task, relative to the rootdir."""
        try:
            return f"{self.task.file.relative_to(self.config.rootpath)}:{self.task.line}"
        except ValueError:
            return f"{self.task.file}:{self.task.line}"

    def playbook_name(self) -> str:
        """The playbook path relative to the rootdir."""
        try:
            return str(self.task.playbook.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.task.playbook)

    def record(self, kind: str, verdict: str, message: str, lint: Optional[TaskVerdict], **extra: Any) -> None:
        """Leave this item's row data in its report (xdist-safe) and JUnit properties."""
        data = {
            "playbook": self.playbook_name(), "task": self.task.node_name, "where": self.where(), "kind": kind,
            "verdict": verdict, "message": message, "async_timeout": self.task.async_timeout,
            "reap_budget": lint.reap_budget_seconds if lint else None, **extra,
        }
        self.user_properties.append((RECORD_KEY, json.dumps(data, default=str)))
        self.user_properties.append(("file_line", self.where()))


class LintItem(_AuditItem):
    """Passes iff the static analysis finds a reap that fails the play when the job fails."""

    def __init__(self, *, task: AsyncTask, verdict: Optional[TaskVerdict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.verdict = task, verdict

    def runtest(self) -> None:
        error = self.parent.playbook.error if isinstance(self.parent, PlaybookFile) else None
        if error is not None:
            self.record("lint", "error", str(error), self.verdict)
            raise NoVerdict(str(error))
        verdict = self.verdict
        if verdict is None:
            raise NoVerdict(f"no lint verdict for {self.task.node_name}")
        findings = [f"{f.message}" + (f"\n    hint: {f.hint}" if f.hint else "") for f in verdict.findings]
        kinds = ",".join(f.kind for f in verdict.findings) or "ok"
        self.record("lint", "ok" if verdict.ok else kinds, "\n".join(findings) or "ok", verdict)
        if not verdict.ok:
            raise AuditFailure("\n".join(findings))


class ReapAuditItem(_AuditItem):
    """Injects a fault into the task's job; passes iff the play fails because of it."""

    def __init__(self, *, task: AsyncTask, kind: str, verdict: Optional[TaskVerdict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.kind, self.verdict = task, kind, verdict
        self.probe: Optional[Probe] = None

    def setup(self) -> None:
        error = self.parent.playbook.error if isinstance(self.parent, PlaybookFile) else None
        if error is not None:
            self.record(self.kind, "error", str(error), self.verdict)
            raise NoVerdict(f"no verdict: the playbook cannot be read:\n{error}")
        auditor: ReapAuditor = self.config.stash[AUDITOR_KEY]
        try:
            base = auditor.baseline(self.task.playbook)
        except AsyncplayError as exc:
            self.record(self.kind, "error", str(exc), self.verdict)
            raise
        if not base.ok:
            message = (f"no verdict: the clean run of {self.playbook_name()} failed (rc={base.result.rc}), "
                       f"so a fault could not be told apart from it\n{base.result.summary()}")
            self.record(self.kind, "error", message.splitlines()[0], self.verdict)
            raise NoVerdict(message)

    def runtest(self) -> None:
        auditor: ReapAuditor = self.config.stash[AUDITOR_KEY]
        base = auditor.baseline(self.task.playbook)
        playbook = self.parent.playbook if isinstance(self.parent, PlaybookFile) else None
        probe = self.probe = auditor.probe(self.task, self.kind, playbook)
        runtime = base.runtime_of(self.task)
        if playbook is not None and runtime is not None:  # the lint again, now with the measured runtime
            measured = analyze([playbook], runtimes={(self.task.playbook, self.task.name): runtime})
            self.verdict = next((v for v in measured if v.task == self.task), self.verdict)
        headroom = (self.task.async_timeout / runtime
                    if runtime and isinstance(self.task.async_timeout, int) else None)
        jids = [r.jid for run in probe.runs for r in run.faults if r.jid]
        if jids:
            self.user_properties.append(("jid", ",".join(jids)))
        lint = None if self.verdict is None else ("ok" if self.verdict.ok else
                                                  ",".join(f.kind for f in self.verdict.findings))
        self.record(self.kind, probe.verdict, probe.message, self.verdict, runtime=runtime, headroom=headroom,
                    lint_verdict=lint)
        if not probe.passed:
            raise AuditFailure(probe.message)


class BrokenPlaybookItem(pytest.Item):
    """Stands for a playbook that could not be read at all: it fails with the reason, nothing else does."""

    def runtest(self) -> None:
        assert isinstance(self.parent, PlaybookFile)
        raise NoVerdict(str(self.parent.playbook.error))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return self._repr_failure_py(excinfo, style="value")  # the reason alone

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.path, None, self.name


AUDITOR_KEY = pytest.StashKey[ReapAuditor]()
