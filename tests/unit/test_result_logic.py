"""PlayResult's derived views and the assertion helpers' messages, on results built from events."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_asyncplay import (
    AsyncJob,
    PlayResult,
    assert_all_jobs_reaped,
    assert_no_swallowed_failures,
    assert_play_failed,
    assert_play_ok,
)
from pytest_asyncplay.faults import FaultRecord
from pytest_asyncplay.result import failure_from_event, stats_from_event

STATS_EVENT = {"event": "playbook_on_stats", "event_data": {
    "ok": {"host1": 3, "host2": 2}, "changed": {"host1": 1}, "failures": {"host2": 1}, "dark": {},
    "skipped": {}, "rescued": {}, "ignored": {}}}


def reap_failed(host="host2", jid="j2.1", ignore=False):
    return {"event": "runner_on_failed", "event_data": {
        "task": "wait for job", "host": host, "task_action": "async_status", "ignore_errors": ignore,
        "task_path": "/r/site.yml:12", "res": {"ansible_job_id": jid, "failed": True, "finished": 1,
                                               "msg": "Traceback (most recent call last):\nValueError: boom"}}}


def make(rc=2, jobs=(), events=(STATS_EVENT,), faults=()):
    events = list(events)
    return PlayResult(
        playbook=Path("/r/site.yml"), rc=rc, stats=stats_from_event(STATS_EVENT), events=events, stdout="",
        duration=1.0, faults=list(faults), jobs=list(jobs),
        failures=[f for f in map(failure_from_event, events) if f],
    )


def job(host, jid, outcome, reaped=True, poll=0):
    return AsyncJob(task="compress logs", host=host, jid=jid, async_timeout=30, poll=poll, item=None,
                    reaped=reaped, outcome=outcome, result={"failed": outcome != "ok"})


def test_stats_and_host_sets():
    result = make()
    assert result.stats["host1"] == {"ok": 3, "changed": 1, "failures": 0, "unreachable": 0, "skipped": 0,
                                     "rescued": 0, "ignored": 0}
    assert result.failed_hosts == {"host2"} and result.unreachable_hosts == set()


def test_failure_message_keeps_the_last_traceback_line_and_ignored_failures_do_not_count():
    (failure,) = make(events=[reap_failed()]).failures
    assert failure.message == "ValueError: boom" and failure.jid == "j2.1"
    assert failure_from_event(reap_failed(ignore=True)) is None


def test_assert_play_failed_accepts_the_task_whose_reap_failed():
    result = make(jobs=[job("host1", "j1.1", "ok"), job("host2", "j2.1", "failed")], events=[reap_failed()])
    assert_play_failed(result, task="compress logs", host="host2")
    assert_play_failed(result, task="wait for job")
    with pytest.raises(AssertionError, match=r'not because of task "compress logs" and host host1') as info:
        assert_play_failed(result, task="compress logs", host="host1")
    assert "j2.1" in str(info.value) and "recap:" in str(info.value)


def test_assert_play_ok_prints_the_evidence():
    result = make(jobs=[job("host2", "j2.1", "failed")], events=[reap_failed()],
                  faults=[FaultRecord("kill_job", True, 0.5, "host2", "j2.1", "SIGKILL to [42]")])
    with pytest.raises(AssertionError) as info:
        assert_play_ok(result)
    text = str(info.value)
    for needle in ("rc=2", "host2: changed=0 failures=1", '"wait for job" (/r/site.yml:12) failed on host2',
                   "jid j2.1, outcome failed", "job file: {\"failed\": true}", "kill_job applied at +0.50s"):
        assert needle in text


def test_unreaped_and_swallowed():
    green = make(rc=0, jobs=[job("host1", "j1.1", "failed", reaped=False), job("host2", "j2.1", "ok"),
                             job("host1", "j3.1", "timeout", poll=5)])
    assert [j.jid for j in green.unreaped_jobs] == ["j1.1"]  # a keep-alive job is never "unreaped"
    assert [j.jid for j in green.swallowed_failures] == ["j1.1", "j3.1"]  # host1 did not fail
    with pytest.raises(AssertionError, match="1 fire-and-forget job"):
        assert_all_jobs_reaped(green)
    with pytest.raises(AssertionError, match="2 job failure"):
        assert_no_swallowed_failures(green)


def test_job_lookup_lists_the_ledger_when_ambiguous():
    result = make(jobs=[job("host1", "j1.1", "ok"), job("host2", "j2.1", "ok")])
    assert result.job("compress logs", host="host2").jid == "j2.1"
    with pytest.raises(LookupError, match="2 jobs match"):
        result.job("compress logs")


def test_every_helper_fails_when_a_fault_never_applied():
    missed = FaultRecord("kill_job", False, None, None, None, 'its moment job_launched("x") never came on any host')
    for helper in (assert_play_ok, assert_play_failed, assert_all_jobs_reaped, assert_no_swallowed_failures):
        result = make(rc=0 if helper is not assert_play_failed else 2, faults=[missed])
        with pytest.raises(AssertionError, match="did not apply, so this play proves nothing"):
            helper(result)
