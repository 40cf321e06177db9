"""Fault injection: moments (when) and faults (what), small objects that react to the play's events.

A fault is declared before the play and handed to ``run(faults=[...])``. While the play runs, every
event goes to every fault; when a fault's moment comes it acts on a host through Docker (never
through the play's own SSH connections). Each fault leaves ``FaultRecord``s: whether it applied,
when (seconds after the play started), on which host and jid, and what it did. A fault whose moment
never came leaves one record with ``applied=False``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .agent import AgentError, HostAgent, start_agent
from .errors import FaultError
from .ledger import AsyncJob, event_res
from .versions import ASYNC_STATUS_ACTIONS

if TYPE_CHECKING:
    from .targets import Target

HostSelector = Union[None, str, Sequence[str]]
Action = Callable[[], list["FaultRecord"]]
log = logging.getLogger("pytest_asyncplay.faults")


@dataclass
class FaultRecord:
    """What one fault did (or why it did not) on one host."""

    fault: str
    applied: bool
    at: Optional[float]
    host: Optional[str]
    jid: Optional[str]
    detail: str
    item: Optional[int] = None
    took: Optional[float] = None  # seconds from the moment to the effect (the action's own duration)

    def __str__(self) -> str:
        state = "applied" if self.applied else "NOT applied"
        when = f" at +{self.at:.2f}s" if self.at is not None else ""
        when += f" (took {self.took * 1000:.0f} ms)" if self.took is not None else ""
        where = f" on {self.host}" if self.host else ""
        jid = f" (jid {self.jid})" if self.jid else ""
        return f"{self.fault} {state}{when}{where}{jid}: {self.detail}"


class _Lane:
    """One host's queue of fault actions, run in order on one thread (started on the first action)."""

    def __init__(self, host: str, slots: threading.BoundedSemaphore) -> None:
        self.host = host
        self.slots = slots
        self.queue: queue.Queue[Optional[Callable[[], None]]] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name=f"asyncplay-fault-{host}", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            action = self.queue.get()
            try:
                if action is None:
                    return
                with self.slots:
                    action()
            except Exception:  # actions record their own failures; this only keeps the lane alive
                log.exception("a fault action on %s raised", self.host)
            finally:
                self.queue.task_done()


class FaultContext:
    """What faults may touch during one play: the hosts, the jobs launched so far, the clock.

    Actions on hosts run off the event stream: each host has a lane that runs its actions in the order
    their moments came, lanes run side by side (at most ``workers`` actions at once), so faults for
    several hosts that reach their moment together land together and the next events are not held up.
    """

    def __init__(self, targets: Sequence[Target], jobs: Sequence[AsyncJob], workers: int = 8) -> None:
        if workers < 1:
            raise ValueError(f"FaultContext(workers={workers}): at least one worker is needed to apply faults")
        self.targets = {t.name: t for t in targets}
        self.jobs = jobs
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []
        self._slots = threading.BoundedSemaphore(workers)
        self._lanes: dict[str, _Lane] = {}
        self._at_close: list[Callable[[], None]] = []
        self._closing = False
        self._closed = False
        self._agents: dict[str, Optional[HostAgent]] = {}

    def warm(self, host: str) -> None:
        """Start ``host``'s helper (on its lane, before any action there) so the first fault needs no exec."""
        def start() -> None:
            self._agent(host)

        self.submit(host, start)

    def _agent(self, host: str) -> Optional[HostAgent]:
        if host not in self._agents:
            self._agents[host] = start_agent(self.targets[host])  # only ever on the host's own lane
        return self._agents[host]

    def hostside(self, host: str, command: str, *args: str) -> Any:
        """``Target.hostside`` through the host's kept-running helper when it answers, else one docker exec.

        Call it from the host's lane (fault actions are)."""
        agent = self._agent(host)
        if agent is not None:
            try:
                return agent.call(command, *args)
            except AgentError as exc:
                log.debug("%s; using docker exec from now on", exc)
                agent.close()
                self._agents[host] = None
        return self.targets[host].hostside(command, *args)

    def elapsed(self) -> float:
        """Seconds since the play started."""
        return time.monotonic() - self.started

    def submit(self, host: str, action: Callable[[], None]) -> None:
        """Run ``action()`` on ``host``'s lane: after the host's earlier actions, beside other hosts' actions."""
        with self.lock:
            if self._closed:  # only a bug gets here: close() lets every lane finish before it closes them
                log.warning("a fault action for %s came after the play ended; it was not run", host)
                return
            lane = self._lanes.get(host)
            if lane is None:
                lane = self._lanes[host] = _Lane(host, self._slots)
            lane.queue.put(action)

    def later(self, seconds: float, action: Callable[[], None], host: Optional[str] = None,
              at_close: bool = False) -> None:
        """Run ``action()`` ``seconds`` from now (on ``host``'s lane if given).

        When the play ends first the timer is cancelled; with ``at_close`` the action then runs at once
        instead (a frozen job is resumed, never left frozen).
        """
        fired = threading.Event()

        def fire() -> None:
            fired.set()
            if host is None:
                action()
            else:
                self.submit(host, action)

        def if_not_fired() -> None:
            if not fired.is_set():
                fire()

        with self.lock:
            closing = self._closing
            if not closing:
                timer = threading.Timer(max(0.0, seconds), fire)
                timer.daemon = True
                self.timers.append(timer)
                if at_close:
                    self._at_close.append(if_not_fired)
                timer.start()
        if closing and at_close:
            fire()

    def _wait_idle(self, deadline: float) -> None:
        with self.lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            idle = threading.Event()
            lane.queue.put(idle.set)
            if not idle.wait(max(0.0, deadline - time.monotonic())):
                log.warning("fault actions on %s were still running when the play ended", lane.host)

    def close(self, timeout: float = 30.0) -> None:
        """At the play's end: let every lane finish, cancel timers that have not fired (running what must run
        at the end instead), then stop the lanes."""
        deadline = time.monotonic() + timeout
        self._wait_idle(deadline)  # actions in flight may still arm timers (a slow_job's resume)
        with self.lock:
            self._closing = True
            timers, at_close = list(self.timers), list(self._at_close)
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer.is_alive() and timer is not threading.current_thread():
                timer.join(max(0.0, deadline - time.monotonic()))  # one that fired may be submitting its action
        for action in at_close:
            action()
        self._wait_idle(deadline)
        with self.lock:
            self._closed = True
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane.queue.put(None)
        for lane in lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
        for agent in self._agents.values():
            if agent is not None:
                agent.close()


# --------------------------------------------------------------------------------------------- moments
def task_matches(wanted: str, name: str, path: Optional[str]) -> bool:
    """Whether ``wanted`` names this task: its name, or its ``file:line`` (absolute, or a path suffix)."""
    if wanted == name:
        return True
    return bool(path) and (path == wanted or str(path).endswith("/" + wanted.lstrip("/")))


@dataclass(frozen=True)
class Moment:
    """When a fault acts. Subclasses say which events (or which clock time) they stand for."""

    def hosts_at(self, event: Mapping[str, Any], job: Optional[AsyncJob]) -> list[str]:
        """The hosts on which this event is the moment (empty: not the moment)."""
        return []

    def describe(self) -> str:
        """Words for records: "when X"."""
        return repr(self)

    def watcher(self) -> Moment:
        """What one fault watches a play's events with: the moment itself, or a fresh counter for a moment that
        counts events (``job_polled``), so that two faults given the same moment each count their own."""
        return self


@dataclass(frozen=True)
class JobLaunched(Moment):
    """When the named async task reports its jid (once per host, once per loop item)."""

    task: str

    def hosts_at(self, event: Mapping[str, Any], job: Optional[AsyncJob]) -> list[str]:
        if job is not None and task_matches(self.task, job.task, job.task_path):
            return [job.host]
        return []

    def describe(self) -> str:
        return f'job_launched("{self.task}")'


@dataclass(frozen=True)
class TaskStart(Moment):
    """When the named task starts on a host."""

    task: str

    def hosts_at(self, event: Mapping[str, Any], job: Optional[AsyncJob]) -> list[str]:
        data = event.get("event_data") or {}
        if (event.get("event") == "runner_on_start" and data.get("host")
                and task_matches(self.task, str(data.get("task", "")), data.get("task_path"))):
            return [str(data["host"])]
        return []

    def describe(self) -> str:
        return f'task_start("{self.task}")'


@dataclass(frozen=True)
class TaskEnd(Moment):
    """When the named task ends on a host (ok, failed, skipped or unreachable; a loop after its last item)."""

    task: str

    def hosts_at(self, event: Mapping[str, Any], job: Optional[AsyncJob]) -> list[str]:
        data = event.get("event_data") or {}
        if (event.get("event") in TASK_END_EVENTS and data.get("host")
                and task_matches(self.task, str(data.get("task", "")), data.get("task_path"))):
            return [str(data["host"])]
        return []

    def describe(self) -> str:
        return f'task_end("{self.task}")'


TASK_END_EVENTS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})
KEEP_ALIVE_POLLS = frozenset({"runner_on_async_poll", "runner_on_async_ok", "runner_on_async_failed"})
"""A keep-alive task's looks at its job: each poll that found it running, then the one that found it ended."""
REAP_POLLS = frozenset({"runner_retry", "runner_on_ok", "runner_on_failed", "runner_item_on_ok",
                        "runner_item_on_failed"})
"""An ``async_status`` task's answers: each ``until`` attempt that did not end it, then its last."""


@dataclass(frozen=True)
class JobPolled(Moment):
    """Right after the ``n``-th look at a job of the named task, per host and job: the ``n``-th poll of a
    keep-alive task (``poll > 0``), or the ``n``-th answer of a reap (``async_status``) to a job the task
    launched with ``poll: 0``. Counted on each fault's own ``watcher()``."""

    task: str
    n: int = 1

    def watcher(self) -> Moment:
        return _PollCounter(self)

    def describe(self) -> str:
        return f'job_polled("{self.task}", n={self.n})'


class _PollCounter(Moment):
    """One fault's count of the looks ``JobPolled`` names, per host and job, from the event stream."""

    def __init__(self, moment: JobPolled) -> None:
        self.moment = moment
        self._looks: dict[tuple[str, str], int] = {}
        self._jobs: set[str] = set()  # the jids the named task launched
        self._task_on: dict[str, tuple[str, Optional[str]]] = {}  # each host's current task, by its start

    def hosts_at(self, event: Mapping[str, Any], job: Optional[AsyncJob]) -> list[str]:
        data = event.get("event_data") or {}
        kind, host = str(event.get("event", "")), data.get("host")
        if not host:
            return []
        if kind == "runner_on_start":
            self._task_on[host] = (str(data.get("task", "")), data.get("task_path"))
            return []
        if job is not None and task_matches(self.moment.task, job.task, job.task_path):
            self._jobs.add(job.jid)
        jid = event_res(data).get("ansible_job_id")
        if not jid:
            return []
        if kind in KEEP_ALIVE_POLLS:
            name, path = ((str(data["task"]), data.get("task_path")) if data.get("task")
                          else self._task_on.get(host, ("", None)))
            looked = task_matches(self.moment.task, name, path)
        else:
            looked = kind in REAP_POLLS and data.get("task_action") in ASYNC_STATUS_ACTIONS and jid in self._jobs
        if not looked:
            return []
        key = (str(host), str(jid))
        self._looks[key] = self._looks.get(key, 0) + 1
        return [str(host)] if self._looks[key] == self.moment.n else []

    def describe(self) -> str:
        return self.moment.describe()


@dataclass(frozen=True)
class After(Moment):
    """That many seconds after the play starts (on every selected host)."""

    seconds: float

    def describe(self) -> str:
        return f"after({self.seconds:g})"


def job_launched(task: str) -> JobLaunched:
    """The moment the named async task reports its jid, per host and per loop item."""
    return JobLaunched(task)


def task_start(task: str) -> TaskStart:
    """The moment the named task starts, per host."""
    return TaskStart(task)


def task_end(task: str) -> TaskEnd:
    """The moment the named task ends, per host (after its last loop item)."""
    return TaskEnd(task)


def job_polled(task: str, n: int = 1) -> JobPolled:
    """The moment right after the ``n``-th look at a job of the named task, per host and job: a keep-alive
    task's ``n``-th poll, or a reap's ``n``-th answer to a job the task launched with ``poll: 0``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise FaultError(f"job_polled({task!r}, n={n!r}) names no look", "count looks from 1: n=1 is the first.")
    return JobPolled(task, n)


def after(seconds: float) -> After:
    """``seconds`` after the play starts."""
    if seconds < 0:
        raise FaultError(f"after({seconds}) is in the past", "give a number of seconds >= 0.")
    return After(float(seconds))


# ---------------------------------------------------------------------------------------------- faults
def _hosts(selector: HostSelector) -> Optional[frozenset[str]]:
    if selector is None:
        return None
    return frozenset([selector] if isinstance(selector, str) else selector)


@dataclass
class Fault:
    """Base class: selects hosts, waits for its moment, acts, and records what it did."""

    at: Moment
    host: HostSelector = None
    records: list[FaultRecord] = field(default_factory=list, init=False, repr=False)
    name = "fault"

    def __post_init__(self) -> None:
        self._hosts = _hosts(self.host)

    def wants(self, host: str) -> bool:
        """Whether this fault applies to ``host``."""
        return self._hosts is None or host in self._hosts

    def start(self, ctx: FaultContext) -> None:
        """Called as the play starts; time-based moments arm their timers here."""
        self.records = []
        self._lock = threading.Lock()
        self._watch = self.at.watcher()
        if isinstance(self.at, After):
            ctx.later(self.at.seconds, lambda: self._at_time(ctx))

    def _at_time(self, ctx: FaultContext) -> None:
        for host in ctx.targets:
            if self.wants(host):
                self._guarded(ctx, host, None)

    def on_event(self, event: Mapping[str, Any], job: Optional[AsyncJob], ctx: FaultContext) -> None:
        """Called with every event (and the job it launched, if any), in order."""
        for host in self._watch.hosts_at(event, job):
            if self.wants(host):
                self._guarded(ctx, host, job)

    def _guarded(self, ctx: FaultContext, host: str, job: Optional[AsyncJob]) -> None:
        """At the moment (on the event stream): choose what to do now, then do it on the host's lane."""
        at = ctx.elapsed()
        jid = job.jid if job else None
        try:
            actions = self.plan(ctx, host, job, at)
        except Exception as exc:  # a fault must never break the event stream; the record says why
            self._add([FaultRecord(self.name, False, at, host, jid, f"failed to apply: {exc!r}")])
            return
        log.debug("%s: moment %s on %s at +%.2fs, %d action(s)", self.name, self.at.describe(), host, at,
                  len(actions))
        for action in actions:
            ctx.submit(host, lambda action=action: self._run(ctx, host, jid, at, action))  # type: ignore[misc]

    def _run(self, ctx: FaultContext, host: str, jid: Optional[str], at: float, action: Action) -> None:
        try:
            records = action()
        except Exception as exc:  # the record says why (the host may be gone)
            records = [FaultRecord(self.name, False, at, host, jid, f"failed to apply: {exc!r}")]
        took = ctx.elapsed() - at
        for record in records:
            record.took = took
            log.debug("%s", record)
        self._add(records)

    def _add(self, records: Sequence[FaultRecord]) -> None:
        with self._lock:
            self.records.extend(records)

    def plan(self, ctx: FaultContext, host: str, job: Optional[AsyncJob], at: float) -> list[Action]:
        """What to do on ``host`` (and ``job`` when the moment is a job's): actions that return their records.

        Called on the event stream, in event order, so it must not wait on the host; the actions run on the
        host's lane. Records that need no action (nothing to act on) may be added here with ``_add``.
        """
        raise NotImplementedError

    def finish(self, ctx: FaultContext) -> list[FaultRecord]:
        """The records in moment order (call after ``ctx.close()``), with one not-applied record if the moment
        never came."""
        if not self.records:
            hosts = ", ".join(sorted(self._hosts)) if self._hosts else "any host"
            self.records.append(FaultRecord(
                self.name, False, None, None, None,
                f"its moment {self.at.describe()} never came on {hosts}",
            ))
        return sorted(self.records, key=lambda r: (r.at is None, r.at or 0.0))


@dataclass
class JobFault(Fault):
    """A fault on the processes of one async job, matched by task (and optionally host and loop item)."""

    task: str = ""
    item: Optional[int] = None
    occurrence: Optional[int] = None
    action = "kill"

    def start(self, ctx: FaultContext) -> None:
        self._runs: list[str] = []  # task uuids of the task's runs, in the order they launched jobs
        super().start(ctx)
        for host in ctx.targets:
            if self.wants(host):
                ctx.warm(host)

    def _run_index(self, job: AsyncJob) -> int:
        if job.task_uuid not in self._runs:
            self._runs.append(job.task_uuid or "")
        return self._runs.index(job.task_uuid or "")

    def _jobs_for(self, ctx: FaultContext, host: str, job: Optional[AsyncJob]) -> list[AsyncJob]:
        if job is not None and isinstance(self.at, JobLaunched):
            candidates = [job]
        else:
            candidates = [j for j in ctx.jobs if j.host == host and task_matches(self.task, j.task, j.task_path)]
        runs = [(j, self._run_index(j)) for j in candidates]
        return [j for j, run in runs if (self.item is None or j.item == self.item)
                and (self.occurrence is None or run == self.occurrence)]

    def plan(self, ctx: FaultContext, host: str, job: Optional[AsyncJob], at: float) -> list[Action]:
        target = ctx.targets[host]
        jobs = self._jobs_for(ctx, host, job)
        if not jobs and not isinstance(self.at, JobLaunched):  # (a launch of another loop item is no moment)
            self._add([FaultRecord(self.name, False, at, host, None,
                                   f'its moment {self.at.describe()} came, but no job of "{self.task}" '
                                   f"had been launched on {host} yet")])
        return [lambda found=found: self._signal(ctx, target, found, at) for found in jobs]  # type: ignore[misc]

    def _signal(self, ctx: FaultContext, target: Target, found: AsyncJob, at: float) -> list[FaultRecord]:
        answer = ctx.hostside(target.name, "signal", found.jid, self.action)  # finds the job's processes, signals
        signalled = answer.get("signalled", [])
        record = FaultRecord(
            self.name, bool(signalled), at, target.name, found.jid,
            self.explain(answer) if signalled else "no process of the job was left (it had finished)",
            found.item,
        )
        if signalled:
            self.after_signal(ctx, target, found, record)
        return [record]

    def explain(self, answer: Mapping[str, Any]) -> str:
        """What was done, for the record."""
        return f"SIGKILL to {answer['signalled']} (all of the job but its runner {answer['runner']})"

    def after_signal(self, ctx: FaultContext, target: Target, job: AsyncJob, record: FaultRecord) -> None:
        """Follow-up work after the signal (``slow_job`` resumes the job later and notes it in ``record``)."""


@dataclass
class KillJob(JobFault):
    """Kill every process of the job except the runner, so the job file records a failure."""

    name = "kill_job"
    action = "kill"


@dataclass
class VanishJob(JobFault):
    """Kill the whole job including its runner and watchdog: the job file stays "started" forever."""

    name = "vanish_job"
    action = "vanish"

    def explain(self, answer: Mapping[str, Any]) -> str:
        return f"SIGKILL to {answer['signalled']} (watchdog, runner and module: nothing will write a result)"


@dataclass
class SlowJob(JobFault):
    """Freeze the job's processes (not the watchdog, not the runner) for ``seconds``, then resume them.

    When the module started before the watchdog made the runner a process-group leader (a race in
    async_wrapper), the runner is frozen instead, so the job's result still comes ``seconds`` late and
    a freeze past ``async:`` still ends in the watchdog's "Timeout exceeded".
    """

    seconds: float = 0.0
    name = "slow_job"
    action = "stop"

    def explain(self, answer: Mapping[str, Any]) -> str:
        if answer.get("froze") == "runner":
            return (f"SIGSTOP to the runner {answer['signalled']} for {self.seconds:g}s, then SIGCONT: the module "
                    "started before the watchdog made the runner a group leader, so it runs on and its result "
                    "is held back (freezing it would let the kernel SIGHUP the watchdog at the timeout)")
        return f"SIGSTOP to {answer['signalled']} for {self.seconds:g}s, then SIGCONT"

    def after_signal(self, ctx: FaultContext, target: Target, job: AsyncJob, record: FaultRecord) -> None:
        due = ctx.elapsed() + self.seconds

        def resume() -> None:
            early = ctx.elapsed() < due - 0.05  # the play ended first: resume now, never leave the job frozen
            try:
                answer = ctx.hostside(target.name, "signal", job.jid, "cont")
            except Exception as exc:  # the host may be gone (a restart, the end of the session)
                record.detail += f"; the SIGCONT failed: {exc!r} (the job may still be frozen)"
                log.warning("slow_job: SIGCONT to jid %s on %s failed: %r", job.jid, target.name, exc)
                return
            if early:
                record.detail += f"; the play ended before the {self.seconds:g}s were up, so SIGCONT came early"
            elif not answer.get("signalled"):
                record.detail += "; at the SIGCONT no process of the job was left (the watchdog had ended it)"
            log.debug("slow_job: SIGCONT to jid %s on %s: %s", job.jid, target.name, answer.get("signalled"))

        ctx.later(self.seconds, resume, host=target.name, at_close=True)


@dataclass
class RestartHost(Fault):
    """Restart the host's container (a crash-reboot): running jobs die, files stay, SSH comes back."""

    name = "restart_host"

    def plan(self, ctx: FaultContext, host: str, job: Optional[AsyncJob], at: float) -> list[Action]:
        target = ctx.targets[host]

        def restart() -> list[FaultRecord]:
            started = time.monotonic()
            target.pool.restart(target)
            return [FaultRecord(self.name, True, at, host, None,
                                f"container restarted; SSH answered again after {time.monotonic() - started:.2f}s")]

        return [restart]


@dataclass
class DropConnection(Fault):
    """Close every live SSH connection to the host (``reset``); ``down`` also refuses new ones a while."""

    mode: str = "reset"
    seconds: float = 0.0
    name = "drop_connection"

    def plan(self, ctx: FaultContext, host: str, job: Optional[AsyncJob], at: float) -> list[Action]:
        target = ctx.targets[host]

        def drop() -> list[FaultRecord]:
            closed = target.drop_connections(self.seconds if self.mode == "down" else 0.0)
            detail = f"closed {closed} live connection(s) with an RST"
            if self.mode == "down":
                detail += f"; refusing new ones for {self.seconds:g}s"
            return [FaultRecord(self.name, True, at, host, job.jid if job else None, detail)]

        return [drop]


DROP_MODES = ("reset", "down")


def _job_moment(task: str, at: Optional[Moment]) -> Moment:
    if not task:
        raise FaultError("a job fault needs the name of the async task whose job it hits",
                         'name the task as the play shows it, e.g. kill_job("compress logs").')
    return at or JobLaunched(task)


def kill_job(task: str, host: HostSelector = None, item: Optional[int] = None, at: Optional[Moment] = None,
             occurrence: Optional[int] = None) -> KillJob:
    """Kill the job of ``task`` (on ``host``, loop ``item``) when it launches (or ``at``): it records a failure.

    ``task`` is the task's name as the play shows it, or its ``file:line`` (``"site.yml:14"``).
    ``occurrence`` picks one run (0-based) of a task the play runs more than once (a role imported twice).
    """
    return KillJob(at=_job_moment(task, at), host=host, task=task, item=item, occurrence=occurrence)


def vanish_job(task: str, host: HostSelector = None, item: Optional[int] = None,
               at: Optional[Moment] = None, occurrence: Optional[int] = None) -> VanishJob:
    """Kill the job of ``task`` including its runner, leaving the job file at "started" forever."""
    return VanishJob(at=_job_moment(task, at), host=host, task=task, item=item, occurrence=occurrence)


def slow_job(task: str, seconds: float, host: HostSelector = None, item: Optional[int] = None,
             at: Optional[Moment] = None, occurrence: Optional[int] = None) -> SlowJob:
    """Freeze the job of ``task`` for ``seconds`` (its watchdog keeps counting toward ``async:``)."""
    if seconds <= 0:
        raise FaultError(f"slow_job({task!r}, {seconds}) freezes nothing", "give seconds > 0.")
    return SlowJob(at=_job_moment(task, at), host=host, task=task, item=item, seconds=float(seconds),
                   occurrence=occurrence)


def restart_host(host: HostSelector = None, at: Optional[Moment] = None) -> RestartHost:
    """Restart the host's container at ``at`` (a crash-reboot): jobs die, SSH comes back on the same port."""
    if at is None:
        raise FaultError("restart_host needs a moment", 'say when, e.g. restart_host("host1", at=task_start("x")).')
    return RestartHost(at=at, host=host)


def drop_connection(host: HostSelector = None, at: Optional[Moment] = None, mode: str = "reset",
                    seconds: float = 0) -> DropConnection:
    """At ``at``, close every live SSH connection to the host (Ansible's ControlPersist master included).

    ``mode="reset"`` accepts new connections at once; ``mode="down"`` refuses them for ``seconds``.
    Connections go through a relay in front of each host, so the effect is immediate and certain.
    """
    if at is None:
        raise FaultError("drop_connection needs a moment",
                         'say when, e.g. drop_connection("host1", at=task_start("wait for job")).')
    if mode not in DROP_MODES:
        raise FaultError(f"drop_connection(mode={mode!r}) is not a mode", f"use one of {', '.join(DROP_MODES)}.")
    if mode == "down" and seconds <= 0:
        raise FaultError("drop_connection(mode='down') needs seconds > 0",
                         "say how long new connections are refused, or use mode='reset'.")
    if mode == "reset" and seconds:
        raise FaultError("drop_connection(mode='reset') takes no seconds",
                         "a reset accepts new connections at once; use mode='down' to refuse them a while.")
    return DropConnection(at=at, host=host, mode=mode, seconds=float(seconds))
