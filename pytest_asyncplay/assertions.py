"""Assertion helpers for ``PlayResult``: they hide their own frames and print the whole evidence."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Optional

from .ledger import UNKNOWN_HINT, AsyncJob
from .result import PlayResult


def timeline_line(result: PlayResult) -> str:
    """The last line of a failing helper's message: where the play's timeline page was written (its run folder,
    under the test's ``tmp_path`` with the ``asyncplay`` fixture), so the first thing a reader opens is the
    picture. Empty for a result without a run folder; a page that cannot be written says why instead."""
    if result.run_dir is None:
        return ""
    try:
        path = result.save_html(Path(result.run_dir) / "timeline.html")
    except Exception as exc:  # the assertion's own message matters more than its picture
        return f"\ntimeline: not written ({type(exc).__name__}: {exc})"
    return f"\ntimeline: {path}"


def _fail(message: str, result: PlayResult) -> None:
    __tracebackhide__ = True
    raise AssertionError(f"{message}\n{result.summary()}{timeline_line(result)}")


def _faults_applied(result: PlayResult) -> None:
    """Every fault handed to the play applied: a verdict on a play whose fault never happened proves nothing."""
    __tracebackhide__ = True
    missed = [record for record in result.faults if not record.applied]
    if missed:
        lines = "\n".join(f"  {record}" for record in missed)
        _fail(f"{len(missed)} fault record(s) say the fault did not apply, so this play proves nothing:\n{lines}",
              result)


def _outcomes_known(result: PlayResult) -> None:
    """Every job's outcome is known: a verdict on job outcomes cannot rest on a job file nobody could read."""
    __tracebackhide__ = True
    unknown = result.unknown_jobs
    if unknown:
        lines = "\n".join(f"  {j.describe()}" for j in unknown)
        _fail(f"{len(unknown)} job(s) have an unknown outcome, so this assertion cannot be decided:\n{lines}\n"
              f"Hint: {UNKNOWN_HINT}", result)


def assert_play_ok(result: PlayResult) -> None:
    """The play finished with rc 0 (and every fault given to it applied)."""
    __tracebackhide__ = True
    _faults_applied(result)
    if result.timed_out:
        _fail("the play did not finish: it was stopped at its timeout", result)
    if not result.ok:
        _fail(f"the play failed (rc={result.rc}) but was expected to pass", result)


def location_matches(wanted: str, task_path: Optional[str]) -> bool:
    """Whether ``wanted`` (``file:line``) is the task at ``task_path`` (``/abs/dir/file.yml:line``).

    An absolute ``wanted`` must be the same path; a relative one matches the last path components
    (``"site.yml:12"``, ``"roles/x/tasks/main.yml:5"``), never part of a component (``"ite.yml:12"``).
    """
    path, _, line = wanted.rpartition(":")
    if not task_path or not path or not line.isdigit():
        return False
    have_path, _, have_line = task_path.rpartition(":")
    if not have_line.isdigit() or int(have_line) != int(line):
        return False
    want, have = PurePosixPath(path), PurePosixPath(have_path)
    if want.is_absolute():
        return want == have
    parts = [p for p in want.parts if p != "."]
    return bool(parts) and ".." not in parts and list(have.parts[-len(parts):]) == parts


def _is_task(task: str, name: str, task_path: Optional[str]) -> bool:
    return task == name or location_matches(task, task_path)


def failed_because(result: PlayResult, task: Optional[str], host: Optional[str]) -> bool:
    """Whether a counted failure of ``task`` on ``host`` is in the play (a job's task counts when its reap failed).

    ``task`` is a task's name or its ``file:line``.
    """
    jobs_of_task = {j.jid for j in result.jobs if task is not None and _is_task(task, j.task, j.task_path)}
    for failure in result.failures:
        if host is not None and failure.host != host:
            continue
        if (task is None or _is_task(task, failure.task, failure.task_path)
                or (failure.jid is not None and failure.jid in jobs_of_task)):
            return True
    return False


def assert_play_failed(result: PlayResult, task: Optional[str] = None, host: Optional[str] = None) -> None:
    """The play failed (and every fault given to it applied); when given, because ``task`` failed on ``host``.

    ``task`` may name the failing task itself or an async task whose job's reap (``async_status``) failed,
    by its name or its ``file:line`` (``"site.yml:12"``: the last components of the task's path).
    Ignored failures never count.
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
    """No job failed, timed out or vanished on a host that finished the play without failing (and no job's
    outcome is ``unknown``: an unread job file is no evidence that nothing failed)."""
    __tracebackhide__ = True
    _faults_applied(result)
    _outcomes_known(result)
    _no_jobs(result, result.swallowed_failures, "job failure(s) were swallowed: their host finished the play green")
