"""Discovery: read playbooks statically and list their tasks, with file:line, in execution order.

Uses PyYAML only (no Ansible import) and follows what can be followed without running anything:
a play's ``pre_tasks``, ``roles``, ``tasks``, ``post_tasks`` and ``handlers``; nested
``block``/``rescue``/``always``; roles from ``roles/`` beside the playbook and from ``roles_path``
(``tasks/main.yml``, ``handlers/main.yml``, ``meta/main.yml`` dependencies); ``import_tasks`` /
``include_tasks``, ``import_role`` / ``include_role`` and ``import_playbook`` with static names.
A name with ``{{ ... }}`` in it cannot be followed: it becomes a note, not an error.

A broken playbook never raises: its :class:`Playbook` carries a :class:`PlaybookSyntaxError` in
``error`` and every task found before and around the problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

import yaml

from pytest_asyncplay.errors import PlaybookNotFoundError, PlaybookSyntaxError

__all__ = [
    "AsyncTask",
    "BlockFrame",
    "Playbook",
    "Task",
    "discover",
    "display_path",
    "is_playbook",
    "is_playbook_candidate",
    "load_yaml",
    "short_action",
]

StrPath = Union[str, "os.PathLike[str]"]

#: Where a task can sit. ``roles`` is a task of a role listed under a play's ``roles:``.
SECTIONS = ("pre_tasks", "roles", "tasks", "post_tasks", "handlers", "block", "rescue", "always")

_YAML_SUFFIXES = (".yml", ".yaml")
_SKIP_DIRS = frozenset({"roles", "group_vars", "host_vars", "__pycache__", "node_modules"})
_BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")
_INCLUDE_TASKS = frozenset({"import_tasks", "include_tasks", "include"})
_INCLUDE_ROLE = frozenset({"import_role", "include_role"})
_IMPORT_PLAYBOOK = "import_playbook"
_FREE_FORM = frozenset({"command", "shell", "raw", "script", "win_command", "win_shell"})
_TASK_KEYWORDS = frozenset(
    {
        "action", "any_errors_fatal", "args", "async", "become", "become_exe", "become_flags",
        "become_method", "become_user", "changed_when", "check_mode", "collections", "connection",
        "debugger", "delay", "delegate_facts", "delegate_to", "diff", "environment", "failed_when",
        "ignore_errors", "ignore_unreachable", "listen", "local_action", "loop", "loop_control",
        "module_defaults", "name", "no_log", "notify", "poll", "port", "register", "remote_user",
        "retries", "run_once", "tags", "throttle", "timeout", "until", "vars", "when",
    }
)  # fmt: skip
_PLAYBOOK_TEXT = re.compile(r"^(?:-\s+|\s+)(?:hosts|(?:ansible\.builtin\.)?import_playbook)\s*:", re.MULTILINE)
_KV_KEY = re.compile(r"^[A-Za-z_]\w*$")


def short_action(action: str) -> str:
    """The module name without an ``ansible.builtin.`` / ``ansible.legacy.`` prefix."""
    for prefix in _BUILTIN_PREFIXES:
        if action.startswith(prefix):
            return action[len(prefix) :]
    return action


def _templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


# --------------------------------------------------------------------------------------------------
# YAML with line numbers


class _LineMapping(dict[Any, Any]):
    """A YAML mapping that remembers the 1-based line it starts on."""

    line: int = 0


class _LineList(list[Any]):
    """A YAML sequence that remembers the 1-based line it starts on."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader that records the start line of every mapping and sequence.

    Ansible's ``!unsafe`` and ``!vault`` tags load as plain strings.
    """


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[_LineMapping]:
    data = _LineMapping()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[_LineList]:
    data = _LineList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))


def _construct_tagged_string(loader: _Loader, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    return ""


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("!unsafe", _construct_tagged_string)
_Loader.add_constructor("!vault", _construct_tagged_string)


def load_yaml(path: StrPath) -> Any:
    """Load one YAML file; mappings and lists carry a ``.line`` (1-based start line).

    Raises :class:`PlaybookSyntaxError` naming ``file:line`` when the file cannot be read or parsed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookSyntaxError(
            f"{path}: cannot be read: {exc}", hint="Check that the file exists and is UTF-8 text."
        ) from exc
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise PlaybookSyntaxError(
            f"{where}: invalid YAML: {problem}",
            hint="Fix the YAML at that line (indentation, a ':' inside an unquoted string, or a "
            "value starting with '{{' that needs quotes); `ansible-playbook --syntax-check` "
            "points at the same spot.",
        ) from exc
    except yaml.YAMLError as exc:
        raise PlaybookSyntaxError(f"{path}: invalid YAML: {exc}", hint="Fix the YAML syntax of the file.") from exc


def _line(node: object) -> int:
    return int(getattr(node, "line", 0))


def _is_play(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    return "hosts" in entry or any(short_action(str(k)) == _IMPORT_PLAYBOOK for k in entry)


def is_playbook(path: StrPath) -> bool:
    """Whether ``path`` is a YAML playbook: a non-empty list holding at least one play.

    A play is a mapping with ``hosts`` or ``import_playbook`` (also ``ansible.builtin.``). Task
    files, role files and vars files are not playbooks; nor is a file that does not parse.
    """
    try:
        data = load_yaml(path)
    except PlaybookSyntaxError:
        return False
    return isinstance(data, list) and any(_is_play(entry) for entry in data)


# --------------------------------------------------------------------------------------------------
# The data discovery produces


@dataclass(frozen=True)
class BlockFrame:
    """One enclosing ``block`` of a task: which part of it (``block``/``rescue``/``always``) holds it.

    ``block_id`` is the same for the three parts of one block, unique within a playbook run.
    """

    block_id: int
    file: Path
    line: int
    part: str
    has_rescue: bool


@dataclass(frozen=True)
class Task:
    """One task of a playbook run, in execution order, with the context the lint needs.

    ``when`` holds the task's own conditions and every inherited one (blocks, includes, roles,
    ``import_playbook``); literal ``true`` is dropped. ``ignore_errors`` is the effective value
    (the task's own, else the nearest enclosing block/include/role/play's) and
    ``ignore_errors_origin`` says where it was set: ``(kind, file, line)``.
    ``keywords`` is the task mapping as written; ``args`` the module arguments.
    """

    playbook: Path
    name: str
    file: Path
    line: int
    action: str
    section: str
    play_index: int
    role: str | None = None
    order: int = 0
    async_timeout: int | str | None = None
    poll: int | str | None = None
    register: str | None = None
    loop: bool = False
    loop_var: str = "item"
    named: bool = True
    when: tuple[str, ...] = ()
    ignore_errors: Any = field(default=None, compare=False)
    ignore_errors_origin: tuple[str, Path, int] | None = None
    blocks: tuple[BlockFrame, ...] = ()
    notify: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()
    occurrence: int = 1
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    keywords: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_action(self) -> str:
        """The module name without an ``ansible.builtin.``/``ansible.legacy.`` prefix."""
        return short_action(self.action)

    @property
    def is_fire_and_forget(self) -> bool:
        """``async`` > 0 (literal or templated) and ``poll`` is literally 0."""
        return _is_fire_and_forget(self.async_timeout, self.poll)

    @property
    def node_name(self) -> str:
        """A stable name for a pytest item: the task name (``#2``... for a repeated name)."""
        return self.name if self.occurrence == 1 else f"{self.name} #{self.occurrence}"

    def where(self, base: Path | None = None) -> str:
        """``file:line`` of the task, the file relative to ``base`` (default: the playbook's dir)."""
        return f"{display_path(self.file, self.playbook.parent if base is None else base)}:{self.line}"


@dataclass(frozen=True)
class AsyncTask(Task):
    """A fire-and-forget task: ``async: N`` (N > 0, or templated) with ``poll: 0``."""


@dataclass(frozen=True)
class Playbook:
    """What discovery found in one playbook (imported playbooks included).

    ``tasks`` are the fire-and-forget tasks; ``all_tasks`` every task in execution order (handlers
    at the end of their play); ``notes`` what could not be followed statically. ``error`` is set
    when the playbook (or a file it pulls in) is broken; the tasks found anyway are still listed.
    """

    path: Path
    tasks: tuple[AsyncTask, ...] = ()
    error: PlaybookSyntaxError | None = None
    all_tasks: tuple[Task, ...] = ()
    notes: tuple[str, ...] = ()


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when possible (``roles/x/tasks/main.yml``), else as is."""
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)


def _int_or_raw(value: object) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _is_fire_and_forget(async_timeout: int | str | None, poll: int | str | None) -> bool:
    if poll != 0:
        return False
    if isinstance(async_timeout, int):
        return async_timeout > 0
    return _templated(async_timeout)


def _conditions(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if item is None or item is True:
            continue
        if isinstance(item, str) and item.strip().strip("{} ").lower() in ("true", ""):
            continue
        out.append(str(item))
    return tuple(out)


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _split_args(text: str) -> list[str]:
    """Split ``k=v`` style arguments on whitespace outside quotes and ``{{ }}`` / ``{% %}``."""
    tokens: list[str] = []
    buf: list[str] = []
    quote = ""
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        pair = text[i : i + 2]
        if quote:
            buf.append(char)
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif pair in ("{{", "{%", "{#"):
            depth += 1
            buf.append(pair)
            i += 2
            continue
        elif pair in ("}}", "%}", "#}") and depth:
            depth -= 1
            buf.append(pair)
            i += 2
            continue
        elif char in "'\"":
            quote = char
            buf.append(char)
        elif char.isspace() and depth == 0:
            if buf:
                tokens.append("".join(buf))
                buf = []
        else:
            buf.append(char)
        i += 1
    if buf:
        tokens.append("".join(buf))
    return tokens


def _parse_args(module: str, text: str) -> dict[str, Any]:
    if short_action(module) in _FREE_FORM:
        return {"_raw_params": text}
    args: dict[str, Any] = {}
    rest: list[str] = []
    for token in _split_args(text):
        key, sep, value = token.partition("=")
        if sep and _KV_KEY.match(key):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            args[key] = value
        else:
            rest.append(token)
    if rest:
        args["_raw_params"] = " ".join(rest)
    return args


def _action_of(item: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The module key of a task mapping and its arguments as a dict."""
    module: str | None = None
    args: dict[str, Any] = {}
    if "action" in item or "local_action" in item:
        value = item.get("action", item.get("local_action"))
        if isinstance(value, dict):
            args = dict(value)
            raw = args.pop("module", None)
            module = str(raw) if raw is not None else None
        elif isinstance(value, str) and value.strip():
            module, _, rest = value.strip().partition(" ")
            args = _parse_args(module, rest.strip())
    else:
        for key, value in item.items():
            key = str(key)
            if key in _TASK_KEYWORDS or key.startswith("with_") or key in ("block", "rescue", "always"):
                continue
            module = key
            if isinstance(value, dict):
                args = dict(value)
            elif value is not None:
                args = _parse_args(key, str(value))
            break
    extra = item.get("args")
    if isinstance(extra, dict):
        args.update(extra)
    return module, args


# --------------------------------------------------------------------------------------------------
# The walk through one playbook run


@dataclass(frozen=True)
class _Ctx:
    """Where the walk is: the file, section, play, role, enclosing blocks and inherited keywords."""

    file: Path
    section: str
    play_index: int
    play_dir: Path
    role: str | None = None
    role_dir: Path | None = None
    blocks: tuple[BlockFrame, ...] = ()
    when: tuple[str, ...] = ()
    ignore_errors: Any = None
    ignore_errors_origin: tuple[str, Path, int] | None = None


def _norm(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _with_yaml_suffix(base: Path) -> Path | None:
    for candidate in (base.with_name(base.name + ".yml"), base.with_name(base.name + ".yaml"), base):
        if candidate.is_file():
            return candidate
    return None


class _Walker:
    """Walks one playbook run (imports included) and collects its tasks, errors and notes."""

    def __init__(self, path: Path, roles_path: Sequence[Path], cache: dict[Path, Any]) -> None:
        self.path = path
        self.roles_path = roles_path
        self.cache = cache
        self.tasks: list[Task] = []
        self.errors: list[PlaybookSyntaxError] = []
        self.notes: list[str] = []
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
        key = path.resolve()
        if key not in self.cache:
            try:
                self.cache[key] = load_yaml(path)
            except PlaybookSyntaxError as exc:
                self.cache[key] = exc
        data = self.cache[key]
        if isinstance(data, PlaybookSyntaxError):
            raise data
        return data

    def inherit(self, ctx: _Ctx, item: Mapping[str, Any], kind: str, file: Path) -> _Ctx:
        """``ctx`` narrowed by the ``when`` and ``ignore_errors`` of a block/include/role/play."""
        when = ctx.when + _conditions(item.get("when"))
        if "ignore_errors" in item:
            return replace(
                ctx,
                when=when,
                ignore_errors=item["ignore_errors"],
                ignore_errors_origin=(kind, file, _line(item)),
            )
        return replace(ctx, when=when)

    def as_list(self, value: Any, what: str, file: Path, line: int) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.error(
            f"{file}:{_line(value) or line}: {what} must be a list, got {type(value).__name__}",
            hint="Write it as a YAML list: each entry on its own line starting with '- '.",
        )
        return []

    # -- playbooks and plays ---------------------------------------------------------------------

    def run(self) -> Playbook:
        try:
            data = self.load(self.path)
        except PlaybookSyntaxError as exc:
            return Playbook(self.path, (), exc)
        if not isinstance(data, list) or not any(_is_play(entry) for entry in data):
            kind = "empty" if not data else f"a {type(data).__name__}"
            return Playbook(
                self.path,
                (),
                PlaybookSyntaxError(
                    f"{self.path}:{_line(data) or 1}: not a playbook: its top level is {kind}, "
                    "not a list of plays with 'hosts:' or 'import_playbook:'",
                    hint="Pass a playbook, not a task, role or vars file; task files are audited "
                    "through the playbook that includes them.",
                ),
            )
        self.file_stack.append(self.path.resolve())
        self.playbook_entries(data, self.path, ())
        return self.build()

    def build(self) -> Playbook:
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
            notes=tuple(self.notes),
        )

    def playbook_entries(self, data: list[Any], file: Path, when: tuple[str, ...]) -> None:
        for entry in data:
            if not isinstance(entry, dict):
                self.error(
                    f"{file}:{_line(data)}: a playbook entry is {type(entry).__name__} {entry!r}, not a play",
                    hint="Every entry of a playbook is a mapping with 'hosts:' (a play) or 'import_playbook:'.",
                )
                continue
            key = next((k for k in entry if short_action(str(k)) == _IMPORT_PLAYBOOK), None)
            if key is not None:
                self.import_playbook(entry, key, file, when)
            elif "hosts" in entry:
                self.play(entry, file, when + _conditions(entry.get("when")))
            else:
                self.error(
                    f"{file}:{_line(entry)}: play has no 'hosts:' (keys: {', '.join(map(str, entry))})",
                    hint="Add 'hosts: all' (or a pattern) to the play, or fix its indentation.",
                )

    def import_playbook(self, entry: Mapping[str, Any], key: str, file: Path, when: tuple[str, ...]) -> None:
        target = entry[key]
        if isinstance(target, dict):
            target = target.get("file", target.get("_raw_params"))
        line = _line(entry)
        if not isinstance(target, str) or not target.strip():
            self.error(
                f"{file}:{line}: import_playbook needs a file name, got {target!r}",
                hint="Write 'import_playbook: other.yml'.",
            )
            return
        if _templated(target):
            self.note(f"{file}:{line}: import_playbook {target!r} is templated and cannot be followed")
            return
        path = _norm(file.parent / target.strip())
        if not path.is_file():
            self.error(
                f"{file}:{line}: import_playbook file {target!r} not found (looked for {path})",
                hint="Fix the path: it is relative to the directory of the importing playbook.",
            )
            return
        resolved = path.resolve()
        if resolved in self.file_stack:
            self.error(
                f"{file}:{line}: import_playbook {target!r} imports itself (a cycle)",
                hint="Remove the import that leads back to a playbook already being imported.",
            )
            return
        try:
            data = self.load(path)
        except PlaybookSyntaxError as exc:
            self.errors.append(exc)
            return
        if not isinstance(data, list):
            self.error(
                f"{path}:{_line(data) or 1}: imported by {file}:{line} but not a playbook",
                hint="import_playbook takes a playbook (a list of plays); use import_tasks for tasks.",
            )
            return
        self.file_stack.append(resolved)
        self.playbook_entries(data, path, when + _conditions(entry.get("when")))
        self.file_stack.pop()

    def play(self, play: Mapping[str, Any], file: Path, when: tuple[str, ...]) -> None:
        index = self.play_count
        self.play_count += 1
        self.play_roles_run = set()
        self.handler_roles = []
        base = _Ctx(file=file, section="tasks", play_index=index, play_dir=file.parent, when=when)
        base = self.inherit(base, play, "play", file)
        line = _line(play)
        self.tasks_list(play.get("pre_tasks"), replace(base, section="pre_tasks"), "pre_tasks", line)
        roles_ctx = replace(base, section="roles")
        for entry in self.as_list(play.get("roles"), "roles", file, line):
            self.role_entry(entry, roles_ctx, file, _line(entry) or _line(play.get("roles")) or line)
        self.tasks_list(play.get("tasks"), replace(base, section="tasks"), "tasks", line)
        self.tasks_list(play.get("post_tasks"), replace(base, section="post_tasks"), "post_tasks", line)
        handlers_ctx = replace(base, section="handlers")
        for name, role_dir, role_ctx in list(self.handler_roles):
            handlers = _with_yaml_suffix(role_dir / "handlers" / "main")
            if handlers is not None:
                ctx = replace(role_ctx, section="handlers", blocks=(), file=handlers)
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
        self.role(name, self.inherit(ctx, entry, "role entry", file), file, line, dedup_key=repr(params))

    def find_role(self, name: str, ctx: _Ctx) -> tuple[Path | None, list[Path]]:
        if "/" in name or name.startswith("."):
            candidates = [ctx.play_dir / name]
        else:
            candidates = [ctx.play_dir / "roles" / name]
            candidates += [Path(p) / name for p in self.roles_path]
            if ctx.role_dir is not None:
                candidates.append(ctx.role_dir.parent / name)
            candidates.append(ctx.play_dir / name)
        candidates = [_norm(c) for c in candidates]
        for candidate in candidates:
            if candidate.is_dir():
                return candidate, candidates
        return None, candidates

    def role(
        self,
        name: str,
        ctx: _Ctx,
        file: Path,
        line: int,
        dedup_key: str | None,
        tasks_from: str = "main",
    ) -> None:
        """Walk a role: its dependencies, then ``tasks/<tasks_from>``; queue its handlers.

        ``dedup_key`` (None: never dedup) makes a role with the same parameters run once per play,
        as Ansible does for ``roles:`` and dependencies.
        """
        if _templated(name) or _templated(tasks_from):
            self.note(f"{file}:{line}: role {name!r} is templated and cannot be followed statically")
            return
        role_dir, searched = self.find_role(name, ctx)
        if role_dir is None:
            if re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", name):
                self.note(f"{file}:{line}: collection role {name!r} is not followed")
                return
            self.error(
                f"{file}:{line}: role {name!r} not found (searched {', '.join(map(str, searched))})",
                hint=f"Create roles/{name}/tasks/main.yml beside the playbook, fix the role name, "
                "or pass the directory holding the role in roles_path.",
            )
            return
        resolved = role_dir.resolve()
        if resolved in self.role_stack:
            self.error(
                f"{file}:{line}: role {name!r} depends on itself (a cycle)",
                hint="Remove the dependency or include that leads back to the role.",
            )
            return
        if dedup_key is not None:
            if (resolved, dedup_key) in self.play_roles_run:
                return
            self.play_roles_run.add((resolved, dedup_key))
        self.role_stack.append(resolved)
        role_ctx = replace(ctx, role=Path(name).name, role_dir=role_dir)
        self.role_dependencies(role_dir, role_ctx)
        tasks = _with_yaml_suffix(role_dir / "tasks" / tasks_from)
        if tasks is not None:
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

    def role_dependencies(self, role_dir: Path, ctx: _Ctx) -> None:
        meta = _with_yaml_suffix(role_dir / "meta" / "main")
        if meta is None:
            return
        try:
            data = self.load(meta)
        except PlaybookSyntaxError as exc:
            self.errors.append(exc)
            return
        if not isinstance(data, dict):
            return
        for dep in self.as_list(data.get("dependencies"), "dependencies", meta, _line(data)):
            line = _line(dep) or _line(data.get("dependencies"))
            if isinstance(dep, dict):
                dep_name = dep.get("role", dep.get("name"))
                if isinstance(dep_name, str):
                    params = {k: v for k, v in dep.items() if k not in ("role", "name")}
                    dep_ctx = self.inherit(ctx, dep, "role dependency", meta)
                    self.role(dep_name, dep_ctx, meta, line, dedup_key=repr(params))
                    continue
            elif isinstance(dep, str):
                self.role(dep, ctx, meta, line, dedup_key=repr({}))
                continue
            self.error(
                f"{meta}:{line}: a dependency must be a role name or a mapping with 'role:', got {dep!r}",
                hint="Write '- other_role' or '- role: other_role' under dependencies.",
            )

    # -- task files, blocks and tasks ------------------------------------------------------------

    def task_file(self, path: Path, ctx: _Ctx, what: str, ref_file: Path, ref_line: int) -> None:
        resolved = path.resolve()
        if resolved in self.file_stack:
            self.error(
                f"{ref_file}:{ref_line}: {path} includes itself (a cycle)",
                hint="Remove the include that leads back to a file already being included.",
            )
            return
        try:
            data = self.load(path)
        except PlaybookSyntaxError as exc:
            self.errors.append(exc)
            return
        if data is None:
            return
        self.file_stack.append(resolved)
        self.tasks_list(data, replace(ctx, file=path), what, _line(data) or 1)
        self.file_stack.pop()

    def tasks_list(self, items: Any, ctx: _Ctx, what: str, line: int) -> None:
        for item in self.as_list(items, what, ctx.file, line):
            if not isinstance(item, dict):
                self.error(
                    f"{ctx.file}:{_line(items) or line}: an entry of {what} is "
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
        line = _line(item)
        rescue = item.get("rescue")
        has_rescue = isinstance(rescue, list) and bool(rescue)
        inner = self.inherit(ctx, item, "block", ctx.file)
        for part in ("block", "rescue", "always"):
            frame = BlockFrame(block_id, ctx.file, line, part, has_rescue)
            part_ctx = replace(inner, section=part, blocks=(*ctx.blocks, frame))
            self.tasks_list(item.get(part), part_ctx, part, line)

    def task(self, item: Mapping[str, Any], ctx: _Ctx) -> None:
        line = _line(item)
        action, args = _action_of(item)
        if action is None:
            keys = ", ".join(map(str, item)) or "none"
            self.error(
                f"{ctx.file}:{line}: task has no module (keys: {keys})",
                hint="Give the task a module such as 'ansible.builtin.shell:', or fix the "
                "indentation of its arguments.",
            )
            return
        short = short_action(action)
        if short in _INCLUDE_TASKS:
            self.include_tasks(item, short, args, ctx, line)
            return
        if short in _INCLUDE_ROLE:
            self.include_role(item, short, args, ctx, line)
            return
        if short == _IMPORT_PLAYBOOK:
            self.error(
                f"{ctx.file}:{line}: import_playbook inside a list of tasks",
                hint="import_playbook is only allowed at the top level of a playbook.",
            )
            return
        raw_name = item.get("name")
        named = raw_name is not None and str(raw_name).strip() != ""
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
        async_timeout = _int_or_raw(item.get("async"))
        poll = _int_or_raw(item.get("poll"))
        cls = AsyncTask if _is_fire_and_forget(async_timeout, poll) else Task
        if cls is Task and _templated(poll) and async_timeout not in (None, 0):
            self.note(
                f"{ctx.file}:{line}: poll {poll!r} is templated; the task is treated as keep-alive, not fire-and-forget"
            )
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
                when=ctx.when + _conditions(item.get("when")),
                ignore_errors=ignore_errors,
                ignore_errors_origin=origin,
                blocks=ctx.blocks,
                notify=_names(item.get("notify")),
                listen=_names(item.get("listen")),
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
        target = target.strip()
        if _templated(target):
            self.note(f"{ctx.file}:{line}: {short} {target!r} is templated and cannot be followed statically")
            return
        candidates = [ctx.file.parent / target]
        if ctx.role_dir is not None:
            candidates.append(ctx.role_dir / "tasks" / target)
        candidates.append(ctx.play_dir / target)
        candidates = list(dict.fromkeys(_norm(c) for c in candidates))
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            self.error(
                f"{ctx.file}:{line}: {short} file {target!r} not found (looked for {', '.join(map(str, candidates))})",
                hint="Fix the path: it is relative to the including file's directory"
                + (" or the role's tasks/" if ctx.role_dir is not None else "")
                + ", or to the playbook's directory.",
            )
            return
        if "loop" in item or any(str(k).startswith("with_") for k in item):
            self.note(f"{ctx.file}:{line}: {short} {target!r} runs in a loop; its tasks are listed once")
        inner = self.inherit(ctx, item, short, ctx.file)
        self.task_file(path, replace(inner, file=path), f"tasks of {target}", ctx.file, line)

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
        self.role(name.strip(), inner, ctx.file, line, dedup_key=None, tasks_from=str(tasks_from))


# --------------------------------------------------------------------------------------------------
# Walking the file system


def _looks_like_playbook(path: Path) -> bool:
    """For a file that does not parse: does its text look like a playbook (so its error matters)?"""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    first = next(
        (ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "---"))),
        "",
    )
    return first.startswith("-") and bool(_PLAYBOOK_TEXT.search(text))


def _candidate(path: Path, cache: dict[Path, Any]) -> bool:
    key = path.resolve()
    try:
        data = cache[key] = load_yaml(path)
    except PlaybookSyntaxError as exc:
        cache[key] = exc
        return _looks_like_playbook(path)
    return isinstance(data, list) and any(_is_play(entry) for entry in data)


def is_playbook_candidate(path: StrPath, root: StrPath | None = None) -> bool:
    """Whether ``discover(root)`` collects ``path`` (for per-file collection, as pytest does).

    True for a ``.yml``/``.yaml`` playbook, or a file that does not parse but reads like one;
    False under a hidden, ``roles``, ``group_vars`` or ``host_vars`` directory below ``root``,
    and for task, role and vars files.
    """
    path = Path(path)
    if not path.name.endswith(_YAML_SUFFIXES) or path.name.startswith(".") or not path.is_file():
        return False
    if root is not None:
        try:
            dirs = path.resolve().relative_to(Path(root).resolve()).parts[:-1]
        except ValueError:
            return False
        if any(d.startswith(".") or d in _SKIP_DIRS for d in dirs):
            return False
    return _candidate(path, {})


def _walk_dir(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for filename in sorted(filenames):
            if filename.endswith(_YAML_SUFFIXES) and not filename.startswith("."):
                yield Path(dirpath) / filename


def _as_paths(paths: StrPath | Iterable[StrPath]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def discover(paths: StrPath | Iterable[StrPath], roles_path: StrPath | Iterable[StrPath] = ()) -> list[Playbook]:
    """Find the playbooks under ``paths`` (files or directories) and their tasks, sorted by path.

    Directories are walked, skipping hidden directories, ``roles``, ``group_vars`` and
    ``host_vars``; a YAML file there is a playbook when :func:`is_playbook` says so, or when it
    does not parse but reads like one (then it comes back with ``error`` set). A file named
    explicitly is always treated as a playbook. ``roles_path`` lists extra directories holding
    roles, searched after ``roles/`` beside each playbook.

    Raises :class:`PlaybookNotFoundError` only for a path that does not exist.
    """
    roles = _as_paths(roles_path)
    cache: dict[Path, Any] = {}
    found: dict[Path, Path] = {}
    for root in _as_paths(paths):
        if not root.exists():
            raise PlaybookNotFoundError(
                f"{root}: no such file or directory",
                hint="Pass an existing playbook or a directory holding playbooks.",
            )
        if root.is_file():
            found.setdefault(root.resolve(), root)
            continue
        for path in _walk_dir(root):
            if _candidate(path, cache):
                found.setdefault(path.resolve(), path)
    playbooks = [_Walker(path, roles, cache).run() for path in found.values()]
    return sorted(playbooks, key=lambda pb: pb.path)
