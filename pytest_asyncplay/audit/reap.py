"""The dynamic reap audit, without pytest: a clean baseline per playbook, then one faulted run per
fire-and-forget task (per loop item), passing only if the fault fails the play.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..faults import Fault, FaultRecord, kill_job, slow_job, vanish_job
from ..ledger import UNKNOWN_HINT
from ..result import PlayResult, TaskFailure
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


def _hit_since(records: Sequence[FaultRecord]) -> dict[str, float]:
    """For each host the fault hit: when it first applied there (seconds after the play started)."""
    since: dict[str, float] = {}
    for record in records:
        if record.applied and record.host and record.at is not None:
            since[record.host] = min(record.at, since.get(record.host, record.at))
    return since


def caused_by_fault(failure: TaskFailure, records: Sequence[FaultRecord]) -> bool:
    """Whether a counted failure may be the fault's doing: on a host the fault hit, seen after it applied there.

    A failure before the fault, or on another host, cannot be (a failure without a time is never taken). Nor
    can an unreachable host: the audit's faults (kill, vanish, freeze) act on the job's processes, never on
    SSH, so a host that stops answering (a loaded controller's SSH timeout) is not the job's failure surfacing.
    """
    if failure.unreachable:
        return False
    at = _hit_since(records).get(failure.host)
    return at is not None and failure.at is not None and failure.at >= at


def fails_the_play(failure: TaskFailure, rescuable: Collection[str]) -> bool:
    """Whether a counted failure (not ignored) fails its host for sure: unreachable, or no ``rescue`` may catch it."""
    return failure.unreachable or failure.task_path not in rescuable


def stops_probe(failure: TaskFailure, records: Sequence[FaultRecord], rescuable: Collection[str]) -> bool:
    """Whether the probe may end the play early at this failure: it fails the play, and the fault caused it.

    Anything else (an ignored failure never gets here; a failure a rescue may catch; a failure before the
    fault or on another host) lets the play run to its end, where ``judge`` decides by rc.
    """
    return fails_the_play(failure, rescuable) and caused_by_fault(failure, records)


def _stops(failure: TaskFailure, fault: Fault, rescuable: Collection[str]) -> bool:
    """``stops_probe`` with the fault's records as they are now (``Fault.start`` gives it a fresh list)."""
    return stops_probe(failure, fault.records, rescuable)


def judge(result: PlayResult, rescuable: Collection[str] = frozenset()) -> tuple[str, str]:
    """The verdict of one faulted run and why: ``surfaced``, ``swallowed`` or ``not-proven``.

    ``surfaced`` iff the play failed (rc != 0) and a counted failure came after the fault on a host it hit,
    and that failure failed the play: no rescue may catch it, or its host ended the play failed, or no
    other failure in the play could have failed it (a rescue that still fails the host, ansible/ansible#83447).
    A play that failed only for other reasons (before the fault, on another host) is ``not-proven``, and so is
    a run with a job whose outcome is ``unknown`` (its job file could not be read): what the run proves is not known.
    """
    applied = [r for r in result.faults if r.applied]
    if not applied:
        why = "; ".join(str(r) for r in result.faults) or "no fault record"
        earlier = _listing(result.failures)
        return "not-proven", f"the fault never applied: {why}" + (f"; the play had failed first: {earlier}"
                                                                      if earlier else "")
    unknown = result.unknown_jobs
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        return "not-proven", (f"the outcome of {unknown[0].describe()}{more} is unknown, so the run proves nothing; "
                              f"Hint: {UNKNOWN_HINT}")
    if result.timed_out:
        return "not-proven", f"the play hung and was stopped at its timeout (rc={result.rc})"
    if result.ok:
        return "swallowed", f"the play still finished rc={result.rc}"
    caused = [f for f in result.failures if caused_by_fault(f, result.faults)]
    bad_hosts = result.failed_hosts  # not unreachable_hosts: a job fault never makes a host unreachable
    decisive = [f for f in caused if fails_the_play(f, rescuable) or f.host in bad_hosts]
    if not decisive and caused and len(caused) == len(result.failures):
        decisive = caused
    if decisive:
        return "surfaced", f"the play failed (rc={result.rc}) at {decisive[0]}"
    others = _listing(result.failures) or "no failed task was reported"
    hosts = ", ".join(sorted(_hit_since(result.faults)))
    caught = " (a rescue caught what came after the fault)" if caused else ""
    return "not-proven", (f"the play failed (rc={result.rc}), but not because of the fault on {hosts}{caught}: "
                          f"{others}")


def _listing(failures: Sequence[TaskFailure], limit: int = 3) -> str:
    text = "; ".join(str(f) for f in failures[:limit])
    return text + (f" (and {len(failures) - limit} more)" if len(failures) > limit else "")


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

    def cached_baseline(self, playbook: Path) -> Optional[Baseline]:
        """The clean run of ``playbook`` if it has been run (never runs it)."""
        return self._baselines.get(playbook)

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
        runs, hosts, first = [], "", ""
        for index in items:
            item = None if index < 0 else index
            fault = fault_for(kind, task, item, occurrence)
            result = self._runner_for().run(
                task.playbook, faults=[fault],
                stop_on_failure=functools.partial(_stops, fault=fault, rescuable=rescuable),
            )
            runs.append(result)
            label = f" (loop item {item})" if item is not None else ""
            verdict, why = judge(result, rescuable)
            hosts = ", ".join(sorted({r.host or "?" for r in result.faults if r.applied}))
            first = first or why
            if verdict == "not-proven":
                return Probe(task, kind, verdict, f'not proven: "{task.node_name}"{label} ({where}): {why}', runs)
            if verdict == "swallowed":
                applied = {r.jid for r in result.faults if r.applied}
                jobs = [j for j in result.jobs if j.jid in applied]
                job_file = jobs[0].job_file if jobs else "<unknown>"
                return Probe(task, kind, "swallowed",
                             f'swallowed: the job of "{task.node_name}"{label} ({where}) {VERBS[kind]} on {hosts} '
                             f"and {why}; the job file said {job_file}", runs)
        loops = f"; the play failed in each of {len(runs)} loop runs" if len(runs) > 1 else ""
        message = f'surfaced: the job of "{task.node_name}" ({where}) {VERBS[kind]} on {hosts} and {first}{loops}'
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
