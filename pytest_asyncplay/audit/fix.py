"""``asyncplay lint --fix``: write the reap a finding asks for, as lines inserted into the task file.

A fix never re-dumps YAML: it finds, in the file's own node tree (PyYAML's ``compose``, which keeps every
node's start and end), where the lines go, and inserts them; every other byte of the file stays as it was
(comments, key order, quoting, indentation). Two kinds have one safe fix:

- ``unreaped``: ``register:`` on the launch when it has none, then an ``ansible.builtin.async_status`` reap
  (``until: <result>.finished``, ``retries``/``delay`` covering the task's ``async:``) at the end of the task
  list that holds the launch, so the work in between still runs beside the job; a loop launch gets a loop
  reap over ``<register>.results``;
- ``reap-no-until``: ``until``, ``retries`` and ``delay`` on the reap;
- ``reap-cleanup-only``: the real reap (``mode: status``, ``until``) just before the ``mode: cleanup`` one.

Every other kind depends on what the author meant: it keeps its hint and the fix says it left it alone. A
fixed file is linted again: a fix after which the launch is still not ``ok`` is not written.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .discover import AsyncTask, display_path
from .lint import Finding
from .taskargs import COMMAND_MODULES, short_action

FIXABLE = ("unreaped", "reap-no-until", "reap-cleanup-only")
"""The finding kinds ``--fix`` writes a change for."""

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Edit:
    """Lines to insert before line ``before`` (0-based) of a file, in place of the ``remove`` lines there."""

    before: int
    lines: list[str]
    remove: int = 0


@dataclass
class FileFix:
    """What ``--fix`` does to one file: its text before and after, and what it said of each finding."""

    path: Path
    before: str
    after: str
    done: list[str] = field(default_factory=list)
    launches: list[tuple[str, int]] = field(default_factory=list)
    """``(name, line)`` of each fixed launch in the fixed file: what must lint ``ok`` for the fix to stand."""

    def diff(self, base: Optional[Path] = None) -> str:
        """A unified diff of the change (paths relative to ``base`` when inside it)."""
        name = self.path.as_posix().lstrip("/")
        if base is not None:
            try:
                name = self.path.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                pass
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True), f"a/{name}", f"b/{name}"))


@dataclass
class FixReport:
    """Every file ``plan_fixes`` would change, what it said of the findings it left alone, and the changes it
    only suggests (``--diff`` shows them, ``--fix`` never writes them: ``reboot-by-async``)."""

    files: list[FileFix] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    suggested: list[FileFix] = field(default_factory=list)


class _Node:
    """Where things are in a composed file: the mapping node of a task and the sequence holding it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.root = yaml.compose(text, Loader=_Base)

    def task_at(self, line: int) -> Optional[tuple[yaml.MappingNode, yaml.SequenceNode]]:
        """The block mapping starting on 1-based ``line`` that is an item of a block sequence, with that
        sequence; None when it is not there or written in flow style."""
        found: Optional[tuple[yaml.MappingNode, yaml.SequenceNode]] = None

        def walk(node: yaml.Node) -> None:
            nonlocal found
            if isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    if (isinstance(item, yaml.MappingNode) and item.start_mark.line + 1 == line
                            and not item.flow_style and not node.flow_style):
                        found = (item, node)
                    walk(item)
            elif isinstance(node, yaml.MappingNode):
                for _, value in node.value:
                    walk(value)

        if self.root is not None:
            walk(self.root)
        return found


def _key(mapping: yaml.MappingNode, name: str) -> Optional[tuple[yaml.Node, yaml.Node]]:
    return next(((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == name), None)


def _end_line(node: yaml.Node) -> int:
    """The 0-based index of the line after ``node``'s last character (its last descendant's end)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    mark = node.end_mark
    return mark.line if mark.column == 0 else mark.line + 1


def _dash_column(lines: Sequence[str], item: yaml.MappingNode) -> int:
    """The column of the ``-`` that starts a sequence item (its mapping's first key follows it)."""
    row = lines[item.start_mark.line]
    dash = row.rfind("-", 0, item.start_mark.column)
    return dash if dash >= 0 else max(item.start_mark.column - 2, 0)


def _slug(text: str, limit: int = 32) -> str:
    """``text`` as a variable name: its words, lower case, joined by ``_``, whole words up to ``limit``."""
    words = [w for w in re.split(r"[^0-9a-zA-Z]+", text.lower()) if w] or ["async"]
    name = words[0][:limit]
    for word in words[1:]:
        if len(name) + 1 + len(word) > limit:
            break
        name += "_" + word
    return name if name[0].isalpha() or name[0] == "_" else "job_" + name


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... so that no two launches of a file register the same variable
    (a skipped task's ``register:`` overwrites the job id another launch left there)."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _quote(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def budget(async_timeout: int) -> tuple[int, int]:
    """``(retries, delay)`` whose waiting covers ``async:`` seconds with one look to spare."""
    delay = 1 if async_timeout <= 60 else 5 if async_timeout <= 600 else 15
    return math.ceil(async_timeout / delay) + 1, delay


def _unreaped_edits(node: _Node, task: AsyncTask, taken: set[str]) -> tuple[list[Edit], str]:
    """The lines that reap ``task``, or no edits and why not."""
    if not isinstance(task.async_timeout, int):
        return [], f"its async: is templated ({task.async_timeout!r}), so no retries can be sized to it"
    if task.phase == "handlers" or task.section == "handlers":
        return [], ("it is a handler, which runs only when notified: add a handler after it that reaps the job "
                    "and listens to the same notification")
    where = node.task_at(task.line)
    if where is None:
        return [], "the task is not a block mapping in a block list (flow style?), so no line can be placed"
    mapping, sequence = where
    if task.register is not None:
        after = "".join(node.lines[_end_line(mapping):_end_line(sequence)])
        if re.search(rf"^\s*-?\s*register:\s*{re.escape(task.register)}\s*$", after, flags=re.M):
            return [], (f"a later task of its list registers {task.register} again, so a reap at the end of the "
                        "list would read that task's result: register the launch under a name of its own")
    edits: list[Edit] = []
    key_column = mapping.start_mark.column
    step = " " * max(key_column - _dash_column(node.lines, mapping), 2)
    register = task.register
    if register is None:
        register = _fresh(f"{_slug(task.name)}_job", taken)
        values = [kv[1] for kv in (_key(mapping, "async"), _key(mapping, "poll")) if kv is not None]
        at = max((_end_line(v) for v in values), default=_end_line(mapping))
        edits.append(Edit(at, [" " * key_column + f"register: {register}\n"]))
    retries, delay = budget(task.async_timeout)
    result = _fresh(f"{register}_result", taken)
    dash = " " * _dash_column(node.lines, sequence.value[-1])
    inner = dash + step
    source = "item" if task.loop else register
    reap = [f"{dash}- name: {_quote('wait for ' + task.name)}\n",
            f"{inner}ansible.builtin.async_status:\n",
            f"{inner}{step}jid: {_quote('{{ ' + source + '.ansible_job_id }}')}\n"]
    if task.loop:
        reap.append(f"{inner}loop: {_quote('{{ ' + register + '.results }}')}\n")
    if task.when or task.loop:  # a skipped launch (or item) started no job: nothing to wait for
        reap.append(f"{inner}when: {source}.ansible_job_id is defined\n")
    reap += [f"{inner}register: {result}\n", f"{inner}until: {result}.finished\n",
             f"{inner}retries: {retries}\n", f"{inner}delay: {delay}\n"]
    end = _end_line(sequence)
    blank = ["\n"] if end > 0 and node.lines[end - 1].strip() else []
    edits.append(Edit(end, blank + reap))
    return edits, ""


def _no_until_edits(node: _Node, finding: Finding) -> tuple[list[Edit], str]:
    """``until``/``retries``/``delay`` for the reap ``finding`` names, or no edits and why not."""
    task = finding.task
    assert task is not None
    if finding.reap_line is None or finding.reap_file is None:
        return [], "the finding names no reap"
    where = node.task_at(finding.reap_line)
    if where is None:
        return [], "the reap is not a block mapping in a block list, so no line can be placed"
    mapping, _ = where
    if _key(mapping, "until") is not None or _key(mapping, "retries") is not None:
        return [], "the reap already has until:/retries:, which are the author's"
    registered = _key(mapping, "register")
    if registered is None or not isinstance(registered[1], yaml.ScalarNode):
        return [], "the reap registers nothing, so no until: can read its result"
    if not isinstance(task.async_timeout, int):
        return [], f"its async: is templated ({task.async_timeout!r}), so no retries can be sized to it"
    retries, delay = budget(task.async_timeout)
    column = " " * mapping.start_mark.column
    name = registered[1].value
    at = _end_line(registered[1])
    return [Edit(at, [f"{column}until: {name}.finished\n", f"{column}retries: {retries}\n",
                      f"{column}delay: {delay}\n"])], ""


def _cleanup_edits(node: _Node, finding: Finding, taken: set[str]) -> tuple[list[Edit], str]:
    """A real reap just before the ``mode: cleanup`` one ``finding`` names, or no edits and why not."""
    task = finding.task
    assert task is not None
    if finding.reap_line is None:
        return [], "the finding names no reap"
    if task.register is None or task.loop:
        return [], "the launch " + ("loops" if task.loop else "registers nothing") + ", so which job the cleanup " \
            "reads is the author's to say"
    if not isinstance(task.async_timeout, int):
        return [], f"its async: is templated ({task.async_timeout!r}), so no retries can be sized to it"
    where = node.task_at(finding.reap_line)
    if where is None:
        return [], "the cleanup is not a block mapping in a block list, so no line can be placed"
    cleanup, _ = where
    if _key(cleanup, "loop") is not None or any(k.value.startswith("with_") for k, _ in cleanup.value
                                                 if isinstance(k, yaml.ScalarNode)):
        return [], "the cleanup loops, so which jobs it reads is the author's to say"
    dash = " " * _dash_column(node.lines, cleanup)
    inner = dash + " " * max(cleanup.start_mark.column - len(dash), 2)
    step = " " * max(cleanup.start_mark.column - len(dash), 2)
    retries, delay = budget(task.async_timeout)
    result = _fresh(f"{task.register}_result", taken)
    at = cleanup.start_mark.line
    lines = [f"{dash}- name: {_quote('wait for ' + task.name)}\n", f"{inner}ansible.builtin.async_status:\n",
             f"{inner}{step}jid: {_quote('{{ ' + task.register + '.ansible_job_id }}')}\n",
             f"{inner}register: {result}\n", f"{inner}until: {result}.finished\n", f"{inner}retries: {retries}\n",
             f"{inner}delay: {delay}\n"]
    if at > 0 and not node.lines[at - 1].strip():
        lines.append("\n")  # the blank line that separates tasks here
    return [Edit(at, lines)], ""


def _reboot_edits(node: _Node, task: AsyncTask) -> list[Edit]:
    """``ansible.builtin.reboot`` in place of a fire-and-forget reboot's command, ``async:`` and ``poll:`` (the
    task's other keys stay); no edits when a key to replace shares a line with another."""
    where = node.task_at(task.line)
    if where is None:
        return []
    mapping, _ = where
    spans: dict[str, tuple[int, int]] = {}
    for key, value in mapping.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        name = key.value if key.value in ("async", "poll", "args") else (
            "module" if short_action(key.value) in COMMAND_MODULES else "")
        if name:
            if key.start_mark.line == mapping.start_mark.line:  # on the "- " line: cannot be cut out alone
                return []
            spans[name] = (key.start_mark.line, _end_line(value))
    if "module" not in spans:
        return []
    column = " " * mapping.start_mark.column
    reboot = [f"{column}ansible.builtin.reboot:\n", f"{column}  reboot_timeout: 600\n",
              f"{column}  test_command: uptime\n"]
    start, end = spans.pop("module")
    return [Edit(start, reboot, end - start)] + [Edit(a, [], b - a) for a, b in spans.values()]


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with every edit's lines inserted (edits at the same line in the order given)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for _, edit in sorted(enumerate(edits), key=lambda pair: (pair[1].before, pair[0]), reverse=True):
        lines[edit.before:edit.before + edit.remove] = edit.lines  # from the end: earlier lines keep their numbers
    return "".join(lines)


def plan_fixes(findings: Sequence[Finding], base: Optional[Path] = None) -> FixReport:
    """The change ``--fix`` makes for ``findings`` (each file read once, edits of one file together), and why
    it leaves the others alone (tasks named relative to ``base``). Nothing is written here."""
    report = FixReport()

    def where(task: AsyncTask) -> str:
        return task.location if base is None else f"{display_path(task.file, base)}:{task.line}"

    by_file: dict[Path, list[tuple[Finding, str]]] = {}
    for finding in findings:
        task = finding.task
        if finding.kind == "reboot-by-async" and task is not None:
            text = Path(task.file).read_text(encoding="utf-8")
            suggestion = _reboot_edits(_Node(text), task)
            if suggestion:
                report.suggested.append(FileFix(Path(task.file), text, apply_edits(text, suggestion),
                                                [f"{finding.kind} ({where(task)}): suggested"]))
            report.left_alone.append(f"{finding.kind} ({where(task)}): left alone, what waits after the reboot is "
                                     "the author's to decide" + ("; --diff shows ansible.builtin.reboot in its place"
                                                                 if suggestion else "") + "; " + finding.hint)
            continue
        if finding.kind not in FIXABLE or task is None:
            at = f" ({where(task)})" if task is not None else ""
            report.left_alone.append(f"{finding.kind}{at}: left alone, the fix depends on what the author "
                                     "meant; " + (finding.hint or "see the finding's message"))
            continue
        path = finding.reap_file if finding.kind != "unreaped" and finding.reap_file else task.file
        by_file.setdefault(Path(path), []).append((finding, finding.kind))
    for path, items in by_file.items():
        before = path.read_text(encoding="utf-8")
        node = _Node(before)
        taken = set(re.findall(r"^\s*-?\s*register:\s*([A-Za-z_][A-Za-z0-9_]*)", before, flags=re.M))
        edits: list[Edit] = []
        done: list[str] = []
        launches: list[AsyncTask] = []
        for finding, kind in items:
            assert finding.task is not None
            found, why = (_unreaped_edits(node, finding.task, taken) if kind == "unreaped"
                          else _cleanup_edits(node, finding, taken) if kind == "reap-cleanup-only"
                          else _no_until_edits(node, finding))
            if found:
                edits += found
                done.append(f"{kind} ({where(finding.task)}): fixed")
                launches.append(finding.task)
            else:
                report.left_alone.append(f"{kind} ({where(finding.task)}): left alone, {why}")
        if edits:
            moved = [(t.name, t.line + sum(len(e.lines) for e in edits if e.before < t.line - 1)) for t in launches
                     if Path(t.file) == path]
            report.files.append(FileFix(path, before, apply_edits(before, edits), done, moved))
    return report


__all__ = ["FIXABLE", "Edit", "FileFix", "FixReport", "apply_edits", "budget", "plan_fixes"]
