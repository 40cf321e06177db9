"""Static reap lint: does every fire-and-forget job have a reap that fails the play when it fails?

Works on what :mod:`pytest_asyncplay.audit.discover` found; pure, fast, deterministic.

A *reap* of a launch (a task with ``async: N``, ``poll: 0`` and ``register: R``) is a later
``async_status`` task (any FQCN) in the same play or a later play of the same run whose ``jid``
references ``R.ansible_job_id`` (also through ``R.results`` with ``item.ansible_job_id`` /
``loop_control.loop_var``, a ``set_fact`` alias or task ``vars``), with no task re-registering
``R`` in between. A reap in ``handlers`` counts only when a task at or after the launch, in the
handler's play, notifies it (by name, ``listen`` topic or ``role : name``).

Rules decided here (see :data:`FINDING_KINDS` for the kinds):

- A task is ok iff at least one of its reaps has no finding, and no task-level finding
  (``async-timeout-tight``) applies. Every reap's findings are reported when none is sound.
- ``reap-conditional``: the reap or anything enclosing it has a ``when:`` other than literal
  true, or the reap sits in a ``rescue:`` (it runs only when its block failed). Conditions the
  launch has too, and guards that only skip jobs that never started (``<ref>.ansible_job_id is
  defined``, ``<register> is not skipped``), are fine.
- ``reap-ignores-errors``: the effective ``ignore_errors`` is true or templated (it may be true).
- ``reap-cannot-fail``: ``failed_when`` is literally false (or a list holding a literal false) and
  no later ``assert``/``fail`` task mentions the reap's register.
- ``reap-rescued``: the reap sits in the ``block:`` part of a block (at any depth) whose
  ``rescue:`` does not re-raise. A rescue re-raises when it holds a ``fail`` task that runs
  unconditionally (no ``when:``, errors not ignored, not inside a nested block with its own
  rescue). ``meta: end_play``/``end_host`` end the play *green*, so they swallow the failure.
- ``reap-no-until``: the reap has no ``until:``: it looks once, and a job still running passes.
- ``reap-budget-short`` (advice): numeric ``retries`` x ``delay`` (defaults 3 and 5) below a literal
  ``async``. Running out of retries fails the reap, so this never hides a failure: it only makes a
  slow job fail the play early.
- ``register-overwritten``: a task registers the launch's variable again before any reap reads it.
- ``loop-partly-reaped``: the launch loops and every reference from the reap picks items
  (``results[0]``, a slice, ``first``/``last``/``select``... filters).
- ``reap-wrong-job``: no reap references the launch's register, and a later ``async_status``
  references a register that was overwritten since the launch, that belongs to no fire-and-forget
  launch, or whose job was already reaped (a copy-paste duplicate).
- ``async-timeout-tight`` (advice): only with measured ``runtimes``; ``async`` < 1.5 x the runtime.
- ``not-analysed``: the lint cannot judge the task (a ``poll:`` template it cannot evaluate, or a
  task file nothing reaches statically whose own tasks do not reap the job); never a pass.
- ``error``: the playbook (or a file it pulls in) is broken; its tasks get no verdict.

Severities (:data:`SEVERITY`): ``swallows`` (a failed job can leave the play green), ``unknown``
(no verdict could be established) and ``advice``. Only ``advice`` lets an item pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from pytest_asyncplay.audit.discover import AsyncTask, Playbook, StrPath, Task, discover, display_path
from pytest_asyncplay.audit.taskargs import possible_values, short_action
from pytest_asyncplay.audit.walker import MISSING_ROLE

__all__ = ["FINDING_KINDS", "SEVERITY", "Finding", "FindingKind", "TaskVerdict", "analyze", "distinct", "lint"]

FindingKind = Literal[
    "error",
    "not-analysed",
    "unreaped",
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
    "async-timeout-tight",
]

#: Every finding kind, in the order findings of one task are reported.
FINDING_KINDS: tuple[FindingKind, ...] = (
    "error",
    "not-analysed",
    "unreaped",
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
    "async-timeout-tight",
)

Severity = Literal["swallows", "unknown", "advice"]
#: Advice passes an item (a warning; it fails with ``--asyncplay-strict``); the rest fail it.
ADVICE_KINDS: frozenset[str] = frozenset({"reap-budget-short", "async-timeout-tight"})
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
_PATH = re.compile(r"""(?<![\w.'"])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*|\s*\[[^\[\]]*\])*)""")
_SEGMENT = re.compile(r"""\.\s*([A-Za-z_]\w*)|\[\s*(['"])(.*?)\2\s*\]|\[([^\]]*)\]""")
_PARTIAL_FILTER = re.compile(
    r"\|\s*(first|last|random|select|reject|selectattr|rejectattr|batch|slice|min|max)\b(\([^)]*\))?"
)
_DEFINED_JOBS = re.compile(r"""selectattr\(\s*['"]ansible_job_id['"]\s*,\s*['"]defined['"]\s*\)""")
#: A ``when:`` that only skips what never started a job: ``x.ansible_job_id is defined``,
#: ``x is not skipped``, ``not x.skipped``, ``x.started``.
_JOB_GUARD = re.compile(
    r"""(?:not\s+)?\(?\s*(?P<ref>[A-Za-z_][\w.\[\]'"]*?)\s*\)?(?:\.ansible_job_id\s+is\s+defined|\s+is\s+not\s+skipped"""
    r"""|\.started|\.ansible_job_id\s*!=\s*['"]{2}|\s+is\s+started)\s*""",
)
#: True in every real run (the lint judges real runs, not ``--check``).
_REAL_RUN = re.compile(r"\(?\s*(?:not\s+ansible_check_mode(?:\s*\|\s*bool)?|ansible_check_mode\s*(?:==|is)\s*"
                       r"(?:false|False|sameas\s+false))\s*\)?")
#: Modules whose behaviour the lint knows (ansible.builtin, by short name): not a hidden check.
_BUILTIN_ACTIONS = frozenset({
    "assert", "async_status", "command", "copy", "debug", "fail", "file", "include_tasks", "import_tasks",
    "lineinfile", "meta", "set_fact", "shell", "slurp", "stat", "template", "uri", "wait_for",
})
#: Modules whose action plugin waits for its own async job inside the task: no reap is needed.
SELF_REAPING = {
    "iptables_state": "its action plugin polls the job itself (the module's rollback protocol)",
}
_NOT_SKIPPED = re.compile(r"""not\s+\(?\s*(?P<ref>[A-Za-z_][\w.\[\]'"]*?)\s*\)?\s*(?:\.skipped|is\s+skipped)\s*""")
_INDEX = "[]"


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


@dataclass(frozen=True)
class _JobRef:
    """A reference from a reap's ``jid`` to a register; ``partial`` when it picks loop items."""

    register: str
    partial: bool
    text: str


# --------------------------------------------------------------------------------------------------
# Reading jid expressions


def _segments(tail: str) -> list[str]:
    out: list[str] = []
    for match in _SEGMENT.finditer(tail):
        attr, _, quoted, index = match.groups()
        out.append(attr or quoted or (_INDEX if index is not None else ""))
    return out


def _paths(text: str) -> list[tuple[str, list[str], str]]:
    """Every ``name.attr[index]...`` path in a Jinja text: (head, segments, the tail as written)."""
    return [(m.group(1), _segments(m.group(2)), m.group(2)) for m in _PATH.finditer(text)]


def _inner(text: str) -> str:
    """The expression of a ``{{ ... }}`` text (the text itself otherwise)."""
    match = re.fullmatch(r"\s*\{\{-?\s*(.*?)\s*-?\}\}\s*", text, re.S)
    return match.group(1) if match else text


def _partial_filters(text: str) -> bool:
    for match in _PARTIAL_FILTER.finditer(text):
        if match.group(1) == "selectattr" and _DEFINED_JOBS.search(match.group(0)):
            continue  # skipped loop items have no job id: selecting the defined ones keeps all jobs
        return True
    return False


class _RefReader:
    """Turns a reap's ``jid`` (and the loops it runs in) into the registers it takes job ids from.

    ``facts`` maps a ``set_fact`` name to every definition of it; ``loops`` a loop variable to its loop.
    """

    def __init__(self, facts: Mapping[str, Sequence[str]], loops: Mapping[str, Any]) -> None:
        self.facts = facts
        self.loops = loops

    @staticmethod
    def alias(definition: str, tail: str) -> str | None:
        """``tail`` applied to a ``set_fact`` alias (``job`` defined as ``{{ launch_result }}``)."""
        inner = _inner(definition).strip()
        return f"{{{{ {inner}{tail} }}}}" if _PATH.fullmatch(inner) else None

    def refs(self, text: str, depth: int = 0) -> list[_JobRef]:
        refs: list[_JobRef] = []
        if depth > 4:
            return refs
        for head, segs, tail in _paths(text):
            if head in self.loops and self.loops[head] is not None:
                refs += self.loop_refs(self.loops[head], depth + 1)
            elif head in self.facts:
                for definition in self.facts[head]:
                    refs += self.refs(self.alias(definition, tail) or definition, depth + 1)
            elif segs[:1] == ["ansible_job_id"]:
                refs.append(_JobRef(head, False, text))
            elif segs[:1] == ["results"] and "ansible_job_id" in segs:
                refs.append(_JobRef(head, _INDEX in segs, text))
        return refs

    def loop_refs(self, loop_expr: Any, depth: int) -> list[_JobRef]:
        refs: list[_JobRef] = []
        if depth > 4:
            return refs
        if isinstance(loop_expr, list):  # with_items flattens one level: each element may be a list of jobs
            for element in loop_expr:
                refs += self.loop_refs(element, depth + 1)
            return refs
        text = str(loop_expr)
        partial_text = _partial_filters(text)
        for head, segs, tail in _paths(text):
            if head in self.facts:
                for definition in self.facts[head]:
                    refs += [
                        _JobRef(r.register, r.partial or partial_text, r.text)
                        for r in self.loop_refs(self.alias(definition, tail) or definition, depth + 1)
                    ]
            elif segs[:1] == ["results"]:
                refs.append(_JobRef(head, partial_text or _INDEX in segs[1:2], text))
            elif segs[:1] == ["ansible_job_id"]:
                refs.append(_JobRef(head, False, text))
        return refs


def _fact_values(task: Task) -> list[tuple[str, str]]:
    """``(name, value)`` of each fact a ``set_fact`` sets. In a loop over a simple path, the loop
    variable is replaced by that path, so ``[item.ansible_job_id]`` over ``R.results`` reads R's jobs."""
    loop = _loop_expr(task) if task.loop else None
    over = _inner(str(loop)).strip() if isinstance(loop, str) else ""
    out = []
    for key, value in task.args.items():
        if key == "cacheable":
            continue
        text = str(value)
        if over and _PATH.fullmatch(over):
            text = re.sub(rf"(?<![\w.]){re.escape(task.loop_var)}(?!\w)", over, text)
        out.append((str(key), text))
    return out


def _loop_expr(task: Task) -> Any:
    for key, value in task.keywords.items():
        if key == "loop" or str(key).startswith("with_"):
            return value
    return None


# --------------------------------------------------------------------------------------------------
# Truth of keyword values


def _truthy(value: Any) -> bool | None:
    """True/False for a literal, None when templated (unknown)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip()
    inner = text[2:-2].strip() if text.startswith("{{") and text.endswith("}}") else text
    if inner.lower() in _TRUE_STRINGS:
        return True
    if inner.lower() in _FALSE_STRINGS:
        return False
    return None


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        return float(value)
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


def _job_guard(condition: str, names: set[str]) -> bool:
    """Whether ``condition`` only skips what never started a job (on one of ``names``)."""
    text = condition.strip()
    match = _JOB_GUARD.fullmatch(text) or _NOT_SKIPPED.fullmatch(text)
    if match is None or (text.startswith("not ") and _JOB_GUARD.fullmatch(text)):
        return False
    return re.split(r"[.\[]", match.group("ref"), maxsplit=1)[0] in names


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None


# --------------------------------------------------------------------------------------------------
# The analysis of one playbook


class _Analysis:
    """Verdicts for the fire-and-forget tasks of one playbook."""

    def __init__(self, playbook: Playbook, runtimes: Mapping[RuntimeKey, float]) -> None:
        self.pb = playbook
        self.tasks = playbook.all_tasks
        self.base = playbook.path.parent
        self.runtimes = runtimes
        self.refs: dict[int, list[_JobRef]] = {}
        facts: dict[str, list[str]] = {}
        for task in self.tasks:
            if task.register is not None:
                facts.pop(task.register, None)  # a later register wins over an earlier set_fact of that name
            if task.short_action.split(".")[-1] == "set_fact":
                for name, value in _fact_values(task):
                    facts.setdefault(name, []).append(value)
            if task.action.split(".")[-1] == "async_status":
                local = dict(facts)
                task_vars = task.keywords.get("vars")
                if isinstance(task_vars, dict):
                    local.update({str(k): [str(v)] for k, v in task_vars.items()})
                loops = dict(task.outer_loops)
                if task.loop:
                    loops[task.loop_var] = _loop_expr(task)
                jid = task.args.get("jid")
                self.refs[task.order] = _RefReader(local, loops).refs("" if jid is None else str(jid))

    def where(self, task: Task) -> str:
        return task.where(self.base)

    def label(self, task: Task) -> str:
        name = task.node_name if isinstance(task, AsyncTask) else task.name
        return f'"{name}" ({self.where(task)})'

    # -- which async_status tasks reap which launch -------------------------------------------

    def registered_before(self, name: str, order: int) -> Task | None:
        """The last task before ``order`` that registers ``name``."""
        for task in reversed(self.tasks[:order]):
            if task.register == name:
                return task
        return None

    def notified(self, handler: Task, since: int) -> bool:
        names = {handler.name, *handler.listen}
        if handler.role:
            names.add(f"{handler.role} : {handler.name}")
        return any(
            t.play_index == handler.play_index and t.order >= since and names.intersection(t.notify) for t in self.tasks
        )

    def reaps_of(self, launch: AsyncTask) -> tuple[list[tuple[Task, list[_JobRef]]], list[Task]]:
        """(reaps of ``launch`` with their refs, async_status tasks that would be reaps if run)."""
        reaps: list[tuple[Task, list[_JobRef]]] = []
        idle: list[Task] = []
        if launch.register is None:
            return reaps, idle
        for order, refs in self.refs.items():
            mine = [r for r in refs if r.register == launch.register]
            if order <= launch.order or not mine:
                continue
            status = self.tasks[order]
            if self.registered_before(launch.register, order) is not launch:
                continue
            if status.section == "handlers" and not self.notified(status, launch.order):
                idle.append(status)
                continue
            reaps.append((status, mine))
        return reaps, idle

    def stray_reap(self, launch: AsyncTask) -> tuple[Task, str] | None:
        """A later async_status that looks aimed at the wrong job, with the reason."""
        for order, refs in self.refs.items():
            if order <= launch.order or not refs:
                continue
            status = self.tasks[order]
            reasons: list[str] = []
            for ref in refs:
                if launch.register is not None and ref.register == launch.register:
                    owner = self.registered_before(ref.register, order)
                    if owner is not None and owner is not launch:
                        break  # it reaps the job of whoever registered the name last (overwritten: see above)
                owner = self.registered_before(ref.register, order)
                if not isinstance(owner, AsyncTask):
                    what = "no task" if owner is None else f"{self.label(owner)}, not a fire-and-forget task"
                    reasons.append(f"it takes the job id from {ref.register!r}, registered by {what}")
                    continue
                earlier = [
                    o
                    for o, rs in self.refs.items()
                    if owner.order < o < order and any(r.register == ref.register for r in rs)
                ]
                if not earlier or owner.order > launch.order:
                    break  # a genuine reap of another job, or a second look at a job launched after this one
                reasons.append(
                    f"it reaps {ref.register!r} of {self.label(owner)} again, already reaped by "
                    f"{self.label(self.tasks[earlier[0]])}"
                )
            else:
                if reasons:
                    return status, "; ".join(reasons)
        return None

    # -- checks on one reap ---------------------------------------------------------------------

    def rescue_swallows(self, block_id: int, depth: int) -> Task | None:
        """The first task of a swallowing rescue of block ``block_id``; None if it re-raises."""
        rescue = [
            t
            for t in self.tasks
            if len(t.blocks) > depth and t.blocks[depth].block_id == block_id and t.blocks[depth].part == "rescue"
        ]
        if not rescue:
            return None
        for task in rescue:
            nested = task.blocks[depth + 1 :]
            caught = any(f.part == "block" and f.has_rescue for f in nested)
            if task.short_action == "fail" and not task.when and _truthy(task.ignore_errors) is False and not caught:
                return None
        return rescue[0]

    def skipping_conditions(self, launch: AsyncTask, reap: Task) -> list[str]:
        """The reap's conditions that may skip it while the job ran: not shared with the launch, and not
        a guard that only skips loop items or launches that never started a job."""
        guarded = {reap.loop_var, *(name for name, _ in reap.outer_loops)}
        if launch.register:
            guarded.add(launch.register)
        out = []
        for condition in reap.when:
            parts = [p.strip() for p in re.split(r"\s+and\s+", condition) if p.strip()]
            if condition in launch.when or all(
                p in launch.when or _job_guard(p, guarded) or _REAL_RUN.fullmatch(p) for p in parts
            ):
                continue
            out.append(condition)
        return out

    def unknowable(self, launch: AsyncTask, reaps: Sequence[tuple[Task, Sequence[_JobRef]]],
                   findings: list[Finding]) -> list[Finding]:
        """``findings``, or one ``not-analysed`` finding when something the lint cannot read may reap the job:
        a poll template, a role not installed that runs later, a module handed the reap's result, or an
        includer of a task file nothing reaches statically."""
        missing = next((t for t in self.tasks[launch.order + 1 :] if t.action == MISSING_ROLE), None)
        reasons = [
            (launch.not_analysed, "Write poll: literally (0 or a number), or with a template the lint can read."),
            (f"{missing.name} ({self.where(missing)}) runs after the launch and may reap the job" if missing else "",
             "Install the role (ansible-galaxy install -r requirements.yml) or set roles_path, so it can be read."),
            (self.handed_on(reaps), "Let the reap fail the play itself (drop failed_when: false), or assert on it."),
            (f"no playbook or role reaches {self.where(launch).rsplit(':', 1)[0]} statically (a templated "
             "include?), and it does not reap the job itself; the reap may be in whatever includes it"
             if self.pb.kind == "tasks" else "", "Reap the job in the file that launches it."),
        ]
        why, hint = next(((w, h) for w, h in reasons if w), ("", ""))
        if not why:
            return findings
        detail = "; ".join(f.message for f in findings)
        message = f"not-analysed: {self.label(launch)}: {why}" + (f" (read alone: {detail})" if detail else "")
        return [Finding("not-analysed", launch, message, hint=hint)]

    def handed_on(self, reaps: Sequence[tuple[Task, Sequence[_JobRef]]]) -> str:
        """Why the verdict is unknown when a reap that cannot fail hands its result to a module the lint
        cannot read (not ansible.builtin): that module may fail the play on a failed job."""
        for reap, _ in reaps:
            if reap.register is None or not _literally_false(reap.keywords.get("failed_when")):
                continue
            for task in self.tasks[reap.order + 1 :]:
                if task.action.startswith("ansible.") or short_action(task.action) in _BUILTIN_ACTIONS:
                    continue
                if _mentions(repr(dict(task.args)), reap.register):
                    return (f"its reap {self.label(reap)} cannot fail, but hands {reap.register!r} to "
                            f"{task.action} ({self.where(task)}), which the lint cannot read: it may fail the play")
        return ""

    def checked_later(self, reap: Task) -> bool:
        if reap.register is None:
            return False
        for task in self.tasks[reap.order + 1 :]:
            if task.short_action in ("assert", "fail"):
                text = " ".join([repr(dict(task.args)), *task.when])
                if _mentions(text, reap.register):
                    return True
        return False

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

    def reap_findings(self, launch: AsyncTask, reap: Task, refs: Sequence[_JobRef]) -> list[Finding]:
        task_label, reap_label = self.label(launch), self.label(reap)
        lead = f"{task_label} is reaped by {reap_label}, "
        findings: list[Finding] = []

        def add(kind: FindingKind, why: str, hint: str) -> None:
            findings.append(Finding(kind, launch, f"{kind}: {lead}{why}", reap.file, reap.line, hint))

        if str(reap.args.get("mode", "status")).strip() == "cleanup":
            add(
                "reap-cleanup-only",
                "which only runs mode: cleanup; that never fails for a failed job",
                "Reap with mode: status (the default) and until: <result>.finished first; clean up afterwards.",
            )
            return findings  # nothing else about a cleanup matters: it is no reap
        ignored = _truthy(reap.ignore_errors)
        if ignored is not False:
            kind, file, line = reap.ignore_errors_origin or ("task", reap.file, reap.line)
            where = f"{display_path(file, self.base)}:{line}"
            on = "which has" if kind == "task" else f"whose enclosing {kind} ({where}) has"
            may = "may ignore" if ignored is None else "ignores"
            add(
                "reap-ignores-errors",
                f"{on} ignore_errors: {_yaml(reap.ignore_errors)}, so it {may} a failed job",
                "Remove ignore_errors from the reap (and its blocks/play); handle expected "
                "failures with a rescue that re-raises.",
            )
        failed_when = reap.keywords.get("failed_when")
        if failed_when is not None and _literally_false(failed_when) and not self.checked_later(reap):
            subject = f"{reap.register!r}" if reap.register else "its result (it registers nothing)"
            add(
                "reap-cannot-fail",
                f"which has failed_when: {_yaml(failed_when)} and no later assert/fail checks {subject}",
                "Drop failed_when: false, or add a later assert on the reap's register (e.g. that: result.rc == 0).",
            )
        skipping = self.skipping_conditions(launch, reap)
        if skipping:
            add(
                "reap-conditional",
                f"which may be skipped (when: {' and '.join(skipping)})",
                "Make the reap unconditional, or put the same condition on the launch "
                "(a guard such as when: item.ansible_job_id is defined is fine).",
            )
        if any(f.part == "rescue" for f in reap.blocks):
            add(
                "reap-conditional",
                "which sits in a rescue: and runs only when its block failed",
                "Move the reap out of the rescue (into the block or an always:).",
            )
        for depth, frame in enumerate(reap.blocks):
            if frame.part == "block" and frame.has_rescue:
                swallower = self.rescue_swallows(frame.block_id, depth)
                if swallower is not None:
                    add(
                        "reap-rescued",
                        f"which sits in a block ({display_path(frame.file, self.base)}:{frame.line}) whose rescue "
                        f"({self.where(swallower)}) handles the failure without re-raising it",
                        "End the rescue with an unconditional ansible.builtin.fail, or move the reap out of the block.",
                    )
                    break
        if launch.loop and refs and all(r.partial for r in refs):
            add(
                "loop-partly-reaped",
                f"which takes only some of the loop's jobs ({refs[0].text.strip()})",
                f'Loop the reap over {launch.register}.results with jid: "{{{{ item.ansible_job_id }}}}".',
            )
        budget, how = self.budget(reap)
        if budget == 0 and not reap.keywords.get("until"):
            add(
                "reap-no-until",
                f"which {how}: a job still running then passes, and its later failure is never seen",
                "Add until: <result>.finished with retries and delay, so the reap waits for the job's end.",
            )
        elif budget is not None and (allowed := _longest_async(launch)) and budget < allowed:
            add(
                "reap-budget-short",
                f"which waits at most {budget:g} s ({how}), for a job allowed {allowed:g} s: a slow "
                "job fails the play when the retries run out (advice: a failure is never hidden)",
                f"Set retries x delay >= async ({allowed:g} s) if the job may really take that long.",
            )
        return findings

    # -- the verdict ----------------------------------------------------------------------------

    def verdict(self, launch: AsyncTask) -> TaskVerdict:
        if launch.action.split(".")[-1] in SELF_REAPING:
            return TaskVerdict(task=launch, ok=True)
        reaps, idle = self.reaps_of(launch)
        findings: list[Finding] = []
        sound: Task | None = None
        candidates: list[list[Finding]] = []
        for reap, refs in reaps:
            these = self.reap_findings(launch, reap, refs)
            if all(f.severity == "advice" for f in these):
                sound, advice = reap, these
                break
            candidates.append([f for f in these if f.severity != "advice"])
        if candidates:  # no sound reap: report the one closest to sound
            findings = min(candidates, key=len)
        if sound is not None:
            findings = advice
        else:
            if not reaps:
                findings.append(self.unreaped(launch, idle))
            if launch.register is not None:  # with no register nothing can reap it, whatever runs later
                findings = self.unknowable(launch, reaps, findings)
        chosen = sound or (reaps[0][0] if reaps else None)
        budget = self.budget(chosen)[0] if chosen is not None else None
        runtime = self.runtimes.get((launch.playbook, launch.name))
        headroom: float | None = None
        if runtime is not None and isinstance(launch.async_timeout, int) and runtime > 0:
            headroom = launch.async_timeout / runtime
            if launch.async_timeout < TIGHT_FACTOR * runtime:
                findings.append(
                    Finding(
                        "async-timeout-tight",
                        launch,
                        f"async-timeout-tight: {self.label(launch)} has async: {launch.async_timeout} "
                        f"but took {runtime:g} s; keep async >= {TIGHT_FACTOR:g} x the runtime "
                        f"({TIGHT_FACTOR * runtime:g} s)",
                        hint="Raise async well above the realistic worst case.",
                    )
                )
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
            reaps=tuple(r for r, _ in reaps),
        )

    def overwritten(self, launch: AsyncTask) -> tuple[Task, Task] | None:
        """``(task that registers the launch's variable again, the async_status reading it after)``."""
        for task in self.tasks[launch.order + 1 :]:
            if task.register == launch.register and task.play_index == launch.play_index:
                later = [o for o, refs in self.refs.items()
                         if o > task.order and any(r.register == launch.register for r in refs)]
                return (task, self.tasks[later[0]]) if later else None
        return None

    def unreaped(self, launch: AsyncTask, idle: Sequence[Task]) -> Finding:
        label = self.label(launch)
        lost = self.overwritten(launch) if launch.register is not None else None
        if lost is not None:
            owner, status = lost
            return Finding(
                "register-overwritten",
                launch,
                f"register-overwritten: {label} registers {launch.register!r}, but {self.label(owner)} registers "
                f"it again before {self.label(status)} reads it, so this job's id is lost and its failure unseen",
                status.file,
                status.line,
                hint=f"Give each launch its own register (a skipped task overwrites its register too), and reap "
                f'this job with jid: "{{{{ {launch.register}.ansible_job_id }}}}" before the next one registers it.',
            )
        stray = self.stray_reap(launch) if launch.register is not None else None
        if stray is not None:
            status, why = stray
            return Finding(
                "reap-wrong-job",
                launch,
                f"reap-wrong-job: {label} is not reaped: {self.label(status)} looks like its reap, but {why}",
                status.file,
                status.line,
                hint=f'Reap this job with jid: "{{{{ {launch.register}.ansible_job_id }}}}" and give '
                "each launch its own register.",
            )
        message = f"unreaped: {label} starts a job that no async_status reaps"
        if launch.register is None:
            message += " (it has no register:, so nothing can)"
        elif idle:
            message += f" (the handler {self.label(idle[0])} would, but nothing notifies it after the launch)"
        return Finding(
            "unreaped",
            launch,
            message,
            idle[0].file if idle else None,
            idle[0].line if idle else None,
            hint="Register the launch and add a later ansible.builtin.async_status task with "
            'jid: "{{ <register>.ansible_job_id }}", until: <result>.finished, retries and delay.',
        )

    def verdicts(self) -> list[TaskVerdict]:
        return [self.verdict(t) for t in self.pb.tasks]


def analyze(playbooks: Iterable[Playbook], runtimes: Optional[Mapping[RuntimeKey, float]] = None) -> list[TaskVerdict]:
    """One :class:`TaskVerdict` per fire-and-forget task of ``playbooks``, in discovery order.

    ``runtimes`` maps ``(task.playbook, task.name)`` to a measured runtime in seconds; with it,
    ``async-timeout-tight`` is checked. Broken playbooks are analysed with the tasks found.
    """
    known = runtimes or {}
    verdicts: list[TaskVerdict] = []
    for playbook in playbooks:
        verdicts += _Analysis(playbook, known).verdicts()
    return verdicts


def lint(
    paths: StrPath | Iterable[StrPath],
    roles_path: StrPath | Iterable[StrPath] = (),
    runtimes: Optional[Mapping[RuntimeKey, float]] = None,
) -> list[Finding]:
    """Discover what Ansible would play under ``paths`` and return every finding (empty: all sound).

    Never raises for a broken playbook: it gives one finding of kind ``error`` (``task`` None,
    ``playbook`` set, the problem and its hint in ``message``/``hint``) and no verdict on its tasks,
    since a partial read could hide a reap; every other playbook is analysed as usual. Findings of
    severity ``advice`` are included: filter on :attr:`Finding.severity` for what fails an item.
    """
    playbooks = discover(paths, roles_path)
    findings: list[Finding] = []
    for playbook in playbooks:
        if playbook.error is not None:
            findings.append(Finding("error", None, f"error: {playbook.error.message}", hint=playbook.error.hint,
                                    playbook=playbook.path))
        else:
            findings += [f for v in analyze([playbook], runtimes) for f in v.findings]
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
