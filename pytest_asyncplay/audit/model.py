"""What discovery produces: tasks in execution order with their context, and playbooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_asyncplay.audit.taskargs import short_action, templated
from pytest_asyncplay.errors import PlaybookSyntaxError

__all__ = ["SECTIONS", "AsyncTask", "BlockFrame", "Playbook", "Task", "display_path", "is_fire_and_forget"]

#: Where a task can sit. ``roles`` is a task of a role listed under a play's ``roles:``.
SECTIONS = ("pre_tasks", "roles", "tasks", "post_tasks", "handlers", "block", "rescue", "always")


def is_fire_and_forget(async_timeout: int | str | None, poll: int | str | None) -> bool:
    """``async`` > 0 (literal or templated) and ``poll`` literally 0."""
    if poll != 0:
        return False
    if isinstance(async_timeout, int):
        return async_timeout > 0
    return templated(async_timeout)



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
    ``keywords`` is the task mapping as written; ``args`` the module arguments. ``not_analysed``
    says why the lint cannot judge the task (e.g. a ``poll:`` template it cannot evaluate);
    ``variables`` what the repo defines around it (role defaults and vars, play vars...), every
    definition of a name kept, to evaluate simple templates; ``overridable`` the names of them defined only
    in role ``defaults/`` (the values a role is meant to be given others for); ``loaded`` what an
    ``include_vars`` of one literal file sets. ``outer_loops`` are the loops of the
    ``include_tasks`` that brought the task in: ``(loop variable, loop)``, outermost first. ``phase`` is
    the part of its play that holds it (``pre_tasks``, ``roles``, ``tasks``, ``post_tasks``, ``handlers``),
    also inside a block, where ``section`` names the block's part.
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
    not_analysed: str = ""
    phase: str = "tasks"
    outer_loops: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)
    variables: Mapping[str, tuple[Any, ...]] = field(default_factory=dict, compare=False, repr=False)
    overridable: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    loaded: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    keywords: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_action(self) -> str:
        """The module name without an ``ansible.builtin.``/``ansible.legacy.`` prefix."""
        return short_action(self.action)

    @property
    def is_fire_and_forget(self) -> bool:
        """``async`` > 0 (literal or templated) and ``poll`` is literally 0."""
        return is_fire_and_forget(self.async_timeout, self.poll)

    @property
    def node_name(self) -> str:
        """A stable name for a pytest item: the task name (``#2``... for a repeated name)."""
        return self.name if self.occurrence == 1 else f"{self.name} #{self.occurrence}"

    @property
    def location(self) -> str:
        """``file:line`` with the file as discovery saw it (absolute when discovery was given absolute paths)."""
        return f"{self.file}:{self.line}"

    def where(self, base: Path | None = None) -> str:
        """``file:line`` of the task, the file relative to ``base`` (default: the playbook's dir)."""
        return f"{display_path(self.file, self.playbook.parent if base is None else base)}:{self.line}"


@dataclass(frozen=True)
class AsyncTask(Task):
    """A fire-and-forget task: ``async: N`` (N > 0, or templated) with ``poll: 0`` (or a ``poll:``
    template that can be 0, or one the lint cannot evaluate: then ``not_analysed`` says so)."""


@dataclass(frozen=True)
class Playbook:
    """What discovery found in one playbook (imported playbooks included).

    ``tasks`` are the fire-and-forget tasks; ``all_tasks`` every task in execution order (handlers
    at the end of their play); ``notes`` what could not be followed statically. ``error`` is set
    when the playbook (or a file it pulls in) is broken; the tasks found anyway are still listed.

    ``kind`` is ``playbook``; ``role`` for a role no playbook reaches, analysed as ``hosts: all``
    + ``roles: [role]`` would play it (``path`` is then its ``tasks/main.yml``, ``role_dir`` the role);
    ``role-tasks`` for another task file of a role that nothing reaches, an entry point of the role analysed as
    ``include_role`` with ``tasks_from`` would play it; ``tasks`` for a task file outside any role that nothing
    reaches statically (its includer, and so what runs after it, is unknown).
    ``reached`` holds every task file the walk read (resolved), so roles and files no playbook
    reaches can be told apart.
    """

    path: Path
    tasks: tuple[AsyncTask, ...] = ()
    error: PlaybookSyntaxError | None = None
    all_tasks: tuple[Task, ...] = ()
    notes: tuple[str, ...] = ()
    kind: str = "playbook"
    role_dir: Path | None = None
    reached: frozenset[Path] = field(default=frozenset(), compare=False, repr=False)


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when possible (``roles/x/tasks/main.yml``), else as is."""
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)
