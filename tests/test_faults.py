"""Faults on real hosts: slow, vanished and killed jobs, restarted hosts, moments, one host of two."""

from __future__ import annotations

import pytest

from pytest_asyncplay import (
    FaultError,
    after,
    assert_play_failed,
    assert_play_ok,
    drop_connection,
    job_launched,
    job_polled,
    kill_job,
    restart_host,
    slow_job,
    task_end,
    task_start,
    vanish_job,
)
from pytest_asyncplay.ledger import event_time
from pytest_asyncplay.versions import watchdog_step

PLAY = "playbooks/reaped_job.yml"


def test_slow_past_its_async_times_out_and_fails_at_the_reap(asyncplay):
    # 3 s of work would fit in async: 4; the freeze, landing within those 3 s even under load, does not
    result = asyncplay.run(PLAY, extra_vars={"job_seconds": 3, "job_async": 4},
                           faults=[slow_job("compress logs", seconds=12)])
    assert_play_failed(result, task="wait for compress logs", host="host1")
    job = result.job("compress logs")
    assert job.outcome == "timeout", job.evidence()
    assert job.async_timeout == 4  # templated async:, read per job
    assert job.result["msg"] == "Timeout exceeded"
    # the watchdog notices within one step of async:. job.runtime runs from the launch as the controller
    # reported it, which a loaded controller reports late; the job began after its task started on the host
    started = next(event_time(e) for e in result.events if e.get("event") == "runner_on_start"
                   and e["event_data"].get("task") == "compress logs" and e["event_data"].get("host") == "host1")
    assert job.launched_at is not None and started is not None and started <= job.launched_at
    since_task_start = job.runtime + (job.launched_at - started)
    assert since_task_start >= 4 and job.runtime <= 4 + watchdog_step(4) + 2.5, (since_task_start, job.runtime)


def test_slow_within_headroom_completes_later(asyncplay):
    result = asyncplay.run(PLAY, extra_vars={"job_seconds": 2, "job_async": 30},
                           faults=[slow_job("compress logs", seconds=3)])
    assert_play_ok(result)
    job = result.job("compress logs")
    assert job.outcome == "ok" and job.result["stdout"] == "compressed"
    assert job.runtime >= 3.0  # 2 s of work + 3 s frozen, measured from a launch event that may lag a little
    (record,) = result.faults
    assert record.applied and "SIGSTOP" in record.detail


def test_vanished_job_exhausts_the_reap_and_fails_the_play(asyncplay):
    result = asyncplay.run(PLAY, extra_vars={"reap_retries": 3}, faults=[vanish_job("compress logs")])
    assert_play_failed(result, task="wait for compress logs", host="host1")
    job = result.job("compress logs")
    assert job.outcome == "vanished"
    assert job.result["started"] in (1, True) and job.result["finished"] in (0, False)
    retries = [e for e in result.events if e["event"] == "runner_retry"]
    assert len(retries) == 3  # the reap polled until its retries ran out; the play did not hang
    assert result.duration < 30


@pytest.mark.asyncplay(hosts=2)
def test_fault_on_one_host_fails_only_that_host(asyncplay):
    result = asyncplay.run(PLAY, extra_vars={"reap_retries": 3}, faults=[vanish_job("compress logs", host="host2")])
    assert_play_failed(result, task="compress logs", host="host2")
    assert result.failed_hosts == {"host2"}
    assert result.job("compress logs", host="host1").outcome == "ok"
    assert result.job("compress logs", host="host2").outcome == "vanished"


def test_kill_at_task_start_of_the_reap(asyncplay):
    result = asyncplay.run(PLAY, extra_vars={"job_seconds": 5},
                           faults=[kill_job("compress logs", at=task_start("wait for compress logs"))])
    assert_play_failed(result, task="compress logs")
    (record,) = result.faults
    assert record.applied and record.jid == result.job("compress logs").jid


def test_kill_after_seconds(asyncplay):
    result = asyncplay.run(PLAY, extra_vars={"job_seconds": 20}, faults=[kill_job("compress logs", at=after(6))])
    assert_play_failed(result, task="compress logs")
    (record,) = result.faults
    assert record.applied and 6 <= record.at < 8
    assert result.duration < 20  # the reap saw the failure at once, not after the job's 20 s


def test_a_fault_whose_moment_never_came_is_reported_and_fails_the_helpers(asyncplay):
    result = asyncplay.run(PLAY, faults=[kill_job("no such task")])
    assert result.ok
    (record,) = result.faults
    assert not record.applied and "never came" in record.detail
    with pytest.raises(AssertionError, match="proves nothing"):
        assert_play_ok(result)


@pytest.mark.asyncplay(hosts=2, fresh=True)
def test_restart_host_kills_its_jobs_and_the_host_comes_back(asyncplay, asyncplay_hosts):
    result = asyncplay.run("playbooks/restart_window.yml",
                           faults=[restart_host("host1", at=task_start("pause on the controller"))])
    assert_play_failed(result, task="long job", host="host1")
    assert result.job("long job", host="host1").outcome == "vanished"
    # host2 was not restarted: its 20 s job is still running when the reap's 3 retries run out
    # (so host2 fails the reap too), and its job file says so; a restart there would make it "vanished"
    second = result.job("long job", host="host2")
    assert second.reaped and second.outcome == "running", second.evidence()
    assert second.result["started"] in (1, True) and second.result["finished"] in (0, False)
    assert result.failed_hosts == {"host1", "host2"}
    (record,) = result.faults
    assert record.applied and record.host == "host1" and "restarted" in record.detail
    assert "host2" not in record.detail
    again = asyncplay.run("playbooks/facts.yml", tags="identity")
    assert_play_ok(again)
    host1 = asyncplay_hosts[0]
    assert host1.exec("test -d /home/ansible/.ansible_async")[0] == 0  # files persist across the restart


def test_reset_in_the_fire_and_forget_window_the_job_survives_and_is_reaped(asyncplay):
    result = asyncplay.run("playbooks/connection_window.yml",
                           faults=[drop_connection(at=task_start("pause on the controller"))])
    assert_play_ok(result)
    (record,) = result.faults
    assert record.applied and "closed 1 live connection(s)" in record.detail  # the ControlPersist master
    job = result.job("survivor job")
    assert job.reaped and job.outcome == "ok" and job.result["stdout"] == "survived"


def test_connection_down_during_the_reap_loop_is_unreachable_at_once(asyncplay, asyncplay_hosts):
    result = asyncplay.run("playbooks/connection_window.yml", extra_vars={"job_seconds": 8},
                           faults=[drop_connection(at=task_start("wait for survivor job"), mode="down", seconds=15)])
    assert result.unreachable_hosts == {"host1"}
    assert_play_failed(result, task="wait for survivor job", host="host1")
    assert [f.unreachable for f in result.failures] == [True]
    retries = [e for e in result.events if e["event"] == "runner_retry"]
    assert len(retries) <= 1  # no more retries once the connection is gone
    assert result.duration < 15
    # the job itself keeps running on the host, out of the play's sight
    assert result.job("survivor job").outcome in ("running", "ok")
    (record,) = result.faults
    assert "refusing new ones for 15s" in record.detail


def test_keep_alive_polling_survives_a_reset_between_polls(asyncplay):
    result = asyncplay.run("playbooks/keep_alive_long.yml",
                           faults=[drop_connection(at=job_launched("download artifact"))])
    assert_play_ok(result)
    job = result.job("download artifact")
    assert job.poll == 1 and job.outcome == "ok" and job.result["stdout"] == "downloaded"


def test_a_reset_right_after_the_first_poll_of_the_keep_alive_example_is_ridden_out(asyncplay):
    """Between polls, on the event stream: wherever the first poll lands in time, the reset comes after it."""
    result = asyncplay.run("../example_playbooks/keep_alive.yml",
                           faults=[drop_connection(at=job_polled("download artifact", n=1))])
    assert_play_ok(result)
    (record,) = result.faults
    assert record.applied and "closed" in record.detail, record
    first_poll = next(event_time(e) for e in result.events if e["event"] == "runner_on_async_poll")
    assert first_poll is not None and result.started_at is not None
    assert record.at is not None and record.at >= first_poll - result.started_at - 0.05  # after it, not before
    job = result.job("download artifact")
    assert job.outcome == "ok" and job.result["stdout"] == "downloaded"


def test_a_kill_after_the_reaps_first_answer_is_seen_by_its_next(asyncplay):
    """During the reap: the first answer found the job running, the kill lands after it, the next one fails."""
    result = asyncplay.run("playbooks/connection_window.yml", extra_vars={"job_seconds": 8},
                           faults=[kill_job("survivor job", at=job_polled("survivor job", n=1))])
    assert_play_failed(result, task="wait for survivor job", host="host1")
    (record,) = result.faults
    assert record.applied, record
    retries = [e for e in result.events if e["event"] == "runner_retry"]
    assert retries and result.started_at is not None
    first_answer = event_time(retries[0])
    assert first_answer is not None and record.at is not None and record.at >= first_answer - result.started_at - 0.05
    assert result.job("survivor job").outcome == "failed"


def test_a_kill_at_the_launchs_end_is_a_moment_on_every_host(asyncplay):
    result = asyncplay.run("playbooks/connection_window.yml", extra_vars={"job_seconds": 8},
                           faults=[kill_job("survivor job", at=task_end("survivor job"))])
    assert_play_failed(result, task="wait for survivor job", host="host1")
    (record,) = result.faults
    assert record.applied, record


@pytest.mark.asyncplay(hosts=2)
def test_connection_down_on_one_host_leaves_the_other_alone(asyncplay):
    result = asyncplay.run("playbooks/connection_window.yml", extra_vars={"job_seconds": 6},
                           faults=[drop_connection("host2", at=task_start("wait for survivor job"), mode="down",
                                                   seconds=15)])
    assert result.unreachable_hosts == {"host2"}
    assert result.job("survivor job", host="host1").outcome == "ok"


def test_drop_connection_arguments_are_checked():
    with pytest.raises(FaultError, match="needs a moment"):
        drop_connection("host1")
    with pytest.raises(FaultError, match="needs seconds > 0"):
        drop_connection(at=after(1), mode="down")
    with pytest.raises(FaultError, match="not a mode"):
        drop_connection(at=after(1), mode="flap")
