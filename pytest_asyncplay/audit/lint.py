"""Static reap lint: would a failure of each fire-and-forget job fail the play?

Works on what :mod:`pytest_asyncplay.audit.discover` found; pure, fast, deterministic. Each launch
(``async: N`` with ``poll: 0``) is judged by playing the rest of its playbook run symbolically
(:mod:`pytest_asyncplay.audit.hostpath`), with every template evaluated by ansible-core's own Jinja2
filters and tests over what the repo defines (:mod:`pytest_asyncplay.audit.symbolic`), once for each
world of its job:

- **failed** (the job was killed: a reap reads ``failed: true``, ``finished: 1``, no ``rc``). The launch
  is sound when every way the host can go fails the host; it *swallows* when some way ends green; it is
  ``not-analysed`` when some way cannot be followed (the job id goes to a module the lint cannot read, a
  loop over something it cannot know...) and none ends green.
- **running** (the job has not finished while the reap looks): a sound launch whose reap passes a job
  that is still running gets ``reap-no-until``.
- **ok** (the job succeeded): when the host fails anyway, the reap fails even a healthy job (advice).

A *reap* is a task that reads the job with ``ansible.builtin.async_status`` (or a module declared with
:class:`~pytest_asyncplay.audit.hostpath.ReapModule`): whatever its ``jid`` template evaluates to, a
register, a ``set_fact`` alias, a loop over ``results`` or over a literal list of registers. The finding
kinds say *why* a failure is swallowed, read off the way the host went:

- ``unreaped``: no reap reads the job on the way (none exists, a handler that would is not notified, the
  reap is never reached: ``meta: end_play``, ``tags: [never]``).
- ``register-overwritten``: the reap reads the launch's register after another task registered it again.
- ``reap-wrong-job``: an ``async_status`` reads another job (or no job) and nothing reads this one.
- ``reap-cleanup-only``: the only reap is ``mode: cleanup``, which never fails for a failed job.
- ``reap-ignores-errors``: the reap fails, errors are ignored, and nothing later fails on its result.
- ``reap-cannot-fail``: the reap's ``failed_when`` is false for a failed job and nothing later checks it.
- ``reap-conditional``: the reap is skipped (its ``when:`` can be false where the launch ran, or it sits
  in a ``rescue:`` that does not run).
- ``reap-rescued``: the reap fails inside a block whose rescue handles it and ends green.
- ``loop-partly-reaped``: a loop launch whose reaps read some items' jobs but not the failed one's.
- ``reap-no-until``: the reap passes a job that is still running (no ``until:``).
- ``reap-budget-short`` (advice): retries x delay below ``async``: a slow job fails the play early.
- ``reap-fails-healthy-job`` (advice): the host fails even when the job succeeds.
- ``async-timeout-tight`` (advice): only with measured ``runtimes``; ``async`` < 1.5 x the runtime.
- ``never-runs`` (advice): the launch's own ``when:`` is false with the values the repo gives.
- ``async-unsupported`` (advice): the action does not support async (``copy``, ``template``, ``reboot``...): the
  task fails on every run before any job starts, and the play fails with it. When ``ignore_errors`` or a
  ``rescue:`` takes that failure, the launch is ``not-analysed`` instead.
- ``not-analysed``: the lint cannot establish the verdict, and says which unknown decided it; never a pass.
- ``error``: the playbook (or a file it pulls in) is broken; its tasks get no verdict.

Severities (:data:`SEVERITY`): ``swallows`` (a failed job can leave the play green), ``unknown``
(no verdict could be established) and ``advice``. Only ``advice`` lets an item pass.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Optional

from pytest_asyncplay.audit.discover import AsyncTask, Playbook, StrPath, Task, discover, display_path
from pytest_asyncplay.audit.hostpath import SELF_REAPING, Event, Program, ReapModule, explore, never_runs
from pytest_asyncplay.audit.hostpath import Path as HostPath
from pytest_asyncplay.audit.taskargs import async_support, possible_values, short_action, takes_host_down, templated
from pytest_asyncplay.versions import Version

__all__ = [
    "FINDING_KINDS", "SEVERITY", "Finding", "FindingKind", "ReapModule", "TaskVerdict", "analyze", "distinct", "lint",
]  # fmt: skip

FindingKind = Literal[
    "error",
    "not-analysed",
    "unreaped",
    "reboot-by-async",
    "register-overwritten",
    "reap-no-until",
    "reap-ignores-errors",
    "reap-cannot-fail",
    "reap-conditional",
    "reap-cleanup-only",
    "reap-wrong-job",
    "loop-partly-reaped",
    "reap-rescued",
    "reap-budget-short",
    "reap-fails-healthy-job",
    "async-timeout-tight",
    "never-runs",
    "async-unsupported",
]

#: Every finding kind, in the order findings of one task are reported.
FINDING_KINDS: tuple[FindingKind, ...] = (
    "error",
    "not-analysed",
    "unreaped",
    "reboot-by-async",
    "register-overwritten",
    "reap-wrong-job",
    "reap-cleanup-only",
    "reap-ignores-errors",
    "reap-cannot-fail",
    "reap-conditional",
    "reap-rescued",
    "loop-partly-reaped",
    "reap-no-until",
    "reap-budget-short",
    "reap-fails-healthy-job",
    "async-timeout-tight",
    "never-runs",
    "async-unsupported",
)

Severity = Literal["swallows", "unknown", "advice"]
#: Advice passes an item (a warning; it fails with ``--asyncplay-strict``); the rest fail it.
ADVICE_KINDS: frozenset[str] = frozenset({"reap-budget-short", "reap-fails-healthy-job", "async-timeout-tight",
                                          "never-runs", "async-unsupported"})
UNKNOWN_KINDS: frozenset[str] = frozenset({"not-analysed", "error"})
SEVERITY: dict[str, Severity] = {
    kind: "advice" if kind in ADVICE_KINDS else "unknown" if kind in UNKNOWN_KINDS else "swallows"
    for kind in FINDING_KINDS
}

#: ``async`` must be at least this many times the measured runtime.
TIGHT_FACTOR = 1.5
#: Ansible's defaults for a task with ``until:`` and no ``retries``/``delay``.
DEFAULT_RETRIES = 3
DEFAULT_DELAY = 5.0

RuntimeKey = tuple[Path, str]

_FALSE_STRINGS = frozenset({"false", "no", "off", "0"})
_TRUE_STRINGS = frozenset({"true", "yes", "on", "1"})
_REAP_MODULE_HINT = ("If it is a module that waits for the job and fails on a failed one, declare it: ini option "
                     "asyncplay_reap_modules = {module}:<job-id argument> (asyncplay lint --reap-module "
                     "{module}:<argument>); it is then judged like async_status.")


@dataclass(frozen=True)
class Finding:
    """One problem with how a fire-and-forget task is reaped (or why it could not be judged).

    ``message`` starts with the kind and names the task's and (when there is one) the reap's
    ``file:line``; ``hint`` says how to fix it. A finding of kind ``error`` (a broken playbook)
    has no ``task``; ``playbook`` names the playbook.
    """

    kind: FindingKind
    task: AsyncTask | None
    message: str
    reap_file: Path | None = None
    reap_line: int | None = None
    hint: str = ""
    playbook: Path | None = None

    def __str__(self) -> str:
        return self.message

    @property
    def severity(self) -> Severity:
        """``swallows``, ``unknown`` or ``advice`` (see :data:`SEVERITY`)."""
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class TaskVerdict:
    """The lint's verdict on one fire-and-forget task.

    ``ok`` when no finding fails it (advice may remain in ``findings``). ``reap`` is the sound reap
    (or, when none is sound, the first one found); ``reaps`` all of
    them. ``reap_budget_seconds`` is how long ``reap`` waits (retries x delay; 0 without
    ``until``; None when templated). ``headroom`` is ``async`` / measured runtime, when known.
    """

    task: AsyncTask
    ok: bool
    findings: tuple[Finding, ...] = ()
    reap: Task | None = None
    reap_budget_seconds: float | None = None
    runtime_seconds: float | None = None
    headroom: float | None = None
    reaps: tuple[Task, ...] = ()


# --------------------------------------------------------------------------------------------------
# Numbers and words


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _least(value: Any, task: Task) -> float | None:
    """A number keyword (``retries``, ``delay``, ``async``), a simple template evaluated with the task's
    variables; the smallest value it can take, or None when it cannot be known."""
    number = _number(value)
    if number is not None:
        return number
    values = [_number(v) for v in possible_values(value, task.variables)]
    known = [v for v in values if v is not None]
    return min(known) if known and len(known) == len(values) else None


def _longest_async(launch: Task) -> float | None:
    """The longest ``async:`` the launch can have in a real run (a template evaluated; 0 is no job)."""
    value = _number(launch.async_timeout)
    if value is not None:
        return value
    known = [n for n in (_number(v) for v in possible_values(launch.async_timeout, launch.variables)) if n]
    return max(known) if known else None


def _yaml(value: Any) -> str:
    """A keyword value as it reads in YAML (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


def _literally_false(value: Any) -> bool:
    if isinstance(value, list):
        return any(_literally_false(v) for v in value)
    if value is False:
        return True
    if isinstance(value, str):
        text = value.strip()
        inner = text[2:-2].strip() if text.startswith("{{") and text.endswith("}}") else text
        return inner.lower() == "false"
    return False


def _names(text: Any) -> set[str]:
    """The variable names a template or condition reads (parsed by Jinja2)."""
    found: set[str] = set()
    for part in text if isinstance(text, list) else [text]:
        if isinstance(part, str):
            found |= _names_in(part)
    return found


@functools.lru_cache(maxsize=4096)
def _names_in(part: str) -> frozenset[str]:
    from jinja2 import TemplateSyntaxError, nodes

    from pytest_asyncplay.audit.symbolic import _parse

    source = part if templated(part) else "{{ " + part + " }}"
    try:
        return frozenset(n.name for n in _parse(source).find_all(nodes.Name))
    except TemplateSyntaxError:
        return frozenset()


# --------------------------------------------------------------------------------------------------
# The analysis of one playbook


class _Analysis:
    """Verdicts for the fire-and-forget tasks of one playbook, read off its symbolic runs."""

    def __init__(self, playbook: Playbook, runtimes: Mapping[RuntimeKey, float],
                 reap_modules: Sequence[ReapModule] = (), ansible_core: Optional[Version] = None) -> None:
        self.pb = playbook
        self.tasks = playbook.all_tasks
        self.base = playbook.path.parent
        self.runtimes = runtimes
        self.program = Program(playbook, reap_modules, ansible_core)

    def where(self, task: Task) -> str:
        return task.where(self.base)

    def label(self, task: Task) -> str:
        name = task.node_name if isinstance(task, AsyncTask) else task.name
        return f'"{name}" ({self.where(task)})'

    # -- what the paths say ------------------------------------------------------------------------

    def would_reap(self, launch: AsyncTask) -> list[Task]:
        """Reaps after the launch whose ``jid`` (or loop) reads the launch's register, reached or not: what
        the messages name when no reap read the job on the way."""
        if launch.register is None:
            return []
        out = []
        for task in self.tasks[launch.order + 1 :]:
            if self.program.reaper(task) is None:
                continue
            reads = _names(task.args.get(self.program.reaper(task) or "jid"))
            for key, value in task.keywords.items():
                if key == "loop" or str(key).startswith("with_"):
                    reads |= _names(value) if isinstance(value, str) else set().union(*(_names(v) for v in value)) \
                        if isinstance(value, list) else set()
            reads |= {n for _, loop in task.outer_loops for n in (_names(loop) if isinstance(loop, str) else set())}
            aliases = {str(k) for t in self.tasks[launch.order + 1 : task.order] if t.short_action == "set_fact"
                       for k, v in t.args.items() if launch.register in _names(v)}
            if launch.register in reads or reads & aliases:
                out.append(task)
        return out

    def budget(self, reap: Task) -> tuple[float | None, str]:
        """Seconds the reap waits (retries x delay) and how that was worked out."""
        keywords = reap.keywords
        if not keywords.get("until"):
            return 0.0, "has no until:, so it looks once and does not wait"
        retries = _least(keywords.get("retries", DEFAULT_RETRIES), reap)
        delay = _least(keywords.get("delay", DEFAULT_DELAY), reap)
        if retries is None or delay is None:
            return None, "retries or delay is templated"
        retries = max(0.0, retries)
        delay = 1.0 if delay < 0 else delay
        return retries * delay, f"retries {retries:g} x delay {delay:g}"

    def explain(self, launch: AsyncTask, path: HostPath) -> Finding:
        """The finding that says why ``path`` (one that ends green in the failed world) swallows the failure."""
        task_label = self.label(launch)
        ours = [e for e in path.events if e.kind == "reap"]
        failed_reads = [e for e in ours if not e.how.startswith("ok-job")]

        def reap_finding(kind: FindingKind, event: Event, why: str, hint: str) -> Finding:
            reap = event.task
            message = f"{kind}: {task_label} is reaped by {self.label(reap)}, {why}"
            return Finding(kind, launch, message, reap.file, reap.line, hint)

        ignored = next((e for e in failed_reads if e.how == "ignored"), None)
        if ignored is not None:
            reap = ignored.task
            origin_kind, file, line = reap.ignore_errors_origin or ("task", reap.file, reap.line)
            on = "which has" if origin_kind == "task" else \
                f"whose enclosing {origin_kind} ({display_path(file, self.base)}:{line}) has"
            literal = isinstance(reap.ignore_errors, bool) or str(reap.ignore_errors).lower() in _TRUE_STRINGS
            may = "ignores" if literal else "may ignore"
            return reap_finding("reap-ignores-errors", ignored,
                                f"{on} ignore_errors: {_yaml(reap.ignore_errors)}, so it {may} a failed job",
                                "Remove ignore_errors from the reap (and its blocks/play); handle expected "
                                "failures with a rescue that re-raises.")
        cannot = next((e for e in failed_reads if e.how == "cannot-fail"), None)
        if cannot is not None:
            reap = cannot.task
            failed_when = reap.keywords.get("failed_when")
            subject = f"{reap.register!r}" if reap.register else "its result (it registers nothing)"
            if "failed_when" not in reap.keywords:
                why = "which does not fail on the failed job's result"
            elif _literally_false(failed_when):
                why = f"which has failed_when: {_yaml(failed_when)} and no later assert/fail fails on {subject}"
            else:
                why = (f"whose failed_when: {_yaml(failed_when)} is false for a failed job's result "
                       f"(failed: true, no rc, an empty stdout), and nothing later fails on {subject}")
            return reap_finding("reap-cannot-fail", cannot, why,
                                "Drop failed_when: false, or add a later assert on the reap's register (e.g. "
                                "that: result.rc == 0); a failed_when must also hold for a killed job, which "
                                "has failed: true and no rc.")
        failed = next((e for e in failed_reads if e.how == "failed"), None)
        if failed is not None:
            rescued = next((e for e in path.events if e.kind == "rescued"), None)
            frame = next((f for f in reversed(failed.task.blocks) if f.part == "block" and f.has_rescue), None)
            rescue = next((t for t in self.tasks if frame is not None and any(
                f.block_id == frame.block_id and f.part == "rescue" for f in t.blocks)), None)
            where_block = f"{display_path(frame.file, self.base)}:{frame.line}" if frame else "a block"
            where_rescue = self.where(rescue) if rescue is not None else (self.where(rescued.task) if rescued else "?")
            return reap_finding("reap-rescued", failed,
                                f"which sits in a block ({where_block}) whose rescue ({where_rescue}) handles the "
                                "failure without re-raising it",
                                "End the rescue with an unconditional ansible.builtin.fail, or move the reap out "
                                "of the block.")
        cleanup = next((e for e in failed_reads if e.how == "cleanup"), None)
        if cleanup is not None and not any(e.how != "cleanup" for e in failed_reads):
            return reap_finding("reap-cleanup-only", cleanup,
                                "which only runs mode: cleanup; that never fails for a failed job",
                                "Reap with mode: status (the default) and until: <result>.finished first; "
                                "clean up afterwards.")
        if launch.loop and ours:
            event = ours[0]
            return reap_finding("loop-partly-reaped", event,
                                f"which takes only some of the loop's jobs ({self.loop_text(event.task)}): the "
                                "failed item's job is never read",
                                f'Loop the reap over {launch.register}.results with jid: "{{{{ item.ansible_job_id '
                                '}}}}".')
        skipped = next((e for e in path.events if e.kind == "reap-skipped"), None)
        if skipped is not None:
            return reap_finding("reap-conditional", skipped, f"which may be skipped (when: {skipped.how})",
                                "Make the reap unconditional, or put the same condition on the launch "
                                "(a guard such as when: item.ansible_job_id is defined is fine).")
        candidates = self.would_reap(launch)
        in_rescue = next((t for t in candidates if any(f.part == "rescue" for f in t.blocks)), None)
        if in_rescue is not None:
            return Finding("reap-conditional", launch,
                           f"reap-conditional: {task_label} is reaped by {self.label(in_rescue)}, which sits in "
                           "a rescue: and runs only when its block failed", in_rescue.file, in_rescue.line,
                           "Move the reap out of the rescue (into the block or an always:).")
        other = [e for e in path.events if e.kind == "other-job"]
        if other and launch.register is not None:  # with no register, no reap can look like this job's
            found = self.wrong_job(launch, other)
            if found is not None:
                return found
        return self.unreaped(launch, candidates, path)

    def loop_text(self, task: Task) -> str:
        """What a reap takes its jobs from: its loop, or its jid."""
        for key, value in task.keywords.items():
            if key == "loop" or str(key).startswith("with_"):
                return _yaml(value).strip()
        return _yaml(task.args.get(self.program.reaper(task) or "jid")).strip()

    def wrong_job(self, launch: AsyncTask, events: Sequence[Event]) -> Finding | None:
        for event in events:
            status = event.task
            jid_names = _names(status.args.get("jid"))
            if launch.register is not None and launch.register in jid_names:
                owner = next((t for t in reversed(self.tasks[launch.order + 1 : status.order])
                              if t.register == launch.register), None)
                if owner is not None:
                    return Finding(
                        "register-overwritten", launch,
                        f"register-overwritten: {self.label(launch)} registers {launch.register!r}, but "
                        f"{self.label(owner)} registers it again before {self.label(status)} reads it, so this "
                        "job's id is lost and its failure unseen",
                        status.file, status.line,
                        hint=f"Give each launch its own register (a skipped task overwrites its register too), "
                        f'and reap this job with jid: "{{{{ {launch.register}.ansible_job_id }}}}" before the '
                        "next one registers it.")
            reasons = []
            for name in sorted(jid_names - {status.loop_var, "item"}):
                owner = next((t for t in reversed(self.tasks[: status.order]) if t.register == name), None)
                if owner is None:
                    reasons.append(f"it takes the job id from {name!r}, registered by no task")
                elif not isinstance(owner, AsyncTask):
                    reasons.append(f"it takes the job id from {name!r}, registered by {self.label(owner)}, "
                                   "not a fire-and-forget task")
                elif event.how not in ("none", str(launch.order)):
                    earlier = next((t for t in self.tasks[owner.order + 1 : status.order]
                                    if self.program.reaper(t) and name in _names(t.args.get("jid"))), None)
                    if earlier is not None and owner.order < launch.order:
                        reasons.append(f"it reaps {name!r} of {self.label(owner)} again, already reaped by "
                                       f"{self.label(earlier)}")
            if reasons or event.how == "none":
                why = "; ".join(reasons) or "its jid is no job's id"
                return Finding(
                    "reap-wrong-job", launch,
                    f"reap-wrong-job: {self.label(launch)} is not reaped: {self.label(status)} looks like its reap, "
                    f"but {why}", status.file, status.line,
                    hint=f'Reap this job with jid: "{{{{ {launch.register or "<register>"}.ansible_job_id }}}}" and '
                    "give each launch its own register.")
        return None

    def unreaped(self, launch: AsyncTask, candidates: Sequence[Task], path: HostPath) -> Finding:
        if takes_host_down(launch.action, launch.args):
            return Finding(
                "reboot-by-async", launch,
                f"reboot-by-async: {self.label(launch)} takes its host down in a fire-and-forget job: the job "
                "file goes down with the host, so no async_status can reap it, and a reboot that never happens "
                "(or fails) leaves the play green",
                hint="Use ansible.builtin.reboot (reboot_timeout, test_command), which reboots, waits for the host "
                "to come back and fails the play when it does not.")
        message = f"unreaped: {self.label(launch)} starts a job that no async_status reaps"
        end = next((e for e in path.events if e.kind == "end"), None)
        reap = candidates[0] if candidates else None
        if launch.register is None:
            message += " (it has no register:, so nothing can)"
        elif reap is not None:
            tags = reap.keywords.get("tags") or []
            if "never" in (tags if isinstance(tags, list) else [tags]):
                message += f" ({self.label(reap)} would, but it has tags: [never], so a plain run skips it)"
            elif reap.phase == "handlers":
                message += f" (the handler {self.label(reap)} would, but nothing notifies it after the launch)"
            elif end is not None:
                message += (f" (meta: {end.how} at {self.where(end.task)} ends the host's play before "
                            f"{self.label(reap)} runs)")
            else:
                message += f" ({self.label(reap)} would, but the host's run never reaches it)"
        return Finding(
            "unreaped", launch, message, reap.file if reap else None, reap.line if reap else None,
            hint="Register the launch and add a later ansible.builtin.async_status task with "
            'jid: "{{ <register>.ansible_job_id }}", until: <result>.finished, retries and delay.')

    def async_unsupported(self, launch: AsyncTask, support: str) -> TaskVerdict:
        """A launch whose action refuses ``async`` (the task fails at once, on every run) or ignores it (the task
        does its work itself, to the end): either way no job starts."""
        if support == "refused":
            refused = (f"{launch.action} does not support async, so the task fails on every run before any job "
                       f'starts ("This action ({short_action(launch.action)}) does not support async.")')
        else:
            refused = (f"{launch.action} takes async but runs its work in the task itself, without a job (as this "
                       "ansible-core's action plugin does), so the task ends as it would without async")
        hint = ("Drop async and poll (the action runs on the controller's side and cannot be a job), or use a "
                "module that supports async.")
        hidden = ("its ignore_errors" if launch.ignore_errors not in (None, False) else
                  "a rescue around it" if any(f.has_rescue and f.part == "block" for f in launch.blocks) else None)
        if hidden is not None:
            finding = self.not_analysed(launch, f"{refused}, and {hidden} decides what follows that failure", hint)
            return TaskVerdict(task=launch, ok=False, findings=(finding,))
        return TaskVerdict(task=launch, ok=True, findings=(Finding(
            "async-unsupported", launch, f"async-unsupported: {self.label(launch)}: {refused}; a failure fails the "
            "play, so nothing is hidden (advice)", hint=hint),))

    def not_analysed(self, launch: AsyncTask, why: str, hint: str, detail: str = "") -> Finding:
        message = f"not-analysed: {self.label(launch)}: {why}" + (f" (read alone: {detail})" if detail else "")
        return Finding("not-analysed", launch, message, hint=hint)

    def unknown_hint(self, why: str) -> str:
        if why.startswith("the job id goes to "):
            module = why[len("the job id goes to "):].split(" ", 1)[0]
            return _REAP_MODULE_HINT.format(module=module)
        if "which is not installed here" in why or "raised" in why or "are not evaluated" in why:
            return ("The lint evaluates each check with the plugins installed where it runs: install the collection "
                    "that provides it there (json_query: community.general and jmespath), or write the check with "
                    "ansible-core's own filters (selectattr('failed'), map, select).")
        if "may reap the job" in why:
            return "Install the role (ansible-galaxy install -r requirements.yml) or set roles_path, so it can be read."
        return ("Give the value in the repo (role defaults, play vars, group_vars/all), or make the reap's "
                "outcome independent of it.")

    # -- the verdict ----------------------------------------------------------------------------

    def verdict(self, launch: AsyncTask) -> TaskVerdict:
        if short_action(launch.action).rsplit(".", 1)[-1] in SELF_REAPING:
            return TaskVerdict(task=launch, ok=True)
        findings: list[Finding] = []
        chosen: Task | None = None
        reaps: tuple[Task, ...] = ()
        if launch.not_analysed:
            findings.append(self.not_analysed(
                launch, launch.not_analysed,
                "Write poll: literally (0 or a number), or with a template the lint can read."))
        elif (support := async_support(launch.action)) != "job":
            return self.async_unsupported(launch, support)
        elif (why := never_runs(self.program, launch)) is not None:
            return TaskVerdict(task=launch, ok=True, findings=(Finding(
                "never-runs", launch, f"never-runs: {self.label(launch)} never runs with the values the repo gives: "
                f"{why}, so no failure of its job can be hidden (advice)",
                hint="If the playbook is run with other values (extra vars, an inventory of its own), give them in "
                     "the repo (group_vars, role defaults) so that the lint judges the run that starts the job."),))
        else:
            failed = explore(self.program, launch, "failed")
            green = [p for p in failed if p.end == "ok"]
            unknown = [p for p in failed if p.end == "unknown"]
            read = [e for p in failed for e in p.events if e.kind == "reap"]
            reaps = tuple(dict.fromkeys([*(e.task for e in read), *self.would_reap(launch)]))
            surfacing = {e.task for e in read if e.how == "failed"}
            chosen = next((p.failed_by for p in failed if p.end == "failed" and p.failed_by in surfacing),
                          reaps[0] if reaps else None)
            if green:
                explained: dict[str, Finding] = {}
                for path in green[:8]:
                    finding = self.explain(launch, path)
                    passed = list(dict.fromkeys(e.task.name for e in path.events if e.kind == "role-not-handed"))
                    if passed:  # say what the verdict takes of code the lint could not read
                        finding = replace(finding, message=f"{finding.message} (taking {', '.join(passed)}, which "
                                          "is handed neither the job id nor its register, not to read the job)")
                    explained.setdefault(finding.kind, finding)
                findings += explained.values()
                if chosen is None:
                    chosen = next((t for t in self.tasks for f in findings
                                   if f.reap_file == t.file and f.reap_line == t.line), None)
            elif unknown:
                why = unknown[0].why
                findings.append(self.not_analysed(launch, why, self.unknown_hint(why)))
            elif not failed:
                findings.append(self.not_analysed(launch, "the lint found no run of the playbook that reaches it",
                                                  "Check the conditions on the launch and its blocks."))
            else:
                findings += self.sound(launch, failed)
            if self.pb.kind == "tasks" and any(f.severity != "advice" for f in findings):
                detail = "; ".join(f.message for f in findings)
                findings = [self.not_analysed(
                    launch, f"no playbook or role reaches {self.where(launch).rsplit(':', 1)[0]} statically (a "
                    "templated include?), and it does not reap the job itself; the reap may be in whatever "
                    "includes it", "Reap the job in the file that launches it.", detail)]
        budget = self.budget(chosen)[0] if chosen is not None else None
        runtime = self.runtimes.get((launch.playbook, launch.name))
        headroom: float | None = None
        if runtime is not None and isinstance(launch.async_timeout, int) and runtime > 0:
            headroom = launch.async_timeout / runtime
            if launch.async_timeout < TIGHT_FACTOR * runtime:
                findings.append(Finding(
                    "async-timeout-tight", launch,
                    f"async-timeout-tight: {self.label(launch)} has async: {launch.async_timeout} but took "
                    f"{runtime:g} s; keep async >= {TIGHT_FACTOR:g} x the runtime ({TIGHT_FACTOR * runtime:g} s)",
                    hint="Raise async well above the realistic worst case."))
        order = {kind: i for i, kind in enumerate(FINDING_KINDS)}
        findings.sort(key=lambda f: (order[f.kind], f.reap_line or 0))
        return TaskVerdict(
            task=launch,
            ok=all(f.severity == "advice" for f in findings),
            findings=tuple(findings),
            reap=chosen,
            reap_budget_seconds=budget,
            runtime_seconds=runtime,
            headroom=headroom,
            reaps=reaps,
        )

    def sound(self, launch: AsyncTask, failed: Sequence[HostPath]) -> list[Finding]:
        """Findings for a launch whose failed job fails the host on every path: a running job that passes,
        a reap that fails a healthy job, a short budget."""
        findings: list[Finding] = []
        running = explore(self.program, launch, "running")
        passed = next((p for p in running if p.end == "ok" or (p.end == "failed" and any(
            e.kind == "reap" and e.how == "passed" for e in p.events) and not self.about_the_job(p))), None)
        surfacing = next((e for p in failed for e in p.events if e.kind == "reap" and e.how == "failed"
                          and e.task is p.failed_by), None)
        if passed is not None:
            event = next((e for e in passed.events if e.kind == "reap"), surfacing)
            reap = event.task if event is not None else launch
            budget, how = self.budget(reap)
            why = (f"which {how}: a job still running then passes, and its later failure is never seen"
                   if not reap.keywords.get("until") else
                   "which lets a job that is still running pass, and its later failure is never seen")
            findings.append(Finding("reap-no-until", launch, f"reap-no-until: {self.label(launch)} is reaped by "
                                    f"{self.label(reap)}, {why}", reap.file, reap.line,
                                    "Add until: <result>.finished with retries and delay, so the reap waits for "
                                    "the job's end."))
            return findings
        unsure = next((p for p in running if p.end == "unknown"), None)
        if unsure is not None:  # whether a job still running passes the reap is not established
            return [self.not_analysed(launch, f"{unsure.why} (with the job still running)",
                                      self.unknown_hint(unsure.why))]
        by_reap = all(p.failed_by is not None and "failed_when" not in p.failed_by.keywords and any(
            e.kind == "reap" and e.how == "failed" and e.task is p.failed_by for e in p.events) for p in failed)
        # a reap with no failed_when fails only on a failed job: the ok world needs no run to show it
        healthy = [] if by_reap else explore(self.program, launch, "ok")
        if healthy and all(p.end == "failed" for p in healthy):
            culprit = healthy[0].failed_by
            at = f" ({self.label(culprit)} fails)" if culprit is not None else ""
            if not any(e.kind == "reap" and e.task is culprit for e in healthy[0].events):
                return [self.not_analysed(
                    launch, f"the host fails even when the job succeeds{at}, so the lint cannot tell whether the "
                    "job's failure is what fails the play", "Check that the play passes as it is; an audit run "
                    "(--asyncplay-reap-audit) proves the reap on a real host.")]
            findings.append(Finding("reap-fails-healthy-job", launch,
                                    f"reap-fails-healthy-job: {self.label(launch)}: the host fails even when the "
                                    f"job succeeds{at}, so its failure is not what fails the play (advice)",
                                    culprit.file if culprit else None, culprit.line if culprit else None,
                                    "Make the reap's failed_when hold only for a failed job (a healthy job's "
                                    "result has rc: 0 and failed: false)."))
        if surfacing is not None:
            budget, how = self.budget(surfacing.task)
            allowed = _longest_async(launch)
            if budget is not None and surfacing.task.keywords.get("until") and allowed and budget < allowed:
                findings.append(Finding(
                    "reap-budget-short", launch,
                    f"reap-budget-short: {self.label(launch)} is reaped by {self.label(surfacing.task)}, which "
                    f"waits at most {budget:g} s ({how}), for a job allowed {allowed:g} s: a slow job fails the play "
                    "when the retries run out (advice: a failure is never hidden)",
                    surfacing.task.file, surfacing.task.line,
                    f"Set retries x delay >= async ({allowed:g} s) if the job may really take that long."))
        return findings

    def about_the_job(self, path: HostPath) -> bool:
        """Whether the task that failed ``path`` is a reap of the job or reads what one registered (a failure
        elsewhere, after a reap passed a running job, does not show the reap waits for the job's end)."""
        culprit = path.failed_by
        reaps = [e.task for e in path.events if e.kind == "reap"]
        if culprit is None or any(culprit is r for r in reaps):
            return culprit is not None
        registers = {r.register for r in reaps if r.register}
        read = set().union(*(_names(culprit.keywords.get(k)) for k in ("when", "failed_when", "until")),
                           _names(culprit.args.get("that")), _names(culprit.args.get("msg")))
        return bool(registers & read)

    def verdicts(self) -> list[TaskVerdict]:
        return [self.verdict(t) for t in self.pb.tasks]


def analyze(playbooks: Iterable[Playbook], runtimes: Optional[Mapping[RuntimeKey, float]] = None,
            reap_modules: Sequence[ReapModule] = (), ansible_core: Optional[Version] = None) -> list[TaskVerdict]:
    """One :class:`TaskVerdict` per fire-and-forget task of ``playbooks``, in discovery order.

    ``runtimes`` maps ``(task.playbook, task.name)`` to a measured runtime in seconds; with it,
    ``async-timeout-tight`` is checked. ``reap_modules`` are modules the user declares to reap like
    ``async_status``. ``ansible_core`` is the version whose templating rules the run is judged by
    (None: the installed one). Broken playbooks are analysed with the tasks found.
    """
    known = runtimes or {}
    verdicts: list[TaskVerdict] = []
    for playbook in playbooks:
        verdicts += _Analysis(playbook, known, reap_modules, ansible_core).verdicts()
    return verdicts


@dataclass(frozen=True)
class Rules:
    """What the lint judges by besides the playbooks: modules the user declares to reap like ``async_status``
    (ini ``asyncplay_reap_modules``, ``--reap-module``) and the ansible-core whose templating rules it follows
    (ini ``asyncplay_ansible_core``, ``--ansible-core``; None: the installed one)."""

    reap_modules: tuple[ReapModule, ...] = ()
    ansible_core: Optional[Version] = None

    def analyze(self, playbooks: Iterable[Playbook],
                runtimes: Optional[Mapping[RuntimeKey, float]] = None) -> list[TaskVerdict]:
        """:func:`analyze` by these rules."""
        return analyze(playbooks, runtimes, self.reap_modules, self.ansible_core)


#: No declared reap modules, the installed ansible-core's rules.
DEFAULT_RULES = Rules()


def lint(
    paths: StrPath | Iterable[StrPath],
    roles_path: StrPath | Iterable[StrPath] = (),
    runtimes: Optional[Mapping[RuntimeKey, float]] = None,
    reap_modules: Sequence[ReapModule] = (),
    ansible_core: Optional[Version] = None,
) -> list[Finding]:
    """Discover what Ansible would play under ``paths`` and return every finding (empty: all sound).

    Never raises for a broken playbook: it gives one finding of kind ``error`` (``task`` None,
    ``playbook`` set, the problem and its hint in ``message``/``hint``) and no verdict on its tasks,
    since a partial read could hide a reap; every other playbook is analysed as usual. Findings of
    severity ``advice`` are included: filter on :attr:`Finding.severity` for what fails an item.
    ``ansible_core``: as for :func:`analyze`.
    """
    playbooks = discover(paths, roles_path)
    findings: list[Finding] = []
    for playbook in playbooks:
        if playbook.error is not None:
            findings.append(Finding("error", None, f"error: {playbook.error.message}", hint=playbook.error.hint,
                                    playbook=playbook.path))
        else:
            findings += [f for v in analyze([playbook], runtimes, reap_modules, ansible_core) for f in v.findings]
    return findings


def distinct(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` with each one once, in order: a role's task that several playbooks play (and so judge) is
    one finding when they judge it alike, whatever relative path each message names it by. Findings are the
    same when kind, task (its real ``file:line``: a symlinked roles folder is one) and reap are; a broken
    playbook's finding is the same only with the same message."""
    def real(path: Optional[Path]) -> Optional[str]:
        return os.path.realpath(path) if path is not None else None

    first: dict[tuple[Any, ...], Finding] = {}
    for finding in findings:
        if finding.task is None:
            key: tuple[Any, ...] = (finding.kind, real(finding.playbook), finding.message)
        else:
            key = (finding.kind, real(finding.task.file), finding.task.line, real(finding.reap_file),
                   finding.reap_line)
        first.setdefault(key, finding)
    return list(first.values())
