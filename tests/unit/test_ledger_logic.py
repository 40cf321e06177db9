"""The ledger's pure logic: events → jobs, job file → outcome, version-dependent flags."""

from __future__ import annotations

import json
import logging
import re

import docker.errors
import pytest

from pytest_asyncplay.errors import HostStartError
from pytest_asyncplay.ledger import (
    AsyncJob,
    JobTracker,
    classify,
    classify_final,
    read_outcomes,
    settle,
    settle_unread,
)
from pytest_asyncplay.versions import (
    check_mode_runs_async,
    end_in_rescue_fails_play,
    flag,
    keep_alive_timeout_message,
    parse_version,
    watchdog_kills_first,
    watchdog_step,
)


def event(kind, task="t", host="host1", res=None, action="shell", uuid="u1", created="2026-01-01T00:00:00"):
    data = {"task": task, "host": host, "task_action": action, "task_uuid": uuid, "task_path": "/p/site.yml:3"}
    if res is not None:
        data["res"] = res
    return {"event": kind, "event_data": data, "created": created}


LAUNCH = {"started": 1, "finished": 0, "ansible_job_id": "j1.10", "results_file": "/home/ansible/.ansible_async/j1.10"}


def test_fire_and_forget_launch_then_reap(tmp_path):
    meta = tmp_path / "meta.jsonl"
    meta.write_text(json.dumps({"uuid": "u1", "name": "t", "async": 45, "poll": 0}) + "\n")
    tracker = JobTracker(meta)
    job = tracker.feed(event("runner_on_ok", res=LAUNCH))
    assert job is not None
    assert (job.task, job.host, job.jid, job.async_timeout, job.poll, job.item) == ("t", "host1", "j1.10", 45, 0, None)
    assert not job.reaped and job.fire_and_forget
    reap = {"started": 1, "finished": 0, "ansible_job_id": "j1.10"}
    assert tracker.feed(event("runner_retry", task="wait", action="async_status", uuid="u2", res=reap)) is None
    assert job.reaped


def test_cleanup_mode_is_not_a_reap():
    tracker = JobTracker()
    job = tracker.feed(event("runner_on_ok", res=LAUNCH))
    cleanup = {"ansible_job_id": "j1.10", "erased": "/home/ansible/.ansible_async/j1.10", "started": 0}
    tracker.feed(event("runner_on_ok", task="clean", action="ansible.builtin.async_status", uuid="u2", res=cleanup))
    assert job is not None and not job.reaped


def test_loop_items_are_indexed_per_host_in_order():
    tracker = JobTracker()
    jobs = []
    for host in ("host1", "host2"):
        for i in range(3):
            res = dict(LAUNCH, ansible_job_id=f"j{i}.{host}", item=i)
            jobs.append(tracker.feed(event("runner_item_on_ok", host=host, res=res)))
    assert [(j.host, j.item) for j in jobs] == [(h, i) for h in ("host1", "host2") for i in range(3)]


def test_keep_alive_job_is_known_at_its_first_poll_and_counts_as_reaped():
    tracker = JobTracker()
    tracker.feed(event("runner_on_start", task="download", uuid="k1"))
    poll = {"started": 1, "finished": 0, "ansible_job_id": "j9.1"}
    job = tracker.feed(event("runner_on_async_poll", task="async_status", action="async_status", uuid="x", res=poll))
    assert job is not None and job.task == "download" and job.reaped and not job.fire_and_forget
    assert tracker.feed(event("runner_on_async_poll", task="async_status", action="async_status", res=poll)) is None
    failed = {"msg": "async task did not complete within the requested time - 2s", "async_result": poll}
    tracker.feed(event("runner_on_failed", task="download", uuid="k1", res=failed))
    assert job.final_event == failed
    assert len(tracker.jobs) == 1


@pytest.mark.parametrize(
    ("record", "exists", "alive", "outcome"),
    [
        (None, False, False, "missing"),
        ({"started": 1, "finished": 0}, True, True, "running"),
        ({"started": True, "finished": False}, True, False, "vanished"),
        ({"msg": "Timeout exceeded", "failed": True, "child_pid": 12}, True, False, "timeout"),
        ({"failed": True, "msg": "No start of json char found"}, True, False, "failed"),
        ({"rc": 2, "stdout": ""}, True, False, "failed"),
        ({"rc": -9, "failed": True}, True, False, "failed"),
        ({"rc": 0, "stdout": "done", "changed": True}, True, False, "ok"),
        (None, True, True, "running"),  # empty or corrupt file, job alive: still being written
    ],
)
def test_classify(record, exists, alive, outcome):
    assert classify(record, exists, alive) == outcome


def test_flag_reads_ints_bools_and_strings():
    assert flag({"started": 1}, "started") and flag({"started": True}, "started") and flag({"x": "true"}, "x")
    assert not flag({"finished": 0}, "finished") and not flag({}, "finished") and not flag({"x": "0"}, "x")


def test_version_facts():
    assert parse_version("2.19.14") == (2, 19, 14)
    assert parse_version("2.21.0rc1") == (2, 21, 0)
    assert not check_mode_runs_async((2, 16, 19)) and check_mode_runs_async((2, 17, 0))
    assert not watchdog_kills_first((2, 18, 18)) and watchdog_kills_first((2, 18, 19))
    assert watchdog_kills_first((2, 19, 12)) and not watchdog_kills_first((2, 19, 11))
    assert not watchdog_kills_first((2, 15, 13)) and watchdog_kills_first((2, 22, 0))
    assert watchdog_step(4, (2, 19, 14)) == 2 and watchdog_step(4, (2, 17, 14)) == 5.0
    assert "did not complete" in keep_alive_timeout_message((2, 20, 10))
    assert "unparsable" in keep_alive_timeout_message((2, 21, 5))
    assert end_in_rescue_fails_play((2, 17, 14)) and not end_in_rescue_fails_play((2, 18, 0))


@pytest.mark.parametrize(("res", "failed", "outcome"), [
    ({"msg": "async task did not complete within the requested time - 2s",
      "async_result": {"started": 1, "finished": 0}}, True, "timeout"),  # 2.15 - 2.20
    ({"msg": "async task produced unparsable results", "changed": False,
      "async_result": {"started": True, "finished": False, "failed": False}}, True, "timeout"),  # 2.21
    ({"rc": 1, "failed": True, "finished": 1}, True, "failed"),
    ({"rc": 0, "stdout": "kept", "finished": True}, False, "ok"),
])
def test_classify_final_for_keep_alive_jobs(res, failed, outcome):
    assert classify_final(res, failed) == outcome


def _reaped_job(*statuses):
    tracker = JobTracker()
    job = tracker.feed(event("runner_on_ok", res=LAUNCH, created="2026-01-01T00:00:00+00:00"))
    for status in statuses:
        tracker.feed(event("runner_on_ok", task="wait", action="async_status", uuid="u2",
                           res=dict(status, ansible_job_id="j1.10")))
    assert isinstance(job, AsyncJob)
    return job


STARTED_FILE = {"exists": True, "text": json.dumps(LAUNCH), "mtime": 1767225600.5, "alive": False}
TIMEOUT = {"msg": "Timeout exceeded", "failed": True, "child_pid": 7, "started": 1, "finished": 1}


def test_the_file_tells_the_outcome_when_it_has_one():
    job = _reaped_job(TIMEOUT)
    settle(job, {"exists": True, "text": json.dumps({"rc": 0, "stdout": "done"}), "mtime": 1767225603.0,
                 "alive": False})
    assert job.outcome == "ok" and job.result == {"rc": 0, "stdout": "done"}
    assert job.runtime == pytest.approx(3.0)  # file mtime minus the launch event's time


def test_a_reaped_record_stands_when_cleanup_removed_the_file():
    job = _reaped_job({"rc": 2, "failed": True, "msg": "non-zero return code", "started": 1, "finished": 1,
                       "delta": "0:00:01.500000"})
    settle(job, {"exists": False, "text": None, "mtime": None, "alive": False})
    assert job.outcome == "failed" and job.result is not None and job.result["rc"] == 2
    assert job.runtime == pytest.approx(1.5)


def test_a_reaped_timeout_stands_over_a_file_that_still_says_started():
    job = _reaped_job({"started": 1, "finished": 0}, TIMEOUT)
    settle(job, STARTED_FILE)
    assert job.outcome == "timeout" and job.result is not None and job.result["msg"] == "Timeout exceeded"
    assert job.runtime is None  # the file's mtime is the launch's, not the end's


def test_a_reap_that_never_saw_the_end_leaves_the_job_vanished():
    job = _reaped_job({"started": 1, "finished": 0}, {"started": 1, "finished": 0})
    settle(job, STARTED_FILE)
    assert job.outcome == "vanished" and job.reaped


def test_could_not_find_job_is_no_record_of_the_job():
    job = _reaped_job({"msg": "could not find job", "failed": True, "started": 1, "finished": 1})
    settle(job, {"exists": False, "text": None, "mtime": None, "alive": False})
    assert job.outcome == "missing" and job.result is None


# ---- a job file that says nothing about the job: "unknown" with its reason, unless the controller saw the end
@pytest.mark.parametrize(("text", "reason"), [
    ("", "is empty (0 bytes)"),
    ("not json{", "holds 9 bytes that are not JSON: 'not json{'"),
    ("[1, 2]", "holds JSON that is not an object: '[1, 2]'"),
    ('{"hello": 1}', "holds an object with none of a job record's keys"),
    ('{"started": 1, "finished": 0, "ansible_job_id": "j9.99"}', "is the record of job j9.99, not of j1.10"),
])
def test_a_job_file_that_cannot_be_understood_is_unknown(text, reason):
    job = _reaped_job()  # launched, never reaped: only the file could tell
    settle(job, {"exists": True, "text": text, "mtime": 1767225603.0, "alive": True})
    assert job.outcome == "unknown" and job.result is None
    assert job.unknown_reason is not None and reason in job.unknown_reason, job.unknown_reason


def test_the_controllers_word_wins_over_a_garbled_file():
    job = _reaped_job({"rc": 2, "failed": True, "msg": "non-zero return code", "started": 1, "finished": 1})
    settle(job, {"exists": True, "text": "not json{", "mtime": 1767225603.0, "alive": False})
    assert job.outcome == "failed" and job.unknown_reason is None


def test_a_module_result_is_a_job_record_though_it_has_no_started_or_finished():
    """async_wrapper writes the module's JSON as is: ``finished`` is async_status's word, never in the file."""
    job = _reaped_job()
    settle(job, {"exists": True, "text": '{"changed": true, "rc": 0, "stdout": "done"}', "mtime": None,
                 "alive": False})
    assert job.outcome == "ok"


# ---- a job file nobody could read: the controller's word, or "unknown" with the reason ------------------------
class FakeTarget:
    """A host whose job reader answers ``answer`` or raises it (read_outcomes only calls ``hostside``)."""

    def __init__(self, answer, name="host1"):
        self.name, self.answer, self.calls = name, answer, []

    def hostside(self, command, *args):
        self.calls.append((command, *args))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _fire_and_forget(jid="j1.10", host="host1"):
    return AsyncJob(task="compress logs", host=host, jid=jid, async_timeout=30, poll=0, item=None,
                    results_file=f"/home/ansible/.ansible_async/{jid}")


@pytest.mark.parametrize(("error", "reason"), [
    (HostStartError("a helper script failed on host1 (exit 137):\nkilled", "the host may have been stopped"),
     r"could not read the job file on host1: HostStartError: a helper script failed on host1 \(exit 137\): killed$"),
    (docker.errors.NotFound("No such container: 3f2a"),
     r"could not read the job file on host1: NotFound: No such container: 3f2a$"),
    (ConnectionError("docker.sock: connection refused"),
     r"could not read the job file on host1: ConnectionError: docker.sock: connection refused$"),
    (json.JSONDecodeError("Expecting value", "garbage", 0),
     r"could not read the job file on host1: JSONDecodeError: Expecting value: line 1 column 1 \(char 0\)$"),
])
def test_an_unreadable_job_file_makes_the_outcome_unknown_with_the_reason(error, reason):
    job = _fire_and_forget()
    read_outcomes([job], [FakeTarget(error)])
    assert job.outcome == "unknown" and job.result is None and job.runtime is None
    assert job.unknown_reason is not None and re.search(reason, job.unknown_reason), job.unknown_reason
    assert "outcome unknown (could not read the job file on host1: " in job.describe()
    assert job.job_file == "<not read>"


def test_the_controllers_last_word_stands_when_the_file_cannot_be_read():
    kept = _fire_and_forget("j2.10")
    kept.poll, kept.final_event, kept.final_failed = 5, {"rc": 0, "stdout": "kept", "finished": 1}, False
    reaped = _reaped_job(TIMEOUT)
    never_seen = _fire_and_forget("j3.10")
    read_outcomes([kept, reaped, never_seen], [FakeTarget(HostStartError("a helper script failed on host1"))])
    assert (kept.outcome, kept.unknown_reason, kept.result) == ("ok", None, kept.final_event)
    assert (reaped.outcome, reaped.unknown_reason) == ("timeout", None)
    assert never_seen.outcome == "unknown" and "HostStartError" in str(never_seen.unknown_reason)


def test_a_host_without_a_target_or_an_answer_without_the_jid_is_unknown():
    elsewhere = _fire_and_forget("j1.1", host="localhost")
    unanswered, answered = _fire_and_forget("j2.1"), _fire_and_forget("j3.1")
    target = FakeTarget({"j3.1": {"exists": True, "text": '{"rc": 0}', "mtime": None, "alive": False}})
    read_outcomes([elsewhere, unanswered, answered], [target])
    assert elsewhere.outcome == "unknown"
    assert "localhost is not one of the play's hosts" in str(elsewhere.unknown_reason)
    assert unanswered.outcome == "unknown" and "did not answer for jid j2.1" in str(unanswered.unknown_reason)
    assert answered.outcome == "ok" and answered.unknown_reason is None
    assert len(target.calls) == 1  # one exec per host


def test_an_answer_that_is_not_an_object_is_unknown():
    job = _fire_and_forget()
    read_outcomes([job], [FakeTarget(None)])
    assert job.outcome == "unknown" and "answered 'None', not a JSON object" in str(job.unknown_reason)


def test_a_bug_while_reading_is_not_swallowed():
    with pytest.raises(RuntimeError, match="a bug in the reader"):
        read_outcomes([_fire_and_forget()], [FakeTarget(RuntimeError("a bug in the reader"))])


def test_a_later_read_clears_an_old_unknown_reason():
    job = _fire_and_forget()
    settle_unread(job, "could not read the job file on host1: HostStartError: gone")
    settle(job, {"exists": True, "text": '{"rc": 2, "failed": true}', "mtime": None, "alive": False})
    assert (job.outcome, job.unknown_reason) == ("failed", None)


def test_reading_job_files_is_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="pytest_asyncplay.ledger")
    read_outcomes([_fire_and_forget()], [FakeTarget(HostStartError("a helper script failed on host1"))])
    messages = [r.getMessage() for r in caplog.records if r.name == "pytest_asyncplay.ledger"]
    assert any(m.startswith("job files on host1 could not be read: HostStartError") for m in messages), messages
    assert any(m.startswith("job j1.10 on host1 settled: outcome unknown (could not read") for m in messages)
