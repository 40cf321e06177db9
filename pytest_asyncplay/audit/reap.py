"""The dynamic reap audit, without pytest: each fire-and-forget task's job (each loop item's) gets a fault,
and the probe passes only if the fault fails the play.

Two ways to play the probes:

- **parallel** (the default): one play per playbook on one clean host (the baseline) and one host per probe.
  Ansible plays every host side by side and a failed host drops out alone, so each host is its own
  experiment, judged on what happened on that host alone. A loop task's items are known from a clean run:
  its probes go into a second play. Past ``probe_hosts`` hosts, the probes go into more plays.
- **isolated**: a clean baseline run per playbook, then one run per probe. Used when the hosts of a play are
  not independent (``coupling.first_coupling``), and when asked for.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from ..faults import Fault, FaultRecord, kill_job, slow_job, vanish_job
from ..ledger import UNKNOWN_HINT
from ..result import PlayResult, TaskFailure
from ..runner import PlaybookRunner, find_ansible_cfg
from ..versions import watchdog_step
from .coupling import first_coupling
from .discover import AsyncTask, Playbook, tasks_from

FAULT_KINDS = ("killed", "vanished", "slow")
#: How the audit plays its probes (``--asyncplay-probes``): all of a playbook's probes in one play, or one play each.
PROBE_MODES = ("parallel", "isolated")
#: Hosts per parallel play, the clean one included (``--asyncplay-probe-hosts``).
DEFAULT_PROBE_HOSTS = 16
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
    #: ``parallel`` (judged on its own host of a shared play) or ``isolated`` (a play of its own).
    mode: str = "isolated"
    #: Why the probe ran isolated (empty in parallel mode).
    mode_why: str = ""

    @property
    def passed(self) -> bool:
        """Whether the faulted job failed the play in every run."""
        return self.verdict == "surfaced"


def fault_for(kind: str, task: AsyncTask, item: Optional[int], occurrence: int = 0,
              host: Optional[str] = None) -> Fault:
    """The fault an audit item of ``kind`` injects into ``task``'s job (loop ``item``, ``occurrence``-th run),
    on ``host`` (default: every host)."""
    where = f"{task.file}:{task.line}"
    if kind == "killed":
        return kill_job(where, host=host, item=item, occurrence=occurrence)
    if kind == "vanished":
        return vanish_job(where, host=host, item=item, occurrence=occurrence)
    if kind == "slow":
        seconds = float(task.async_timeout) if isinstance(task.async_timeout, int) else 60.0
        return slow_job(where, seconds + watchdog_step(int(seconds)) + SLOW_MARGIN, host=host, item=item,
                        occurrence=occurrence)
    raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")


LATE_REPLAYS = 2
"""How many more times an isolated probe is played when its fault landed after the reap's last look (a loaded
controller): each such run tested another moment, so it proves nothing either way, and is played again."""

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
    ``swallowed`` needs a green play in which the reap (if any) looked at the job after the fault took effect:
    a fault that landed after the last look (a loaded controller) tested a later moment (``late_faults``).
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
        late = late_faults(result)
        if late:
            record, look = late[0]
            return "not-proven", (f"{record.fault} took effect at +{effect_at(record):.2f}s on {record.host}, after "
                                  f"the last look at job {record.jid} began (+{look:.2f}s): the reap never had "
                                  "the chance to see it, so the run tested a later moment than the one asked for")
        return "swallowed", f"the play still finished rc={result.rc}"
    caused = [f for f in result.failures if caused_by_fault(f, result.faults)]
    decisive = decisive_failures(result, rescuable)
    if decisive:
        return "surfaced", f"the play failed (rc={result.rc}) at {decisive[0]}"
    others = _listing(result.failures) or "no failed task was reported"
    hosts = ", ".join(sorted(_hit_since(result.faults)))
    caught = " (a rescue caught what came after the fault)" if caused else ""
    return "not-proven", (f"the play failed (rc={result.rc}), but not because of the fault on {hosts}{caught}: "
                          f"{others}")


def effect_at(record: FaultRecord) -> float:
    """When a fault's action was over, on the faults clock: its moment plus what the action took."""
    return (record.at or 0.0) + (record.took or 0.0)


def late_faults(result: PlayResult) -> list[tuple[FaultRecord, float]]:
    """Applied faults on a job that a reap looked at, but only before the fault took effect, each with the
    start of the last look: a green play then says nothing about whether the reap would have seen the fault.

    A job no reap ever looked at is not late: nothing would have seen it at any moment. Nor is one a reap saw
    finished: the fault applied to a live job, so the end the reap saw came after it. ``effect_at`` is when the
    fault's action returned, a bound from above: a look that began earlier may still have come after the signal.
    """
    late = []
    for record in result.faults:
        if not (record.applied and record.jid and record.at is not None):
            continue
        looks = result.reap_looks(record.jid)
        if looks and not any(finished for _, finished in looks):
            last = max(began for began, _ in looks)
            if last < effect_at(record):
                late.append((record, last))
    return late


def decisive_failures(result: PlayResult, rescuable: Collection[str] = frozenset()) -> list[TaskFailure]:
    """The failures ``judge`` takes as the fault's surfacing: after the fault on a host it hit, and failing the
    play (no rescue may catch it, its host ended failed, or no other failure could have failed it)."""
    caused = [f for f in result.failures if caused_by_fault(f, result.faults)]
    bad_hosts = result.failed_hosts  # not unreachable_hosts: a job fault never makes a host unreachable
    decisive = [f for f in caused if fails_the_play(f, rescuable) or f.host in bad_hosts]
    if not decisive and caused and len(caused) == len(result.failures):
        decisive = caused
    return decisive


def at_the_reap(result: PlayResult, rescuable: Collection[str] = frozenset()) -> bool:
    """Whether a decisive failure is a reap of a job the fault hit (``async_status`` answering for its jid)."""
    hit = {r.jid for r in result.faults if r.applied and r.jid}
    return any(f.jid in hit for f in decisive_failures(result, rescuable))


def _listing(failures: Sequence[TaskFailure], limit: int = 3) -> str:
    text = "; ".join(str(f) for f in failures[:limit])
    return text + (f" (and {len(failures) - limit} more)" if len(failures) > limit else "")


@dataclass(frozen=True)
class _Unit:
    """One probe of a parallel play: a fault of ``kind`` in one run (``occurrence``) of a task, one loop item."""

    task: AsyncTask
    kind: str
    item: Optional[int]
    occurrence: int
    rescuable: frozenset[str]


@dataclass
class _Outcome:
    """What one parallel unit's host lived: its verdict and why, and the play as its host and the clean one saw it."""

    verdict: str
    why: str
    view: PlayResult
    hosts: str


class ReapAuditor:
    """Runs baselines and probes: in one play per playbook on hosts from ``hosts_for(n)`` (parallel), or one
    play per probe on hosts from ``runner_for()`` (isolated: when ``hosts_for`` is None, ``isolated_why`` says why;
    and for a playbook whose hosts are not independent)."""

    def __init__(self, runner_for: Callable[[], PlaybookRunner], rootdir: Path,
                 hosts_for: Optional[Callable[[int], PlaybookRunner]] = None,
                 probe_hosts: int = DEFAULT_PROBE_HOSTS, isolated_why: str = "") -> None:
        if probe_hosts < 2:
            raise ValueError(f"probe_hosts={probe_hosts}: a parallel play needs the clean host and one probe host")
        self._runner_for = runner_for
        self._hosts_for = hosts_for
        self.rootdir = rootdir
        self.probe_hosts = probe_hosts
        self.isolated_why = isolated_why if hosts_for is None else ""
        self._baselines: dict[Path, Baseline] = {}
        self._parallel: dict[tuple[AsyncTask, str], Probe] = {}
        self._coupled: dict[Path, str] = {}
        self._plays: dict[Path, tuple[Path, dict[str, str]]] = {}
        self._clean_failed: dict[Path, PlayResult] = {}
        self._folder: Optional[tempfile.TemporaryDirectory[str]] = None

    def register(self, playbook: Playbook) -> None:
        """Know how to play ``playbook``: as it is, or, for a role no playbook reaches, as ``hosts: all`` +
        ``roles: [the role]`` would, and for a role's task file that nothing includes, as ``include_role`` with its
        ``tasks_from`` would (a playbook written to a temporary folder, never into the repo, played with the
        ``ansible.cfg`` Ansible would use in the role's folder), as the lint analyses it."""
        if playbook.path in self._plays:
            return
        if playbook.kind not in ("role", "role-tasks") or playbook.role_dir is None:
            self._plays[playbook.path] = (playbook.path, {})
            return
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="asyncplay-roles-")
        role = playbook.role_dir.resolve()
        path = Path(self._folder.name) / f"{len(self._plays)}-{role.name}.yml"
        if playbook.kind == "role":
            play: dict[str, Any] = {"name": f"the role {role.name}, which no playbook plays", "hosts": "all",
                                    "roles": [str(role)]}
        else:
            entry = tasks_from(playbook.path, role)
            play = {"name": f"{entry} of the role {role.name}, which nothing in the repo includes", "hosts": "all",
                    "tasks": [{"ansible.builtin.include_role": {"name": str(role), "tasks_from": entry}}]}
        path.write_text(yaml.safe_dump([play], sort_keys=False))
        cfg = find_ansible_cfg(role, self.rootdir)
        self._plays[playbook.path] = (path, {"ANSIBLE_CONFIG": str(cfg)} if cfg else {})

    def play_of(self, playbook: Path) -> tuple[Path, dict[str, str]]:
        """The playbook file to run for ``playbook`` (as discovered), and the environment to run it in."""
        return self._plays.get(playbook, (playbook, {}))

    def baseline(self, playbook: Path) -> Baseline:
        """The clean run of ``playbook`` (run once, then cached; a parallel play's clean host is one too)."""
        if playbook not in self._baselines:
            path, env = self.play_of(playbook)
            self._baselines[playbook] = Baseline(playbook, self._runner_for().run(path, env=env))
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

    # -- which mode ------------------------------------------------------------------------------------
    def isolated_because(self, playbook: Optional[Playbook]) -> str:
        """Why ``playbook``'s probes each get a play of their own (empty: they share one, in parallel)."""
        if self.isolated_why or self._hosts_for is None:
            return self.isolated_why or "isolated probes were asked for"
        if playbook is None:
            return "the playbook was not discovered, so the audit cannot tell whether its hosts are independent"
        if playbook.path not in self._coupled:
            coupling = first_coupling(playbook)
            self._coupled[playbook.path] = (
                "" if coupling is None else
                f"a host's outcome can depend on another host's: {coupling.describe(self.rootdir)}")
        return self._coupled[playbook.path]

    def prepare(self, playbook: Playbook, wanted: Sequence[tuple[AsyncTask, str]]) -> None:
        """Play every probe in ``wanted`` (task, kind) that ``playbook`` has not played yet, in parallel, and keep
        the clean host's run as the playbook's baseline. Does nothing for a playbook probed isolated."""
        self.register(playbook)
        if self.isolated_because(playbook):
            return
        todo = list(dict.fromkeys(w for w in wanted if w not in self._parallel))
        if todo:
            self._play_parallel(playbook, todo)
        failed = self._clean_failed.get(playbook.path)
        if failed is not None:  # maybe the shared play's load (a tight async:): the isolated plays decide
            self._coupled[playbook.path] = (f"the clean host failed in the parallel play (rc={failed.rc}: "
                                            f"{_listing(failed.failures, 1) or 'no failed task reported'}), so "
                                            "the playbook was played again with one probe per play")
            self._baselines.pop(playbook.path, None)
            for key in [k for k in self._parallel if k[0].playbook == playbook.path]:
                del self._parallel[key]

    def verdict(self, task: AsyncTask, kind: str, playbook: Optional[Playbook] = None,
                wanted: Sequence[tuple[AsyncTask, str]] = ()) -> Probe:
        """The probe of ``kind`` on ``task``: read off its host of the playbook's parallel play (playing it, with
        every probe of ``wanted``, when it has not been played yet), or ``probe`` in a play of its own."""
        if playbook is not None and (task, kind) not in self._parallel:
            self.prepare(playbook, [*wanted, (task, kind)])  # isolated (or sent there by a failed clean host): no-op
        why = self.isolated_because(playbook)
        if why:
            found = self.probe(task, kind, playbook)
            found.mode_why = why
            return found
        return self._parallel[(task, kind)]

    # -- isolated --------------------------------------------------------------------------------------
    def probe(self, task: AsyncTask, kind: str, playbook: Optional[Playbook] = None) -> Probe:
        """Inject ``kind`` into the task's job in a play of its own (each loop item in turn); surfaced iff every
        run fails.

        With the task's ``playbook`` (as discovered) the probe knows which run of a repeated
        ``file:line`` the task is, and which failures a ``rescue`` may still catch.
        """
        base = self.baseline(task.playbook)
        where = self._where(task)
        occurrence, rescuable = _context(task, playbook)
        items = base.jobs_of(task, occurrence)
        if not items:
            return Probe(task, kind, "not-proven", _no_job(task, where))
        outcomes: list[tuple[Optional[int], _Outcome]] = []
        runs = []
        for index in items:
            item = None if index < 0 else index
            attempt = -1
            while attempt < LATE_REPLAYS:  # a fault that landed after the reap's last look: play it again
                attempt += 1
                fault = fault_for(kind, task, item, occurrence)
                path, env = self.play_of(task.playbook)
                result = self._runner_for().run(
                    path, faults=[fault], env=env,
                    stop_on_failure=functools.partial(_stops, fault=fault, rescuable=rescuable),
                )
                verdict, why = judge(result, rescuable)
                if not (verdict == "not-proven" and result.ok and late_faults(result)):
                    break
            if attempt:
                why += (f" (played {attempt + 1} times: in the first {attempt}, the fault landed after the reap's "
                        "last look)" if verdict != "not-proven" else f" (each of {attempt + 1} plays)")
            runs.append(result)
            hosts = _applied_on(result.faults)
            outcomes.append((item, _Outcome(verdict, why, result, hosts)))
            if verdict != "surfaced":
                break
        return _probe_of(task, kind, where, outcomes, runs, "isolated")

    # -- parallel --------------------------------------------------------------------------------------
    def _play_parallel(self, playbook: Playbook, wanted: Sequence[tuple[AsyncTask, str]]) -> None:
        """One play for every probe whose loop items can be told before the play (no loop, a literal list), then
        one for the items the clean host showed that were not probed; each probe's verdict from its own host."""
        context = {(task, kind): _context(task, playbook) for task, kind in wanted}

        def unit(task: AsyncTask, kind: str, item: Optional[int]) -> _Unit:
            occurrence, rescuable = context[(task, kind)]
            return _Unit(task, kind, item, occurrence, rescuable)

        guessed = [unit(task, kind, item) for task, kind in wanted for item in _items_before_play(task)]
        done: dict[_Unit, _Outcome] = self._play_units(playbook.path, guessed)
        base = self._baselines[playbook.path]
        shown = {(task, kind): [None if i < 0 else i for i in base.jobs_of(task, context[(task, kind)][0])]
                 for task, kind in wanted}
        if base.ok:  # a failed clean run: every item ends without a verdict (NoVerdict), as in isolated mode
            missing = [unit(task, kind, item) for (task, kind), items in shown.items() for item in items
                       if unit(task, kind, item) not in done]
            if missing:
                done.update(self._play_units(playbook.path, missing))
        for (task, kind), items in shown.items():
            where = self._where(task)
            if not items:
                self._parallel[(task, kind)] = Probe(task, kind, "not-proven", _no_job(task, where), mode="parallel")
                continue
            outcomes = [(item, done[unit(task, kind, item)]) for item in items if unit(task, kind, item) in done]
            # a shared play's load can fail a task by itself (a tight async:, a timeout): a verdict that rests on
            # anything but the job's own reap failing, or the host ending ok, is played again on its own
            doubt = next((o for _, o in outcomes if o.verdict in ("indirect", "paced", "not-proven")), None)
            if doubt is not None and base.ok:
                confirmed = self.probe(task, kind, playbook)
                confirmed.mode_why = "confirmed in a play of its own: in the parallel play " + (
                    f"what failed {doubt.hosts} was not a reap of its job ({doubt.why})" if doubt.verdict == "indirect"
                    else f"its reap looked late, paced by another probe ({doubt.why})" if doubt.verdict == "paced"
                    else f"it was not proven ({doubt.why})")
                self._parallel[(task, kind)] = confirmed
                continue
            first_bad = next((i for i, (_, o) in enumerate(outcomes) if o.verdict != "surfaced"), len(outcomes))
            outcomes = outcomes[:first_bad + 1]  # as an isolated probe stops at its first run that does not surface
            self._parallel[(task, kind)] = _probe_of(task, kind, where, outcomes, [o.view for _, o in outcomes],
                                                     "parallel")

    def _play_units(self, playbook: Path, units: Sequence[_Unit]) -> dict[_Unit, _Outcome]:
        """Play ``units`` (at most ``probe_hosts - 1`` per play) beside a clean host; the clean host of the first
        play becomes the playbook's baseline. Without units, one play on the clean host alone."""
        outcomes: dict[_Unit, _Outcome] = {}
        size = self.probe_hosts - 1
        chunks = [list(units[i:i + size]) for i in range(0, len(units), size)] or [[]]
        assert self._hosts_for is not None
        for chunk in chunks:
            runner = self._hosts_for(len(chunk) + 1)
            clean, probe_hosts = runner.targets[0].name, [t.name for t in runner.targets[1:len(chunk) + 1]]
            faults = [fault_for(u.kind, u.task, u.item, u.occurrence, host=h) for u, h in zip(chunk, probe_hosts)]
            path, env = self.play_of(playbook)
            result = runner.run(path, faults=faults, env={**env, "ANSIBLE_FORKS": str(len(chunk) + 1)})
            base = Baseline(playbook, result.for_hosts([clean], faults=[]))
            self._baselines.setdefault(playbook, base)
            if not base.ok:
                self._clean_failed.setdefault(playbook, base.result)
            for unit, fault, host in zip(chunk, faults, probe_hosts):
                view = result.for_hosts([clean, host], faults=fault.records)
                if base.ok:
                    own = result.for_hosts([host], faults=fault.records)
                    verdict, why = judge(own, unit.rescuable)
                    if verdict == "surfaced" and not at_the_reap(own, unit.rescuable):
                        verdict = "indirect"  # confirmed in a play of its own (``_play_parallel``)
                    elif verdict == "surfaced":
                        verdict, why = paced_by_peers(result, host, clean, probe_hosts, own, unit.kind,
                                                       unit.rescuable, fault.records, why)
                else:
                    verdict, why = "not-proven", (f"the clean host {clean} failed in the same play "
                                                  f"(rc={base.result.rc}), so the fault could not be told apart")
                applied = _applied_on(fault.records)
                outcomes[unit] = _Outcome(verdict, why, view, applied)
        return outcomes

    def _where(self, task: AsyncTask) -> str:
        """``file:line`` of the task, relative to the rootdir."""
        try:
            return f"{task.file.relative_to(self.rootdir)}:{task.line}"
        except ValueError:
            return f"{task.file}:{task.line}"


def paced_by_peers(result: PlayResult, host: str, clean: str, probe_hosts: Sequence[str], own: PlayResult,
                    kind: str, rescuable: Collection[str], records: Sequence[FaultRecord],
                    why: str) -> tuple[str, str]:
    """``("paced", why)`` when ``host`` waited on another probe's host before its reap surfaced the fault (a peer
    whose own fault kept its reap retrying): the reap then looked later than it would have alone, and a look
    that sees a job time out or fail depends on when it looks. A look after a lasting fault (``LASTING_KINDS``)
    that would have come after its effect alone too saw the same job either way. Otherwise the verdict stands."""
    decisive = decisive_failures(own, rescuable)
    before = min((f.at for f in decisive if f.at is not None), default=None)
    peers = [h for h in probe_hosts if h != host]
    wait = result.waited_on(host, peers, pace=[clean], before=before)
    if wait is None or (kind in LASTING_KINDS and _looked_after_it_anyway(result, host, peers, clean, records,
                                                                              before)):
        return "surfaced", why
    task, peer, seconds = wait
    return "paced", f'{host} waited {seconds:.1f}s for {peer} to end "{task}" before its reap failed'


LASTING_KINDS = ("killed", "vanished")
"""Faults whose effect lasts: once a job was killed or its file removed, every later look sees the same."""


def _looked_after_it_anyway(result: PlayResult, host: str, peers: Sequence[str], clean: str,
                            records: Sequence[FaultRecord], before: Optional[float]) -> bool:
    """Whether a reap look on ``host`` that began after a lasting fault took effect would have begun after it
    alone too: its waits on ``peers`` since the fault's moment taken away, it still comes after the effect.
    A wait before the moment moved the moment as much as the look (both are the host's own events)."""
    applied = [r for r in records if r.applied and r.host == host and r.at is not None and r.jid]
    if not applied:
        return False
    moment = min(r.at for r in applied if r.at is not None)
    effect = max(effect_at(r) for r in applied)
    looks = [began for jid in {r.jid for r in applied if r.jid} for began, _ in result.reap_looks(jid)
             if began >= effect and (before is None or began <= before)]
    if not looks:
        return False
    first = min(looks)
    return first - result.time_waited(host, peers, pace=[clean], after=moment, before=first) >= effect


def _items_before_play(task: AsyncTask) -> list[Optional[int]]:
    """The loop items a task's probes can be planned for before the play: none for a task without a loop, each
    index of a literal ``loop:``/``with_items:`` list of plain values; nothing (wait for the clean host) else."""
    if not task.loop:
        return [None]
    for key in ("loop", "with_items"):
        value = task.keywords.get(key)
        if isinstance(value, list) and value and not any(
                isinstance(v, (list, dict)) or (isinstance(v, str) and ("{{" in v or "{%" in v)) for v in value):
            return list(range(len(value)))
    return []


def _applied_on(records: Sequence[FaultRecord]) -> str:
    """The hosts where a fault applied, for a verdict's message."""
    return ", ".join(sorted({r.host or "?" for r in records if r.applied}))


def _no_job(task: AsyncTask, where: str) -> str:
    return (f'not proven: "{task.node_name}" ({where}) launched no job in the clean run '
            "(skipped by a when:, a tag or an earlier failure?), so no fault could be injected")


def _probe_of(task: AsyncTask, kind: str, where: str, outcomes: Sequence[tuple[Optional[int], _Outcome]],
              runs: list[PlayResult], mode: str) -> Probe:
    """The probe's verdict from its runs' outcomes, in item order: the first that does not surface decides."""
    for item, outcome in outcomes:
        label = f" (loop item {item})" if item is not None else ""
        if outcome.verdict == "not-proven":
            return Probe(task, kind, "not-proven", f'not proven: "{task.node_name}"{label} ({where}): {outcome.why}',
                         runs, mode)
        if outcome.verdict == "swallowed":
            result = outcome.view
            applied = {r.jid for r in result.faults if r.applied}
            jobs = [j for j in result.jobs if j.jid in applied]
            job_file = jobs[0].job_file if jobs else "<unknown>"
            return Probe(task, kind, "swallowed",
                         f'swallowed: the job of "{task.node_name}"{label} ({where}) {VERBS[kind]} on '
                         f"{outcome.hosts} and {outcome.why}; the job file said {job_file}", runs, mode)
    hosts = ", ".join(dict.fromkeys(o.hosts for _, o in outcomes))
    loops = f"; the play failed in each of {len(outcomes)} loop runs" if len(outcomes) > 1 else ""
    first = outcomes[0][1].why if outcomes else ""
    return Probe(task, kind, "surfaced",
                 f'surfaced: the job of "{task.node_name}" ({where}) {VERBS[kind]} on {hosts} and {first}{loops}',
                 runs, mode)


def _context(task: AsyncTask, playbook: Optional[Playbook]) -> tuple[int, frozenset[str]]:
    """Which run of its ``file:line`` the task is, and the task paths whose failure a rescue may catch."""
    if playbook is None:
        return 0, frozenset()
    index = playbook.tasks.index(task) if task in playbook.tasks else 0
    occurrence = sum(1 for t in playbook.tasks[:index] if (t.file, t.line) == (task.file, task.line))
    rescuable = frozenset(f"{t.file}:{t.line}" for t in playbook.all_tasks
                          if any(b.has_rescue and b.part == "block" for b in t.blocks))
    return occurrence, rescuable
