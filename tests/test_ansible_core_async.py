"""ansible-core's own async integration targets (ported to tests/ansible_core_async/), on real hosts:
what the ledger says of each job, which failures count, and the reap audit's verdict per fire-and-forget job.

The audit once called a killed, never-reaped job of this play "surfaced": it counted the ignored
keep-alive failures that come later in the play (``runner_on_async_failed`` carries no ``ignore_errors``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from pytest_asyncplay import assert_play_ok, kill_job
from pytest_asyncplay.audit.reap import judge, stops_probe
from pytest_asyncplay.faults import Fault
from pytest_asyncplay.result import TaskFailure

ROOT = Path(__file__).resolve().parent.parent
PORT = ROOT / "tests" / "ansible_core_async"
UNPOLLED = "test async without polling"
# The keep-alive tasks of async.yml that fail under ignore_errors: none may count, none may stop a probe.
IGNORED_KEEP_ALIVE = {"test graceful module failure", "test exception module failure", "test stderr handling"}
# Every job async.yml launches, with its job killed at launch: (poll, reaped, outcome).
KILLED_UNPOLLED_LEDGER = {
    "run a 2 second loop": (1, True, "ok"),
    UNPOLLED: (0, False, "failed"),
    'start a task with "fire-and-forget"': (0, True, "ok"),
    "test graceful module failure": (1, True, "failed"),
    "test exception module failure": (1, True, "failed"),
    "test stderr handling": (1, True, "failed"),
    "run async task with custom dir": (1, True, "ok"),
    "run fire and forget async task with custom dir": (0, True, "ok"),
    "Test that async has stdin": (1, True, "ok"),
}
# The audit's verdict per fire-and-forget task of async.yml (the other ports have none; "test skipped
# task handling" has when: false, so the audit gives it no item).
AUDIT_VERDICTS = {
    UNPOLLED: "swallowed",
    'start a task with "fire-and-forget"': "surfaced",
    "run fire and forget async task with custom dir": "surfaced",
}

# The reap whose failure must be what surfaces each reaped job's kill.
SURFACED_BY = {
    'start a task with "fire-and-forget"': 'check on task started as a "fire-and-forget"',
    "run fire and forget async task with custom dir": "get async status with custom dir using newer format",
}


def _probe_stop(failure: TaskFailure, fault: Fault) -> bool:
    return stops_probe(failure, fault.records, frozenset())


def test_killed_unpolled_job_is_swallowed_and_no_ignored_keep_alive_failure_counts(asyncplay):
    """The audit's probe for "test async without polling", in-process: kill at launch, stop as the audit does."""
    fault = kill_job(UNPOLLED)
    result = asyncplay.run(PORT / "async.yml", faults=[fault],
                           stop_on_failure=functools.partial(_probe_stop, fault=fault))
    assert_play_ok(result)  # the trap: the job failed, the play is green
    assert result.failures == [], result.summary()
    assert result.stats["host1"]["ignored"] == 4  # the three keep-alive failures and one failed reap
    # every job ran: the ignored keep-alive failures after the kill did not stop the probe
    assert {j.task: (j.poll, j.reaped, j.outcome) for j in result.jobs} == KILLED_UNPOLLED_LEDGER, result.summary()
    assert [j.task for j in result.unreaped_jobs] == [UNPOLLED]
    assert {j.task for j in result.swallowed_failures} == {UNPOLLED, *IGNORED_KEEP_ALIVE}
    assert judge(result) == ("swallowed", "the play still finished rc=0")


def test_the_other_async_targets_fail_only_under_ignore_errors(asyncplay):
    for playbook, timed_out in [("async_fail.yml", "run slow action with async timeout"),
                                ("async_extra_data.yml", None),
                                ("callback_default_async.yml", "test failure async output")]:
        result = asyncplay.run(PORT / playbook)
        assert_play_ok(result)
        assert result.failures == [], result.summary()
        assert result.unreaped_jobs == [] and all(j.poll == 1 and j.reaped for j in result.jobs)
        outcomes = {j.task: j.outcome for j in result.jobs}
        assert {t for t, o in outcomes.items() if o != "ok"} == ({timed_out} if timed_out else set()), outcomes
        if timed_out:  # told by the controller giving up, or by the host's watchdog (a race under load)
            assert outcomes[timed_out] == "timeout"


@pytest.fixture
def in_repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs start in the repository root, as a user's CI would."""
    monkeypatch.chdir(ROOT)
    return pytester


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_reap_audit_of_the_ported_targets(in_repo: pytest.Pytester) -> None:
    report = in_repo.path / "report"
    result = in_repo.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=", "-n", "2",
                                          "--asyncplay-reap-audit", str(PORT), f"--asyncplay-report={report}",
                                          timeout=600)
    data = json.loads(report.with_suffix(".json").read_text())
    rows = {(Path(r["playbook"]).name, r["task"]): r for r in data["rows"]}
    verdicts = {task: row["dynamic"]["killed"] for (name, task), row in rows.items()}
    assert {name for name, _ in rows} == {"async.yml"}
    assert verdicts == AUDIT_VERDICTS, {task: row["messages"] for (_, task), row in rows.items()}
    result.assert_outcomes(passed=2, failed=1)
    # the FAILED line is whole under CI=true (no truncation), hence the trailing *
    result.stdout.fnmatch_lines([f'swallowed: the job of "{UNPOLLED}" (*async.yml:54) was killed on host*rc=0*',
                                 f"FAILED tests/ansible_core_async/async.yml::{UNPOLLED}[[]killed[]]*"])
    for (_, task), row in rows.items():
        message = " ".join(row["messages"])
        assert not any(k in message for k in IGNORED_KEEP_ALIVE), (task, message)  # never the cause
        if task in SURFACED_BY:  # the failure that surfaced the kill is the job's own reap, after the kill
            assert f'at "{SURFACED_BY[task]}"' in message, message
