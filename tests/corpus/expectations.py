"""Read the expectations every corpus playbook carries in its top-of-file comments.

Reused by the unit tests (discovery and static lint) and meant for the dynamic audit too.
The format (one comment per line, anywhere in the file; names are pytest node names, i.e. the
task name with `` #2``... for a repeated name):

``# expect: <task>: ok`` or ``# expect: <task>: <finding-kind>[, <finding-kind>...]``
    One line per fire-and-forget task, in execution order. ``ok`` means a failed job fails the play.
``# expect-nothing``
    A playbook with no fire-and-forget task.
``# expect-error: <text>``
    Discovery reports an error whose message contains ``<text>``.
``# where: <task>: <file>:<line> <section>[ role=<role>]``
    Where discovery places the task; ``<file>`` is relative to the playbook's directory.
``# note: <text>``
    Discovery records a note containing ``<text>`` (something it cannot follow statically).
``# runtime: <task>: <seconds>``
    A measured runtime, given to the lint to check ``async-timeout-tight``.

A YAML file in the corpus without any of these markers is not a playbook and must not be
collected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
_SKIPPED = ("roles", "group_vars", "host_vars")
_MARKER = re.compile(r"^#\s*(expect-nothing|expect-error|expect|where|note|runtime)\b:?\s*(.*)$")
_WHERE = re.compile(r"^(?P<file>\S+):(?P<line>\d+)\s+(?P<section>\w+)(?:\s+role=(?P<role>\S+))?$")


@dataclass(frozen=True)
class Where:
    """Where discovery must place a task."""

    file: str
    line: int
    section: str
    role: str | None


@dataclass
class CorpusPlaybook:
    """The expectations of one corpus playbook."""

    path: Path
    verdicts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where: dict[str, Where] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runtimes: dict[str, float] = field(default_factory=dict)
    nothing: bool = False

    @property
    def name(self) -> str:
        """The playbook's path relative to the corpus, used as a test id."""
        return self.path.relative_to(CORPUS_DIR).as_posix()


def _split(rest: str, path: Path) -> tuple[str, str]:
    name, sep, value = rest.rpartition(": ")
    if not sep:
        raise ValueError(f"{path}: cannot read corpus marker {rest!r}: expected '<task>: <value>'")
    return name.strip(), value.strip()


def read_playbook(path: Path) -> CorpusPlaybook | None:
    """The expectations of ``path``, or None when it carries no marker (not a playbook)."""
    case = CorpusPlaybook(path)
    marked = False
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _MARKER.match(line.strip())
        if match is None:
            continue
        marked = True
        kind, rest = match.group(1), match.group(2).strip()
        if kind == "expect":
            name, value = _split(rest, path)
            case.verdicts[name] = tuple(v.strip() for v in value.split(","))
        elif kind == "expect-nothing":
            case.nothing = True
        elif kind == "expect-error":
            case.errors.append(rest)
        elif kind == "note":
            case.notes.append(rest)
        elif kind == "runtime":
            name, value = _split(rest, path)
            case.runtimes[name] = float(value)
        else:
            name, value = _split(rest, path)
            where = _WHERE.match(value)
            if where is None:
                raise ValueError(f"{path}: cannot read '# where: {rest}': expected '<file>:<line> <section>'")
            case.where[name] = Where(where["file"], int(where["line"]), where["section"], where["role"])
    return case if marked else None


def load_corpus(root: Path = CORPUS_DIR) -> list[CorpusPlaybook]:
    """Every marked playbook under ``root`` (role and vars directories skipped), sorted by path."""
    cases = []
    for path in sorted(root.rglob("*.y*ml")):
        if any(part in _SKIPPED or part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue
        case = read_playbook(path)
        if case is not None:
            cases.append(case)
    return cases
