"""PlayResult's derived views, the assertion helpers' messages and the reap audit's verdict, on results built
from events."""

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
from pytest_asyncplay.assertions import location_matches
from pytest_asyncplay.audit.reap import judge, stops_probe
from pytest_asyncplay.audit.report import merge, tally, to_markdown
from pytest_asyncplay.faults import FaultRecord
from pytest_asyncplay.result import (
    FailureAccount,
    TaskFailure,
    failure_from_event,
    failures_from_events,
    stats_from_event,
)

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
        failures=failures_from_events(events),
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
    with pytest.raises(AssertionError, match=r"^the play failed \(rc=2\) but was expected to pass") as info:
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


# ---- failure accounting: which events count, each once ------------------------------------------------
def keep_alive_failed(ignore, host="host1", task="test graceful module failure", uuid="u-ka"):
    """What a failed keep-alive task (poll > 0) sends: async_failed (no ignore_errors), then failed."""
    res = {"ansible_job_id": "j9.1", "failed": True, "finished": 1, "msg": "failed gracefully"}
    data = {"task": task, "host": host, "task_uuid": uuid, "task_action": "command",
            "task_path": "/r/main.yml:120", "res": res}
    return [{"event": "runner_on_async_poll", "event_data": {**data, "res": {"ansible_job_id": "j9.1",
                                                                             "started": 1, "finished": 0}}},
            {"event": "runner_on_async_failed", "event_data": dict(data)},
            {"event": "runner_on_failed", "event_data": {**data, "ignore_errors": ignore}}]


def looped_reap(ignore, item_ignores=(None, None), uuid="u-loop", host="host1"):
    """A looped async_status reap whose two items fail, then the task's own verdict."""
    data = {"task": "wait for batch", "host": host, "task_uuid": uuid, "task_action": "async_status",
            "task_path": "/r/roles/x/tasks/main.yml:5"}
    events = []
    for n, item_ignore in enumerate(item_ignores):
        res = {"ansible_job_id": f"j{n}.1", "failed": True, "finished": 1, "msg": f"item {n} failed"}
        if item_ignore is not None:
            res["_ansible_ignore_errors"] = item_ignore
        events.append({"event": "runner_item_on_failed", "event_data": {**data, "res": res}})
    events.append({"event": "runner_on_failed", "event_data": {
        **data, "ignore_errors": ignore, "res": {"failed": True, "msg": "One or more items failed",
                                                 "results": [{"failed": True}, {"failed": True}]}}})
    return events


def test_an_ignored_keep_alive_failure_is_not_listed():
    assert failures_from_events(keep_alive_failed(ignore=True)) == []
    assert failure_from_event(keep_alive_failed(ignore=False)[1]) is None  # async_failed never counts alone


def test_a_real_keep_alive_failure_is_listed_once():
    (failure,) = failures_from_events(keep_alive_failed(ignore=False))
    assert (failure.task, failure.host, failure.message) == ("test graceful module failure", "host1",
                                                             "failed gracefully")


def test_ignored_item_failures_are_not_listed():
    assert failures_from_events(looped_reap(ignore=True)) == []
    assert failures_from_events(looped_reap(ignore=True, item_ignores=(True, True))) == []


def test_real_item_failures_are_listed_each_once_with_their_jids():
    failures = failures_from_events(looped_reap(ignore=False))
    assert [(f.jid, f.message) for f in failures] == [("j0.1", "item 0 failed"), ("j1.1", "item 1 failed")]
    # an item ignored on its own (a templated ignore_errors) drops out, its sibling still counts
    failures = failures_from_events(looped_reap(ignore=False, item_ignores=(True, False)))
    assert [f.jid for f in failures] == ["j1.1"]


def test_item_failures_wait_for_their_task_and_are_kept_apart_per_host():
    account = FailureAccount()
    host1, host2 = looped_reap(ignore=False, host="host1"), looped_reap(ignore=True, host="host2")
    seen = [account.feed(e, at=float(n)) for n, e in enumerate([host1[0], host2[0], host1[1], host2[1]])]
    assert seen == [[], [], [], []]  # nothing counts before the task's verdict
    assert account.feed(host2[2], at=5.0) == []
    counted = account.feed(host1[2], at=6.0)
    assert [(f.host, f.jid, f.at) for f in counted] == [("host1", "j0.1", 0.0), ("host1", "j1.1", 2.0)]
    assert account.failures == counted


def test_failed_when_false_and_unreachable():
    ok = {"event": "runner_on_ok", "event_data": {"task": "t", "host": "host1",
                                                  "res": {"rc": 1, "failed_when_result": False}}}
    gone = {"event": "runner_on_unreachable", "event_data": {"task": "t", "host": "host1",
                                                             "res": {"unreachable": True, "msg": "ssh: reset"}}}
    (failure,) = failures_from_events([ok, gone])
    assert failure.unreachable and failure.message == "ssh: reset"


def test_assert_play_failed_is_not_satisfied_by_an_ignored_failure():
    events = keep_alive_failed(ignore=True) + keep_alive_failed(ignore=False, task="other", uuid="u2")
    result = make(events=events)
    assert [f.task for f in result.failures] == ["other"]
    assert_play_failed(result, task="other")
    with pytest.raises(AssertionError, match='not because of task "test graceful module failure"'):
        assert_play_failed(result, task="test graceful module failure")


# ---- task= as file:line ------------------------------------------------------------------------------
@pytest.mark.parametrize(("wanted", "matches"), [
    ("site.yml:12", True), ("r/site.yml:12", True), ("/r/site.yml:12", True), ("./site.yml:12", True),
    ("site.yml:1", False), ("ite.yml:12", False), ("x/site.yml:12", False), ("/site.yml:12", False),
    ("site.yml", False), ("site.yml:x", False), (":12", False), ("../site.yml:12", False),
])
def test_location_matches_on_whole_path_components(wanted, matches):
    assert location_matches(wanted, "/r/site.yml:12") is matches


def test_assert_play_failed_accepts_file_line():
    result = make(jobs=[job("host2", "j2.1", "failed")], events=[reap_failed(), *looped_reap(ignore=False)])
    result.jobs[0].task_path = "/r/site.yml:4"
    assert_play_failed(result, task="site.yml:12")  # the failed reap itself
    assert_play_failed(result, task="site.yml:4", host="host2")  # the job whose reap failed
    assert_play_failed(result, task="roles/x/tasks/main.yml:5")
    assert_play_failed(result, task="x/tasks/main.yml:5", host="host1")
    with pytest.raises(AssertionError, match=r'not because of task "site\.yml:13"'):
        assert_play_failed(result, task="site.yml:13")
    with pytest.raises(AssertionError, match=r'not because of task "other/tasks/main\.yml:5"'):
        assert_play_failed(result, task="other/tasks/main.yml:5")


# ---- the reap audit: when a probe may stop early, and its verdict ------------------------------------------
KILL = FaultRecord("kill_job", True, 5.0, "host1", "j5.1", "SIGKILL to [42]")
RESCUABLE = frozenset({"/r/site.yml:30"})


def failure(at, host="host1", task="wait for job", path="/r/site.yml:12", unreachable=False, jid=None):
    return TaskFailure(task, host, "boom", unreachable, path, jid, at)


def played(rc, failures, faults=(KILL,), failed_hosts=("host1",), timed_out=False):
    stats = {h: {"failures": int(h in failed_hosts)} for h in ("host1", "host2")}
    return PlayResult(playbook=Path("/r/site.yml"), rc=rc, stats=stats, events=[], stdout="", duration=1.0,
                      faults=list(faults), jobs=[], timed_out=timed_out, failures=list(failures))


@pytest.mark.parametrize(("seen", "stops"), [
    (failure(6.0, jid="j5.1"), True),                 # the job's reap failed after the kill
    (failure(5.0), True),                             # at the very moment the fault applied (same clock tick)
    (failure(6.0, task="later task"), True),          # any counted failure on the hit host after the fault
    (failure(6.0, unreachable=True), False),          # unreachable: a job fault never touches SSH
    (failure(4.9), False),                            # before the fault: not its doing
    (failure(6.0, host="host2"), False),              # another host
    (failure(6.0, path="/r/site.yml:30"), False),     # a rescue may still catch it
    (failure(6.0, path="/r/site.yml:30", unreachable=True), False),  # not the fault's doing, rescue or not
    (failure(None), False),                           # no time: cannot tell
])
def test_a_probe_stops_early_only_at_a_failure_the_fault_caused(seen, stops):
    assert stops_probe(seen, [KILL], RESCUABLE) is stops


def test_a_probe_never_stops_when_the_fault_has_not_applied():
    missed = FaultRecord("kill_job", False, None, None, None, "its moment never came")
    assert not stops_probe(failure(6.0), [], RESCUABLE)
    assert not stops_probe(failure(6.0), [missed], RESCUABLE)


def test_verdict_surfaced_when_the_play_failed_after_the_fault_on_its_host():
    verdict, why = judge(played(2, [failure(6.0, jid="j5.1")]), RESCUABLE)
    assert verdict == "surfaced" and '"wait for job" (/r/site.yml:12) failed on host1' in why


def test_verdict_not_proven_when_the_hit_host_only_became_unreachable():
    """A false "surfaced" on a loaded machine: SSH to the hit host timed out after the kill. The kill acts on the
    job's processes, never on SSH, so the failed play proves nothing about the reap."""
    gone = TaskFailure("wait for job", "host1", "Failed to connect to the host via ssh", True, "/r/site.yml:12",
                       None, 6.0)
    result = PlayResult(playbook=Path("/r/site.yml"), rc=4, stats={"host1": {"failures": 0, "unreachable": 1}},
                        events=[], stdout="", duration=1.0, faults=[KILL], jobs=[], failures=[gone])
    verdict, why = judge(result, RESCUABLE)
    assert verdict == "not-proven" and "not because of the fault on host1" in why and "via ssh" in why
    # with the reap's own failure on the same host, the play did fail because of the fault
    both = PlayResult(playbook=Path("/r/site.yml"), rc=2, stats={"host1": {"failures": 1}}, events=[], stdout="",
                      duration=1.0, faults=[KILL], jobs=[], failures=[failure(6.0, jid="j5.1"), gone])
    assert judge(both, RESCUABLE)[0] == "surfaced"


def test_verdict_swallowed_when_the_play_passed():
    assert judge(played(0, [], failed_hosts=()))[0] == "swallowed"


def reap_events(zero, *steps, jid="j5.1", host="host1"):
    """A reap's events at seconds after ``zero``: ("start"|"retry"|"ok"|"done"|"failed", t); "done" saw the end."""
    from datetime import datetime, timezone
    kinds = {"start": "runner_on_start", "retry": "runner_retry", "ok": "runner_on_ok", "done": "runner_on_ok",
             "failed": "runner_on_failed"}
    events = []
    for kind, t in steps:
        data = {"host": host, "task_uuid": "u-reap", "task_action": "ansible.builtin.async_status",
                "res": {"ansible_job_id": jid, "finished": int(kind == "done")}}
        created = datetime.fromtimestamp(zero + t, tz=timezone.utc).isoformat()
        events.append({"event": kinds[kind], "event_data": data, "created": created})
    return events


@pytest.mark.parametrize(("steps", "verdict"), [
    ([("start", 6.0), ("ok", 7.0)], "swallowed"),                   # the look began after the kill (at 5.0+0.5)
    ([("start", 4.0), ("ok", 7.0)], "not-proven"),                  # it began before: it may have read the file first
    ([("start", 4.0), ("retry", 5.0), ("ok", 6.0)], "not-proven"),  # its last attempt began at 5.0, before 5.5
    ([("start", 4.0), ("retry", 5.8), ("ok", 6.5)], "swallowed"),   # a retry after the kill looked again
    ([], "swallowed"),                                              # never looked at: unreaped at any moment
    ([("start", 4.0), ("done", 7.0)], "swallowed"),                 # it saw the end: after the fault, which applied
])
def test_a_green_play_is_swallowed_only_if_a_reap_looked_after_the_fault(steps, verdict):
    """Under load a kill can land after the reap's one look: the play is green, but it tested another moment."""
    zero = 1_700_000_000.0
    kill = FaultRecord("kill_job", True, 5.0, "host1", "j5.1", "SIGKILL to [42]", took=0.5)
    result = played(0, [], faults=[kill], failed_hosts=())
    result.events, result.started_at = reap_events(zero, *steps), zero
    found, why = judge(result)
    assert found == verdict, why
    if verdict == "not-proven":
        assert "took effect at +5.50s on host1, after the last look at job j5.1 began" in why
    looks = [began for began, _ in result.reap_looks("j5.1")]
    assert looks == ([pytest.approx(steps[-2][1])] if steps else [])  # the last attempt's start


def task_ends(zero, uuid, name, **ends):
    """One task's end event on each host, at seconds after ``zero``."""
    from datetime import datetime, timezone
    return [{"event": "runner_on_ok", "created": datetime.fromtimestamp(zero + t, tz=timezone.utc).isoformat(),
             "event_data": {"host": host, "task_uuid": uuid, "task": name}} for host, t in ends.items()]


def test_a_host_waited_on_a_peer_only_when_the_peer_ended_a_task_later_than_it_and_the_clean_host():
    """The linear strategy paces every host by the slowest: a peer whose fault kept its reap retrying moves the
    later looks of every host, which is what the parallel audit must not take for the host's own run."""
    zero = 1_700_000_000.0
    result = played(0, [], failed_hosts=())
    result.started_at = zero
    result.events = (task_ends(zero, "u1", "launch", clean=1.0, host2=1.1, host3=1.2)
                     + task_ends(zero, "u2", "wait for quick job", clean=2.0, host2=2.1, host3=6.5)
                     + task_ends(zero, "u3", "look once", clean=6.8, host2=6.9, host3=7.0))
    assert result.waited_on("host2", ["host3"], pace=["clean"]) == ("wait for quick job", "host3", pytest.approx(4.4))
    assert result.waited_on("host2", ["host3"], pace=["clean"], before=1.5) is None  # it failed before the wait
    assert result.waited_on("host3", ["host2"], pace=["clean"]) is None  # the slow one waited on nobody
    assert result.waited_on("clean", ["host2"], pace=[]) is None  # within the margin
    slow_clean = played(0, [], failed_hosts=())
    slow_clean.started_at = zero
    slow_clean.events = task_ends(zero, "u2", "wait", clean=6.0, host2=2.0, host3=6.5)
    assert slow_clean.waited_on("host2", ["host3"], pace=["clean"]) is None  # it would have waited anyway


def test_time_waited_counts_only_the_waits_between_the_moment_and_the_look():
    zero = 1_700_000_000.0
    result = played(0, [], failed_hosts=())
    result.started_at = zero
    result.events = (task_ends(zero, "u1", "launch", clean=1.0, host2=1.1, host3=3.1)
                     + task_ends(zero, "u2", "wait", clean=2.0, host2=2.1, host3=6.1)
                     + task_ends(zero, "u3", "look once", clean=6.8, host2=6.9, host3=7.0))
    assert result.time_waited("host2", ["host3"], pace=["clean"]) == pytest.approx(2.0 + 4.0 + 0.1)
    assert result.time_waited("host2", ["host3"], pace=["clean"], after=1.5, before=6.5) == pytest.approx(4.0)
    assert result.time_waited("host3", ["host2"], pace=["clean"]) == 0.0  # it was the slow one


@pytest.mark.parametrize(("kind", "look", "verdict"), [
    ("killed", 6.2, "surfaced"),   # 4 s of waiting taken away, the look still begins after the kill took effect
    ("vanished", 6.2, "surfaced"),  # a removed job file stays removed, too
    ("killed", 5.4, "paced"),      # alone it would have begun at 1.4, before the kill at 1.0+0.5: unknown
    ("slow", 6.2, "paced"),        # a job that outlives async: times out later: any wait can change the look
])
def test_a_surfaced_probe_paced_by_a_peer_is_doubted_unless_its_look_came_after_a_lasting_fault_anyway(
        kind, look, verdict):
    """A late look sees a killed job as dead as an early one, so long as it comes after the kill took effect."""
    from pytest_asyncplay.audit.reap import paced_by_peers
    zero = 1_700_000_000.0
    fault = FaultRecord("kill_job", True, 1.0, "host2", "j5.1", "SIGKILL to [42]", took=0.5)
    seen = TaskFailure("wait for job", "host2", "killed", task_path="/r/site.yml:12", jid="j5.1", at=look + 0.3)
    result = played(2, [seen], faults=[fault], failed_hosts=("host2",))
    result.started_at = zero
    result.stats["host3"] = result.stats["clean"] = {"failures": 0}
    result.events = (task_ends(zero, "u1", "launch", clean=0.9, host2=0.9, host3=0.9)
                     + task_ends(zero, "u2", "wait for quick job", clean=1.9, host2=1.9, host3=5.9)
                     + reap_events(zero, ("start", look), ("failed", look + 0.3), host="host2"))
    own = result.for_hosts(["host2"], faults=[fault])
    found, why = paced_by_peers(result, "host2", "clean", ["host2", "host3"], own, kind, set(), [fault], "the why")
    assert found == verdict, why
    assert why == ("the why" if verdict == "surfaced"
                   else 'host2 waited 4.0s for host3 to end "wait for quick job" before its reap failed')


def test_verdict_not_proven_when_the_play_failed_before_the_fault():
    """The false "surfaced" this guards against: an earlier failure ends the play, the kill proves nothing."""
    verdict, why = judge(played(2, [failure(3.0, task="keep-alive task")]), RESCUABLE)
    assert verdict == "not-proven"
    assert "not because of the fault on host1" in why and '"keep-alive task"' in why


def test_verdict_not_proven_when_only_another_host_failed():
    result = played(2, [failure(6.0, host="host2")], failed_hosts=("host2",))
    assert judge(result, RESCUABLE)[0] == "not-proven"


def test_verdict_not_proven_when_the_fault_never_applied():
    missed = FaultRecord("kill_job", False, None, None, None, 'its moment job_launched("x") never came on any host')
    verdict, why = judge(played(2, [failure(3.0)], faults=[missed]), RESCUABLE)
    assert verdict == "not-proven" and "never applied" in why and "the play had failed first" in why


def test_verdict_not_proven_when_the_play_failed_without_a_failed_task_or_hung():
    assert judge(played(2, [], failed_hosts=()))[0] == "not-proven"
    assert judge(played(-1, [failure(6.0)], timed_out=True))[0] == "not-proven"


def test_verdict_with_a_rescue():
    rescued = failure(6.0, path="/r/site.yml:30")
    # the rescue caught the reap's failure, and the play failed for another reason before the fault
    result = played(2, [failure(3.0, host="host2"), rescued], failed_hosts=("host2",))
    verdict, why = judge(result, RESCUABLE)
    assert verdict == "not-proven" and "a rescue caught" in why
    # the rescue did not save the host (its recap says failed): the fault did fail the play
    assert judge(played(2, [rescued]), RESCUABLE)[0] == "surfaced"
    # nothing else failed, yet rc 2: the rescue itself failed the play (end_play in a rescue, up to 2.17)
    assert judge(played(2, [rescued], failed_hosts=()), RESCUABLE)[0] == "surfaced"


# ---- an unknown outcome (a job file nobody could read) is refused, never a pass ----------------------------
REASON = "could not read the job file on host1: HostStartError: a helper script failed on host1 (exit 137)"


def unknown_job(host="host1", jid="j1.1"):
    return AsyncJob(task="compress logs", host=host, jid=jid, async_timeout=30, poll=0, item=None,
                    outcome="unknown", unknown_reason=REASON)


def test_assert_no_swallowed_failures_refuses_an_unknown_outcome_with_the_job_and_reason():
    result = make(rc=0, jobs=[job("host2", "j2.1", "ok"), unknown_job()])
    assert result.swallowed_failures == [] and result.unknown_jobs == [result.jobs[1]]
    with pytest.raises(AssertionError, match=(
            r'^1 job\(s\) have an unknown outcome, so this assertion cannot be decided:\n'
            r'  "compress logs" on host1: jid j1\.1, outcome unknown \(could not read the job file on host1: '
            r'HostStartError: a helper script failed on host1 \(exit 137\)\), reaped=False\n'
            r'Hint: the job file could not be read after the play')):
        assert_no_swallowed_failures(result)


def test_helpers_that_do_not_read_outcomes_still_decide_beside_an_unknown_job():
    """rc, counted failures and reaps come from the event stream, which an unread job file does not change."""
    assert_play_ok(make(rc=0, jobs=[unknown_job()]))
    assert_play_failed(make(jobs=[unknown_job("host2", "j2.1")], events=[reap_failed()]), task="compress logs")
    with pytest.raises(AssertionError, match="1 fire-and-forget job"):
        assert_all_jobs_reaped(make(rc=0, jobs=[unknown_job()]))


def test_the_summary_shows_why_an_outcome_is_unknown():
    text = make(rc=0, jobs=[unknown_job()]).summary()
    assert "async jobs (1 with an unknown outcome):" in text
    assert f"outcome unknown ({REASON})" in text and "job file: <not read>" in text


@pytest.mark.parametrize(("rc", "failures", "otherwise"), [
    (2, [failure(6.0, jid="j5.1")], "surfaced"),
    (0, [], "swallowed"),
])
def test_verdict_not_proven_when_a_job_outcome_is_unknown(rc, failures, otherwise):
    result = played(rc, failures, failed_hosts=("host1",) if rc else ())
    assert judge(result, RESCUABLE)[0] == otherwise
    result.jobs = [unknown_job(), unknown_job("host2", "j2.1")]
    verdict, why = judge(result, RESCUABLE)
    assert verdict == "not-proven"
    assert why.startswith(f'the outcome of "compress logs" on host1: jid j1.1, outcome unknown ({REASON}), '
                          "reaped=False (and 1 more) is unknown, so the run proves nothing; Hint: "), why


def test_a_not_proven_row_fails_the_audit_report():
    record = {"playbook": "site.yml", "where": "site.yml:4", "task": "compress logs", "kind": "killed",
              "verdict": "not-proven", "message": f"not proven: the outcome of ... is unknown ({REASON})"}
    (row,) = merge([record])
    assert not row.passed and not row.disagreement
    assert "1 not-proven" in tally([row])
    assert REASON in to_markdown([row])


def test_for_hosts_is_the_play_as_those_hosts_lived_it():
    events = [STATS_EVENT, reap_failed("host2", "j2.1")]
    faults = [FaultRecord("kill_job", True, 0.5, "host2", "j2.1", "killed"),
              FaultRecord("kill_job", True, 0.5, "host1", "j1.1", "killed")]
    result = make(rc=2, jobs=[job("host1", "j1.1", "ok"), job("host2", "j2.1", "failed")], events=events,
                  faults=faults)
    clean = result.for_hosts(["host1"], faults=[])
    assert clean.rc == 0 and clean.ok and clean.stats.keys() == {"host1"} and clean.failures == []
    assert [j.jid for j in clean.jobs] == ["j1.1"] and clean.faults == []
    assert all((e.get("event_data") or {}).get("host") in (None, "host1") for e in clean.events)
    probe = result.for_hosts(["host2"])
    assert probe.rc == 2 and probe.failed_hosts == {"host2"} and [f.host for f in probe.failures] == ["host2"]
    assert [r.host for r in probe.faults] == ["host2"]  # the default: the fault records on those hosts
    assert judge(clean) == ("not-proven", "the fault never applied: no fault record")  # the clean host had none
    both = result.for_hosts(["host1", "host2"])
    assert both.rc == 2 and both.stats.keys() == {"host1", "host2"}


def test_for_hosts_keeps_the_rc_of_a_play_that_never_reached_its_recap():
    result = PlayResult(playbook=Path("/r/site.yml"), rc=4, stats={}, events=[], stdout="", duration=1.0,
                        faults=[], jobs=[])
    assert result.for_hosts(["host1"]).rc == 4


def test_probes_column_and_isolated_reasons_in_the_table_and_markdown():
    records = [
        {"playbook": "a.yml", "task": "t", "where": "a.yml:3", "kind": "killed", "verdict": "surfaced",
         "message": "surfaced: ...", "probes": "parallel", "probes_why": ""},
        {"playbook": "b.yml", "task": "u", "where": "b.yml:3", "kind": "killed", "verdict": "surfaced",
         "message": "surfaced: ...", "probes": "isolated", "probes_why": "b.yml:9: run_once runs the task"},
    ]
    rows = merge(records)
    assert [(r.probes, r.probes_why) for r in rows] == [("parallel", None),
                                                        ("isolated", "b.yml:9: run_once runs the task")]
    from pytest_asyncplay.audit.report import format_table

    table = format_table(rows)
    assert table.splitlines()[0].split()[-1] == "probes"
    assert table.splitlines()[-1] == "isolated probes: b.yml: b.yml:9: run_once runs the task"
    assert "### Isolated probes\n\n- b.yml: b.yml:9: run_once runs the task" in to_markdown(rows)


def test_a_message_of_several_lines_stays_one_markdown_list_item():
    record = {"playbook": "site.yml", "where": "site.yml:4", "task": "compress logs", "kind": "killed",
              "verdict": "swallowed", "message": "swallowed: the play still finished rc=0\n\n(played alone | twice)"}
    (row,) = merge([record])
    text = to_markdown([row])
    assert "- swallowed: the play still finished rc=0\n  (played alone \\| twice)\n" in text
