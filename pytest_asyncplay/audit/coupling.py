"""Whether the hosts of one play are independent experiments, for the audit's parallel probes.

The parallel audit plays a playbook once on a clean host and one host per probe, and reads each probe's
verdict off its own host. That holds only when no host's outcome can depend on another host. Ansible
couples hosts through a few things only, and each of them is looked for in every file the playbook's run
reads (and in the values the repo defines around its tasks):

- a keyword that acts across hosts: ``run_once``, ``any_errors_fatal``, ``max_fail_percentage``, ``serial``;
- ``delegate_to`` another host (the controller, ``localhost``, and the host itself are not another host);
- a task that bypasses the host loop or acts on the play: ``add_host``, ``group_by``, ``meta: end_play``,
  ``end_batch`` and ``clear_host_errors``;
- a template or condition that reads other hosts: ``hostvars[...]`` (but ``hostvars[inventory_hostname]``),
  ``groups``, ``ansible_play_hosts``, ``ansible_play_hosts_all``, ``ansible_play_batch``, ``play_hosts``.

A file that cannot be read counts as a coupling: when the audit cannot tell, it plays one probe per play.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import PlaybookSyntaxError
from .model import Playbook, display_path
from .taskargs import short_action
from .yamlfile import line_of, load_yaml

__all__ = ["Coupling", "couplings", "first_coupling"]

#: Keywords that make one host's outcome depend on the others when set (to anything but false).
HOST_KEYWORDS = {
    "run_once": "run_once runs the task on one host for all of them",
    "any_errors_fatal": "any_errors_fatal ends the play for every host when one fails",
    "max_fail_percentage": "max_fail_percentage ends the play for every host when enough of them fail",
    "serial": "serial plays the hosts in batches, and a failed batch ends the play",
}
#: Modules that run once for the play or change the inventory the other hosts see.
HOST_LOOP_MODULES = {
    "add_host": "add_host runs once for the play and changes its inventory",
    "group_by": "group_by changes the groups other hosts see",
}
#: ``meta`` actions that act on every host of the play.
PLAY_METAS = {
    "end_play": "meta: end_play ends the play for every host",
    "end_batch": "meta: end_batch ends the batch for every host",
    "clear_host_errors": "meta: clear_host_errors brings failed hosts back into the play",
}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "{{ inventory_hostname }}", "{{inventory_hostname}}"}
CONDITION_KEYS = {"when", "failed_when", "changed_when", "until", "that"}
CROSS_HOST = re.compile(
    r"\b(?:hostvars(?!\s*\[\s*inventory_hostname\s*\])|groups|ansible_play_hosts(?:_all)?|ansible_play_batch|"
    r"play_hosts)\b")
FALSE_WORDS = {"false", "no", "off", "0", "n"}


@dataclass(frozen=True)
class Coupling:
    """One thing in a playbook's run through which a host's outcome can depend on another host."""

    file: Path
    line: int
    why: str

    def describe(self, base: Optional[Path] = None) -> str:
        """``file:line: why``, the file relative to ``base`` when given."""
        where = display_path(self.file, base) if base is not None else str(self.file)
        return f"{where}:{self.line}: {self.why}"


def _is_set(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str) and value.strip().lower() in FALSE_WORDS:
        return False
    return not (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _reads_other_hosts(text: str, condition: bool) -> Optional[str]:
    if not (condition or "{{" in text or "{%" in text):
        return None
    found = CROSS_HOST.search(text)
    return found.group(0) if found else None


def _walk(data: Any, file: Path, line: int) -> Iterator[Coupling]:
    """Every coupling in one YAML document (``line``: the nearest enclosing mapping's line)."""
    if isinstance(data, Mapping):
        here = line_of(data) or line
        for key, value in data.items():
            name = str(key)
            if name in HOST_KEYWORDS and (_is_set(value) or (name == "max_fail_percentage" and value is not None)):
                yield Coupling(file, here, HOST_KEYWORDS[name])
            elif name == "delegate_to" and str(value).strip() not in LOCAL_HOSTS:
                yield Coupling(file, here, f"delegate_to {value!r} runs the task on another host")
            elif short_action(name) in HOST_LOOP_MODULES:
                yield Coupling(file, here, HOST_LOOP_MODULES[short_action(name)])
            elif short_action(name) == "meta" and str(value).strip() in PLAY_METAS:
                yield Coupling(file, here, PLAY_METAS[str(value).strip()])
            if isinstance(value, (Mapping, list, tuple)) and name not in CONDITION_KEYS:
                yield from _walk(value, file, here)
            else:
                for text in _strings(value):
                    found = _reads_other_hosts(text, name in CONDITION_KEYS)
                    if found:
                        yield Coupling(file, here, f"{name} reads {found}, which depends on the other hosts")
    elif isinstance(data, (list, tuple)):
        here = line_of(data) or line
        for item in data:
            yield from _walk(item, file, here)


def couplings(playbook: Playbook) -> list[Coupling]:
    """Everything in ``playbook``'s run that can make one host's outcome depend on another's, in file order."""
    found: list[Coupling] = []
    for path in sorted({playbook.path.resolve(), *playbook.reached}):
        if path.is_dir():  # a role's folder: its files are in ``reached`` too
            continue
        try:
            data = load_yaml(path)
        except (OSError, PlaybookSyntaxError) as exc:
            found.append(Coupling(path, 1, f"cannot be read ({type(exc).__name__}), so the audit cannot tell"))
            continue
        found.extend(_walk(data, path, 1))
    seen: set[int] = set()
    for task in playbook.all_tasks:  # what the repo defines around the tasks: role defaults, vars files...
        for name, values in task.variables.items():
            for value in values:
                if id(value) in seen:
                    continue
                seen.add(id(value))
                for text in _strings(value):
                    hit = _reads_other_hosts(text, condition=False)
                    if hit:
                        found.append(Coupling(task.file, task.line,
                                              f"the variable {name} reads {hit}, which depends on the other hosts"))
                        break
    return found


def first_coupling(playbook: Playbook) -> Optional[Coupling]:
    """The first coupling of ``playbook`` (None: its hosts are independent experiments)."""
    found = couplings(playbook)
    return found[0] if found else None
