"""``PlayResult``: everything one play left behind: exit code, recap, events, faults and the job ledger."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .faults import FaultRecord
from .ledger import FAILED_OUTCOMES, UNKNOWN, AsyncJob, event_res, event_time
from .timeline import Timeline, build_timeline, render_html
from .versions import ASYNC_STATUS_ACTIONS, flag

if TYPE_CHECKING:
    import os


#: The events that carry one ``async_status`` attempt's answer (a task's, or one loop item's).
_ANSWERS = frozenset({"runner_on_ok", "runner_on_failed", "runner_item_on_ok", "runner_item_on_failed"})
_TASK_ENDS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})


@dataclass
class TaskFailure:
    """One task that failed (not ignored) or was unreachable on one host."""

    task: str
    host: str
    message: str
    unreachable: bool = False
    task_path: Optional[str] = None
    jid: Optional[str] = None
    at: Optional[float] = None  # seconds after the play started that the failure was seen (as FaultRecord.at)

    def __str__(self) -> str:
        kind = "UNREACHABLE" if self.unreachable else "failed"
        where = f" ({self.task_path})" if self.task_path else ""
        return f'"{self.task}"{where} {kind} on {self.host}: {self.message}'


@dataclass
class PlayResult:
    """The structured result of one ``ansible-playbook`` run."""

    playbook: Path
    rc: int
    stats: dict[str, dict[str, int]]
    events: list[dict[str, Any]]
    stdout: str
    duration: float
    faults: list[FaultRecord]
    jobs: list[AsyncJob]
    timed_out: bool = False
    ansible_version: str = ""
    failures: list[TaskFailure] = field(default_factory=list)
    #: POSIX time of the play's start: the zero of ``FaultRecord.at`` and ``TaskFailure.at`` (None: not recorded).
    started_at: Optional[float] = None
    #: The run's folder (inventory, stdout); a failing assertion helper writes the play's ``timeline.html`` there.
    run_dir: Optional[Path] = None

    @property
    def ok(self) -> bool:
        """Whether ``ansible-playbook`` exited 0."""
        return self.rc == 0

    @property
    def failed_hosts(self) -> set[str]:
        """Hosts with at least one failed task in the recap."""
        return {h for h, s in self.stats.items() if s.get("failures", 0)}

    @property
    def unreachable_hosts(self) -> set[str]:
        """Hosts that became unreachable during the play."""
        return {h for h, s in self.stats.items() if s.get("unreachable", 0)}

    @property
    def unreaped_jobs(self) -> list[AsyncJob]:
        """Fire-and-forget jobs (``poll: 0``) that no ``async_status`` of the play ever asked about."""
        return [j for j in self.jobs if j.fire_and_forget and not j.reaped]

    @property
    def swallowed_failures(self) -> list[AsyncJob]:
        """Jobs that failed, timed out or vanished while their host finished the play without failing."""
        bad_hosts = self.failed_hosts | self.unreachable_hosts
        return [j for j in self.jobs if j.outcome in FAILED_OUTCOMES and j.host not in bad_hosts]

    @property
    def unknown_jobs(self) -> list[AsyncJob]:
        """Jobs whose outcome is ``unknown``: the job file could not be read and the controller never saw the end."""
        return [j for j in self.jobs if j.outcome == UNKNOWN]

    def for_hosts(self, hosts: Collection[str], faults: Optional[Sequence[FaultRecord]] = None) -> PlayResult:
        """The play as ``hosts`` alone lived it: their events, recap, failures and jobs, and ``faults`` (default:
        the fault records on those hosts).

        Its ``rc`` is what ``ansible-playbook`` would have said of them: 4 when one became unreachable, 2 when
        one failed, 0 otherwise; a play that never reached its recap keeps its own rc. The reap audit's
        parallel probes judge each probe on its own host this way.
        """
        wanted = set(hosts)
        stats = {h: s for h, s in self.stats.items() if h in wanted}
        view = PlayResult(
            playbook=self.playbook, rc=self.rc, stats=stats,
            events=[e for e in self.events if (e.get("event_data") or {}).get("host") in (None, *wanted)],
            stdout=self.stdout, duration=self.duration,
            faults=list(faults) if faults is not None else [r for r in self.faults if r.host in wanted],
            jobs=[j for j in self.jobs if j.host in wanted], timed_out=self.timed_out,
            ansible_version=self.ansible_version, failures=[f for f in self.failures if f.host in wanted],
            started_at=self.started_at, run_dir=self.run_dir,
        )
        if self.stats and not self.timed_out:
            view.rc = 4 if view.unreachable_hosts else 2 if view.failed_hosts else 0
        return view

    def reap_looks(self, jid: str) -> list[tuple[float, bool]]:
        """Each ``async_status`` attempt that answered for job ``jid``: when it began at the latest, in seconds on
        the faults clock (as ``FaultRecord.at``), and whether it saw the job finished; empty when no reap looked
        at it, or the play's start is unknown.

        An attempt begins after the event before its answer from the same task on the same host (the task's
        start, a retry, the previous loop item), so that event's time is a bound no clock skew can move: an
        attempt after it read the job file after it too.
        """
        if self.started_at is None:
            return []
        looks: list[tuple[float, bool]] = []
        last: dict[tuple[str, str], Optional[float]] = {}
        for event in self.events:
            data = event.get("event_data") or {}
            host, uuid = data.get("host"), data.get("task_uuid")
            if not host or not uuid:
                continue
            key = (uuid, host)
            kind = event.get("event", "")
            if (kind in _ANSWERS and data.get("task_action") in ASYNC_STATUS_ACTIONS
                    and event_res(data).get("ansible_job_id") == jid):
                began = last.get(key)
                if began is not None:
                    looks.append((began - self.started_at, flag(event_res(data), "finished")))
            last[key] = event_time(event)
        return looks

    def waited_on(self, host: str, peers: Collection[str], pace: Collection[str] = (), before: Optional[float] = None,
                  margin: float = 1.0) -> Optional[tuple[str, str, float]]:
        """The first task (ended before ``before``, on the faults clock) at which ``host`` waited more than
        ``margin`` seconds for a host of ``peers`` to end it, beyond what the hosts of ``pace`` (a clean host)
        took anyway: ``(task, peer, seconds)``, or ``None``.

        Under the linear strategy no host starts a task before every host has ended the one before, so a peer
        that took longer (its own fault retried a reap) moves every later look on ``host`` later: a verdict that
        rests on when a look happened is then not the one ``host`` would have lived alone.
        """
        return next((w for w in self._waits(host, peers, pace, None, before) if w[2] > margin), None)

    def time_waited(self, host: str, peers: Collection[str], pace: Collection[str] = (),
                    after: Optional[float] = None, before: Optional[float] = None) -> float:
        """Every second ``host`` waited for a host of ``peers`` (beyond the hosts of ``pace``) at the tasks it
        ended between ``after`` and ``before``: how much earlier its look at ``before`` would have come alone."""
        return sum(w[2] for w in self._waits(host, peers, pace, after, before) if w[2] > 0)

    def _waits(self, host: str, peers: Collection[str], pace: Collection[str], after: Optional[float],
               before: Optional[float]) -> Iterator[tuple[str, str, float]]:
        """``(task, peer, seconds)`` for each task ``host`` ended in (``after``, ``before``), in the order the
        tasks first ended: how long after ``host`` and the ``pace`` hosts the last of ``peers`` ended it."""
        if self.started_at is None:
            return
        ends: dict[str, dict[str, float]] = {}
        names: dict[str, str] = {}
        for event in self.events:
            data = event.get("event_data") or {}
            when, uuid, who = event_time(event), data.get("task_uuid"), data.get("host")
            if event.get("event") in _TASK_ENDS and uuid and who and when is not None:
                ends.setdefault(uuid, {})[who] = when - self.started_at
                names.setdefault(uuid, str(data.get("task") or uuid))
        for uuid, by_host in ends.items():
            own = by_host.get(host)
            if own is None or (before is not None and own >= before) or (after is not None and own <= after):
                continue  # a wait after the look (or before the moment) moved nothing between them
            anyway = max([own] + [t for peer, t in by_host.items() if peer in pace])
            late = max(((t, peer) for peer, t in by_host.items() if peer in peers), default=None)
            if late is not None:
                yield names[uuid], late[1], late[0] - anyway

    def job(self, task: str, host: Optional[str] = None, item: Optional[int] = None) -> AsyncJob:
        """The one job of ``task`` (on ``host``, loop ``item``); ``LookupError`` listing the jobs otherwise."""
        found = [j for j in self.jobs if j.task == task and (host is None or j.host == host)
                 and (item is None or j.item == item)]
        if len(found) != 1:
            listing = "\n".join("  " + j.describe() for j in self.jobs) or "  (no async job was launched)"
            raise LookupError(f'{len(found)} jobs match task="{task}" host={host} item={item}; the ledger:\n{listing}')
        return found[0]

    def timeline(self) -> Timeline:
        """The play as plain data: per host, tasks and jobs as spans, polls, faults, deadlines and the end as
        marks, in seconds from the start (``pytest_asyncplay.timeline``)."""
        return build_timeline(self)

    def save_html(self, path: Union[str, os.PathLike[str]]) -> Path:
        """Write the timeline as one self-contained HTML page (no script, nothing fetched); return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(self.timeline(), title=f"{self.playbook.name}: rc={self.rc}"),
                          encoding="utf-8")
        return target

    def recap(self) -> str:
        """The play recap, one line per host."""
        lines = []
        for host in sorted(self.stats):
            counts = " ".join(f"{k}={v}" for k, v in sorted(self.stats[host].items()))
            lines.append(f"  {host}: {counts}")
        return "\n".join(lines) or "  (no recap: the play did not finish)"

    def summary(self) -> str:
        """Everything a failing assertion should show: rc, recap, failures, ledger, faults."""
        parts = [f"playbook {self.playbook} rc={self.rc}" + (" (timed out)" if self.timed_out else "")
                 + f" in {self.duration:.1f}s", "recap:", self.recap()]
        if self.failures:
            parts += ["failed tasks:"] + [f"  {f}" for f in self.failures]
        if self.jobs:
            unknown = len(self.unknown_jobs)
            parts += [f"async jobs ({unknown} with an unknown outcome):" if unknown else "async jobs:"]
            parts += [j.evidence() for j in self.jobs]
        if self.faults:
            parts += ["faults:"] + [f"  {f}" for f in self.faults]
        return "\n".join(parts)


def stats_from_event(event: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The per-host recap from ansible-runner's ``playbook_on_stats`` event."""
    data = event.get("event_data") or {}
    keys = {"ok": "ok", "changed": "changed", "failures": "failures", "dark": "unreachable",
            "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
    stats: dict[str, dict[str, int]] = {}
    for source, name in keys.items():
        for host, count in (data.get(source) or {}).items():
            stats.setdefault(host, {k: 0 for k in keys.values()})[name] = int(count)
    return stats


def failure_from_event(event: Mapping[str, Any], at: Optional[float] = None) -> Optional[TaskFailure]:
    """A ``TaskFailure`` when this one event, taken alone, is a failure that counts or an unreachable host.

    ``runner_on_failed`` counts unless ignored; ``runner_item_on_failed`` unless its item says it is
    ignored (the loop's verdict comes later, in ``runner_on_failed``: ``FailureAccount`` waits for it);
    ``runner_on_async_failed`` never (its ``runner_on_failed`` follows, with the real ``ignore_errors``).
    """
    kind = event.get("event")
    data = event.get("event_data") or {}
    res = event_res(data)
    ignored = bool(data.get("ignore_errors") or (kind == "runner_item_on_failed" and res.get("_ansible_ignore_errors")))
    if kind == "runner_on_unreachable":
        unreachable = True
    elif kind in ("runner_on_failed", "runner_item_on_failed") and not ignored:
        unreachable = False
    else:
        return None
    jid = res.get("ansible_job_id") if data.get("task_action") in ASYNC_STATUS_ACTIONS else None
    message = str(res.get("msg") or res.get("stderr") or res.get("reason") or "").strip()
    if message.startswith("Traceback"):
        message = message.splitlines()[-1]
    message = message[:500]
    return TaskFailure(str(data.get("task", "")), str(data.get("host", "")), message, unreachable,
                       data.get("task_path"), jid, at)


class FailureAccount:
    """Follows the event stream and keeps the failures that count, each once, as they happen.

    A looped task's failed items are held until the task's own ``runner_on_failed`` says whether the
    failure is ignored; then they count (each with its own jid) or are dropped. A failure seen in
    ``runner_on_async_failed`` only counts through the ``runner_on_failed`` that follows it.
    """

    def __init__(self) -> None:
        self.failures: list[TaskFailure] = []
        self._items: dict[tuple[str, str], list[TaskFailure]] = {}

    def feed(self, event: Mapping[str, Any], at: Optional[float] = None) -> list[TaskFailure]:
        """Take one event; return the failures it makes count (usually none, one for a failed task)."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        key = (str(data.get("task_uuid", "")), str(data.get("host", "")))
        if kind == "runner_item_on_failed":
            item = failure_from_event(event, at)
            held = self._items.setdefault(key, [])
            if item is not None:
                held.append(item)
            return []
        if kind not in ("runner_on_failed", "runner_on_unreachable"):
            return []
        held = self._items.pop(key, [])
        failure = failure_from_event(event, at)
        if failure is None:
            return []  # ignored: the held items with it
        counted = held if held and not failure.unreachable else [failure]
        self.failures.extend(counted)
        return counted


def failures_from_events(events: Iterable[Mapping[str, Any]]) -> list[TaskFailure]:
    """The failures that count in a whole event stream (``PlayResult.failures`` of a finished play)."""
    account = FailureAccount()
    for event in events:
        account.feed(event)
    return account.failures
