"""One host's path through a playbook run after a fire-and-forget launch, in each world of its job.

The lint's question about a launch is what Ansible would do on a host whose job failed. This module
plays the discovered tasks symbolically, the way ansible-core's task executor and linear strategy do:
blocks with ``rescue``/``always``, ``when``, loops, ``until``/``retries``, ``failed_when``,
``changed_when``, ``ignore_errors``, ``set_fact``, ``register``, ``assert``/``fail``, ``meta: end_*``,
handlers and their notifications, later plays. Every template is evaluated by
:mod:`~pytest_asyncplay.audit.symbolic` (ansible-core's own filters and tests).

The launch's job is in one of three worlds (:data:`WORLDS`): ``failed`` (killed: what a reap then
reads is the record a killed job leaves, ``failed: true``, ``finished: 1``, no ``rc``, an empty
``stdout``), ``running`` (``finished: 0`` for as long as the reap looks) and ``ok``. Every other job is
healthy. Up to the launch the host is assumed to have got there (the launch's own conditions hold);
after it, each unknown that decides a branch forks the path. :func:`explore` returns every
:class:`Path` the host can take, each ending ``failed``, ``ok`` or ``unknown`` with a reason, and the
events the lint explains its verdict with.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

import jinja2

from pytest_asyncplay.audit.model import AsyncTask, Playbook, Task
from pytest_asyncplay.audit.symbolic import (
    MISSING,
    OMIT,
    Evaluator,
    NotSetYet,
    Open,
    PartialError,
    TemplateError,
    Unknown,
    truth,
)
from pytest_asyncplay.audit.taskargs import short_action
from pytest_asyncplay.versions import Version, undefined_reaches_tests

__all__ = ["WORLDS", "Event", "Path", "Program", "ReapModule", "World", "explore", "job_token", "never_runs",
           "parse_reap_modules"]

World = Literal["failed", "running", "ok"]
WORLDS: tuple[World, ...] = ("failed", "running", "ok")

#: Paths explored per launch and world before the lint gives up and says so.
MAX_PATHS = 64
#: Past this many ways through the tasks, the ways that end alike are joined into one.
JOIN_AT = 4
#: Tasks played (over all ways) per launch and world before the lint gives up and says so.
MAX_STEPS = 20_000
#: Items of a loop launch whose job is failed in turn (first and last past this many).
MAX_LOOP_WORLDS = 4
#: ansible.builtin modules whose result the lint knows does not depend on a job they are handed.
_OPAQUE_OK = frozenset({
    "debug", "set_fact", "copy", "file", "template", "lineinfile", "blockinfile", "stat", "slurp", "command",
    "shell", "raw", "script", "wait_for", "pause", "uri", "get_url", "fetch", "include_vars", "add_host",
    "group_by", "set_stats", "replace", "find", "tempfile", "ping", "setup", "service", "systemd",
    "systemd_service", "package", "apt", "dnf", "yum", "pip", "user", "group", "cron", "git", "unarchive",
    "wait_for_connection", "reboot", "known_hosts", "assemble", "service_facts", "package_facts", "gather_facts",
    "getent", "hostname", "mount_facts", "sysvinit", "iptables", "debconf", "dpkg_selections", "expect",
    "rpm_key", "apt_key", "apt_repository", "yum_repository", "deb822_repository", "subversion",
    "validate_argument_spec",
})  # fmt: skip
#: Modules whose action plugin waits for its own async job inside the task: no reap is needed.
SELF_REAPING = {"iptables_state": "its action plugin polls the job itself (the module's rollback protocol)"}
#: The loop keywords the lint plays item by item (other ``with_<lookup>`` loops are unknown).
_LOOP_KEYS = frozenset({"loop", "with_items", "with_list", "with_dict", "with_flattened", "with_indexed_items",
                        "with_together", "with_nested", "with_cartesian"})
#: Modules that report changed whenever they run (without changed_when).
_ALWAYS_CHANGED = frozenset({"command", "shell", "raw", "script"})
_MAGIC_UNKNOWN = ("inventory_hostname", "ansible_host", "groups", "hostvars", "ansible_facts", "ansible_play_hosts")


@dataclass(frozen=True)
class ReapModule:
    """A module the user declares to reap like ``async_status``: ``name`` (short or FQCN) and its job-id argument."""

    name: str
    jid_argument: str = "jid"

    def matches(self, action: str) -> bool:
        """Whether ``action`` names this module (an FQCN matches its short name too)."""
        return action == self.name or action.rsplit(".", 1)[-1] == self.name or self.name.rsplit(".", 1)[-1] == action


def parse_reap_modules(specs: Iterable[str]) -> tuple[ReapModule, ...]:
    """``MODULE`` or ``MODULE:JID_ARGUMENT`` entries (ini lines, ``--reap-module`` values) as :class:`ReapModule`;
    a :class:`ValueError` names a malformed one."""
    modules = []
    for spec in specs:
        text = str(spec).strip()
        if not text:
            continue
        name, colon, argument = text.partition(":")
        if not _MODULE_NAME.fullmatch(name.strip()) or (colon and not _ARGUMENT.fullmatch(argument.strip())):
            raise ValueError(f"{text!r} is not MODULE or MODULE:JID_ARGUMENT (e.g. my_ns.my_coll.async_wait:jid)")
        modules.append(ReapModule(name.strip(), argument.strip() or "jid"))
    return tuple(modules)


_MODULE_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
_ARGUMENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Event:
    """Something on a path the verdict is explained by.

    ``kind``: ``reap`` (an async_status read the job: ``how`` is ``failed``, ``ignored``, ``cannot-fail``,
    ``passed`` or ``cleanup``), ``reap-skipped`` (its ``when`` was false), ``rescued`` (a failure was
    handled by a rescue), ``end`` (``meta: end_*``), ``other-job`` (an async_status read another job),
    ``tainted`` (the job id went to a module the lint cannot read), ``fail`` (a task failed the host).
    """

    kind: str
    task: Task
    how: str = ""
    item: int | None = None


@dataclass(frozen=True)
class Path:
    """One way the host's run can go in one world: ``end`` is ``failed``, ``ok`` or ``unknown`` (``why``)."""

    end: Literal["failed", "ok", "unknown"]
    events: tuple[Event, ...] = ()
    why: str = ""
    failed_by: Task | None = None
    #: For an ``ok`` path: the conditions it took a truth for that the lint could not evaluate (key, what).
    guesses: tuple[tuple[str, str], ...] = ()


class _Stop(Exception):
    """Too many paths: the lint says so instead of guessing."""


# --------------------------------------------------------------------------------------------------
# The tree of one playbook run


@dataclass
class _Block:
    frame_id: int
    line: int
    block: list[_Node]
    rescue: list[_Node]
    always: list[_Node]
    orders: frozenset[int] = frozenset()
    rescue_orders: frozenset[int] = frozenset()


@dataclass
class _Choice:
    """A templated include: one of ``options`` (the files the template can name) is played."""

    frame_id: int
    options: list[list[_Node]]
    orders: frozenset[int] = frozenset()


_Node = Union[Task, _Block, _Choice]
#: What the host holds when it reaches a launch: facts, pending notifications, the jobs started so far.
_Prefix = tuple[dict[str, Any], dict[str, Union[bool, None]], dict[str, tuple[int, Union[int, None]]]]


def _orders(nodes: Sequence[_Node]) -> frozenset[int]:
    out: set[int] = set()
    for node in nodes:
        if isinstance(node, Task):
            out.add(node.order)
        else:
            out |= node.orders
    return frozenset(out)


def _tree(tasks: Sequence[Task], depth: int = 0) -> list[_Node]:
    """Nested blocks and choices from the walk's flat list (each task knows its enclosing frames)."""
    out: list[_Node] = []
    index = 0
    while index < len(tasks):
        task = tasks[index]
        if len(task.blocks) <= depth:
            out.append(task)
            index += 1
            continue
        frame = task.blocks[depth]
        end = index
        while (end < len(tasks) and len(tasks[end].blocks) > depth
               and tasks[end].blocks[depth].block_id == frame.block_id):
            end += 1
        group = tasks[index:end]
        if frame.part.startswith("option"):
            keys = list(dict.fromkeys(t.blocks[depth].part for t in group))
            options = [_tree([t for t in group if t.blocks[depth].part == k], depth + 1) for k in keys]
            node: _Node = _Choice(frame.block_id, options)
        else:
            parts = {p: _tree([t for t in group if t.blocks[depth].part == p], depth + 1)
                     for p in ("block", "rescue", "always")}
            node = _Block(frame.block_id, frame.line, parts["block"], parts["rescue"], parts["always"])
            node.rescue_orders = _orders(node.rescue)
        node.orders = frozenset(t.order for t in group)  # type: ignore[union-attr]
        out.append(node)
        index = end
    return out


@dataclass
class _Play:
    index: int
    phases: list[list[_Node]]
    handlers: list[Task]


class Program:
    """A playbook run as plays of phases (pre_tasks, roles + tasks, post_tasks) and handlers."""

    def __init__(self, playbook: Playbook, reap_modules: Sequence[ReapModule] = (),
                 ansible_core: Version | None = None) -> None:
        self.playbook = playbook
        self.reap_modules = tuple(reap_modules)
        #: Whose templating rules the run follows (None: the installed ansible-core's).
        self.ansible_core = ansible_core
        self.lenient_undefined = undefined_reaches_tests(ansible_core)
        self.plays: list[_Play] = []
        by_play: dict[int, list[Task]] = {}
        for task in playbook.all_tasks:
            by_play.setdefault(task.play_index, []).append(task)
        for index in sorted(by_play):
            tasks = by_play[index]
            phases = [
                _tree([t for t in tasks if t.phase in names])
                for names in (("pre_tasks",), ("roles", "tasks"), ("post_tasks",))
            ]
            self.plays.append(_Play(index, phases, [t for t in tasks if t.phase == "handlers"]))
        self.launches = {t.order: t for t in playbook.all_tasks if isinstance(t, AsyncTask)}
        #: ``file:line`` of each task, as messages name it (worked out once).
        self.places: dict[int, str] = {}
        #: Whether each task's arguments hold a template (plain arguments need no rendering).
        self.templated_args = {t.order: "{{" in repr(dict(t.args)) or "{%" in repr(dict(t.args))
                               for t in playbook.all_tasks}
        self._prefix: dict[int, _Prefix] | None = None
        #: The variable names each condition (by its key) reads, and what they are bound to where a task reads
        #: them (:meth:`_Run.signature`): static for the program, so shared by every run over it.
        self.condition_names: dict[str, frozenset[str]] = {}
        self.signatures: dict[tuple[int, frozenset[str]], str] = {}
        #: Variables the run sets itself (``register``, ``set_fact``): undefined until a task sets them.
        self.registers = frozenset(t.register for t in playbook.all_tasks if t.register)
        self.own_variables = frozenset(
            {t.register for t in playbook.all_tasks if t.register}
            | {str(k) for t in playbook.all_tasks if short_action(t.action) == "set_fact" for k in t.args}
        )

    def prefix(self, launch: Task) -> _Prefix:
        """What the host holds when it reaches ``launch`` (facts, pending notifications, jobs started), from one
        pass over the run up to it shared by every launch and world: each task before it is taken to have run
        when its conditions hold, and to have left an unknown when they may not (a rescue, or a handler, only
        when the launch is in it)."""
        if self._prefix is None:
            self._prefix = {}
            first = next(iter(self.launches.values()), None)
            if first is not None:
                run = _Run(self, first, "ok", None)
                state = _State(facts={})
                play_index, phase = None, None
                for task in self.playbook.all_tasks:
                    if (task.play_index, task.phase) != (play_index, phase):
                        state.notified = {}  # a flush point (end of a section) or a new play
                        play_index, phase = task.play_index, task.phase
                    if isinstance(task, AsyncTask):
                        self._prefix[task.order] = (dict(state.facts), dict(state.notified), dict(run.jobs))
                    if task.phase == "handlers" or any(f.part == "rescue" for f in task.blocks) or _never_tagged(task):
                        continue
                    run.before(task, state)
        return self._prefix.get(launch.order, ({}, {}, {}))

    def reaper(self, task: Task) -> str | None:
        """The job-id argument when ``task`` reaps like async_status (async_status or a declared module)."""
        if short_action(task.action).rsplit(".", 1)[-1] == "async_status" and (
            task.action.startswith("ansible.") or "." not in task.action
        ):
            return "jid"
        for module in self.reap_modules:
            if module.matches(task.action):
                return module.jid_argument
        return None


# --------------------------------------------------------------------------------------------------
# Jobs


def job_token(order: int, item: int | None) -> str:
    """The job id the lint gives the job of launch ``order`` (item ``item`` of a loop launch)."""
    return f"j9{order:05d}{0 if item is None else item + 1:03d}.4242"


def _job_record(world: World, jid: str) -> dict[str, Any]:
    """What async_status returns for a job in ``world`` (as measured on ansible-core 2.19)."""
    if world == "failed":
        return {
            "ansible_job_id": jid, "started": 1, "finished": 1, "failed": True, "changed": False,
            "msg": Unknown("the killed job's msg"), "stdout": "", "stdout_lines": [],
            "stderr": Unknown("the killed job's stderr"), "stderr_lines": Unknown("the killed job's stderr"),
            "cmd": Unknown("the job's cmd"), "data": Unknown("the killed job's output"),
            "exception": Unknown("the killed job's traceback"), "attempts": Unknown("the attempts"),
            "results_file": Unknown("the results file"),
        }  # fmt: skip
    if world == "running":
        return {
            "ansible_job_id": jid, "started": 1, "finished": 0, "failed": False, "changed": False,
            "results_file": Unknown("the results file"), "stdout": "", "stdout_lines": [], "stderr": "",
            "stderr_lines": [],
        }  # fmt: skip
    record = Open(ansible_job_id=jid, started=1, finished=1, failed=False, rc=0)
    record.why = "a healthy job's result"
    return record


def _launch_record(jid: str, changed: Any) -> dict[str, Any]:
    return {"ansible_job_id": jid, "started": 1, "finished": 0, "failed": False, "changed": changed,
            "results_file": Unknown("the results file")}


#: What a task that is not async does not return.
_NOT_A_JOB = frozenset({"ansible_job_id", "results_file", "started", "finished"})


def _generic_result(failed: bool = False) -> Open:
    """A task's result as far as the lint knows it: not failed, not skipped, no job; the rest unknown."""
    result = Open(failed=failed, skipped=False)
    result.absent = _NOT_A_JOB
    return result


def _updated(result: Any, **changes: Any) -> Any:
    """A copy of a result with ``changes``: an open result stays open."""
    if isinstance(result, Open):
        copy = Open(result)
        copy.why = result.why
        copy.absent = result.absent
        copy.maybe = result.maybe
        copy.closed = result.closed
        copy.update(changes)
        return copy
    return {**result, **changes}


_SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False", "false_condition": ""}


# --------------------------------------------------------------------------------------------------
# The host's state on one path


@dataclass(frozen=True)
class _When:
    """What a task's ``when:`` allows on a path: ``truth`` True (it runs), False (it is skipped), None (either,
    forking the path) or ``"error"`` (only ``error``: evaluating it fails the task); ``error`` when some ways
    fail the task; ``taken`` the conditions a path that runs the task takes to hold, and one that skips it
    takes not all to hold."""

    truth: bool | Literal["error"] | None
    error: TemplateError | None = None
    taken: frozenset[tuple[str, str]] = frozenset()


@dataclass
class _State:
    facts: dict[str, Any]
    started: bool = False
    notified: dict[str, bool | None] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    loop_vars: dict[str, Any] = field(default_factory=dict)
    failed_result: Any = None
    failed_task: Task | None = None
    #: Conditions this path took to hold (a task's unknown ``when:`` it ran under), as (key, binding) pairs.
    holds: frozenset[tuple[str, str]] = frozenset()
    #: Sets of conditions this path took not all to hold (a task it skipped on an unknown ``when:``).
    refuted: frozenset[frozenset[tuple[str, str]]] = frozenset()
    #: Conditions the lint could not evaluate (a filter not installed...) where this path needed their truth,
    #: as (key, what it could not evaluate): the path rests on a guess about each.
    unevaluated: tuple[tuple[str, str], ...] = ()

    def guess(self, key: str, value: Unknown) -> None:
        """Note a guess about ``key`` (once the job exists: before, a guess only decides whether it does)."""
        if self.started and all(key != k for k, _ in self.unevaluated):
            self.unevaluated = (*self.unevaluated, (key, value.why))

    def fork(self) -> _State:
        return _State(dict(self.facts), self.started, dict(self.notified), self.events, dict(self.loop_vars),
                      self.failed_result, self.failed_task, self.holds, self.refuted, self.unevaluated)

    def note(self, event: Event) -> _State:
        self.events = (*self.events, event)
        return self


#: How deep :func:`_join_values` joins nested results field by field before it calls a difference unknown.
_JOIN_DEPTH = 6


def _join_values(name: str, values: Sequence[Any], depth: int = 0) -> Any:
    """One value standing for every value in ``values`` (one per way the run can go): what they agree on.

    Results are joined field by field and loop results item by item, so a field every way agrees on
    (a job id, ``finished``) stays known when another (``failed``) differs. Plain values that differ
    give an :class:`Unknown` that still holds each of them (``values``), so a job id that is one of
    several other jobs is still known not to be this launch's.
    """
    first = values[0]
    if all(v is first for v in values[1:]):
        return first
    if all(isinstance(v, Unknown) for v in values) and not all(v.values is not None for v in values):
        return Unknown(first.why, all(v.external for v in values))
    if not any(isinstance(v, (Unknown, jinja2.Undefined)) for v in values) and depth < _JOIN_DEPTH:
        if all(isinstance(v, dict) for v in values):
            return _join_results(name, values, depth)
        if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
            return [_join_values(f"{name}[{i}]", column, depth + 1) for i, column in enumerate(zip(*values))]
    return _one_of(f"{name!r} (it differs between the ways the run can go)", values)


def _one_of(why: str, values: Sequence[Any]) -> Any:
    """The value when all of ``values`` are the same plain value, else an :class:`Unknown` that holds
    them when they are all plain (or unknowns that hold theirs)."""
    flat: list[Any] = []
    for value in values:
        if isinstance(value, Unknown) and value.values is not None:
            flat += value.values
        elif value is MISSING or (type(value) in (str, int, float, bool) or value is None):
            flat.append(value)
        else:
            return Unknown(why)
    distinct = list(dict.fromkeys((type(v), v) for v in flat))
    if len(distinct) == 1 and distinct[0][1] is not MISSING:
        return distinct[0][1]
    return Unknown(why, values=tuple(v for _, v in distinct))


def _join_results(name: str, values: Sequence[dict[str, Any]], depth: int) -> dict[str, Any]:
    """Mappings joined key by key: a key all of them hold is joined; one that only some hold may be
    missing (:attr:`Open.maybe`); a key every one of them lacks for sure stays absent."""
    keys = list(dict.fromkeys(k for v in values for k in v))
    joined: dict[str, Any] = {}
    maybe: dict[str, Unknown] = {}
    for key in keys:
        column = [dict.get(v, key, MISSING) for v in values]
        if all(c is not MISSING for c in column):
            joined[key] = _join_values(f"{name}.{key}", column, depth + 1)
            continue
        why = f"{name}.{key} (set on some ways the run can go, not on others)"
        unread = any(isinstance(v, Open) and key not in v.absent for v, c in zip(values, column) if c is MISSING)
        one = Unknown(why) if unread else _one_of(why, column)
        maybe[key] = one if isinstance(one, Unknown) else Unknown(why, values=(one, MISSING))
    if not maybe and not any(isinstance(v, Open) for v in values):
        return joined
    result = Open(joined)
    result.why = next((v.why for v in values if isinstance(v, Open)), f"{name!r} (on one of the ways the run can go)")
    result.maybe = maybe
    result.closed = all(not isinstance(v, Open) or v.closed for v in values)
    absent = [v.absent for v in values if isinstance(v, Open)]
    result.absent = frozenset(set.intersection(*(set(a) for a in absent)) - set(keys)) if absent else frozenset()
    return result


def _join(states: Sequence[_State]) -> _State:
    """One state standing for all of ``states``: what they agree on is kept, the rest is unknown."""
    first = states[0]
    joined = first.fork()
    for attr in ("facts", "loop_vars"):
        base: dict[str, Any] = getattr(first, attr)
        differ: set[str] = set()
        for st in states[1:]:
            other: dict[str, Any] = getattr(st, attr)
            if other is base:
                continue
            differ.update(k for k, v in other.items() if base.get(k, _ABSENT) is not v)
            differ.update(k for k in base if k not in other)
        table = dict(base)
        for name in differ:
            values = [getattr(st, attr).get(name, _ABSENT) for st in states]
            table[name] = _ABSENT_JOIN(name) if any(v is _ABSENT for v in values) else _join_values(name, values)
        setattr(joined, attr, table)
    seen: dict[tuple[Any, ...], Event] = {}
    for st in states:
        for event in st.events:
            seen.setdefault((event.kind, event.task.order, event.how, event.item), event)
    joined.events = tuple(seen.values())
    joined.holds = frozenset.intersection(*(st.holds for st in states))
    joined.refuted = frozenset.intersection(*(st.refuted for st in states))
    joined.unevaluated = tuple(dict.fromkeys(why for st in states for why in st.unevaluated))
    return joined


_ABSENT = object()


class _IncludeItem(Unknown):
    """The item of a looped include that the launch ran for (unknown, from before the job: never its id)."""

    __slots__ = ()


def _ABSENT_JOIN(name: str) -> Unknown:
    return Unknown(f"{name!r} (set on some ways the run can go, not on others)")


_Status = tuple[str, Any]  # ("ok"|"failed"|"end_play"|"end_host"|"unknown", detail)
_OK: _Status = ("ok", None)
_Outcomes = list[tuple[_State, _Status]]


class _Run:
    """The symbolic run for one launch in one world (and, for a loop launch, one failed item)."""

    def __init__(self, program: Program, launch: AsyncTask, world: World, item: int | None,
                 decisions: Mapping[str, bool] | None = None) -> None:
        self.program = program
        #: The truth to take for conditions the lint cannot evaluate (see :func:`explore`).
        self.decisions = decisions or {}
        self.launch = launch
        self.world = world
        self.item = item
        self.paths = 0
        self.jobs: dict[str, tuple[int, int | None]] = {}
        self.assumed = frozenset(_conjuncts(launch.when))
        self.places = program.places
        self.steps = 0
        self.ours: list[str] = []
        #: The variable names each condition key reads (worked out once per program).
        self.names = program.condition_names
        self.signatures = program.signatures

    # -- values ----------------------------------------------------------------------------------

    def evaluator(self, task: Task, state: _State, guesses: _State | None = None) -> Evaluator:
        """An evaluator over ``state``'s values; a truth it has to guess is noted on ``guesses`` (``state``)."""
        def resolve(name: str) -> Any:
            return self.resolve(name, task, state, 0)

        assumed = (self.assumed if state.started else frozenset()) | {
            key for key, bound in state.holds if self.signature(task, self.names[key]) == bound}
        return Evaluator(resolve, assumed, self.program.lenient_undefined, (guesses or state).guess, self.decisions)

    def resolve(self, name: str, task: Task, state: _State, depth: int) -> Any:
        if name in state.loop_vars:
            return state.loop_vars[name]
        if name in state.facts:
            return state.facts[name]
        if name == "omit":
            return OMIT
        if name in ("ansible_check_mode", "ansible_diff_mode"):
            return False
        if name == "ansible_failed_result" and state.failed_result is not None:
            return state.failed_result
        if name == "ansible_failed_task" and state.failed_task is not None:
            return Open(name=state.failed_task.name)
        if name in ("role_path", "role_name") and task.role is not None:
            return Unknown(f"{name!r}")
        definitions = task.variables.get(name)
        if definitions:
            if depth > 8:
                return Unknown(f"{name!r} (defined in terms of itself)")
            values = []
            for definition in dict.fromkeys(map(repr, definitions)):
                raw = next(d for d in definitions if repr(d) == definition)
                try:
                    values.append(self.value_of(raw, task, state, depth + 1))
                except TemplateError:
                    values.append(Unknown(f"{name!r}"))
            if len(values) == 1:
                return values[0]
            return Unknown(f"{name!r} (the repo defines it {len(values)} ways)")
        if name in self.program.registers:
            return jinja2.StrictUndefined(hint=f"{name!r} is not set yet (the run sets it later, or never)")
        if name in self.program.own_variables:  # a set_fact's: the inventory or extra vars may give it before
            return NotSetYet(hint=f"{name!r} is not set yet (the run sets it later, or never)", name=name)
        if name in _MAGIC_UNKNOWN or name.startswith("ansible_"):
            return Unknown(f"{name!r} (inventory or facts)", external=True)
        return Unknown(f"{name!r} (inventory, facts or extra vars)", external=True)

    def value_of(self, raw: Any, task: Task, state: _State, depth: int) -> Any:
        def resolve(name: str) -> Any:
            return self.resolve(name, task, state, depth)

        return Evaluator(resolve, lenient_undefined=self.program.lenient_undefined).template(raw)

    def new_job(self, launch: Task, item: int | None) -> str:
        jid = job_token(launch.order, item)
        self.jobs[jid] = (launch.order, item)
        if launch.order == self.launch.order and jid not in self.ours:
            self.ours.append(jid)
        return jid

    # -- the run ---------------------------------------------------------------------------------

    def explore(self) -> list[Path]:
        state = _State(facts={})
        outcomes: _Outcomes = [(state, _OK)]
        for play in self.program.plays:
            next_outcomes: _Outcomes = []
            for st, status in outcomes:
                if status[0] in ("failed", "unknown"):
                    next_outcomes.append((st, status))
                    continue
                next_outcomes += self.play(play, st)
            outcomes = next_outcomes
        paths = []
        for st, status in outcomes:
            kind = status[0]
            if not st.started:
                continue  # the launch was never reached on this path: no world of its job
            if kind == "failed":
                paths.append(Path("failed", st.events, failed_by=status[1][0]))
            elif kind == "unknown":
                paths.append(Path("unknown", st.events, why=str(status[1])))
            else:
                paths.append(Path("ok", st.events, guesses=st.unevaluated))
        return paths

    def play(self, play: _Play, state: _State) -> _Outcomes:
        state = state.fork()
        state.notified = {}
        outcomes: _Outcomes = [(state, _OK)]
        launch_is_handler = self.launch.phase == "handlers" and self.launch.play_index == play.index
        for phase in play.phases:
            outcomes = self.sequence(phase, outcomes)
            outcomes = self.flush(play, outcomes)
        if launch_is_handler:
            outcomes = self.flush(play, outcomes, final=True)
        result: _Outcomes = []
        for st, status in outcomes:
            if status[0] in ("end_play", "end_host"):
                result.append((st, _OK))  # the play ends green for the host; later plays still run
            else:
                result.append((st, status))
        return result

    def flush(self, play: _Play, outcomes: _Outcomes, final: bool = False) -> _Outcomes:
        result: _Outcomes = []
        for st, status in outcomes:
            if status != _OK:
                result.append((st, status))
                continue
            if not st.started and not final:
                st.notified = {}
                result.append((st, status))
                continue
            branch: _Outcomes = [(st, _OK)]
            for handler in play.handlers:
                nxt: _Outcomes = []
                for hs, hstatus in branch:
                    if hstatus != _OK:
                        nxt.append((hs, hstatus))
                        continue
                    if handler.order == self.launch.order and not hs.started:
                        nxt += self.task(handler, hs)  # the launching handler: its notifier ran
                        continue
                    notified = self.notified(handler, hs)
                    if notified is False or not hs.started:
                        nxt.append((hs, hstatus))
                    elif notified is None and self.relevant(handler):
                        nxt += [(hs.fork(), _OK), *self.task(handler, hs.fork())]
                    elif notified:
                        nxt += self.task(handler, hs)
                    else:
                        nxt.append((hs, hstatus))
                branch = self.count(nxt)
            for hs, hstatus in branch:
                hs.notified = {}
                result.append((hs, hstatus))
        return result

    @staticmethod
    def handler_names(handler: Task) -> set[str]:
        names = {handler.name, *handler.listen}
        if handler.role:
            names.add(f"{handler.role} : {handler.name}")
        return names

    def notified(self, handler: Task, state: _State) -> bool | None:
        found: bool | None = False
        for name in self.handler_names(handler):
            value = state.notified.get(name, False)
            if value is True:
                return True
            if value is None:
                found = None
        return found

    def forks(self, task: Task) -> bool:
        """Whether running or skipping ``task`` can change the host's fate (so an unknown ``when:`` forks)."""
        action = short_action(task.action)
        if (self.program.reaper(task) is not None or action in ("fail", "assert", "meta")
                or _facts_set_by(task) is not None):
            return True
        if "failed_when" in task.keywords or isinstance(task, AsyncTask):
            return True
        return bool(task.notify) and any(self.relevant(h) for p in self.program.plays if p.index == task.play_index
                                         for h in p.handlers)

    def relevant(self, task: Task) -> bool:
        action = short_action(task.action)
        return (self.program.reaper(task) is not None or action in ("fail", "assert", "meta")
                or _facts_set_by(task) is not None or "failed_when" in task.keywords
                or task.order == self.launch.order or bool(task.notify))

    def count(self, outcomes: _Outcomes) -> _Outcomes:
        """``outcomes``, joined when there are many: the ways that end alike (same status, same task) become
        one whose facts are the join of theirs (a fact that differs is unknown). The join keeps every
        behaviour of the ways it joins (it can only add unknowns), so a verdict read off it still holds."""
        if len(outcomes) <= JOIN_AT:
            return outcomes
        groups: dict[tuple[Any, ...], list[tuple[_State, _Status]]] = {}
        for st, status in outcomes:
            detail = status[1][0].order if status[0] == "failed" else status[1] if isinstance(status[1], str) else None
            key = (status[0], detail, st.started, frozenset(st.notified.items()), st.failed_task is not None)
            groups.setdefault(key, []).append((st, status))
        joined = [members[0] if len(members) == 1 else (_join([m[0] for m in members]), members[0][1])
                  for members in groups.values()]
        if len(joined) > MAX_PATHS:
            raise _Stop(f"more than {MAX_PATHS} ways through the tasks after it")
        return joined

    def sequence(self, nodes: Sequence[_Node], outcomes: _Outcomes) -> _Outcomes:
        for node in nodes:
            nxt: _Outcomes = []
            for st, status in outcomes:
                if status != _OK:
                    nxt.append((st, status))
                else:
                    nxt += self.node(node, st)
            outcomes = self.count(nxt)
        return outcomes

    def node(self, node: _Node, state: _State) -> _Outcomes:
        if isinstance(node, Task):
            return self.task(node, state)
        if isinstance(node, _Choice):
            if not state.started and self.launch.order in node.orders:
                options = [o for o in node.options if self.launch.order in _orders(o)]
            else:
                options = node.options
            out: _Outcomes = []
            for option in options:
                out += self.sequence(option, [(state.fork(), _OK)])
            return self.count(out)
        return self.block(node, state)

    def block(self, block: _Block, state: _State) -> _Outcomes:
        launch_in_rescue = not state.started and self.launch.order in block.rescue_orders
        done: _Outcomes = []
        for st, status in self.sequence(block.block, [(state, _OK)]):
            if status[0] == "failed" and block.rescue:
                st = st.fork()
                st.failed_result, st.failed_task = status[1][1], status[1][0]
                st.note(Event("rescued", status[1][0]))
                done += self.sequence(block.rescue, [(st, _OK)])
            elif status == _OK and launch_in_rescue:
                st.failed_result, st.failed_task = Open(failed=True), None
                done += self.sequence(block.rescue, [(st, _OK)])
            else:
                done.append((st, status))
        if not block.always:
            return done
        out: _Outcomes = []
        for st, status in done:
            if status[0] not in ("ok", "failed"):
                out.append((st, status))
                continue
            for ast, astatus in self.sequence(block.always, [(st, _OK)]):
                out.append((ast, status if astatus == _OK else astatus))
        return self.count(out)

    # -- one task --------------------------------------------------------------------------------

    def task(self, task: Task, state: _State) -> _Outcomes:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Stop(f"the run after it is too long to follow (more than {MAX_STEPS} task runs over all its ways)")
        if task.order == self.launch.order and not state.started:
            return self.launch_task(self.launch, state)
        if not state.started:
            return [(state, _OK)]  # before the launch: what it leaves behind is in the program's prefix
        if _never_tagged(task):
            return [(state, _OK)]
        if task.action == "<role not installed>":
            if self.launch.register is None:
                return [(state, _OK)]  # nothing can reap a job whose id was never registered
            handed = self.rendered_args(task, state)
            if handed is not None and not self.carries_job(handed) and not any(
                    self.launch.register in _names_in_text(text) or text == self.launch.register
                    for text in _strings(task.args)):
                # a role from elsewhere knows of this run only what it is handed: not the job, nor its register
                state.note(Event("role-not-handed", task))
                return [(state, _OK)]
            why = f"{task.name} ({self.where(task)}) runs after the launch and is handed the job, so it may reap it"
            return [(state, ("unknown", why))]
        outer = task.outer_loops[-1] if task.outer_loops else None
        if outer is not None and isinstance(state.loop_vars.get(outer[0]), _IncludeItem) and (
                task.file != self.launch.file or task.outer_loops != self.launch.outer_loops):
            state = state.fork()  # another include on the same loop variable: its own items, not the launch's
            del state.loop_vars[outer[0]]
        if outer is not None and outer[0] not in state.loop_vars:
            return self.outer_loop(task, state, outer)
        return self.looped(task, state)

    def outer_loop(self, task: Task, state: _State, outer: tuple[str, Any]) -> _Outcomes:
        name, loop = outer
        try:
            items = self.loop_items(loop, task, state)
        except TemplateError as exc:
            return self.fail(task, state, f"its include's loop cannot be rendered: {exc}")
        if isinstance(items, Unknown):
            st = state.fork()
            st.loop_vars[name] = items
            return [(s, status) for s, status in self.looped(task, st)]
        outcomes: _Outcomes = [(state, _OK)]
        for value in items:
            nxt: _Outcomes = []
            for st, status in outcomes:
                if status != _OK:
                    nxt.append((st, status))
                    continue
                st = st.fork()
                st.loop_vars[name] = value
                for s2, status2 in self.looped(task, st):
                    s2.loop_vars.pop(name, None)
                    nxt.append((s2, status2))
            outcomes = self.count(nxt)
        return outcomes

    def loop_items(self, loop: Any, task: Task, state: _State, key: str = "loop") -> Any:
        value = self.evaluator(task, state).template(loop)
        if isinstance(value, Unknown):
            return value
        if isinstance(value, str):
            return [value] if key != "loop" else Unknown(f"the loop {loop!r}")
        if isinstance(value, dict) and key == "with_dict":
            return [{"key": k, "value": v} for k, v in value.items()]
        if not isinstance(value, (list, tuple)):
            if key == "loop":
                raise TemplateError(f"Invalid data passed to 'loop', it requires a list, got {type(value).__name__}")
            return [value]
        if key in ("with_items", "with_flattened", "with_indexed_items"):
            flat: list[Any] = []
            for element in value:
                if isinstance(element, Unknown):
                    return element
                flat += element if isinstance(element, list) else [element]
            return [[i, x] for i, x in enumerate(flat)] if key == "with_indexed_items" else flat
        if key in ("with_together", "with_nested", "with_cartesian"):
            lists = [v if isinstance(v, list) else [v] for v in value]
            if any(isinstance(v, Unknown) for v in value):
                return next(v for v in value if isinstance(v, Unknown))
            if key == "with_together":
                longest = max((len(v) for v in lists), default=0)
                return [[v[i] if i < len(v) else None for v in lists] for i in range(longest)]
            return [list(combo) for combo in itertools.product(*lists)]
        return list(value)

    def loop_of(self, task: Task) -> tuple[str, Any] | None:
        for key, value in task.keywords.items():
            if key == "loop" or str(key).startswith("with_"):
                return str(key), value
        return None

    def looped(self, task: Task, state: _State) -> _Outcomes:
        loop = self.loop_of(task)
        if loop is None:
            return self.finish(task, state, self.once(task, state, None))
        key, raw = loop
        if key not in _LOOP_KEYS:
            items: Any = Unknown(f"{key}")
        else:
            try:
                items = self.loop_items(raw, task, state, key)
            except TemplateError as exc:
                return self.loop_error(task, state, exc)
        if isinstance(items, Unknown):
            return self.unknown_loop(task, state, items)
        outcomes: list[tuple[_State, list[Any]]] = [(state, [])]
        for index, value in enumerate(items):
            nxt: list[tuple[_State, list[Any]]] = []
            for st, results in outcomes:
                if results and isinstance(results[-1], tuple):
                    nxt.append((st, results))
                    continue
                st = st.fork()
                st.loop_vars[task.loop_var] = value
                st.loop_vars["ansible_loop"] = Open(index=index + 1, index0=index, first=index == 0,
                                                    last=index == len(items) - 1, length=len(items))
                for s2, (kind, detail) in self.once(task, st, index):
                    judged = self.judged(task, s2, detail) if kind == "done" else [(s2, (kind, detail))]
                    for s3, res in judged:
                        s3.loop_vars.pop(task.loop_var, None)
                        s3.loop_vars.pop("ansible_loop", None)
                        if kind == "done":
                            res = dict(res) if not isinstance(res, Open) else res  # type: ignore[arg-type]
                            res.pop("_ours", None)
                            res[task.loop_var] = value
                            res["ansible_loop_var"] = task.loop_var
                            nxt.append((s3, [*results, res]))
                        else:
                            nxt.append((s3, [*results, res]))
            outcomes = self.join_items(task, nxt) if len(nxt) > JOIN_AT else nxt
            if len(outcomes) > MAX_PATHS:
                raise _Stop(f"more than {MAX_PATHS} ways through the tasks after it")
        final: _Outcomes = []
        for st, results in outcomes:
            if results and isinstance(results[-1], tuple):
                final.append((st, results[-1]))
                continue
            failed = any(truth(r.get("failed", False)) is True for r in results)
            maybe = any(truth(r.get("failed", False)) is None for r in results)
            changed: Any = any(truth(r.get("changed", False)) is True for r in results)
            if not changed and any(truth(r.get("changed", False)) is None for r in results):
                changed = Unknown("whether an item changed")
            skipped = bool(results) and all(r.get("skipped") is True for r in results)
            result: dict[str, Any] = {"results": results, "changed": changed, "skipped": skipped,
                                      "msg": "One or more items failed" if failed else "All items completed"}
            result["failed"] = failed if not maybe or failed else Unknown("whether an item failed")
            final.append((st, ("done", result)))
        return self.finish(task, state, final, looped=True)

    def join_items(self, task: Task, outcomes: list[tuple[_State, list[Any]]]) -> list[tuple[_State, list[Any]]]:
        """The ways a loop has gone so far, joined as :meth:`count` joins ways: those still looping that agree on
        what decides the host's fate become one, their states and their items' results joined item by item (so
        an item each way may fail or pass keeps both, as an unknown). Ways that stopped the loop stay apart."""
        groups: dict[tuple[Any, ...], list[tuple[_State, list[Any]]]] = {}
        stopped: list[tuple[_State, list[Any]]] = []
        for st, results in outcomes:
            if results and isinstance(results[-1], tuple):
                stopped.append((st, results))
                continue
            key = (st.started, frozenset(st.notified.items()), st.failed_task is not None, len(results))
            groups.setdefault(key, []).append((st, results))
        joined = [members[0] if len(members) == 1 else (
            _join([m[0] for m in members]),
            [_join_values(f"{task.register or 'item'}.results[{i}]", list(column))
             for i, column in enumerate(zip(*(m[1] for m in members)))])
            for members in groups.values()]
        return joined + stopped

    def loop_error(self, task: Task, state: _State, error: TemplateError) -> _Outcomes:
        """A loop that cannot be rendered: ansible-core evaluates ``when:`` first and skips the task when it is
        false; otherwise the task fails with the loop's error."""
        try:
            when = self.evaluator(task, state).condition(list(task.when)) if task.when else True
        except TemplateError:
            when = True
        skipped = dict(_SKIPPED, results=[], msg="All items skipped")
        if when is False:
            return self.conclude(task, state, skipped)
        failing = self.fail(task, state.fork() if when is None else state, f"its loop cannot be rendered: {error}")
        return failing + (self.conclude(task, state, skipped) if when is None else [])

    def unknown_loop(self, task: Task, state: _State, items: Unknown) -> _Outcomes:
        """A loop over what the lint cannot know: a reap that may read the job cannot be followed; another
        launch stands for its items with two jobs; any other task may run for some items or none, and may
        fail if it can."""
        if isinstance(task, AsyncTask) and task.register:
            self.assign(state, task.register, self.loop_launch_record(
                task, [Unknown(f"an item of {self.label(task)}'s loop ({items.why})")] * 2))
            return [(state, _OK)]
        reaps_others = self.program.reaper(task) is not None and items.external
        if reaps_others:  # a list from before the launch (or outside the run): other jobs' ids, never this one's
            state.note(Event("other-job", task, "none"))
        elif self.program.reaper(task) is not None or self.carries_job(self.rendered_args(task, state)):
            return [(state, ("unknown", f"{self.label(task)} loops over {items.why}, which the lint cannot know"))]
        result = Open(failed=False, changed=Unknown("whether an item changed"), skipped=Unknown("whether it ran"))
        result.why = f"the result of {self.label(task)} (a loop over {items.why})"
        if short_action(task.action) == "set_fact":
            for key in task.args:
                if key != "cacheable":
                    self.assign(state, str(key), Unknown(f"{key!r} (set in a loop over {items.why})"))
        can_fail = short_action(task.action) in ("fail", "assert") or "failed_when" in task.keywords or reaps_others
        outcomes = self.conclude(task, state.fork() if can_fail else state, result)
        if can_fail:
            outcomes += self.after_failure(task, state, {"failed": True, "msg": "an item failed"})
        return self.count(outcomes)

    def rendered_args(self, task: Task, state: _State) -> Any:
        try:
            return self.evaluator(task, state).template(dict(task.args))
        except TemplateError:
            return None

    def once(self, task: Task, state: _State, index: int | None) -> list[tuple[_State, tuple[str, Any]]]:
        """One run of the task's module (one loop item): ``("done", result)``, or ``("failed"|"unknown", ...)``
        when something other than the result decides (a template error is a failed result)."""
        unevaluated = state.unevaluated
        decided = self.condition_of(task, state)
        when, open_keys = decided.truth, decided.taken
        branches: list[tuple[_State, tuple[str, Any]]] = []
        if decided.error is not None:  # the ways on which evaluating the when: fails the task
            failed = (state.fork(), ("done", self.error_result(f"its when: cannot be evaluated: {decided.error}")))
            if when == "error":
                return [failed]
            branches.append(failed)
        assert when != "error"
        reaper = self.program.reaper(task)
        if when is None and not self.forks(task):
            # whether it runs does not matter to the host's fate, only what it leaves behind (and so no guess
            # about its when: decides the path)
            state.unevaluated = unevaluated
            done = self.module(task, state, index, reaper)
            return branches + [(st, ("done", _updated(res if isinstance(res, Open) else Open(res),
                                           skipped=Unknown(f"whether {task.name!r} ran")))
                     if kind == "done" and isinstance(res, dict) else (kind, res)) for st, (kind, res) in done]
        if when is not True:
            skipped = (state.fork() if when is None else state, ("done", dict(_SKIPPED)))
            if reaper is not None and self.reads_our_job(task, state, reaper):
                skipped[0].note(Event("reap-skipped", task, " and ".join(task.when), index))
            branches.append(skipped)
            if when is False:
                return branches
            state = state.fork()
            if open_keys:  # each branch remembers what it took of the unknown conditions
                skipped[0].refuted = skipped[0].refuted | {open_keys}
                state.holds = state.holds | open_keys
        branches += self.module(task, state, index, reaper)
        return branches

    def condition_of(self, task: Task, state: _State) -> _When:
        """A task's ``when:`` as Ansible evaluates it, one condition after another until one is false (and
        within one, ``and``/``or`` left to right): which ways are possible, and what a path that runs or skips
        the task may take of its conditions (:class:`_When`)."""
        if not task.when:
            return _When(True)
        ev = self.evaluator(task, state)
        parts = [(key, node, self.binding(task, state, key, node)) for key, node in _conjunct_nodes(tuple(task.when))]
        stable = frozenset(b for _, _, b in parts if b is not None)
        if any(keys <= stable for keys in state.refuted):
            return _When(False)  # the path skipped a task on (some of) these very conditions
        truth_so_far: bool | None = True
        error: TemplateError | None = None
        for condition in task.when:
            try:
                value = ev.condition(condition)
            except PartialError as exc:  # fails on some ways only; ``otherwise`` on the rest
                error, value = error or exc, exc.otherwise
            except TemplateError as exc:  # fails on every way that gets to it
                return _When(False if truth_so_far is None else "error", exc)
            if value is False:
                return _When(False, error)
            if value is None:
                truth_so_far = None
        if truth_so_far is True or error is not None:
            return _When(truth_so_far, error)
        open_parts = []
        for _key, node, bound in parts:
            try:
                known = ev.truth_of(node)
            except TemplateError:
                known = None
            if known is True:
                continue
            if bound is None:
                return _When(None)  # an unknown that changes within the task (a loop variable): nothing to keep
            open_parts.append(bound)
        return _When(None, None, frozenset(open_parts))

    def binding(self, task: Task, state: _State, key: str, node: Any) -> tuple[str, str] | None:
        """``(key, binding)`` for a condition on values that stay put: the same pair on a later task of the
        path means the same truth. A variable the run sets (``register``, ``set_fact``) counts until the run
        sets it again (:meth:`assign` forgets what was taken of it); a loop variable never does (None)."""
        names = self.names.get(key)
        if names is None:
            names = self.names[key] = frozenset({n.name for n in node.find_all(jinja2.nodes.Name)} | (
                {node.name} if isinstance(node, jinja2.nodes.Name) else set()))
        if any(n in state.loop_vars or n == "item" for n in names):
            return None
        return key, self.signature(task, names)

    def signature(self, task: Task, names: frozenset[str]) -> str:
        """What ``names`` are bound to where ``task`` reads them: the repo's definitions in its scope (a value
        the run sets is the path's own, the same until it is set again)."""
        key = (task.order, names)
        found = self.signatures.get(key)
        if found is None:
            found = self.signatures[key] = "|".join(
                f"{n}=<run>" if n in self.program.own_variables else f"{n}={task.variables.get(n)!r}"
                for n in sorted(names))
        return found

    def assign(self, state: _State, name: str, value: Any) -> None:
        """Set a fact (a ``register``, a ``set_fact``) on this path, forgetting the conditions taken on it."""
        state.facts[name] = value
        if state.holds or state.refuted:
            def reads(entry: tuple[str, str]) -> bool:
                return name in self.names.get(entry[0], ())

            state.holds = frozenset(e for e in state.holds if not reads(e))
            state.refuted = frozenset(group for group in state.refuted if not any(reads(e) for e in group))

    def reads_our_job(self, task: Task, state: _State, reaper: str) -> bool:
        try:
            jid = self.evaluator(task, state).template(task.args.get(reaper))
        except TemplateError:
            return False
        return isinstance(jid, str) and self.jobs.get(jid, (None,))[0] == self.launch.order

    def error_result(self, message: str) -> dict[str, Any]:
        return {"failed": True, "msg": message, "_template_error": True}

    def module(self, task: Task, state: _State, index: int | None,
               reaper: str | None) -> list[tuple[_State, tuple[str, Any]]]:
        action = short_action(task.action)
        ev = self.evaluator(task, state)
        if reaper is not None:
            return self.reap(task, state, index, reaper)
        if isinstance(task, AsyncTask) and task.order != self.launch.order:
            jid = self.new_job(task, index)
            return [(state, ("done", _launch_record(jid, self.changed_default(task))))]
        if action == "fail":
            return [(state, ("done", {"failed": True, "msg": Unknown("the fail message")}))]
        if action == "assert":
            that = task.args.get("that")
            try:
                holds = ev.condition(that if isinstance(that, list) else [that])
            except TemplateError as exc:
                return [(state, ("done", self.error_result(str(exc))))]
            failed_result = {"failed": True, "assertion": Unknown("the assertion"), "msg": Unknown("the message")}
            if holds is True:
                return [(state, ("done", {"failed": False, "changed": False, "msg": "All assertions passed"}))]
            if holds is False:
                return [(state, ("done", failed_result))]
            return [(state.fork(), ("done", {"failed": False, "changed": False})), (state, ("done", failed_result))]
        if action == "meta":
            what = str(task.args.get("_raw_params", task.args.get("free_form", ""))).strip()
            if what in ("end_play", "end_host", "end_batch", "end_role"):
                if what == "end_role":
                    return [(state, ("done", Open(failed=False)))]
                state.note(Event("end", task, what))
                return [(state, ("end_host" if what == "end_host" else "end_play", task))]
            if what == "flush_handlers":
                return [(state, ("flush", None))]
            return [(state, ("done", {"failed": False, "changed": False, "skipped": False}))]
        failing: list[tuple[_State, tuple[str, Any]]] = []  # the ways a variable not set yet fails the task
        if action == "set_fact" or (action == "include_vars" and task.loaded is not None):
            try:
                values = {k: ev.template(v) for k, v in (_facts_set_by(task) or {}).items()}
            except TemplateError as exc:
                if action == "set_fact" and exc.unset is None:
                    return [(state, ("done", self.error_result(str(exc))))]
                if exc.unset is not None:
                    failing, state = [(state.fork(), ("done", self.error_result(str(exc))))], state.fork()
                values = {k: Unknown(f"{k!r} (from {self.label(task)})") for k in (_facts_set_by(task) or {})}
            for key, value in values.items():
                self.assign(state, key, value)
            return [*failing, (state, ("done", {"failed": False, "changed": False, "ansible_facts": values}))]
        rendered: Any = task.args
        if self.program.templated_args.get(task.order, True):
            try:
                rendered = ev.template({k: v for k, v in task.args.items() if not (action == "debug" and k == "var")})
            except TemplateError as exc:
                if exc.unset is None:
                    return [(state, ("done", self.error_result(str(exc))))]
                # bare, it fails the task unless the inventory or extra vars give it: either way can be
                failing, state = [(state.fork(), ("done", self.error_result(str(exc))))], state.fork()
                rendered = Unknown(f"the arguments of {self.label(task)} ({exc.unset!r} may come from the inventory)")
        if action in SELF_REAPING:
            return [*failing, (state, ("done", _generic_result()))]
        if self.carries_job(rendered) and action not in _OPAQUE_OK:
            state.note(Event("tainted", task, task.action))
            why = f"the job id goes to {task.action} ({self.where(task)}), which the lint cannot read"
            return [*failing, (state, ("unknown", why))]
        named = self.launch.register
        if named and action not in _OPAQUE_OK and any(v == named for v in _strings(task.args)) and (
                self.carries_job(state.facts.get(named))):
            # an action plugin can read a variable by its name (scylla's async_alias: job=<register>): the job's
            # register handed over by name is the job id handed over
            state.note(Event("tainted", task, task.action))
            why = (f"the job id goes to {task.action} ({self.where(task)}), which the lint cannot read (its register "
                   f"{named!r} is named there)")
            return [*failing, (state, ("unknown", why))]
        result = _generic_result()
        result.why = f"the result of {task.name!r}"
        result["changed"] = False if action == "debug" else True if action in _ALWAYS_CHANGED else Unknown(
            f"whether {task.name!r} changed")
        if task.async_timeout not in (None, 0):  # a keep-alive job: its own id, its file cleaned up after
            result["ansible_job_id"] = self.new_job(task, index)
            result["finished"] = 1
            result.absent = frozenset()
        if task.ignore_errors not in (None, False) and action != "debug":
            result["failed"] = Unknown(f"whether {task.name!r} failed (its errors are ignored)")
        return [*failing, (state, ("done", result))]

    def any_ours(self, values: Iterable[Any]) -> bool:
        """Whether any of ``values`` is (or holds) this launch's job id."""
        return any((isinstance(v, str) and self.jobs.get(v, (None,))[0] == self.launch.order) or self.carries_job(v)
                   for v in values)

    def carries_job(self, value: Any, depth: int = 0) -> bool:
        """Whether a rendered value holds this launch's job id (or a result of its job)."""
        ours = self.ours
        if depth > 8 or not ours:
            return False
        if isinstance(value, str):
            return any(jid in value for jid in ours)
        if isinstance(value, Unknown):
            return value.values is not None and any(self.carries_job(v, depth + 1) for v in value.values)
        if isinstance(value, Open) and value.maybe:
            return (any(self.carries_job(v, depth + 1) for v in value.values())
                    or any(self.carries_job(v, depth + 1) for v in value.maybe.values()))
        if isinstance(value, dict):
            return any(self.carries_job(v, depth + 1) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(self.carries_job(v, depth + 1) for v in value)
        return False

    def reap(self, task: Task, state: _State, index: int | None, reaper: str) -> list[tuple[_State, tuple[str, Any]]]:
        ev = self.evaluator(task, state)
        try:
            jid = ev.template(task.args.get(reaper))
            mode = ev.template(task.args.get("mode", "status"))
        except TemplateError as exc:
            return [(state, ("done", self.error_result(f"its {reaper} cannot be rendered: {exc}")))]
        if isinstance(jid, Unknown) and jid.external:  # from outside the run: not a job id the run made
            state.note(Event("other-job", task, "none", index))
            return [(state, ("done", self.unknown_job(jid)))]
        if isinstance(jid, Unknown) and jid.values is not None and not self.any_ours(jid.values):
            # one of several known values (the ways the run can go), none of them this launch's job: the reap
            # reads another job or none, and may fail either way
            state.note(Event("other-job", task, "none", index))
            return [(state, ("done", self.unknown_job(jid)))]
        if isinstance(jid, Unknown):
            return [(state, ("unknown", f"the job id of {self.label(task)} depends on {jid.why}"))]
        job = self.jobs.get(str(jid)) if isinstance(jid, str) else None
        ours = job is not None and job[0] == self.launch.order
        if isinstance(mode, Unknown):
            return [(state, ("unknown", f"the mode of {self.label(task)} depends on {mode.why}"))]
        if str(mode).strip() == "cleanup":
            if ours:
                state.note(Event("reap", task, "cleanup", index))
            return [(state, ("done", {"ansible_job_id": jid, "erased": Unknown("the job file"), "changed": False,
                                      "failed": False, "_cleanup": True}))]
        if job is None:
            state.note(Event("other-job", task, "none", index))
            return [(state, ("done", {"failed": True, "finished": 1, "ansible_job_id": jid, "started": 1,
                                      "msg": "could not find job", "_no_job": True}))]
        if not ours:
            state.note(Event("other-job", task, str(job[0]), index))
            return [(state, ("done", self.unknown_job(jid)))]
        if repr(task.variables.get("ansible_async_dir")) != repr(self.launch.variables.get("ansible_async_dir")):
            state.note(Event("other-job", task, "none", index))  # it looks in another folder for the job file
            return [(state, ("done", {"failed": True, "finished": 1, "ansible_job_id": jid, "started": 1,
                                      "msg": "could not find job", "_no_job": True}))]
        world = self.world
        if self.launch.loop and job[1] != self.item:
            world = "ok"
        if world == "running" and short_action(task.action).rsplit(".", 1)[-1] != "async_status":
            # a declared reap module waits for the job's end itself: a job that never ends fails it (timed out)
            return [(state, ("done", _updated(_job_record("running", str(jid)), failed=True, _ours=world)))]
        return [(state, ("done", _updated(_job_record(world, str(jid)), _ours=world)))]

    @staticmethod
    def unknown_job(jid: Any) -> Open:
        other = Open(ansible_job_id=jid, started=1, finished=Unknown("whether another job finished"),
                     failed=Unknown("whether another job failed"))
        other.why = "another job's result"
        return other

    def changed_default(self, task: Task) -> Any:
        changed_when = task.keywords.get("changed_when")
        return True if changed_when is None else Unknown("changed_when")

    # -- after the module: until, changed_when, failed_when, ignore_errors, register, notify -----

    def finish(self, task: Task, state: _State, branches: Sequence[tuple[_State, tuple[str, Any]]],
               looped: bool = False) -> _Outcomes:
        out: _Outcomes = []
        for st, (kind, detail) in branches:
            if kind in ("unknown", "end_play", "end_host"):
                out.append((st, (kind, detail)))
                continue
            if kind == "flush":
                out += self.count(self.flush_now(task, st))
                continue
            if kind == "failed":
                out += self.after_failure(task, st, Open(failed=True, msg=str(detail)))
                continue
            results = self.judged(task, st, detail) if not looped else [(st, detail)]
            for s2, result in results:
                out += self.conclude(task, s2, result)
        return self.count(out)

    def flush_now(self, task: Task, state: _State) -> _Outcomes:
        play = next(p for p in self.program.plays if p.index == task.play_index)
        return self.flush(play, [(state, _OK)])

    def judged(self, task: Task, state: _State, result: Any) -> list[tuple[_State, Any]]:
        """``result`` after ``until``/``retries``, ``changed_when`` and ``failed_when``; forks on unknowns."""
        if not isinstance(result, dict) or result.get("skipped") is True:
            return [(state, result)]
        result = result if isinstance(result, Open) else dict(result)
        ours = result.pop("_ours", None)
        template_error = result.pop("_template_error", False)
        result.pop("_cleanup", None)
        result.pop("_no_job", None)
        if template_error:
            return [(state, result)]
        keywords = task.keywords
        register = task.register
        branches: list[tuple[_State, Any]] = [(state, result)]
        for keyword in ("changed_when", "failed_when"):
            if keyword not in keywords:
                continue
            nxt: list[tuple[_State, Any]] = []
            for st, res in branches:
                ev = self._with_register(task, st, register, res)
                try:
                    value = ev.condition(keywords[keyword])
                except PartialError as exc:  # fails the ways that get to its error, ``otherwise`` the rest
                    nxt.append((st.fork(), _updated(res, failed=True, msg=f"{keyword}: {exc}")))
                    value = exc.otherwise
                except TemplateError as exc:
                    nxt.append((st, _updated(res, failed=True, msg=f"{keyword}: {exc}")))
                    continue
                field_name = "changed" if keyword == "changed_when" else "failed"
                if value is None:
                    for guess in (True, False):
                        nxt.append((st.fork(), _updated(res, **{field_name: guess})))
                else:
                    nxt.append((st, _updated(res, **{field_name: value})))
            branches = nxt
        if "until" in keywords:
            nxt = []
            for st, res in branches:
                ev = self._with_register(task, st, register, res)
                try:
                    done = ev.condition(keywords["until"])
                except TemplateError as exc:
                    nxt.append((st, _updated(res, failed=True, msg=f"until: {exc}")))
                    continue
                # out of retries the task fails, unless failed_when is set: ansible-core then judges the last
                # attempt's result by it (seen on 2.19 with failed_when: false)
                exhausted = _updated(res, attempts=Unknown("attempts"), **(
                    {} if "failed_when" in keywords else {"failed": True}))
                if done is True:
                    nxt.append((st, res))
                elif done is False:
                    nxt.append((st, exhausted))
                else:
                    nxt += [(st.fork(), res), (st, exhausted)]
            branches = nxt
        out = []
        for st, res in branches:
            if ours is not None:
                failed = truth(res.get("failed", False)) if not isinstance(res.get("failed"), Unknown) else None
                how = "failed" if failed else "cannot-fail" if ours == "failed" else "passed"
                if ours == "ok":
                    how = "ok-job-" + ("failed" if failed else "passed")
                st.note(Event("reap", task, how, self.item if self.launch.loop else None))
                res["_ours"] = ours
            out.append((st, res))
        return out

    def _with_register(self, task: Task, state: _State, register: str | None, result: Any) -> Evaluator:
        if register is None:
            return self.evaluator(task, state)
        view = state.fork()
        view.loop_vars[register] = result
        return self.evaluator(task, view, guesses=state)

    def conclude(self, task: Task, state: _State, result: Any) -> _Outcomes:
        ours = result.pop("_ours", None) if isinstance(result, dict) else None
        if task.register:
            self.assign(state, task.register, result)
        failed = truth(result.get("failed", False)) if isinstance(result, dict) else False
        if failed is None:
            again = {"_ours": ours} if ours is not None else {}
            return [*self.conclude(task, state.fork(), _updated(result, failed=True, **again)),
                    *self.conclude(task, state, _updated(result, failed=False, **again))]
        if failed:
            return self.after_failure(task, state, result, ours)
        if result.get("skipped") is not True:
            self.notify(task, state, result)
        return [(state, _OK)]

    def after_failure(self, task: Task, state: _State, result: Any, ours: Any = None) -> _Outcomes:
        try:
            ignored = (self.evaluator(task, state).condition(task.ignore_errors)
                       if task.ignore_errors is not None else False)
        except TemplateError:
            ignored = False
        if ignored is None:
            return [*self.ignored(task, state.fork(), result, ours), *self.failing(task, state, result)]
        if ignored:
            return self.ignored(task, state, result, ours)
        return self.failing(task, state, result)

    def ignored(self, task: Task, state: _State, result: Any, ours: Any) -> _Outcomes:
        if any(e.kind == "reap" and e.task is task and e.how == "failed" for e in state.events):
            state.note(Event("reap", task, "ignored", self.item if self.launch.loop else None))
        return [(state, _OK)]

    def failing(self, task: Task, state: _State, result: Any) -> _Outcomes:
        state.note(Event("fail", task))
        return [(state, ("failed", (task, result)))]

    def fail(self, task: Task, state: _State, why: str) -> _Outcomes:
        return self.after_failure(task, state, {"failed": True, "msg": why})

    def notify(self, task: Task, state: _State, result: Any) -> None:
        if not task.notify:
            return
        changed = truth(result.get("changed", False)) if isinstance(result, dict) else None
        for name in task.notify:
            if changed is True:
                state.notified[name] = True
            elif changed is None and state.notified.get(name) is not True:
                state.notified[name] = None

    # -- before the launch -----------------------------------------------------------------------

    def before(self, task: Task, state: _State) -> _Outcomes:
        """A task before the launch: the host got past it; only what it leaves behind matters."""
        if task.notify:
            self.notify_before(task, state)
        sets = _facts_set_by(task)
        if not task.register and sets is None:
            return [(state, _OK)]
        if sets is None and not isinstance(task, AsyncTask):
            failed: Any = False if task.ignore_errors in (None, False) else Unknown(f"whether {task.name!r} failed")
            result = Open(failed=failed, skipped=Unknown(f"whether {task.name!r} ran"))
            result.why = f"the result of {task.name!r}"
            if task.async_timeout in (None, 0):
                result.absent = _NOT_A_JOB
            state.facts[task.register or ""] = result
            return [(state, _OK)]
        try:
            when = self.evaluator(task, state).condition(list(task.when)) if task.when else True
        except TemplateError:
            when = None
        if when is False and task.overridable and _names_read(task.when) & task.overridable:
            when = None  # false by a role default, meant to be overridden: as never_runs judges the launch
        if when is False:
            if task.register:
                state.facts[task.register] = dict(_SKIPPED)
            return [(state, _OK)]
        sure = when is True and self.loop_of(task) is None
        for key, value in (sets or {}).items():
            try:
                state.facts[key] = self.evaluator(task, state).template(value) if sure else Unknown(
                    f"{key!r} (set by {self.label(task)}, which may not have run)")
            except TemplateError:
                state.facts[key] = Unknown(f"{key!r}")
        if task.register:
            if isinstance(task, AsyncTask) and sure:
                state.facts[task.register] = _launch_record(self.new_job(task, None), self.changed_default(task))
            elif isinstance(task, AsyncTask) and when is True:
                try:
                    items = self.loop_items(self.loop_of(task)[1], task, state, self.loop_of(task)[0])  # type: ignore[index]
                except TemplateError:
                    items = Unknown("its loop")
                if isinstance(items, Unknown):
                    items = [Unknown(f"an item of {task.name!r}'s loop")] * 2
                state.facts[task.register] = self.loop_launch_record(task, items)
            else:  # another launch that may not have run: its register holds its own job or a skip, never ours
                state.facts[task.register] = Unknown(f"{task.register!r} (the result of {self.label(task)})",
                                                     external=isinstance(task, AsyncTask))
        return [(state, _OK)]

    def notify_before(self, task: Task, state: _State) -> None:
        """A notification before the launch: its handler still runs at the next flush (after the launch,
        when no flush point comes between)."""
        try:
            when = self.evaluator(task, state).condition(list(task.when)) if task.when else True
        except TemplateError:
            when = None
        if when is False:
            return
        changed: Any = True if short_action(task.action) in _ALWAYS_CHANGED and "changed_when" not in task.keywords \
            else Unknown("whether it changed")
        if "changed_when" in task.keywords and _never(task.keywords["changed_when"]):
            return
        self.notify(task, state, {"changed": changed if when is True else Unknown("whether it ran")})

    def launch_task(self, task: AsyncTask, state: _State) -> _Outcomes:
        state = state.fork()
        state.started = True
        for name, loop in task.outer_loops:  # the job exists, so the include it sits in ran for some item: the
            # tasks after it in that include run for that same item (its reap among them), not for every item
            state.loop_vars.setdefault(name, _IncludeItem(f"{name!r} (the item of the loop over {loop!r} that the "
                                                          "launch ran for)", external=True))
        facts, notified, jobs = self.program.prefix(task)
        state.facts = dict(facts)
        state.notified = dict(notified)
        self.jobs.update(jobs)
        changed = self.changed_default(task)
        loop = self.loop_of(task)
        if task.register is None:
            self.new_job(task, None)
            result: Any = _launch_record(job_token(task.order, None), changed)
        elif loop is None:
            result = _launch_record(self.new_job(task, None), changed)
        else:
            items = self.launch_items(task, state, loop)
            result = {"changed": True, "skipped": False, "msg": "All items completed", "results": [
                {**_launch_record(self.new_job(task, i), changed), task.loop_var: v, "ansible_loop_var": task.loop_var}
                for i, v in enumerate(items)]}
        if task.register:
            state.facts[task.register] = result
        if truth(changed) is not False:
            self.notify(task, state, {"changed": changed})
        return [(state, _OK)]

    def loop_launch_record(self, task: Task, items: Sequence[Any]) -> dict[str, Any]:
        """The register of a loop launch: one started job per item."""
        changed = self.changed_default(task)
        return {"changed": True, "skipped": False, "msg": "All items completed", "results": [
            {**_launch_record(self.new_job(task, i), changed), task.loop_var: v, "ansible_loop_var": task.loop_var}
            for i, v in enumerate(items)]}

    def launch_items(self, task: Task, state: _State, loop: tuple[str, Any]) -> list[Any]:
        try:
            items = self.loop_items(loop[1], task, state, loop[0])
        except TemplateError:
            items = Unknown("its loop")
        if isinstance(items, Unknown) or not items:
            return [Unknown(f"an item of {self.label(task)}'s loop"), Unknown(f"an item of {self.label(task)}'s loop")]
        return list(items)

    # -- names -----------------------------------------------------------------------------------

    def where(self, task: Task) -> str:
        found = self.places.get(task.order)
        if found is None:
            found = self.places[task.order] = task.where(self.launch.playbook.parent)
        return found

    def label(self, task: Task) -> str:
        return f'"{task.name}" ({self.where(task)})'


def _facts_set_by(task: Task) -> Mapping[str, Any] | None:
    """The raw values a ``set_fact`` or an ``include_vars`` of one literal file sets; None for other tasks."""
    action = short_action(task.action)
    if action == "set_fact":
        return {str(k): v for k, v in task.args.items() if k != "cacheable"}
    if action == "include_vars":
        return task.loaded
    return None


def _names_in_text(text: str) -> frozenset[str]:
    """The variable names a template reads (none for plain text or one that does not parse)."""
    from pytest_asyncplay.audit.symbolic import _parse

    if "{{" not in text and "{%" not in text:
        return frozenset()
    try:
        return frozenset(n.name for n in _parse(text).find_all(jinja2.nodes.Name))
    except jinja2.TemplateSyntaxError:
        return frozenset()


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a task's arguments (nested lists and mappings, values only), stripped."""
    if isinstance(value, str):
        yield value.strip()
    elif depth < 4 and isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif depth < 4 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)


def _never_tagged(task: Task) -> bool:
    """Whether a plain run (no ``--tags``) skips ``task``: it is tagged ``never`` and not ``always``."""
    tags = task.keywords.get("tags")
    tag_list = tags if isinstance(tags, list) else [tags] if isinstance(tags, str) else []
    return "never" in tag_list and "always" not in tag_list


def _never(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().strip("{} ").lower() in ("false", "no"))


def _conjuncts(conditions: Iterable[str]) -> list[str]:
    """The parsed conjuncts (``a and b`` gives ``a``, ``b``) of ``when:`` conditions, as the evaluator keys them."""
    return [key for key, _ in _conjunct_nodes(tuple(conditions))]


@functools.lru_cache(maxsize=4096)
def _conjunct_nodes(conditions: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """``(key, node)`` of each conjunct of ``when:`` conditions (a condition that does not parse has none)."""
    from jinja2 import nodes

    from pytest_asyncplay.audit.symbolic import _parse, node_key

    out: list[tuple[str, Any]] = []

    def split(node: nodes.Node) -> None:
        if isinstance(node, nodes.And):
            split(node.left)
            split(node.right)
        else:
            out.append((node_key(node), node))

    for condition in conditions:
        text = str(condition).strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2]
        try:
            node = _parse("{{ " + text + " }}")
        except jinja2.TemplateSyntaxError:
            continue
        split(node)
    return tuple(out)


def _names_read(conditions: Iterable[Any]) -> set[str]:
    """The variable names a ``when:`` list reads."""
    names: set[str] = set()
    for _key, node in _conjunct_nodes(tuple(conditions)):
        names |= {n.name for n in node.find_all(jinja2.nodes.Name)} | (
            {node.name} if isinstance(node, jinja2.nodes.Name) else set())
    return names


def never_runs(program: Program, launch: AsyncTask) -> str | None:
    """Why ``launch`` never runs with the values the repo gives (a condition of its ``when:`` is false where it
    stands, e.g. a group_vars value it compares against), or None when it may run."""
    run = _Run(program, launch, "ok", None)
    facts, _notified, jobs = program.prefix(launch)
    state = _State(facts=dict(facts))
    run.jobs.update(jobs)
    ev = run.evaluator(launch, state)
    for key, node in _conjunct_nodes(tuple(launch.when)):
        try:
            value = ev.truth_of(node)
        except TemplateError:
            return None  # Ansible stops at an earlier false one, or fails the task here: not "never"
        if value is False:
            names = sorted({n.name for n in node.find_all(jinja2.nodes.Name)}
                           | ({node.name} if isinstance(node, jinja2.nodes.Name) else set()))
            if any(n in launch.overridable for n in names):
                return None  # a role default, meant to be overridden: judge the run that overrides it
            shown = []
            for name in names:
                bound = run.resolve(name, launch, state, 0)
                if not isinstance(bound, (Unknown, jinja2.Undefined)):
                    shown.append(f"{name} = {_short(bound)}")
            source = next((c for c in launch.when if key in _conjuncts([c])), key)
            return f"when: {str(source).strip()} is false" + (f" ({', '.join(shown)})" if shown else "")
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explore(program: Program, launch: AsyncTask, world: World) -> list[Path]:
    """Every path the host can take after ``launch`` when its job is in ``world``.

    For a loop launch the failed and running worlds are played once per item (each item's job in turn;
    the first and last past :data:`MAX_LOOP_WORLDS` items), and the paths of all of them are returned.
    A run past :data:`MAX_PATHS` paths gives one ``unknown`` path saying so.

    A path that ends green only by a guess about a condition the lint could not evaluate (a filter that is
    not installed here) establishes nothing on its own: the run is played again with each truth those
    conditions can take (up to :data:`MAX_GUESSED` of them), and the host ending green is kept only when it
    does so whatever they are; otherwise such a path is ``unknown``, naming what could not be evaluated.
    """
    paths = _explore(program, launch, world, {})
    guessed = [p for p in paths if p.end == "ok" and p.guesses]
    if not guessed or any(p.end == "ok" and not p.guesses for p in paths):
        return paths
    keys = list(dict.fromkeys(key for p in guessed for key, _ in p.guesses))
    whats = list(dict.fromkeys(what for p in guessed for _, what in p.guesses))
    green_anyway = len(keys) <= MAX_GUESSED and all(
        any(p.end == "ok" and not p.guesses for p in _explore(program, launch, world, dict(zip(keys, truths))))
        for truths in itertools.product((True, False), repeat=len(keys)))
    if green_anyway:
        return paths
    why = f"the host ends green only by a guess about {' and '.join(whats)}"
    return [replace(p, end="unknown", why=why, guesses=()) if any(p is g for g in guessed) else p for p in paths]


#: How many conditions the lint could not evaluate :func:`explore` plays every truth of (2**N runs).
MAX_GUESSED = 3


def _explore(program: Program, launch: AsyncTask, world: World, decisions: Mapping[str, bool]) -> list[Path]:
    items: list[int | None] = [None]
    if launch.loop and world != "ok":
        probe = _Run(program, launch, "ok", None)
        try:
            probe.explore()
        except _Stop:
            pass
        count = sum(1 for order, _ in probe.jobs.values() if order == launch.order) or 2
        indices = list(range(count))
        items = list(indices if count <= MAX_LOOP_WORLDS else [indices[0], indices[-1]])
    paths: list[Path] = []
    for item in items:
        run = _Run(program, launch, world, item, decisions)
        try:
            paths += run.explore()
        except _Stop as exc:
            paths.append(Path("unknown", why=str(exc)))
    return paths

