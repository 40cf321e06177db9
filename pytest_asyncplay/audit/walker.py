"""The walk through one playbook run, as Ansible would play it: plays, blocks, roles, includes.

Follows what can be followed without running anything: a play's ``pre_tasks``, ``roles``,
``tasks``, ``post_tasks`` and ``handlers``; nested ``block``/``rescue``/``always``; roles (see
:mod:`pytest_asyncplay.audit.roles`) with their ``meta/main.yml`` dependencies and handlers;
``import_tasks``/``include_tasks``, ``import_role``/``include_role`` and ``import_playbook``. An include
whose file name is a template is followed to every file the template can name (each an option of the
run, a frame with part ``option N``); ``{{ role_path }}``/``{{ playbook_dir }}`` are put in. What cannot
be followed (a name that is a template alone, a collection that is not installed) becomes a note, never
silence.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_asyncplay.audit import roles as role_search
from pytest_asyncplay.audit.model import AsyncTask, BlockFrame, Playbook, Task, is_fire_and_forget
from pytest_asyncplay.audit.taskargs import (
    IMPORT_PLAYBOOK,
    INCLUDE_ROLE,
    INCLUDE_TASKS,
    OMIT,
    UNKNOWN,
    action_of,
    conditions,
    int_or_raw,
    names,
    never_true,
    possible_values,
    short_action,
    templated,
)
from pytest_asyncplay.audit.yamlfile import Files, line_of
from pytest_asyncplay.errors import PlaybookSyntaxError

__all__ = ["MISSING_ROLE", "Walker", "is_play", "with_yaml_suffix"]

#: The action of the stand-in task a role that is not installed leaves where it would run.
MISSING_ROLE = "<role not installed>"

Variables = Mapping[str, tuple[Any, ...]]
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def is_play(entry: object) -> bool:
    """A mapping with ``hosts`` or ``import_playbook`` (also ``ansible.builtin.``)."""
    if not isinstance(entry, dict):
        return False
    return "hosts" in entry or any(short_action(str(k)) == IMPORT_PLAYBOOK for k in entry)


def with_yaml_suffix(base: Path, files: Files | None = None) -> Path | None:
    """``base.yml``, ``base.yaml`` or ``base`` itself, whichever is a file."""
    for candidate in (base.with_name(base.name + ".yml"), base.with_name(base.name + ".yaml"), base):
        if files.is_file(candidate) if files is not None else candidate.is_file():
            return candidate
    return None


def _norm(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _merge(variables: Variables, more: Any) -> Variables:
    """``variables`` with the definitions of the mapping ``more`` added (every definition is kept)."""
    if not isinstance(more, dict) or not more:
        return variables
    merged = dict(variables)
    for key, value in more.items():
        merged[str(key)] = (*merged.get(str(key), ()), value)
    return merged


@dataclass(frozen=True)
class _Ctx:
    """Where the walk is: the file, section, play, role, enclosing blocks and inherited keywords."""

    file: Path
    section: str
    play_index: int
    play_dir: Path
    phase: str = "tasks"
    role: str | None = None
    role_dir: Path | None = None
    blocks: tuple[BlockFrame, ...] = ()
    when: tuple[str, ...] = ()
    ignore_errors: Any = None
    ignore_errors_origin: tuple[str, Path, int] | None = None
    variables: Variables = field(default_factory=dict, compare=False, repr=False)
    #: How many definitions of each name came from role ``defaults/`` (values meant to be overridden).
    default_counts: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    loops: tuple[tuple[str, Any], ...] = ()


class Walker:
    """Walks one playbook run (imports included) and collects its tasks, errors and notes.

    ``play`` (a mapping) walks that play instead of reading ``path``: a role no playbook reaches is
    walked as ``{"hosts": "all", "roles": [<its folder>]}``.
    """

    def __init__(self, path: Path, roles_path: Sequence[Path], files: Files,
                 play: Mapping[str, Any] | None = None, kind: str = "playbook", role_dir: Path | None = None) -> None:
        self.path = path
        self.files = files
        self.synthetic_play = play
        self.kind = kind
        self.role_dir = role_dir
        self.search = role_search.search_paths(path.parent, roles_path)
        if role_dir is not None:
            # a role judged on its own is found, by whoever plays it, in the roles folder it sits in: so are the
            # roles beside it there (a nested name like ``postgres/pkg`` counts from the nearest ``roles/``)
            real = role_dir.resolve()
            home = next((p for p in real.parents if p.name == "roles"), real.parent)
            if home not in self.search.roles:
                self.search = replace(self.search, roles=(*self.search.roles, home))
        self.tasks: list[Task] = []
        self.errors: list[PlaybookSyntaxError] = []
        self.notes: list[str] = []
        self.reached: set[Path] = set()
        self.play_count = 0
        self.block_count = 0
        self.file_stack: list[Path] = []
        self.role_stack: list[Path] = []
        self.play_roles_run: set[tuple[Path, str]] = set()
        self.handler_roles: list[tuple[str, Path, _Ctx]] = []

    # -- helpers ---------------------------------------------------------------------------------

    def error(self, message: str, hint: str) -> None:
        self.errors.append(PlaybookSyntaxError(message, hint=hint))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def load(self, path: Path) -> Any:
        return self.files.load(path)

    def enter(self, path: Path, stack: list[Path], what: str, ref_file: Path, ref_line: int) -> tuple[bool, Any]:
        """Resolve ``path``, refuse a cycle through ``stack``, load it: ``(True, data)`` or ``(False, None)``
        with the problem recorded. The caller pops ``stack`` when it is done with the file."""
        resolved = self.files.real(path)
        if resolved in stack:
            self.error(
                f"{ref_file}:{ref_line}: {what} {path} {'imports' if what == IMPORT_PLAYBOOK else 'includes'} "
                "itself (a cycle)",
                hint="Remove the include or import that leads back to a file already being walked.",
            )
            return False, None
        try:
            data = self.load(path)
        except PlaybookSyntaxError as exc:
            self.errors.append(exc)
            return False, None
        stack.append(resolved)
        self.reached.add(resolved)
        return True, data

    def inherit(self, ctx: _Ctx, item: Mapping[str, Any], kind: str, file: Path) -> _Ctx:
        """``ctx`` narrowed by the ``when``, ``ignore_errors`` and ``vars`` of a block/include/role/play."""
        when = ctx.when + conditions(item.get("when"))
        variables = _merge(ctx.variables, item.get("vars"))
        if "ignore_errors" in item:
            return replace(
                ctx,
                when=when,
                variables=variables,
                ignore_errors=item["ignore_errors"],
                ignore_errors_origin=(kind, file, line_of(item)),
            )
        return replace(ctx, when=when, variables=variables)

    def as_list(self, value: Any, what: str, file: Path, line: int) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.error(
            f"{file}:{line_of(value) or line}: {what} must be a list, got {type(value).__name__}",
            hint="Write it as a YAML list: each entry on its own line starting with '- '.",
        )
        return []

    def vars_file(self, path: Path) -> Any:
        try:
            return self.load(path)
        except PlaybookSyntaxError:
            return None  # a broken vars file only costs template values

    def group_vars(self, folder: Path) -> Variables:
        """``group_vars/all`` beside the playbook and at the config's folder, as variables (read once)."""
        places = [folder]
        if self.search.config is not None:
            places.append(self.search.config.parent)
        key = ("group_vars", *places)
        if key not in self.files.memo:
            variables: Variables = {}
            for place in dict.fromkeys(places):
                base = place / "group_vars" / "all"
                if self.files.is_dir(base):
                    found = sorted(base.glob("*.y*ml"))
                else:
                    found = [f for f in [with_yaml_suffix(base, self.files)] if f]
                for file in found:
                    variables = _merge(variables, self.vars_file(file))
            self.files.memo[key] = variables
        return self.files.memo[key]  # type: ignore[no-any-return]

    # -- playbooks and plays ---------------------------------------------------------------------

    def run(self) -> Playbook:
        """Walk the playbook (or the synthetic play) and return what was found."""
        if self.synthetic_play is not None:
            self.play(self.synthetic_play, self.path, ())
            return self.build()
        try:
            data = self.load(self.path)
        except PlaybookSyntaxError as exc:
            return Playbook(self.path, (), exc)
        if not isinstance(data, list) or not any(is_play(entry) for entry in data):
            kind = "empty" if not data else f"a {type(data).__name__}"
            return Playbook(
                self.path,
                (),
                PlaybookSyntaxError(
                    f"{self.path}:{line_of(data) or 1}: not a playbook: its top level is {kind}, "
                    "not a list of plays with 'hosts:' or 'import_playbook:'",
                    hint="Pass a playbook, not a task, role or vars file; task files are audited "
                    "through the playbook that includes them.",
                ),
            )
        self.file_stack.append(self.files.real(self.path))
        self.reached.add(self.files.real(self.path))
        self.playbook_entries(data, self.path, ())
        return self.build()

    def silent_handlers(self) -> None:
        """Fire-and-forget handlers nothing can notify (no notifier in the play, or every notifier has
        ``changed_when: false``) never run: they become plain tasks, with a note."""
        for index, task in enumerate(self.tasks):
            if not isinstance(task, AsyncTask) or task.section != "handlers":
                continue
            names = {task.name, *task.listen, *([f"{task.role} : {task.name}"] if task.role else [])}
            notifiers = [t for t in self.tasks if t.play_index == task.play_index and names.intersection(t.notify)]
            if any(templated(n) for t in self.tasks for n in t.notify):
                continue  # a templated notify may name it
            if all(never_true(t.keywords.get("changed_when")) for t in notifiers):
                why = ("no task of the play notifies it" if not notifiers
                       else "every task notifying it has changed_when: false")
                self.note(f"{task.file}:{task.line}: handler {task.name!r} never runs ({why}): not audited")
                fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(Task)}
                self.tasks[index] = Task(**fields)

    def build(self) -> Playbook:
        self.silent_handlers()
        seen: dict[str, int] = {}
        all_tasks: list[Task] = []
        for order, task in enumerate(self.tasks):
            occurrence = 1
            if isinstance(task, AsyncTask):
                occurrence = seen[task.name] = seen.get(task.name, 0) + 1
            all_tasks.append(replace(task, order=order, occurrence=occurrence))
        error: PlaybookSyntaxError | None = None
        if len(self.errors) == 1:
            error = self.errors[0]
        elif self.errors:
            lines = "\n".join(f"  - {e.message} (Hint: {e.hint})" for e in self.errors)
            error = PlaybookSyntaxError(
                f"{self.path}: {len(self.errors)} problems:\n{lines}",
                hint="Fix each problem listed above, then run the audit again.",
            )
        return Playbook(
            path=self.path,
            tasks=tuple(t for t in all_tasks if isinstance(t, AsyncTask)),
            error=error,
            all_tasks=tuple(all_tasks),
            notes=tuple(dict.fromkeys(self.notes)),
            kind=self.kind,
            role_dir=self.role_dir,
            reached=frozenset(self.reached),
        )

    def playbook_entries(self, data: list[Any], file: Path, when: tuple[str, ...]) -> None:
        for entry in data:
            if not isinstance(entry, dict):
                self.error(
                    f"{file}:{line_of(data)}: a playbook entry is {type(entry).__name__} {entry!r}, not a play",
                    hint="Every entry of a playbook is a mapping with 'hosts:' (a play) or 'import_playbook:'.",
                )
                continue
            key = next((k for k in entry if short_action(str(k)) == IMPORT_PLAYBOOK), None)
            if key is not None:
                self.import_playbook(entry, key, file, when)
            elif "hosts" in entry:
                self.play(entry, file, when + conditions(entry.get("when")))
            else:
                self.error(
                    f"{file}:{line_of(entry)}: play has no 'hosts:' (keys: {', '.join(map(str, entry))})",
                    hint="Add 'hosts: all' (or a pattern) to the play, or fix its indentation.",
                )

    def import_playbook(self, entry: Mapping[str, Any], key: str, file: Path, when: tuple[str, ...]) -> None:
        target = entry[key]
        if isinstance(target, dict):
            target = target.get("file", target.get("_raw_params"))
        line = line_of(entry)
        if not isinstance(target, str) or not target.strip():
            self.error(
                f"{file}:{line}: import_playbook needs a file name, got {target!r}",
                hint="Write 'import_playbook: other.yml'.",
            )
            return
        target = target.strip()
        if templated(target):
            self.note(f"{file}:{line}: import_playbook {target!r} is templated and cannot be followed: not analysed")
            return
        path = _norm(file.parent / target)
        if not self.files.is_file(path):
            fqcn = role_search.collection_name(target)
            if fqcn is not None:
                found = self.collection_file(fqcn, "playbooks", file.parent)
                if found is None:
                    self.note(f"{file}:{line}: import_playbook {target!r}: collection playbook not installed "
                              f"here; its tasks are not analysed")
                    return
                path = found
            else:
                self.error(
                    f"{file}:{line}: import_playbook file {target!r} not found (looked for {path})",
                    hint="Fix the path: it is relative to the directory of the importing playbook.",
                )
                return
        entered, data = self.enter(path, self.file_stack, "import_playbook", file, line)
        if not entered:
            return
        if not isinstance(data, list):
            self.error(
                f"{path}:{line_of(data) or 1}: imported by {file}:{line} but not a playbook",
                hint="import_playbook takes a playbook (a list of plays); use import_tasks for tasks.",
            )
        else:
            self.playbook_entries(data, path, when + conditions(entry.get("when")))
        self.file_stack.pop()

    def collection_file(self, fqcn: tuple[str, str, str], folder: str, play_dir: Path) -> Path | None:
        """A playbook (``folder="playbooks"``) of an installed collection."""
        namespace, collection, rest = fqcn
        for root in role_search.collection_roots(namespace, collection, play_dir, self.search):
            found = with_yaml_suffix(root / folder / rest.replace(".", "/"), self.files)
            if found is not None:
                return found
        return None

    def play_variables(self, play: Mapping[str, Any], file: Path) -> Variables:
        """``group_vars/all`` and the play's static ``vars_files`` (its ``vars`` come through ``inherit``)."""
        variables = self.group_vars(file.parent)
        for entry in play.get("vars_files") or []:
            if isinstance(entry, str) and not templated(entry):
                path = file.parent / entry
                if path.is_file():
                    variables = _merge(variables, self.vars_file(path))
        return variables

    def play(self, play: Mapping[str, Any], file: Path, when: tuple[str, ...]) -> None:
        index = self.play_count
        self.play_count += 1
        self.play_roles_run = set()
        self.handler_roles = []
        base = _Ctx(file=file, section="tasks", play_index=index, play_dir=file.parent, when=when,
                    variables=self.play_variables(play, file))
        base = self.inherit(base, play, "play", file)
        line = line_of(play)
        self.tasks_list(play.get("pre_tasks"), replace(base, section="pre_tasks", phase="pre_tasks"), "pre_tasks", line)
        roles_ctx = replace(base, section="roles", phase="roles")
        for entry in self.as_list(play.get("roles"), "roles", file, line):
            self.role_entry(entry, roles_ctx, file, line_of(entry) or line_of(play.get("roles")) or line)
        self.tasks_list(play.get("tasks"), replace(base, section="tasks", phase="tasks"), "tasks", line)
        post = replace(base, section="post_tasks", phase="post_tasks")
        self.tasks_list(play.get("post_tasks"), post, "post_tasks", line)
        handlers_ctx = replace(base, section="handlers", phase="handlers")
        for name, role_dir, role_ctx in list(self.handler_roles):
            handlers = with_yaml_suffix(role_dir / "handlers" / "main", self.files)
            if handlers is not None:
                ctx = replace(role_ctx, section="handlers", phase="handlers", blocks=(), file=handlers)
                self.task_file(handlers, ctx, f"handlers of role {name!r}", file, line)
        self.tasks_list(play.get("handlers"), handlers_ctx, "handlers", line)

    # -- roles -----------------------------------------------------------------------------------

    def role_entry(self, entry: Any, ctx: _Ctx, file: Path, line: int) -> None:
        if isinstance(entry, str):
            self.role(entry, ctx, file, line, dedup_key=repr({}))
            return
        name = entry.get("role", entry.get("name")) if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(name, str):
            self.error(
                f"{file}:{line}: a roles entry must be a role name or a mapping with 'role:', got {entry!r}",
                hint="Write '- my_role' or '- role: my_role'.",
            )
            return
        params = {k: v for k, v in entry.items() if k not in ("role", "name")}
        inner = self.inherit(ctx, entry, "role entry", file)
        inner = replace(inner, variables=_merge(inner.variables, params))
        self.role(name, inner, file, line, dedup_key=repr(params), handed=params)

    def find_role(self, name: str, ctx: _Ctx) -> tuple[Path | None, list[Path]]:
        """The role's folder (or None) and every folder tried, in Ansible's order."""
        fqcn = role_search.collection_name(name)
        if fqcn is not None:
            namespace, collection, role = fqcn
            roots = role_search.collection_roots(namespace, collection, ctx.play_dir, self.search)
            candidates = [root / "roles" / role for root in roots]
        else:
            candidates = role_search.role_candidates(name, ctx.play_dir, self.search, ctx.role_dir)
        found = next((c for c in candidates if self.files.is_dir(c)), None)
        if found is None:
            under_test = self.role_under_test(name, ctx.play_dir)
            if under_test is not None:
                return under_test, candidates
        return found, candidates

    @staticmethod
    def role_under_test(name: str, play_dir: Path) -> Path | None:
        """The role a playbook in its ``tests/`` or ``molecule/<scenario>/`` plays by the role's own name
        (``X`` or ``namespace.X`` for the folder ``X``), as Molecule and ``ansible-galaxy``'s test layout do."""
        for role_dir in (play_dir.parent, play_dir.parent.parent):
            if (role_dir / "tasks").is_dir() and (name == role_dir.name or name.endswith("." + role_dir.name)):
                return role_dir
        return None

    def role(
        self,
        name: str,
        ctx: _Ctx,
        file: Path,
        line: int,
        dedup_key: str | None,
        tasks_from: str = "main",
        dependency: bool = False,
        handed: Mapping[str, Any] | None = None,
    ) -> None:
        """Walk a role: its dependencies, then ``tasks/<tasks_from>``; queue its handlers.

        ``dedup_key`` (None: never dedup) makes a role with the same parameters run once per play,
        as Ansible does for ``roles:`` and dependencies. A ``dependency`` that is not installed is a
        note: it runs before the role, so it cannot reap the role's jobs.
        """
        name = self.known_paths(name, ctx)
        if templated(name):
            self.note(f"{file}:{line}: role {name!r} is templated and cannot be followed statically: not analysed")
            return
        role_dir, searched = self.find_role(name, ctx)
        if role_dir is None:
            what = "collection role" if role_search.collection_name(name) is not None else "role"
            if dependency:
                what = "role dependency"
            shown = ", ".join(map(str, searched[:4])) + (", ..." if len(searched) > 4 else "")
            self.note(f"{file}:{line}: {what} {name!r} is not installed here (searched {shown}); its tasks are "
                      "not analysed: install it (ansible-galaxy install -r requirements.yml), fix the name, "
                      "or set roles_path")
            if not dependency:  # it runs after what came before: it might reap those jobs
                # what it is handed (its vars and parameters): all it can know of the jobs before it
                self.tasks.append(Task(playbook=self.path, name=f"{what} {name} (not installed)", file=file,
                                       line=line, action=MISSING_ROLE, section=ctx.section, phase=ctx.phase,
                                       play_index=ctx.play_index, role=ctx.role, args=dict(handed or {}),
                                       variables=ctx.variables))
            return
        resolved = self.files.real(role_dir)
        if resolved in self.role_stack and dependency:
            self.error(
                f"{file}:{line}: role {name!r} depends on itself (a cycle)",
                hint="Remove the dependency or include that leads back to the role.",
            )
            return
        if resolved in self.role_stack:  # a role's task file including another of its own (include_role: itself)
            again = None if templated(tasks_from) else with_yaml_suffix(role_dir / "tasks" / tasks_from, self.files)
            if again is not None and self.files.real(again) in self.file_stack:
                self.note(f"{file}:{line}: role {name!r} includes its tasks {tasks_from!r} again while they are being "
                          "walked (a recursion that a when: ends); its tasks are listed once")
                return
        if dedup_key is not None:
            if (resolved, dedup_key) in self.play_roles_run:
                return
            self.play_roles_run.add((resolved, dedup_key))
        self.role_stack.append(resolved)
        self.reached.add(resolved)
        defaults, role_vars = self.role_variables(role_dir, ctx, {resolved})
        variables = _merge(_merge(ctx.variables, defaults), role_vars)
        counts = dict(ctx.default_counts)
        for key in defaults:
            counts[key] = counts.get(key, 0) + 1
        role_ctx = replace(ctx, role=Path(name).name, role_dir=role_dir, variables=variables, default_counts=counts)
        self.role_dependencies(role_dir, role_ctx)
        tasks = None if templated(tasks_from) else with_yaml_suffix(role_dir / "tasks" / tasks_from, self.files)
        if templated(tasks_from):  # each of the role's task files the template can name is one way the run goes
            target = tasks_from if tasks_from.endswith((".yml", ".yaml")) else tasks_from + ".yml"
            self.templated_include({}, f"role {name!r} tasks_from", target, [role_dir / "tasks"], role_ctx, line)
        elif tasks is not None:
            self.task_file(tasks, replace(role_ctx, file=tasks), f"tasks of role {name!r}", file, line)
        elif tasks_from != "main":
            self.error(
                f"{file}:{line}: role {name!r} has no tasks file {tasks_from!r} "
                f"(looked for {role_dir / 'tasks' / tasks_from}.yml)",
                hint="Fix tasks_from: it names a file in the role's tasks/ directory, without '.yml'.",
            )
        if all(r != role_dir for _, r, _ in self.handler_roles):
            self.handler_roles.append((Path(name).name, role_dir, role_ctx))
        self.role_stack.pop()

    def role_variables(self, role_dir: Path, ctx: _Ctx, seen: set[Path]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The role's ``defaults/`` and ``vars/``, each over those of its dependencies all the way down, as
        ansible-core's ``Role.get_default_vars()`` and ``get_vars()`` give them to the role's tasks: a
        dependency's default is seen by the role that depends on it, and the role's own value wins."""
        defaults: dict[str, Any] = {}
        role_vars: dict[str, Any] = {}
        meta = with_yaml_suffix(role_dir / "meta" / "main", self.files)
        data = self.vars_file(meta) if meta is not None else None
        dependencies = data.get("dependencies") if isinstance(data, dict) else None
        dep_ctx = replace(ctx, role_dir=role_dir)
        for dep in dependencies if isinstance(dependencies, list) else []:
            name = dep.get("role", dep.get("name")) if isinstance(dep, dict) else dep
            if not isinstance(name, str) or templated(name := self.known_paths(name, dep_ctx)):
                continue
            dep_dir = self.find_role(name, dep_ctx)[0]
            if dep_dir is None or self.files.real(dep_dir) in seen:
                continue
            seen.add(self.files.real(dep_dir))
            dep_defaults, dep_vars = self.role_variables(dep_dir, dep_ctx, seen)
            defaults.update(dep_defaults)
            role_vars.update(dep_vars)
        for part, table in (("defaults", defaults), ("vars", role_vars)):
            found = with_yaml_suffix(role_dir / part / "main", self.files)
            values = self.vars_file(found) if found is not None else None
            if isinstance(values, dict):
                table.update({str(k): v for k, v in values.items()})
        return defaults, role_vars

    def role_dependencies(self, role_dir: Path, ctx: _Ctx) -> None:
        meta = with_yaml_suffix(role_dir / "meta" / "main", self.files)
        if meta is None:
            return
        try:
            data = self.load(meta)
        except PlaybookSyntaxError as exc:
            self.errors.append(exc)
            return
        if not isinstance(data, dict):
            return
        for dep in self.as_list(data.get("dependencies"), "dependencies", meta, line_of(data)):
            line = line_of(dep) or line_of(data.get("dependencies"))
            if isinstance(dep, dict):
                dep_name = dep.get("role", dep.get("name"))
                if isinstance(dep_name, str):
                    params = {k: v for k, v in dep.items() if k not in ("role", "name")}
                    dep_ctx = self.inherit(ctx, dep, "role dependency", meta)
                    self.role(dep_name, dep_ctx, meta, line, dedup_key=repr(params), dependency=True)
                    continue
            elif isinstance(dep, str):
                self.role(dep, ctx, meta, line, dedup_key=repr({}), dependency=True)
                continue
            self.error(
                f"{meta}:{line}: a dependency must be a role name or a mapping with 'role:', got {dep!r}",
                hint="Write '- other_role' or '- role: other_role' under dependencies.",
            )

    # -- task files, blocks and tasks ------------------------------------------------------------

    def task_file(self, path: Path, ctx: _Ctx, what: str, ref_file: Path, ref_line: int) -> None:
        entered, data = self.enter(path, self.file_stack, what, ref_file, ref_line)
        if not entered:
            return
        if data is not None:
            self.tasks_list(data, replace(ctx, file=path), what, line_of(data) or 1)
        self.file_stack.pop()

    def tasks_list(self, items: Any, ctx: _Ctx, what: str, line: int) -> None:
        for item in self.as_list(items, what, ctx.file, line):
            if not isinstance(item, dict):
                self.error(
                    f"{ctx.file}:{line_of(items) or line}: an entry of {what} is "
                    f"{type(item).__name__} {item!r}, not a task",
                    hint="Each task is a mapping such as '- name: ...' followed by a module; check the indentation.",
                )
            elif "block" in item:
                self.block(item, ctx)
            else:
                self.task(item, ctx)

    def block(self, item: Mapping[str, Any], ctx: _Ctx) -> None:
        self.block_count += 1
        block_id = self.block_count
        line = line_of(item)
        rescue = item.get("rescue")
        has_rescue = isinstance(rescue, list) and bool(rescue)
        inner = self.inherit(ctx, item, "block", ctx.file)
        for part in ("block", "rescue", "always"):
            frame = BlockFrame(block_id, ctx.file, line, part, has_rescue)
            part_ctx = replace(inner, section=part, blocks=(*ctx.blocks, frame))
            self.tasks_list(item.get(part), part_ctx, part, line)

    def task(self, item: Mapping[str, Any], ctx: _Ctx) -> None:
        line = line_of(item)
        action, args = action_of(item)
        if action is None:
            keys = ", ".join(map(str, item)) or "none"
            self.error(
                f"{ctx.file}:{line}: task has no module (keys: {keys})",
                hint="Give the task a module such as 'ansible.builtin.shell:', or fix the "
                "indentation of its arguments.",
            )
            return
        short = short_action(action)
        if short in INCLUDE_TASKS:
            self.include_tasks(item, short, args, ctx, line)
            return
        if short in INCLUDE_ROLE:
            self.include_role(item, short, args, ctx, line)
            return
        if short == IMPORT_PLAYBOOK:
            self.error(
                f"{ctx.file}:{line}: import_playbook inside a list of tasks",
                hint="import_playbook is only allowed at the top level of a playbook.",
            )
            return
        raw_name = item.get("name")
        named = raw_name is not None and str(raw_name).strip() != ""
        when = ctx.when + conditions(item.get("when"))
        variables = _merge(ctx.variables, item.get("vars"))
        async_timeout = int_or_raw(item.get("async"))
        poll = int_or_raw(item.get("poll"))
        not_analysed = ""
        fire_and_forget = is_fire_and_forget(async_timeout, poll)
        if async_timeout not in (None, 0) and templated(poll):
            polls = possible_values(poll, variables)
            if 0 in polls:
                fire_and_forget = True  # a template that can give 0: a fire-and-forget launch in that case
            elif UNKNOWN in polls:
                fire_and_forget = True
                not_analysed = f"poll {poll!r} is a template the lint cannot evaluate (it may be 0)"
            elif polls - {OMIT}:
                self.note(f"{ctx.file}:{line}: poll {poll!r} evaluates to {sorted(map(str, polls))}: keep-alive")
        if fire_and_forget and templated(async_timeout):
            timeouts = possible_values(async_timeout, variables)
            if timeouts and timeouts <= {0, OMIT}:
                fire_and_forget = False  # async: 0 in every case: a plain task
        if fire_and_forget and any(never_true(c) for c in when):
            self.note(f"{ctx.file}:{line}: {raw_name or 'an unnamed task'!s} never runs "
                      f"(when: {' and '.join(when)} is literally false): not audited")
            fire_and_forget = False
        if "ignore_errors" in item:
            ignore_errors = item["ignore_errors"]
            origin: tuple[str, Path, int] | None = ("task", ctx.file, line)
        else:
            ignore_errors, origin = ctx.ignore_errors, ctx.ignore_errors_origin
        loop_control = item.get("loop_control")
        loop_var = "item"
        if isinstance(loop_control, dict) and isinstance(loop_control.get("loop_var"), str):
            loop_var = loop_control["loop_var"]
        register = item.get("register")
        cls = AsyncTask if fire_and_forget else Task
        self.tasks.append(
            cls(
                playbook=self.path,
                name=str(raw_name).strip() if named else f"line {line}",
                file=ctx.file,
                line=line,
                action=action,
                section=ctx.section,
                play_index=ctx.play_index,
                role=ctx.role,
                async_timeout=async_timeout,
                poll=poll,
                register=str(register) if register is not None else None,
                loop="loop" in item or any(str(k).startswith("with_") for k in item),
                loop_var=loop_var,
                named=named,
                when=when,
                ignore_errors=ignore_errors,
                ignore_errors_origin=origin,
                blocks=ctx.blocks,
                notify=names(item.get("notify")),
                listen=names(item.get("listen")),
                not_analysed=not_analysed,
                phase=ctx.phase,
                variables=variables,
                overridable=frozenset(n for n, count in ctx.default_counts.items()
                                      if len(variables.get(n, ())) == count),
                loaded=self.included_vars(short, args, ctx),
                outer_loops=ctx.loops,
                args=args,
                keywords=dict(item),
            )
        )

    def include_tasks(self, item: Mapping[str, Any], short: str, args: Mapping[str, Any], ctx: _Ctx, line: int) -> None:
        target = args.get("file", args.get("_raw_params"))
        if not isinstance(target, str) or not target.strip():
            self.error(
                f"{ctx.file}:{line}: {short} needs a file name, got {target!r}",
                hint=f"Write '{short}: other.yml' or '{short}: {{file: other.yml}}'.",
            )
            return
        target = self.known_paths(target.strip(), ctx)
        folders = [ctx.file.parent]
        if ctx.role_dir is not None:
            # ansible-core's included_file also tries path_dwim_relative(<role>/tasks, "tasks", target): so
            # "../x.yml" from any task file of the role finds <role>/tasks/x.yml
            folders += [ctx.role_dir / "tasks", ctx.role_dir / "tasks" / "tasks"]
        folders += [f.parent for f in reversed(self.file_stack)]  # Ansible tries each parent include's folder
        folders.append(ctx.play_dir)
        globbed = self.fileglob_files(item, target, ctx) if templated(target) else None
        if globbed is not None:  # one include per file the loop's fileglob finds, each in turn
            inner = self.inherit(ctx, item, short, ctx.file)
            if not globbed:
                self.note(f"{ctx.file}:{line}: {short} over with_fileglob {item.get('with_fileglob')!r} finds no "
                          "file here: nothing to include")
            for each in globbed:
                if self.files.real(each) not in self.file_stack:
                    self.task_file(each, replace(inner, file=each), f"tasks of {each.name}", ctx.file, line)
            return
        if templated(target):
            self.templated_include(item, short, target, folders, ctx, line)
            return
        candidates = list(dict.fromkeys(_norm(folder / target) for folder in folders))
        path = next((c for c in candidates if self.files.is_file(c)), None)
        may_not_run = ctx.section == "handlers" or bool(ctx.when) or bool(conditions(item.get("when")))
        if path is None and short == "include_tasks" and may_not_run:  # dynamic: it fails only if it runs
            self.note(f"{ctx.file}:{line}: include_tasks file {target!r} not found (looked for "
                      f"{', '.join(map(str, candidates))}); it fails only if it runs (a handler or a when:): "
                      "not analysed")
            return
        if path is None:
            self.error(
                f"{ctx.file}:{line}: {short} file {target!r} not found (looked for {', '.join(map(str, candidates))})",
                hint="Fix the path: it is relative to the including file's directory"
                + (" or the role's tasks/" if ctx.role_dir is not None else "")
                + ", or to the playbook's directory.",
            )
            return
        if short == "include_tasks" and self.files.real(path) in self.file_stack:  # a dynamic include may recurse
            self.note(f"{ctx.file}:{line}: include_tasks {target!r} includes a file already being walked (a "
                      "recursion that a when: ends); its tasks are listed once")
            return
        inner = self.inherit(ctx, item, short, ctx.file)
        loop_key = next((k for k in item if k == "loop" or str(k).startswith("with_")), None)
        if loop_key is not None:
            self.note(f"{ctx.file}:{line}: {short} {target!r} runs in a loop; its tasks are listed once")
            control = item.get("loop_control")
            loop_var = control.get("loop_var", "item") if isinstance(control, dict) else "item"
            inner = replace(inner, loops=(*ctx.loops, (str(loop_var), item[loop_key])))
        self.task_file(path, replace(inner, file=path), f"tasks of {target}", ctx.file, line)

    def included_vars(self, short: str, args: Mapping[str, Any], ctx: _Ctx) -> Mapping[str, Any] | None:
        """What ``include_vars`` of one literal file sets (its top-level mapping), found where the action
        looks: ``vars/<file>`` then ``<file>`` under the role, then the task file's folder, then the play's.
        None for any other task, a templated or missing file, a folder (``dir:``) or a file that is not a
        mapping."""
        if short != "include_vars" or args.get("dir") is not None or args.get("name") is not None:
            return None
        target = args.get("file", args.get("_raw_params"))
        if not isinstance(target, str) or not target.strip() or templated(target):
            return None
        bases = [b for b in (ctx.role_dir, ctx.file.parent, ctx.play_dir) if b is not None]
        for candidate in dict.fromkeys(_norm(b / sub / target.strip()) for b in bases for sub in ("vars", "")):
            if self.files.is_file(candidate):
                loaded = self.vars_file(candidate)
                return {str(k): v for k, v in loaded.items()} if isinstance(loaded, dict) else None
        return None

    def fileglob_files(self, item: Mapping[str, Any], target: str, ctx: _Ctx) -> list[Path] | None:
        """The files of ``include_tasks: "{{ x }}"`` looped ``with_fileglob`` over literal patterns, where
        ansible-core's fileglob finds them: in the first of ``files/<dir>`` and ``<dir>`` under the role and
        then the task file's folder (the play's folder outside a role) that exists; sorted by name (the
        lookup's own order is the file system's). None for any other include."""
        patterns = item.get("with_fileglob")
        control = item.get("loop_control")
        loop_var = control.get("loop_var", "item") if isinstance(control, dict) else "item"
        if not re.fullmatch(r"\{\{-?\s*" + re.escape(str(loop_var)) + r"\s*-?\}\}", target.strip()):
            return None
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(patterns, list) or not patterns or any(
                not isinstance(p, str) or templated(p) for p in patterns):
            return None
        bases = [ctx.role_dir, ctx.file.parent] if ctx.role_dir is not None else [ctx.play_dir, ctx.file.parent]
        found: list[Path] = []
        for pattern in patterns:
            folder, name = os.path.split(pattern)
            places = [_norm(b / sub / folder) for b in bases for sub in ("files", "")] if not os.path.isabs(pattern) \
                else [Path(folder)]
            place = next((p for p in places if self.files.is_dir(p)), None)
            if place is not None:
                found += sorted(p for p in place.glob(name) if self.files.is_file(p) and p not in found)
        return found

    def templated_include(self, item: Mapping[str, Any], short: str, target: str, folders: Sequence[Path],
                          ctx: _Ctx, line: int) -> None:
        """An include whose file name is a template: each file the template can name, where Ansible would look,
        is one option of the run (a choice the lint plays every way). ``{{ x }}`` alone names anything: a note."""
        pattern = _TEMPLATE.sub("*", target)
        if not pattern.strip("*/. ") or set(Path(pattern).name) <= {"*", "."}:
            self.note(f"{ctx.file}:{line}: {short} {target!r} is templated and cannot be followed statically: "
                      "not analysed")
            return
        found: dict[Path, Path] = {}
        for folder in folders:
            for path in sorted(folder.glob(pattern)) if self.files.is_dir(folder) else []:
                if path.suffix in (".yml", ".yaml") and self.files.is_file(path):
                    real = self.files.real(path)
                    if real not in self.file_stack:
                        found.setdefault(real, path)
            if found:
                break  # the first folder where the name resolves is where Ansible finds it
        if not found:
            self.note(f"{ctx.file}:{line}: {short} {target!r} is templated and names no file here "
                      f"(looked for {pattern} in {', '.join(map(str, dict.fromkeys(folders)))}): not analysed")
            return
        options = sorted(found.values())
        self.note(f"{ctx.file}:{line}: {short} {target!r} is templated: followed to each of the {len(options)} "
                  f"file(s) it can name ({', '.join(p.name for p in options)})")
        inner = self.inherit(ctx, item, short, ctx.file)
        loop_key = next((k for k in item if k == "loop" or str(k).startswith("with_")), None)
        if loop_key is not None:
            control = item.get("loop_control")
            loop_var = control.get("loop_var", "item") if isinstance(control, dict) else "item"
            inner = replace(inner, loops=(*ctx.loops, (str(loop_var), item[loop_key])))
        self.block_count += 1
        choice = self.block_count
        for index, path in enumerate(options):
            frame = BlockFrame(choice, ctx.file, line, f"option {index}", False)
            option_ctx = replace(inner, file=path, blocks=(*inner.blocks, frame))
            self.task_file(path, option_ctx, f"tasks of {path.name} (one file {target!r} can name)", ctx.file, line)

    @staticmethod
    def known_paths(target: str, ctx: _Ctx) -> str:
        """``target`` with ``{{ role_path }}`` and ``{{ playbook_dir }}`` put in: both are known statically."""
        known = {"role_path": ctx.role_dir, "playbook_dir": ctx.play_dir}
        for name, value in known.items():
            if value is not None:
                target = re.sub(r"\{\{-?\s*" + name + r"\s*-?\}\}", str(value), target)
        return target

    def include_role(self, item: Mapping[str, Any], short: str, args: Mapping[str, Any], ctx: _Ctx, line: int) -> None:
        name = args.get("name", args.get("role", args.get("_raw_params")))
        if not isinstance(name, str) or not name.strip():
            self.error(
                f"{ctx.file}:{line}: {short} needs a role name, got {name!r}",
                hint=f"Write '{short}: {{name: my_role}}'.",
            )
            return
        tasks_from = args.get("tasks_from", "main")
        inner = self.inherit(ctx, item, short, ctx.file)
        handed = {"vars": item.get("vars"),
                  **{k: v for k, v in args.items() if k not in ("name", "role", "_raw_params")}}
        self.role(name.strip(), inner, ctx.file, line, dedup_key=None, tasks_from=str(tasks_from), handed=handed)
