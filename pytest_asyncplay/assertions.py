"""Assertion helpers for ``PlayResult``: they hide their own frames and print the whole evidence."""

from __future__ import annotations

from typing import Optional

from .ledger import AsyncJob
from .result import PlayResult


def _fail(message: str, result: PlayResult) -> None:
    __tracebackhide__ = True
    raise AssertionError(f"{message}\n{result.summary()}")


def _faults_applied(result: PlayResult) -> None:
    """Every fault handed to the play applied: a verdict on a play whose fault never happened proves nothing."""
    __tracebackhide__ = True
    missed = [record for record in result.faults if not record.applied]
    if missed:
        lines = "\n".join(f"  {record}" for record in missed)
        _fail(f"{len(missed)} fault record(s) say the fault did not apply, so this play proves nothing:\n{lines}",
              result)


def assert_play_ok(result: PlayResult) -> None:
    """The play finished with rc 0 (and every fault given to it applied)."""
    __tracebackhide__ = True
    _faults_applied(result)
    if result.timed_out:
        _fail("the play did not finish: it was stopped at its timeout", result)
    if not result.ok:
        _fail(f"the play failed (rc={result.rc}) but was expected to pass", result)


def failed_because(result: PlayResult, task: Optional[str], host: Optional[str]) -> bool:
    """Whether a counted failure of ``task`` on ``host`` is in the play (a job's task counts when its reap failed)."""
    jobs_of_task = {j.jid for j in result.jobs if j.task == task}
    for failure in result.failures:
        if host is not None and failure.host != host:
            continue
        if task is None or failure.task == task or (failure.jid is not None and failure.jid in jobs_of_task):
            return True
    return False


def assert_play_failed(result: PlayResult, task: Optional[str] = None, host: Optional[str] = None) -> None:
    """The play failed (and every fault given to it applied); when given, because ``task`` failed on ``host``.

    ``task`` may name the failing task itself or an async task whose job's reap (``async_status``) failed.
    """
    __tracebackhide__ = True
    _faults_applied(result)
    if result.timed_out:
        _fail("the play did not fail: it hung and was stopped at its timeout", result)
    if result.ok:
        _fail("the play passed (rc=0) but was expected to fail", result)
    if (task is not None or host is not None) and not failed_because(result, task, host):
        what = " and ".join(p for p in (f'task "{task}"' if task else "", f"host {host}" if host else "") if p)
        _fail(f"the play failed, but not because of {what}", result)


def _no_jobs(result: PlayResult, jobs: list[AsyncJob], what: str) -> None:
    __tracebackhide__ = True
    _faults_applied(result)
    if jobs:
        lines = "\n".join(j.evidence() for j in jobs)
        _fail(f"{len(jobs)} {what}:\n{lines}", result)


def assert_all_jobs_reaped(result: PlayResult) -> None:
    """Every fire-and-forget job was reaped by an ``async_status`` in the play."""
    __tracebackhide__ = True
    _no_jobs(result, result.unreaped_jobs, "fire-and-forget job(s) were never reaped with async_status")


def assert_no_swallowed_failures(result: PlayResult) -> None:
    """No job failed, timed out or vanished on a host that finished the play without failing."""
    __tracebackhide__ = True
    _no_jobs(result, result.swallowed_failures, "job failure(s) were swallowed: their host finished the play green")
