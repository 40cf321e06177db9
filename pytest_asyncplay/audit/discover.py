"""Discovery: find what Ansible would play under some paths, and list its tasks with file:line.

PyYAML only (no Ansible import), nothing is run. Under each path it finds:

1. playbooks (a YAML list holding at least one play), wherever they are: ``roles/*/tests/*.yml``
   and ``molecule/*/converge.yml`` are playbooks too;
2. roles (a folder with ``tasks/main.yml``) that no playbook reaches, each walked as
   ``hosts: all`` + ``roles: [that role]`` would play it;
3. task files with a fire-and-forget task that nothing reaches statically (only a templated
   include could), walked on their own, inside their role when they sit in one.

A broken playbook never raises: its :class:`Playbook` carries a :class:`PlaybookSyntaxError` in
``error`` and every task found before and around the problem. The walk itself is in
:mod:`~pytest_asyncplay.audit.walker`; the task model in :mod:`~pytest_asyncplay.audit.model`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pytest_asyncplay.audit.model import SECTIONS, AsyncTask, BlockFrame, Playbook, Task, display_path
from pytest_asyncplay.audit.taskargs import short_action
from pytest_asyncplay.audit.walker import Walker, is_play
from pytest_asyncplay.audit.yamlfile import Files, StrPath, load_yaml
from pytest_asyncplay.errors import PlaybookNotFoundError, PlaybookSyntaxError

__all__ = [
    "SECTIONS",
    "AsyncTask",
    "BlockFrame",
    "Playbook",
    "StrPath",
    "Task",
    "discover",
    "display_path",
    "is_playbook",
    "is_playbook_candidate",
    "load_yaml",
    "short_action",
]

_YAML_SUFFIXES = (".yml", ".yaml")
#: Folders never walked for playbooks: variables, caches, virtualenvs, vendored collections.
_SKIP_DIRS = frozenset({"group_vars", "host_vars", "__pycache__", "node_modules", "venv", "site-packages"})
_PLAYBOOK_TEXT = re.compile(r"^(?:-\s+|\s+)(?:hosts|(?:ansible\.builtin\.)?import_playbook)\s*:", re.MULTILINE)


def is_playbook(path: StrPath) -> bool:
    """Whether ``path`` is a YAML playbook: a non-empty list holding at least one play.

    A play is a mapping with ``hosts`` or ``import_playbook`` (also ``ansible.builtin.``). Task
    files, role files and vars files are not playbooks; nor is a file that does not parse.
    """
    try:
        data = load_yaml(path)
    except PlaybookSyntaxError:
        return False
    return isinstance(data, list) and any(is_play(entry) for entry in data)


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


def _candidate(path: Path, files: Files) -> bool:
    data = files.data(path)
    if isinstance(data, PlaybookSyntaxError):
        return _looks_like_playbook(path)
    return isinstance(data, list) and any(is_play(entry) for entry in data)


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in _SKIP_DIRS


def is_playbook_candidate(path: StrPath, root: StrPath | None = None) -> bool:
    """Whether ``discover(root)`` collects ``path`` as a playbook.

    True for a ``.yml``/``.yaml`` playbook, or a file that does not parse but reads like one;
    False under a hidden, ``group_vars`` or ``host_vars`` directory below ``root``, and for task,
    role and vars files.
    """
    path = Path(path)
    if not path.name.endswith(_YAML_SUFFIXES) or path.name.startswith(".") or not path.is_file():
        return False
    if root is not None:
        try:
            dirs = path.resolve().relative_to(Path(root).resolve()).parts[:-1]
        except ValueError:
            return False
        if any(_skipped(d) for d in dirs):
            return False
    return _candidate(path, Files())


def _walk_dir(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for filename in sorted(filenames):
            if filename.endswith(_YAML_SUFFIXES) and not filename.startswith("."):
                yield Path(dirpath) / filename


def _as_paths(paths: StrPath | Iterable[StrPath]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _has_launch(data: Any) -> bool:
    """Whether loaded task data holds a task with ``async:`` and ``poll:`` not literally > 0 (cheap scan)."""
    if isinstance(data, list):
        return any(_has_launch(item) for item in data)
    if not isinstance(data, dict):
        return False
    if data.get("async") not in (None, 0, "0") and "poll" in data and data.get("poll") not in range(1, 10**6):
        return True
    return any(_has_launch(data.get(part)) for part in ("block", "rescue", "always"))


def _role_of_tasks_file(path: Path) -> Path | None:
    """The role folder when ``path`` is ``<role>/tasks/<...>.yml`` of something that is a role: it has a
    ``tasks/main.yml``, or sits in a ``roles/`` folder, or has role metadata (a role may have no ``main.yml``
    when it is only ever used with ``tasks_from``)."""
    for parent in path.parents:
        if parent.name == "tasks":
            role = parent.parent
            meta = any((role / "meta" / name).is_file() for name in ("main.yml", "main.yaml", "argument_specs.yml"))
            return role if with_main(role) or role.parent.name == "roles" or meta else None
    return None


def tasks_from(path: Path, role: Path) -> str:
    """The ``tasks_from`` that names the task file ``path`` of ``role`` (``setup/aws`` for ``tasks/setup/aws.yml``)."""
    return os.path.splitext(os.path.relpath(path, role / "tasks"))[0]


def with_main(role: Path) -> bool:
    """Whether ``role`` looks like a role: it has ``tasks/main.yml`` (or ``.yaml``)."""
    return (role / "tasks" / "main.yml").is_file() or (role / "tasks" / "main.yaml").is_file()


def _keep_real(seen: dict[Path, Path], resolved: Path, path: Path) -> None:
    """Remember ``path`` for ``resolved`` once; a file's own name wins over a symlink's to it."""
    if resolved not in seen or (seen[resolved].is_symlink() and not path.is_symlink()):
        seen[resolved] = path


def discover(paths: StrPath | Iterable[StrPath], roles_path: StrPath | Iterable[StrPath] = ()) -> list[Playbook]:
    """Find the playbooks, unreached roles and unreached task files under ``paths``, sorted by path.

    Directories are walked, skipping hidden directories, ``group_vars`` and ``host_vars``; a YAML
    file there is a playbook when :func:`is_playbook` says so, or when it does not parse but reads
    like one (then it comes back with ``error`` set). A file named explicitly is always treated as a
    playbook. ``roles_path`` lists extra directories holding roles, searched after ``roles/``
    beside each playbook and before the configured ``roles_path``.

    Raises :class:`PlaybookNotFoundError` only for a path that does not exist.
    """
    extra_roles = _as_paths(roles_path)
    files_read = Files()
    found: dict[Path, Path] = {}
    task_files: dict[Path, Path] = {}
    for root in _as_paths(paths):
        if not root.exists():
            raise PlaybookNotFoundError(
                f"{root}: no such file or directory",
                hint="Pass an existing playbook or a directory holding playbooks.",
            )
        if root.is_file():
            data = files_read.data(root)
            is_tasks = isinstance(data, list) and data and not any(is_play(e) for e in data)
            (task_files if is_tasks else found).setdefault(root.resolve(), root)  # a task file named explicitly
            continue
        for path in _walk_dir(root):
            resolved = files_read.real(path)
            _keep_real(task_files, resolved, path)
            if _candidate(path, files_read):
                _keep_real(found, resolved, path)
    playbooks = [Walker(path, extra_roles, files_read).run() for path in found.values()]
    # a broken playbook does not count as reaching its roles: they are still analysed on their own
    reached: set[Path] = set().union(*(pb.reached for pb in playbooks if pb.error is None))
    for resolved, path in task_files.items():  # roles no playbook reaches
        if path.stem == "main" and path.parent.name == "tasks" and resolved not in found:
            role = path.parent.parent
            if resolved not in reached:  # a role reached only through another file's tasks_from: its main runs too
                walked = Walker(path, extra_roles, files_read, play={"hosts": "all", "roles": [str(role.resolve())]},
                                kind="role", role_dir=role).run()
                playbooks.append(walked)
                reached |= walked.reached
    for resolved, path in task_files.items():  # task files nothing reaches statically
        if resolved in reached or resolved in found or not _has_launch(files_read.data(path)):
            continue
        owner = _role_of_tasks_file(path)
        if owner is not None:  # an entry point of the role (include_role's tasks_from), as its users call it
            entry: dict[str, Any] = {"include_role": {"name": str(owner.resolve()),
                                                      "tasks_from": tasks_from(path, owner)}}
        else:
            entry = {"import_tasks": str(path.resolve())}
        walked = Walker(path, extra_roles, files_read, play={"hosts": "all", "tasks": [entry]},
                        kind="tasks" if owner is None else "role-tasks", role_dir=owner).run()
        playbooks.append(walked)
        reached |= walked.reached
    return sorted(playbooks, key=lambda pb: pb.path)
