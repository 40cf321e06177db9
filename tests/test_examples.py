"""Each example playbook does what the articles say it does, on real hosts, with and without a kill."""

from __future__ import annotations

import pytest

from pytest_asyncplay import (
    assert_all_jobs_reaped,
    assert_no_swallowed_failures,
    assert_play_failed,
    assert_play_ok,
    kill_job,
)
from pytest_asyncplay.versions import keep_alive_timeout_message

EX = "../example_playbooks/"


def test_short_async_timeout_fails_the_play(asyncplay):
    result = asyncplay.run(EX + "short_timeout.yml")
    assert_play_failed(result, task="slow command with too little headroom", host="host1")
    job = result.job("slow command with too little headroom")
    assert job.poll == 1 and job.async_timeout == 2
    assert job.outcome == "timeout"
    # who reports it first is a race: the controller giving up at async:, or the host's watchdog killing
    # the job and its next poll reading "Timeout exceeded" from the job file (seen under load)
    message = result.failures[0].message
    assert keep_alive_timeout_message() in message or message == "Timeout exceeded"


def test_unreaped_job_is_listed_and_its_failure_swallowed(asyncplay):
    clean = asyncplay.run(EX + "fire_and_forget_unreaped.yml")
    assert_play_ok(clean)
    with pytest.raises(AssertionError, match="never reaped with async_status"):
        assert_all_jobs_reaped(clean)

    killed = asyncplay.run(EX + "fire_and_forget_unreaped.yml", faults=[kill_job("compress logs")])
    assert_play_ok(killed)  # the trap: the job failed and the play is green
    job = killed.job("compress logs")
    assert job.outcome == "failed" and not job.reaped
    assert killed.swallowed_failures == [job]
    with pytest.raises(AssertionError, match="swallowed"):
        assert_no_swallowed_failures(killed)


def test_reaped_job_passes_clean_and_a_kill_fails_the_play(asyncplay):
    clean = asyncplay.run(EX + "fire_and_forget_reaped.yml")
    assert_play_ok(clean)
    assert_all_jobs_reaped(clean)
    assert_no_swallowed_failures(clean)
    assert clean.job("compress logs").result["stdout"] == "compressed"

    killed = asyncplay.run(EX + "fire_and_forget_reaped.yml", faults=[kill_job("compress logs")])
    assert_play_failed(killed, task="compress logs", host="host1")
    assert_play_failed(killed, task="wait for compress logs")
    assert killed.swallowed_failures == []
    (record,) = killed.faults
    assert record.applied and record.host == "host1" and record.jid == killed.job("compress logs").jid


def test_reap_with_ignore_errors_swallows_a_killed_job(asyncplay):
    killed = asyncplay.run(EX + "reap_ignores_errors.yml", faults=[kill_job("rotate certificates")])
    assert_play_ok(killed)
    job = killed.job("rotate certificates")
    assert job.reaped and job.outcome == "failed"
    assert killed.swallowed_failures == [job]


@pytest.mark.parametrize("item", [0, 2])
def test_batch_job_kill_of_any_item_fails_the_play(asyncplay, item):
    result = asyncplay.run(EX + "batch_job.yml", faults=[kill_job("process batch", item=item)])
    assert_play_failed(result, task="process batch")
    assert [j.item for j in result.jobs] == [0, 1, 2]
    assert {j.item: j.outcome for j in result.jobs}[item] == "failed"
    assert all(j.reaped for j in result.jobs)


@pytest.mark.asyncplay(hosts=2)
def test_three_parallel_jobs_on_two_hosts_kill_one(asyncplay):
    result = asyncplay.run(EX + "parallel_jobs.yml", faults=[kill_job("warm cache", host="host2")])
    assert_play_failed(result, task="warm cache", host="host2")
    assert result.failed_hosts == {"host2"}
    assert len(result.jobs) == 6
    outcomes = {(j.task, j.host): j.outcome for j in result.jobs}
    assert outcomes.pop(("warm cache", "host2")) == "failed"
    assert set(outcomes.values()) == {"ok"}


def test_keep_alive_polls_until_done(asyncplay):
    result = asyncplay.run(EX + "keep_alive.yml")
    assert_play_ok(result)
    job = result.job("download artifact")
    assert job.poll == 1 and job.reaped and job.outcome == "ok"
    assert job.result["stdout"] == "downloaded", job.evidence()
    assert job.runtime is not None and 2.5 < job.runtime < 10
