"""The job ledger: one ``AsyncJob`` per async job a play launched, built from the event stream and
completed after the play from the job files on the hosts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import AsyncplayError
from .versions import ASYNC_STATUS_ACTIONS, flag

if TYPE_CHECKING:
    from .targets import Target

log = logging.getLogger("pytest_asyncplay.ledger")

#: ``unknown``: the job file could not be read or understood and the controller never saw the job end; no verdict
#: may rest on it.
OUTCOMES = ("ok", "failed", "timeout", "running", "vanished", "missing", "unknown")
FAILED_OUTCOMES = frozenset({"failed", "timeout", "vanished"})
UNKNOWN = "unknown"
#: How to avoid an ``unknown`` outcome, for the messages that refuse one.
UNKNOWN_HINT = ("the job file could not be read after the play (the host was stopped, paused or removed before "
                "`run` returned, its docker exec failed, or the job ran on a host that is not a container), or it "
                "holds something Ansible never writes (something else wrote it); keep the host up until `run` "
                "returns, leave the job file to Ansible, or reap the job with async_status so the controller sees its "
                "end.")


@dataclass
class AsyncJob:
    """One async job: who launched it, whether the play reaped it, and what its job file says."""

    task: str
    host: str
    jid: str
    async_timeout: Optional[int]
    poll: Optional[int]
    item: Optional[int]
    reaped: bool = False
    outcome: str = "missing"
    result: Optional[dict[str, Any]] = None
    runtime: Optional[float] = None
    task_path: Optional[str] = None
    task_uuid: Optional[str] = None
    results_file: Optional[str] = None
    launched_at: Optional[float] = field(default=None, repr=False)
    final_event: Optional[dict[str, Any]] = field(default=None, repr=False)
    final_failed: bool = field(default=False, repr=False)
    reap_status: Optional[dict[str, Any]] = field(default=None, repr=False)
    #: Why the outcome is ``unknown`` (the job file could not be read); None for every other outcome.
    unknown_reason: Optional[str] = None

    @property
    def fire_and_forget(self) -> bool:
        """Whether the task was launched with ``poll: 0``."""
        return self.poll == 0

    @property
    def job_file(self) -> str:
        """The job file's content for messages: tracebacks cut to their last line, invocation left out."""
        if self.result is None:
            return "<not read>" if self.outcome == UNKNOWN else "<no job file>"
        brief = {k: v for k, v in self.result.items() if k not in ("invocation", "stdout_lines", "stderr_lines")}
        for key in ("msg", "data", "stderr", "stdout"):
            value = brief.get(key)
            if isinstance(value, str) and len(value) > 200:
                lines = [line for line in value.strip().splitlines() if line.strip()]
                brief[key] = ("... " + lines[-1][-200:]) if lines else value[-200:]
        return json.dumps(brief, sort_keys=True)

    def evidence(self) -> str:
        """Two indented lines for failure messages: the job, then its job file."""
        return f"  {self.describe()}\n    job file: {self.job_file}"

    def describe(self) -> str:
        """One line for messages: task, host, jid, outcome."""
        where = f" ({self.task_path})" if self.task_path else ""
        item = f" item {self.item}" if self.item is not None else ""
        why = f" ({self.unknown_reason})" if self.outcome == UNKNOWN and self.unknown_reason else ""
        return (f'"{self.task}"{where}{item} on {self.host}: jid {self.jid}, '
                f"outcome {self.outcome}{why}, reaped={self.reaped}")


def _as_int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def event_res(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``res`` (module result) of an event's data, or an empty dict."""
    res = data.get("res")
    return res if isinstance(res, dict) else {}


def event_time(event: Mapping[str, Any]) -> Optional[float]:
    """The POSIX time an ansible-runner event was created."""
    created = event.get("created")
    if not created:
        return None
    try:
        return datetime.fromisoformat(str(created)).timestamp()
    except ValueError:
        return None


class JobTracker:
    """Follows the event stream and records launches and reaps as they happen."""

    def __init__(self, meta_file: Optional[Path] = None) -> None:
        self.jobs: list[AsyncJob] = []
        self._by_jid: dict[str, AsyncJob] = {}
        self._reaped: set[str] = set()
        self._meta_file = meta_file
        self._meta: dict[str, dict[str, Any]] = {}
        self._current: dict[str, tuple[str, str, Optional[str]]] = {}
        self._item_counts: dict[tuple[str, str], int] = {}

    def _task_meta(self, task_uuid: str) -> dict[str, Any]:
        if task_uuid not in self._meta and self._meta_file is not None and self._meta_file.exists():
            for line in self._meta_file.read_text().splitlines():
                record = json.loads(line) if line.strip() else {}
                if record.get("uuid"):
                    self._meta[record["uuid"]] = record
        return self._meta.get(task_uuid, {})

    def finish(self) -> None:
        """After the play: fill ``async_timeout``/``poll`` that were templated at task start from the values
        the companion callback saw per job (written a moment after the launch event)."""
        if self._meta_file is None or not self._meta_file.exists():
            return
        by_jid: dict[str, dict[str, Any]] = {}
        for line in self._meta_file.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("jid"):
                    by_jid.setdefault(record["jid"], record)
        for job in self.jobs:
            record = by_jid.get(job.jid, {})
            if job.async_timeout is None:
                job.async_timeout = _as_int(record.get("async"))
            if job.poll is None:
                job.poll = _as_int(record.get("poll"))

    def feed(self, event: Mapping[str, Any]) -> Optional[AsyncJob]:
        """Take one event; return the job it launched, if it launched one."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        res = event_res(data)
        action = data.get("task_action") or ""
        if kind == "runner_on_start" and host:
            self._current[host] = (data.get("task", ""), data.get("task_uuid", ""), data.get("task_path"))
            return None
        if not host or not kind.startswith("runner_"):
            return None
        item: Optional[int] = None
        if kind.startswith("runner_item_on_"):
            key = (data.get("task_uuid", ""), host)
            item = self._item_counts.get(key, 0)
            self._item_counts[key] = item + 1
        nested = res.get("async_result")  # a keep-alive task that ran out of time nests the last poll here
        jid = res.get("ansible_job_id") or (nested.get("ansible_job_id") if isinstance(nested, dict) else None)
        if not jid:
            return None
        if kind == "runner_on_async_poll":
            if jid in self._by_jid:
                return None
            task, task_uuid, task_path = self._current.get(host, ("", "", None))
            key = (task_uuid, host)
            pending_item = self._item_counts.get(key) if key in self._item_counts else None
            return self._launch(jid, task, task_uuid, task_path, host, pending_item, res, event, polled=True)
        if action in ASYNC_STATUS_ACTIONS:
            if "erased" not in res:
                self._reaped.add(jid)
                if jid in self._by_jid:
                    self._by_jid[jid].reaped = True
                    if is_job_record(res):
                        self._by_jid[jid].reap_status = dict(res)
            return None
        if jid in self._by_jid:
            self._by_jid[jid].final_event = dict(res)
            self._by_jid[jid].final_failed = kind in FINAL_FAILURES
            return None
        if flag(res, "started") and not flag(res, "finished"):
            return self._launch(jid, data.get("task", ""), data.get("task_uuid", ""), data.get("task_path"),
                                host, item, res, event, polled=False)
        if kind in ("runner_on_async_ok", "runner_on_async_failed", "runner_on_ok", "runner_on_failed",
                    "runner_item_on_ok", "runner_item_on_failed"):
            job = self._launch(jid, data.get("task", ""), data.get("task_uuid", ""), data.get("task_path"),
                               host, item, res, event, polled=True)
            job.final_event = dict(res)
            job.final_failed = kind in FINAL_FAILURES
        return None

    def _launch(self, jid: str, task: str, task_uuid: str, task_path: Optional[str], host: str,
                item: Optional[int], res: Mapping[str, Any], event: Mapping[str, Any], polled: bool) -> AsyncJob:
        meta = self._task_meta(task_uuid)
        poll = _as_int(meta.get("poll"))
        if poll is None:
            poll = None if polled else 0
        job = AsyncJob(
            task=task, host=host, jid=jid, async_timeout=_as_int(meta.get("async")), poll=poll, item=item,
            reaped=polled or jid in self._reaped, task_path=task_path, task_uuid=task_uuid,
            results_file=res.get("results_file"), launched_at=event_time(event),
        )
        self.jobs.append(job)
        self._by_jid[jid] = job
        log.debug("job %s launched on %s by %r (poll=%s)", jid, host, task, poll)
        return job


def classify(record: Union[Mapping[str, Any], None], exists: bool, alive: bool) -> str:
    """The outcome of a job from its job file and whether any of its processes is alive."""
    if not exists:
        return "missing"
    if record is None:
        return "running" if alive else "vanished"
    if flag(record, "started") and not flag(record, "finished"):
        return "running" if alive else "vanished"
    if record.get("msg") == "Timeout exceeded":
        return "timeout"
    if flag(record, "failed") or (_as_int(record.get("rc")) not in (None, 0)):
        return "failed"
    return "ok"


FINAL_FAILURES = frozenset({"runner_on_failed", "runner_on_async_failed", "runner_item_on_failed"})


def classify_final(res: Mapping[str, Any], failed: bool) -> str:
    """The outcome of a keep-alive job from the controller's last word on it.

    A failure whose last poll was still unfinished is the controller giving up at ``async:`` — a
    timeout, whatever the message says ("did not complete within the requested time" up to 2.20,
    "async task produced unparsable results" in 2.21).
    """
    message = str(res.get("msg", ""))
    nested = res.get("async_result")
    failed = failed or flag(res, "failed")
    if failed and isinstance(nested, dict) and not flag(nested, "finished"):
        return "timeout"
    if "did not complete within the requested time" in message or message == "Timeout exceeded":
        return "timeout"
    return "failed" if failed else "ok"


def is_job_record(status: Mapping[str, Any]) -> bool:
    """Whether an ``async_status`` answer carries a finished job's record (not "could not find job")."""
    return flag(status, "finished") and not str(status.get("msg", "")).startswith("could not find job")


def read_outcomes(jobs: Sequence[AsyncJob], targets: Iterable[Target]) -> None:
    """Read every job's file on its host (one exec per host) and fill ``outcome``, ``result``, ``runtime``.

    A job whose file cannot be read gets the controller's last word on it if it saw one, else the outcome
    ``unknown`` with ``unknown_reason`` (never ``missing``, which would let a failure pass unseen).
    """
    by_host: dict[str, list[AsyncJob]] = {}
    for job in jobs:
        by_host.setdefault(job.host, []).append(job)
    by_name = {t.name: t for t in targets}
    hosts = list(by_host)
    if len(hosts) > 1:  # one exec per host, side by side: 32 hosts read in the time of 4, not of 32
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as executor:
            answers = list(executor.map(lambda h: _read_host(h, by_host[h], by_name.get(h)), hosts))
    else:
        answers = [_read_host(h, by_host[h], by_name.get(h)) for h in hosts]
    for host, (answer, reason) in zip(hosts, answers):
        host_jobs = by_host[host]
        for job in host_jobs:
            found = answer.get(job.jid) if answer is not None else None
            if isinstance(found, Mapping):
                settle(job, found)
            else:
                settle_unread(job, reason or f"the job reader on {host} did not answer for jid {job.jid}")


def _read_errors() -> tuple[type[BaseException], ...]:
    """What reading job files can raise: our errors (a failed helper script), the Docker client's (host gone,
    paused, engine away), OSError (the engine's socket) and ValueError (output that is not JSON)."""
    errors: tuple[type[BaseException], ...] = (AsyncplayError, OSError, ValueError)
    try:
        import docker.errors
    except ImportError:  # pragma: no cover - docker is a dependency
        return errors
    return (*errors, docker.errors.DockerException)


def _brief(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (an AsyncplayError without its hint), cut to ``limit`` characters."""
    text = exc.message if isinstance(exc, AsyncplayError) else str(exc)
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text[:limit]}" + ("..." if len(text) > limit else "")


def _read_host(host: str, jobs: Sequence[AsyncJob], target: Optional[Target]
               ) -> tuple[Optional[Mapping[str, Any]], str]:
    """The host's answer on the jobs' files (None if it could not be read) and, if not, why."""
    if target is None:
        return None, f"{host} is not one of the play's hosts, so there is no container to read its job file from"
    spec = json.dumps([[j.jid, j.results_file or ""] for j in jobs])
    try:
        answer = target.hostside("jobs", spec)
    except _read_errors() as exc:  # the host may be gone, paused or broken (a fault, a crash)
        log.debug("job files on %s could not be read: %r", host, exc)
        return None, f"could not read the job file on {host}: {_brief(exc)}"
    if not isinstance(answer, Mapping):
        log.debug("job reader on %s answered %r", host, answer)
        return None, f"the job reader on {host} answered {str(answer)[:100]!r}, not a JSON object"
    return answer, ""


#: Keys of which a job file holds at least one: the started record's, or a module result's (async_wrapper
#: writes the module's JSON as is: ``finished`` is async_status's word, never in the file), or the watchdog's.
JOB_RECORD_KEYS = frozenset({"started", "finished", "failed", "changed", "rc", "msg", "invocation",
                             "ansible_job_id", "skipped", "unreachable"})


def understand(text: Optional[str], size: Optional[int], jid: str) -> tuple[Optional[dict[str, Any]], str]:
    """A job file's record, or why its text says nothing about the job (empty; not JSON; JSON that is not an
    object; an object with none of a job record's keys; another job's record): ``(record, "")`` or
    ``(None, reason)``. async_wrapper writes the file atomically (a temporary file, then a rename), so none of
    these is a job caught mid-write: something else wrote the file.
    """
    text = text or ""
    size = len(text.encode("utf-8", "replace")) if size is None else size
    if not text.strip():
        return None, f"is empty ({size} bytes)"
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, f"holds {size} bytes that are not JSON: {_excerpt(text)}"
    if not isinstance(parsed, dict):
        return None, f"holds JSON that is not an object: {_excerpt(text)}"
    if not JOB_RECORD_KEYS.intersection(parsed):
        return None, (f"holds an object with none of a job record's keys (started, finished, failed, rc, msg, "
                      f"...): {_excerpt(text)}")
    other = parsed.get("ansible_job_id")
    if other is not None and str(other) != jid:
        return None, f"is the record of job {other}, not of {jid}"
    return parsed, ""


def _excerpt(text: str, limit: int = 60) -> str:
    """The start of a text, quoted, for messages."""
    text = text.strip()
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def settle_unread(job: AsyncJob, reason: str) -> None:
    """Fill a job whose file could not be read: from the controller's last word on it (its final event or a
    reap that read its record), which is established; otherwise the outcome is ``unknown`` because of ``reason``."""
    if job.final_event is not None or job.reap_status is not None:
        settle(job, {})  # no file: the controller's word decides
        log.debug("job %s on %s: file unread (%s), outcome %s from the controller", job.jid, job.host, reason,
                  job.outcome)
        return
    job.outcome, job.result, job.runtime, job.unknown_reason = UNKNOWN, None, None, reason
    log.debug("job %s on %s settled: outcome unknown (%s)", job.jid, job.host, reason)


def settle(job: AsyncJob, found: Mapping[str, Any]) -> None:
    """Fill a job's ``outcome``, ``result`` and ``runtime`` from what the host says of its file
    (``exists``, ``text``, ``mtime``, ``alive``) and what the controller saw of it."""
    record: Optional[dict[str, Any]] = None
    exists = bool(found.get("exists"))
    if exists:
        record, garbled = understand(found.get("text"), found.get("size"), job.jid)
        if garbled:
            settle_unread(job, f"the job file {job.results_file or job.jid} {garbled}")
            return
    job.result = record
    job.outcome = classify(record, exists, bool(found.get("alive")))
    # When the file no longer tells the end, the controller's last word on the job does:
    # - a keep-alive job's file is removed after success, and on a controller-side timeout it may
    #   still say "started" (the host's watchdog kills a little later);
    # - a reaped job's file may be gone (``mode: cleanup``) or rewritten, but the reap read its record.
    from_controller = job.outcome in ("missing", "running", "vanished") and (
        job.final_event is not None or job.reap_status is not None)
    if from_controller and job.final_event is not None:
        job.result = job.final_event
        job.outcome = classify_final(job.final_event, job.final_failed)
    elif from_controller and job.reap_status is not None:
        job.result = job.reap_status
        job.outcome = classify(job.reap_status, True, False)
    mtime = found.get("mtime")
    if (not from_controller and job.launched_at is not None and mtime is not None
            and job.outcome not in ("running", "vanished")):
        job.runtime = max(0.0, float(mtime) - job.launched_at)  # wall time, freezes included
    elif job.result and "delta" in job.result:
        job.runtime = _delta_seconds(str(job.result["delta"]))
    job.unknown_reason = None
    log.debug("job %s on %s settled: outcome %s%s", job.jid, job.host, job.outcome,
              " (from the controller)" if from_controller else "")


def _delta_seconds(delta: str) -> Optional[float]:
    try:
        hours, minutes, seconds = delta.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
