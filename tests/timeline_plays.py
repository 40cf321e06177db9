"""Plays for the timeline's tests, without hosts: synthetic ones built from events, and the recorded real one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pytest_asyncplay import AsyncJob, PlayResult
from pytest_asyncplay.faults import FaultRecord
from pytest_asyncplay.result import TaskFailure, failures_from_events, stats_from_event

DATA = Path(__file__).resolve().parent / "data"
RECORDED = DATA / "timeline_killed_job.json"
#: A task name that breaks any page that does not escape it.
EVIL = 'rm <b>&amp; "quoted" \'single\' </title><script>alert(1)</script>'
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ZERO = T0.timestamp()


def at(seconds: float) -> str:
    """The ``created`` of an event ``seconds`` after ``T0``."""
    return (T0 + timedelta(seconds=seconds)).isoformat()


def ev(kind: str, t: float, host: str, task: str, uuid: str, action: str = "shell", res: Any = None,
       **extra: Any) -> dict[str, Any]:
    """One ansible-runner event of ``task`` on ``host`` at ``t`` seconds."""
    data = {"host": host, "task": task, "task_uuid": uuid, "task_action": action, "task_path": f"/r/site.yml:{uuid}"}
    if res is not None:
        data["res"] = res
    data.update(extra)
    return {"event": kind, "created": at(t), "event_data": data}


def stats(hosts, failed=(), t=10.0):
    """The ``playbook_on_stats`` event."""
    return {"event": "playbook_on_stats", "created": at(t), "event_data": {
        "ok": {h: 3 for h in hosts}, "changed": {h: 1 for h in hosts}, "failures": {h: 1 for h in failed},
        "dark": {}, "skipped": {}, "rescued": {}, "ignored": {}}}


def killed_play(hosts=("host1",), polls=3, task="compress logs", kill=True, duration=None):
    """A fire-and-forget job per host, reaped every second with ``polls`` retries; the job is killed at launch
    (its reap then reads the failure) or ends ok."""
    events, jobs, faults = [], [], []
    for n, host in enumerate(hosts):
        jid = f"j{n}.1"
        events.append(ev("runner_on_start", 0.5, host, task, "u1"))
        events.append(ev("runner_on_ok", 0.8, host, task, "u1", res={
            "ansible_job_id": jid, "started": 1, "finished": 0, "results_file": f"/home/ansible/.ansible_async/{jid}",
            "changed": True}))
        events.append(ev("runner_on_start", 0.9, host, "go on", "u2", action="command"))
        events.append(ev("runner_on_ok", 1.2, host, "go on", "u2", action="command", res={"changed": True}))
        events.append(ev("runner_on_start", 1.3, host, "wait for compress logs", "u3", action="async_status"))
        for p in range(polls):
            events.append(ev("runner_retry", 1.4 + p, host, "wait for compress logs", "u3", action="async_status",
                             res={"ansible_job_id": jid, "started": 1, "finished": 0, "attempts": p + 1}))
        end = 1.4 + polls
        final = {"ansible_job_id": jid, "started": 1, "finished": 1, "attempts": polls + 1}
        if kill:
            final.update(failed=True, rc=-9, msg="non-zero return code", stderr="")
        events.append(ev("runner_on_failed" if kill else "runner_on_ok", end, host, "wait for compress logs", "u3",
                         action="async_status", res=final))
        job = AsyncJob(task=task, host=host, jid=jid, async_timeout=30, poll=0, item=None, reaped=True,
                       outcome="failed" if kill else "ok", result={"rc": -9 if kill else 0, "failed": kill,
                                                                    "cmd": "sleep 2; echo <done> & \"x\"",
                                                                    "start": "2026-01-01 00:00:00.800000"},
                       runtime=0.9 if kill else 2.0, task_path="/r/site.yml:6", results_file=f"/h/{jid}",
                       launched_at=ZERO + 0.8)
        jobs.append(job)
        if kill:
            faults.append(FaultRecord("kill_job", True, 0.85, host, jid, "SIGKILL to [42, 43]", took=0.03))
    events.append(stats(hosts, failed=hosts if kill else (), t=duration or (2.0 + polls)))
    return PlayResult(playbook=Path("/r/site.yml"), rc=2 if kill else 0, stats=stats_from_event(events[-1]),
                      events=events, stdout="", duration=duration or (2.0 + polls), faults=faults, jobs=jobs,
                      failures=failures_from_events(events), started_at=ZERO)


def dump_result(result: PlayResult) -> dict[str, Any]:
    """A real play's PlayResult as small JSON for tests/data: events without their stdout and invocation."""
    events = []
    for event in result.events:
        if event.get("event") == "verbose":
            continue
        kept = {k: event[k] for k in ("event", "created", "uuid", "counter") if k in event}
        data = dict(event.get("event_data") or {})
        for key in ("task_args", "remote_addr", "pid", "playbook_uuid", "play_uuid", "play_pattern", "uuid",
                    "resolved_action", "resolved_role", "event_loop", "parent_uuid"):
            data.pop(key, None)
        if isinstance(data.get("res"), dict):
            data["res"] = {k: v for k, v in data["res"].items()
                           if k not in ("invocation", "stdout_lines", "stderr_lines", "_ansible_no_log")}
        kept["event_data"] = data
        events.append(kept)
    return {"playbook": str(result.playbook), "rc": result.rc, "stats": result.stats, "events": events,
            "duration": result.duration, "faults": [vars(f) for f in result.faults],
            "jobs": [vars(j) for j in result.jobs], "timed_out": result.timed_out,
            "ansible_version": result.ansible_version, "failures": [vars(f) for f in result.failures],
            "started_at": result.started_at}


def recorded() -> PlayResult:
    """The recorded real play (``RECORDED``: example_playbooks/fire_and_forget_reaped.yml with
    ``kill_job("compress logs")`` on one host, ansible-core 2.19) as a PlayResult."""
    return load_result(json.loads(RECORDED.read_text()))


def load_result(data: dict[str, Any]) -> PlayResult:
    """A PlayResult from the JSON ``dump_result`` wrote."""
    return PlayResult(playbook=Path(data["playbook"]), rc=data["rc"], stats=data["stats"], events=data["events"],
                      stdout="", duration=data["duration"], faults=[FaultRecord(**f) for f in data["faults"]],
                      jobs=[AsyncJob(**j) for j in data["jobs"]], timed_out=data["timed_out"],
                      ansible_version=data["ansible_version"], failures=[TaskFailure(**f) for f in data["failures"]],
                      started_at=data["started_at"])
