"""How faults are scheduled: one lane per host, lanes side by side, the event stream never waits.

These are pure tests of the scheduling logic: the "hosts" are small stand-ins that answer the one
``hostside`` call a job fault makes, so each case can block, fail or count exactly when it needs to.
The real effect of each fault on real hosts is tested in tests/test_faults.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import pytest

from pytest_asyncplay import kill_job, slow_job
from pytest_asyncplay.faults import FaultContext
from pytest_asyncplay.ledger import AsyncJob

WAIT = 10.0  # a bound for waits that succeed at once when the code is right


class StandInHost:
    """Answers ``hostside("signal", jid, action)`` as a host whose job is alive, after ``gate`` allows it."""

    def __init__(self, name: str, gate: Optional[threading.Event] = None,
                 fail_on: Optional[str] = None, on_call: Optional[Callable[[str, str], None]] = None) -> None:
        self.name = name
        self.gate = gate
        self.fail_on = fail_on
        self.on_call = on_call
        self.calls: list[tuple[str, str]] = []

    def hostside(self, command: str, jid: str, action: str) -> dict[str, Any]:
        if self.gate is not None and not self.gate.wait(WAIT):
            raise TimeoutError("the gate never opened")
        self.calls.append((jid, action))
        if self.on_call:
            self.on_call(self.name, action)
        if action == self.fail_on:
            raise ConnectionError(f"{self.name} is gone")
        return {"signalled": [101, 102], "runner": 100, "watchdog": 99, "froze": "job"}


def job(host: str, n: int = 1, task: str = "compress logs") -> AsyncJob:
    return AsyncJob(task=task, host=host, jid=f"j{n}00{n}.{n}", async_timeout=60, poll=0, item=None,
                    task_uuid="uuid-1")


def launch_event(j: AsyncJob) -> dict[str, Any]:
    return {"event": "runner_on_ok", "event_data": {"host": j.host, "task": j.task}}


def play(fault: Any, hosts: list[StandInHost], jobs: list[AsyncJob]) -> FaultContext:
    ctx = FaultContext(hosts, jobs)  # type: ignore[arg-type]
    fault.start(ctx)
    for j in jobs:
        fault.on_event(launch_event(j), j, ctx)
    return ctx


def test_faults_for_several_hosts_land_together_not_one_after_another():
    # host1's signal waits until host2's has happened: applied one after another, this never ends
    host2_signalled = threading.Event()
    host1 = StandInHost("host1", gate=host2_signalled)
    host2 = StandInHost("host2", on_call=lambda name, action: host2_signalled.set())
    fault = kill_job("compress logs")
    ctx = play(fault, [host1, host2], [job("host1", 1), job("host2", 2)])
    ctx.close()
    records = fault.finish(ctx)
    assert [(r.host, r.applied) for r in records] == [("host1", True), ("host2", True)], records
    assert host1.calls == [("j1001.1", "kill")] and host2.calls == [("j2002.2", "kill")]


def test_the_event_stream_does_not_wait_for_a_fault_on_a_host():
    gate = threading.Event()
    host1 = StandInHost("host1", gate=gate)
    fault = kill_job("compress logs")
    started = time.monotonic()
    ctx = play(fault, [host1], [job("host1")])
    handed_back = time.monotonic() - started
    assert fault.records == [] and host1.calls == []  # the kill is still waiting on its lane...
    gate.set()
    ctx.close()
    assert [r.applied for r in fault.finish(ctx)] == [True]  # ...and close() let it finish
    assert handed_back < WAIT / 2


def test_a_hosts_own_actions_keep_the_order_of_their_moments():
    order: list[str] = []
    host1 = StandInHost("host1", on_call=lambda name, action: order.append(action))
    fault = slow_job("compress logs", seconds=0.01)
    ctx = play(fault, [host1], [job("host1")])
    deadline = time.monotonic() + WAIT
    while order != ["stop", "cont"] and time.monotonic() < deadline:
        time.sleep(0.01)
    ctx.close()
    assert order == ["stop", "cont"]
    [record] = fault.finish(ctx)
    assert record.applied and "SIGSTOP" in record.detail and "early" not in record.detail


def test_a_freeze_the_play_outlives_is_resumed_at_the_end_and_says_so():
    host1 = StandInHost("host1")
    fault = slow_job("compress logs", seconds=600)
    ctx = play(fault, [host1], [job("host1")])
    ctx.close()  # the play ended long before the 600 s were up
    assert host1.calls == [("j1001.1", "stop"), ("j1001.1", "cont")]
    [record] = fault.finish(ctx)
    assert "SIGCONT came early" in record.detail


def test_a_failed_resume_is_recorded_not_swallowed():
    host1 = StandInHost("host1", fail_on="cont")
    fault = slow_job("compress logs", seconds=600)
    ctx = play(fault, [host1], [job("host1")])
    ctx.close()
    [record] = fault.finish(ctx)
    assert record.applied  # the freeze happened
    assert "the SIGCONT failed: ConnectionError('host1 is gone')" in record.detail


def test_a_signal_that_raises_is_a_not_applied_record_with_the_cause():
    host1 = StandInHost("host1", fail_on="kill")
    fault = kill_job("compress logs")
    ctx = play(fault, [host1], [job("host1")])
    ctx.close()
    [record] = fault.finish(ctx)
    assert not record.applied and "failed to apply: ConnectionError('host1 is gone')" in record.detail


def test_records_come_back_in_moment_order_whatever_order_the_lanes_finished_in():
    slow_gate = threading.Event()
    host1 = StandInHost("host1", gate=slow_gate)  # the first moment's action finishes last
    host2 = StandInHost("host2", on_call=lambda name, action: slow_gate.set())
    fault = kill_job("compress logs")
    ctx = play(fault, [host1, host2], [job("host1", 1), job("host2", 2)])
    ctx.close()
    assert [r.host for r in fault.finish(ctx)] == ["host1", "host2"]
    assert all(r.took is not None and r.took >= 0 for r in fault.records)


def test_no_lane_thread_outlives_the_play():
    before = {t.ident for t in threading.enumerate()}
    hosts = [StandInHost(f"host{i}") for i in range(6)]
    fault = kill_job("compress logs")
    ctx = play(fault, hosts, [job(h.name, i) for i, h in enumerate(hosts, 1)])
    ctx.close()
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("asyncplay-")]
    assert left == []
    assert sum(r.applied for r in fault.finish(ctx)) == 6


def test_at_most_workers_actions_run_at_once():
    running, peak = [0], [0]
    lock = threading.Lock()

    def count(name: str, action: str) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)  # hold the slot a moment so overlapping actions can be seen
        with lock:
            running[0] -= 1

    hosts = [StandInHost(f"host{i}", on_call=count) for i in range(6)]
    jobs = [job(h.name, i) for i, h in enumerate(hosts, 1)]
    fault = kill_job("compress logs")
    ctx = FaultContext(hosts, jobs, workers=2)  # type: ignore[arg-type]
    fault.start(ctx)
    for j in jobs:
        fault.on_event(launch_event(j), j, ctx)
    ctx.close()
    assert peak[0] == 2
    assert sum(r.applied for r in fault.finish(ctx)) == 6


@pytest.mark.parametrize("workers", [0, -1])
def test_a_context_needs_at_least_one_worker(workers):
    with pytest.raises(ValueError, match="workers"):
        FaultContext([], [], workers=workers)
