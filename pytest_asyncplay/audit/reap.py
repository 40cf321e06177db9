"""The dynamic reap audit, without pytest: a clean baseline per playbook, then one faulted run per
fire-and-forget task (per loop item), passing only if the fault fails the play.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..faults import Fault, kill_job, slow_job, vanish_job
from ..result import PlayResult
from ..runner import PlaybookRunner
from ..versions import watchdog_step
from .discover import AsyncTask, Playbook

FAULT_KINDS = ("killed", "vanished", "slow")
#: Seconds past ``async:`` a ``[slow]`` freeze lasts, on top of the watchdog's step.
SLOW_MARGIN = 2.0


@dataclass
class Baseline:
    """The clean run of one playbook, shared by all of its audit items."""

    playbook: Path
    result: PlayResult

    @property
    def ok(self) -> bool:
        """Whether the clean run passed (otherwise the playbook's items get no verdict)."""
        return self.result.ok

    def jobs_of(self, task: AsyncTask, occurrence: int = 0) -> list[int]:
        """The loop indexes (``-1`` for no loop) the task's jobs had on the first host, in its
        ``occurrence``-th run (a task file or role the play runs twice has two runs of one ``file:line``)."""
        where = f"{task.file}:{task.line}"
        jobs = [j for j in self.result.jobs if j.task_path == where]
        runs = list(dict.fromkeys(j.task_uuid for j in jobs))
        if occurrence >= len(runs):
            return []
        jobs = [j for j in jobs if j.task_uuid == runs[occurrence]]
        hosts = sorted({j.host for j in jobs})
        return [j.item if j.item is not None else -1 for j in jobs if j.host == hosts[0]] if hosts else []

    def runtime_of(self, task: AsyncTask) -> Optional[float]:
        """The longest runtime the task's jobs had in the clean run."""
        where = f"{task.file}:{task.line}"
        times = [j.runtime for j in self.result.jobs if j.task_path == where and j.runtime is not None]
        return max(times) if times else None


@dataclass
class Probe:
    """The verdict of one audit item: ``surfaced`` (pass), ``swallowed`` or ``not-proven`` (fail)."""

    task: AsyncTask
    kind: str
    verdict: str
    message: str
    runs: list[PlayResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the faulted job failed the play in every run."""
        return self.verdict == "surfaced"


def fault_for(kind: str, task: AsyncTask, item: Optional[int], occurrence: int = 0) -> Fault:
    """The fault an audit item of ``kind`` injects into ``task``'s job (loop ``item``, ``occurrence``-th run)."""
    where = f"{task.file}:{task.line}"
    if kind == "killed":
        return kill_job(where, item=item, occurrence=occurrence)
    if kind == "vanished":
        return vanish_job(where, item=item, occurrence=occurrence)
    if kind == "slow":
        seconds = float(task.async_timeout) if isinstance(task.async_timeout, int) else 60.0
        return slow_job(where, seconds + watchdog_step(int(seconds)) + SLOW_MARGIN, item=item,
                        occurrence=occurrence)
    raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")


VERBS = {"killed": "was killed", "vanished": "vanished (runner killed)", "slow": "was frozen past its async:"}


class ReapAuditor:
    """Runs baselines (once per playbook) and probes, on hosts handed out by ``runner_for``."""

    def __init__(self, runner_for: Callable[[], PlaybookRunner], rootdir: Path) -> None:
        self._runner_for = runner_for
        self.rootdir = rootdir
        self._baselines: dict[Path, Baseline] = {}

    def baseline(self, playbook: Path) -> Baseline:
        """The clean run of ``playbook`` (run once, then cached)."""
        if playbook not in self._baselines:
            self._baselines[playbook] = Baseline(playbook, self._runner_for().run(playbook))
        return self._baselines[playbook]

    def known_runtimes(self) -> Mapping[tuple[Path, str], float]:
        """Measured runtimes of every task seen in a baseline so far, for the lint's headroom check."""
        runtimes: dict[tuple[Path, str], float] = {}
        for base in self._baselines.values():
            for job in base.result.jobs:
                if job.runtime is not None:
                    key = (base.playbook, job.task)
                    runtimes[key] = max(job.runtime, runtimes.get(key, 0.0))
        return runtimes

    def probe(self, task: AsyncTask, kind: str, playbook: Optional[Playbook] = None) -> Probe:
        """Inject ``kind`` into the task's job (each loop item in turn); surfaced iff every run fails.

        With the task's ``playbook`` (as discovered) the probe knows which run of a repeated
        ``file:line`` the task is, and which failures a ``rescue`` may still catch.
        """
        base = self.baseline(task.playbook)
        where = self._where(task)
        occurrence, rescuable = _context(task, playbook)
        items = base.jobs_of(task, occurrence)
        if not items:
            return Probe(task, kind, "not-proven",
                         f'not proven: "{task.node_name}" ({where}) launched no job in the clean run '
                         "(skipped by a when:, a tag or an earlier failure?), so no fault could be injected")
        runs, hosts = [], ""
        for index in items:
            item = None if index < 0 else index
            result = self._runner_for().run(
                task.playbook, faults=[fault_for(kind, task, item, occurrence)],
                stop_on_failure=lambda failure: failure.unreachable or failure.task_path not in rescuable,
            )
            runs.append(result)
            applied = [r for r in result.faults if r.applied]
            label = f" (loop item {item})" if item is not None else ""
            if not applied:
                why = "; ".join(str(r) for r in result.faults)
                return Probe(task, kind, "not-proven",
                             f'not proven: the fault on "{task.node_name}"{label} ({where}) never applied: {why}', runs)
            hosts = ", ".join(sorted({r.host or "?" for r in applied}))
            if result.ok:
                jobs = [j for j in result.jobs if j.jid in {r.jid for r in applied}]
                job_file = jobs[0].job_file if jobs else "<unknown>"
                return Probe(task, kind, "swallowed",
                             f'swallowed: the job of "{task.node_name}"{label} ({where}) {VERBS[kind]} on {hosts} '
                             f"and the play still finished rc={result.rc}; the job file said {job_file}", runs)
        loops = f" in each of {len(runs)} loop runs" if len(runs) > 1 else ""
        message = (f'surfaced: the job of "{task.node_name}" ({where}) {VERBS[kind]} on {hosts} '
                   f"and the play failed{loops}")
        return Probe(task, kind, "surfaced", message, runs)

    def _where(self, task: AsyncTask) -> str:
        """``file:line`` of the task, relative to the rootdir."""
        try:
            return f"{task.file.relative_to(self.rootdir)}:{task.line}"
        except ValueError:
            return f"{task.file}:{task.line}"


def _context(task: AsyncTask, playbook: Optional[Playbook]) -> tuple[int, frozenset[str]]:
    """Which run of its ``file:line`` the task is, and the task paths whose failure a rescue may catch."""
    if playbook is None:
        return 0, frozenset()
    index = playbook.tasks.index(task) if task in playbook.tasks else 0
    occurrence = sum(1 for t in playbook.tasks[:index] if (t.file, t.line) == (task.file, task.line))
    rescuable = frozenset(f"{t.file}:{t.line}" for t in playbook.all_tasks
                          if any(b.has_rescue and b.part == "block" for b in t.blocks))
    return occurrence, rescuable
