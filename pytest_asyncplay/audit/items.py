"""pytest collectors and items for ``--asyncplay-reap-audit`` and ``--asyncplay-lint``.

The audited paths are collected by the audit alone (``AuditDirectory``): their playbooks, the
roles and task files no playbook reaches, and never the repo's own Python tests or conftest files.
One ``PlaybookFile`` per playbook; under it one item per fire-and-forget task and kind:
``<playbook>::<task name>[killed]`` (also ``[vanished]``, ``[slow]``) and ``<playbook>::<task name>[lint]``.
With pytest-split (``--splits N --group i``) a playbook's items stay in one shard (``AuditSplit``).
"""

from __future__ import annotations

import json
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pytest

from ..errors import AsyncplayError
from ..pages import PageParts, audit_part
from .discover import AsyncTask, Playbook, discover
from .lint import DEFAULT_RULES, Rules, TaskVerdict
from .reap import Probe, ReapAuditor

RECORD_KEY = "asyncplay"


class AsyncplayAdvice(UserWarning):
    """Advice from the lint (``reap-budget-short``, ``async-timeout-tight``): the item passes; it fails
    with ``--asyncplay-strict``."""


def audit_roots(args: Iterable[str], invocation_dir: Path) -> list[Path]:
    """The audited paths: the positional folders and YAML files, and the playbook of each node id (not Python
    files)."""
    roots = []
    for arg in args:
        path = (invocation_dir / arg.split("::", 1)[0]).resolve()  # a node id audits its playbook
        if path.is_dir() or path.suffix in (".yml", ".yaml"):
            roots.append(path)
    return roots or [invocation_dir.resolve()]


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def guard_conftests(pluginmanager: pytest.PytestPluginManager, roots: Sequence[Path]) -> None:
    """Make pytest skip every ``conftest.py`` under ``roots`` (they belong to the repo's own tests)."""
    original = getattr(pluginmanager, "_importconftest", None)
    if original is None:  # a pytest without the hook point: nothing to guard
        return

    def guarded(conftestpath: Path, *args: Any, **kwargs: Any) -> types.ModuleType:
        if any(_under(Path(conftestpath).resolve(), root) for root in roots):
            module = types.ModuleType(f"asyncplay_skipped_conftest_{abs(hash(str(conftestpath)))}")
            module.__file__ = str(conftestpath)
            return module
        return original(conftestpath, *args, **kwargs)  # type: ignore[no-any-return]

    pluginmanager._importconftest = guarded  # type: ignore[method-assign]


def _rules(config: pytest.Config) -> Rules:
    """What the lint judges by (ini ``asyncplay_reap_modules``, ``asyncplay_ansible_core``), as the session
    parsed it."""
    session = config.stash.get(AUDIT_KEY, None)
    return session.rules if session is not None else DEFAULT_RULES


class AuditSession:
    """The audit's state for one pytest session: the audited roots, discovery (once per root) and the
    playbooks already collected (a playbook reached through a symlink is one item)."""

    def __init__(self, roots: Sequence[Path], roles_path: Sequence[Path], strict: bool,
                 rules: Rules = DEFAULT_RULES) -> None:
        self.roots = list(roots)
        self.roles_path = list(roles_path)
        self.strict = strict
        self.rules = rules
        self._found: dict[Path, list[Playbook]] = {}
        self._collected: set[Path] = set()
        self._nodes: dict[tuple[str, Path], PlaybookFile] = {}
        self._own: Optional[dict[tuple[Path, int], tuple[str, ...]]] = None
        self._items = 0

    def next_order(self) -> int:
        """The collection position of the next item (the same in every shard and xdist worker, which all
        collect everything): it orders the report's rows."""
        self._items += 1
        return self._items - 1

    def root_of(self, path: Path) -> Optional[Path]:
        """The audited root ``path`` lies in, if any."""
        resolved = Path(path).resolve()
        return next((r for r in self.roots if _under(resolved, r)), None)

    def playbooks(self, root: Path) -> list[Playbook]:
        """Everything discovery finds under ``root`` (computed once)."""
        if root not in self._found:
            self._found[root] = discover([root], self.roles_path)
        return self._found[root]

    def notes(self) -> list[str]:
        """Every note discovery left under the roots (what it could not follow), once each."""
        return list(dict.fromkeys(n for root in self.roots for pb in self.playbooks(root) for n in pb.notes))

    def own_verdicts(self) -> dict[tuple[Path, int], tuple[str, ...]]:
        """The lint's verdict on each task of a playbook judged in that playbook's own file, so that a
        playbook importing it (``import_playbook``) lists that task again only when it judges it otherwise."""
        if self._own is None:
            self._own = {}
            for root in self.roots:
                for playbook in self.playbooks(root):
                    if playbook.kind == "playbook" and playbook.error is None:
                        for verdict in self.rules.analyze([playbook]):
                            if verdict.task.file == playbook.path:
                                self._own[(verdict.task.file, verdict.task.line)] = _signature(verdict)
        return self._own

    def take(self, playbook: Playbook) -> bool:
        """True the first time a playbook (by its real path) is collected."""
        key = playbook.path.resolve()
        if key in self._collected:
            return False
        self._collected.add(key)
        return True

    def collectors(self, parent: pytest.Collector, folder: Path) -> Iterator[PlaybookFile]:
        """A ``PlaybookFile`` for each playbook, role and task file found under ``folder``."""
        root = self.root_of(folder)
        assert root is not None
        config = parent.config
        kinds = config.getoption("asyncplay_faults") if config.getoption("asyncplay_reap_audit") else ()
        lint = bool(config.getoption("asyncplay_lint"))
        for playbook in self.playbooks(root):
            if not _under(playbook.path.resolve(), folder.resolve()):
                continue
            again = self._nodes.get((parent.nodeid, playbook.path.resolve()))
            if again is not None:  # pytest collects a folder again for each file of it named on the command line
                yield again
            elif self.take(playbook):
                node = self._nodes[(parent.nodeid, playbook.path.resolve())] = PlaybookFile.from_playbook(
                    parent, playbook, kinds, lint=lint)
                yield node

    def file_collector(self, parent: pytest.Collector, path: Path) -> Optional[PlaybookFile]:
        """The collector of a YAML file named on the command line (None when it holds nothing to audit)."""
        return next(iter(self.collectors(parent, path)), None)


def _signature(verdict: TaskVerdict) -> tuple[str, ...]:
    return tuple(sorted(f.kind for f in verdict.findings))


class AuditDirectory(pytest.Directory):
    """An audited folder: yields the audit's collectors directly, so pytest never walks it for Python."""

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        session: AuditSession = self.config.stash[AUDIT_KEY]
        yield from session.collectors(self, self.path)


class AuditFailure(Exception):
    """An audit or lint verdict that fails its item; shown as its message alone, without a traceback."""


class NoVerdict(Exception):
    """The item cannot get a verdict (broken playbook, failing baseline); it errors with the reason."""


class PlaybookFile(pytest.File):
    """A playbook under an audit or lint path; collects one item per fire-and-forget task and kind."""

    playbook: Playbook
    kinds: Sequence[str]
    lint: bool

    @classmethod
    def from_playbook(cls, parent: pytest.Collector, playbook: Playbook, kinds: Sequence[str],
                      lint: bool) -> PlaybookFile:
        """A collector for ``playbook`` with the item kinds asked for on the command line."""
        node = super().from_parent(parent, path=playbook.path)
        node.playbook, node.kinds, node.lint = playbook, kinds, lint
        return node

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        verdicts = {v.task: v for v in _rules(self.config).analyze([self.playbook])}
        if not self.playbook.tasks and self.playbook.error is not None:
            yield BrokenPlaybookItem.from_parent(self, name="[broken]")
            return
        session = self.config.stash.get(AUDIT_KEY, None)
        own = session.own_verdicts() if session is not None else {}
        for task in self.playbook.tasks:
            here = verdicts.get(task)
            if (task.file != self.playbook.path and here is not None and self.playbook.error is None
                    and own.get((task.file, task.line)) == _signature(here)):
                continue  # an imported playbook's task, judged the same as in its own file's items
            if self.lint:
                item: _AuditItem = LintItem.from_parent(self, name=f"{task.node_name}[lint]", task=task,
                                                        verdict=verdicts.get(task))
                item.order = session.next_order() if session is not None else None
                yield item
            for kind in self.kinds:
                item = ReapAuditItem.from_parent(self, name=f"{task.node_name}[{kind}]", task=task, kind=kind,
                                                 verdict=verdicts.get(task))
                item.order = session.next_order() if session is not None else None
                yield item


class _AuditItem(pytest.Item):
    """Shared reporting of audit and lint items."""

    task: AsyncTask
    order: Optional[int] = None

    def _repr_failure_py(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        # setup errors (no verdict) come here directly, call failures through repr_failure: for our own
        # exceptions show the message alone (it is also the summary line), never pytest's internals
        if isinstance(excinfo.value, (AuditFailure, NoVerdict, AsyncplayError)):
            style = "value"
        return super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.task.file, self.task.line - 1, self.name

    def where(self) -> str:
        """``file:line`` of the task, relative to the rootdir."""
        try:
            return f"{self.task.file.relative_to(self.config.rootpath)}:{self.task.line}"
        except ValueError:
            return f"{self.task.file}:{self.task.line}"

    def playbook_name(self) -> str:
        """The playbook path relative to the rootdir."""
        try:
            return str(self.task.playbook.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.task.playbook)

    def record(self, kind: str, verdict: str, message: str, lint: Optional[TaskVerdict], **extra: Any) -> None:
        """Leave this item's row data in its report (xdist-safe) and JUnit properties."""
        data = {
            "playbook": self.playbook_name(), "task": self.task.node_name, "where": self.where(), "kind": kind,
            "verdict": verdict, "message": message, "async_timeout": self.task.async_timeout,
            "reap_budget": lint.reap_budget_seconds if lint else None, "order": self.order, **extra,
        }
        self.user_properties.append((RECORD_KEY, json.dumps(data, default=str)))
        self.user_properties.append(("file_line", self.where()))


class LintItem(_AuditItem):
    """Passes iff the static analysis finds a reap that fails the play when the job fails."""

    def __init__(self, *, task: AsyncTask, verdict: Optional[TaskVerdict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.verdict = task, verdict

    def runtest(self) -> None:
        error = self.parent.playbook.error if isinstance(self.parent, PlaybookFile) else None
        if error is not None:
            self.record("lint", "error", str(error), self.verdict, severity="unknown")
            raise NoVerdict(str(error))
        verdict = self.verdict
        if verdict is None:
            raise NoVerdict(f"no lint verdict for {self.task.node_name}")
        strict = bool(self.config.getoption("asyncplay_strict"))
        findings = [f"{f.message}" + (f"\n    hint: {f.hint}" if f.hint else "") for f in verdict.findings]
        severities = {f.severity for f in verdict.findings}
        severity = next((s for s in ("swallows", "unknown", "advice") if s in severities), "ok")
        kinds = ",".join(f.kind for f in verdict.findings) or "ok"
        self.record("lint", kinds, "\n".join(findings) or "ok", verdict, severity=severity)
        if not verdict.ok or (strict and findings):
            raise AuditFailure("\n".join(findings))
        for finding in findings:
            warnings.warn(AsyncplayAdvice(finding), stacklevel=1)


class ReapAuditItem(_AuditItem):
    """Injects a fault into the task's job; passes iff the play fails because of it."""

    def __init__(self, *, task: AsyncTask, kind: str, verdict: Optional[TaskVerdict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.kind, self.verdict = task, kind, verdict
        self.probe: Optional[Probe] = None

    def record(self, kind: str, verdict: str, message: str, lint: Optional[TaskVerdict], **extra: Any) -> None:
        """Leave the row data (as every item does) and this item's section of the timeline page: the clean
        baseline and the probe run that decided (when ``--asyncplay-report`` or ``--asyncplay-timeline``)."""
        super().record(kind, verdict, message, lint, **extra)
        parts = self.config.stash.get(PARTS_KEY, None)
        if parts is None:
            return
        auditor = self.config.stash.get(AUDITOR_KEY, None)
        base = auditor.cached_baseline(self.task.playbook) if auditor is not None else None
        said = message.split(":", 1)[0].replace(" ", "-")
        shared = self.probe is not None and self.probe.mode == "parallel"  # its run holds the clean host's lane
        text = message if said == verdict else f"{verdict}: {message}"
        if self.probe is not None:
            text += ("\n(parallel probes: this host and the clean one in one play)" if shared else
                     f"\n(isolated probes: {self.probe.mode_why})" if self.probe.mode_why else "")
        parts.add(audit_part(self.order or 0, self.nodeid, f"{self.where()} {self.task.node_name} [{kind}]", text,
                             base.result if base is not None and not shared else None,
                             self.probe.runs if self.probe is not None else [], kind, shared=shared))

    def setup(self) -> None:
        playbook = self.parent.playbook if isinstance(self.parent, PlaybookFile) else None
        error = playbook.error if playbook is not None else None
        if error is not None:
            self.record(self.kind, "error", str(error), self.verdict)
            raise NoVerdict(f"no verdict: the playbook cannot be read:\n{error}")
        if playbook is not None and playbook.kind not in ("playbook", "role", "role-tasks"):
            message = (f"not audited: {self.playbook_name()} is a task file no playbook reaches, so there is no "
                       "play to run it in; the [lint] item judges it statically. Add a playbook that includes it "
                       "to audit it on real hosts.")
            self.record(self.kind, "not-proven", message, self.verdict)
            raise NoVerdict(message)
        auditor: ReapAuditor = self.config.stash[AUDITOR_KEY]
        try:
            if playbook is not None:  # the first item of a parallel playbook plays every probe the session runs
                auditor.prepare(playbook, self.siblings())
            base = auditor.baseline(self.task.playbook)
        except AsyncplayError as exc:
            self.record(self.kind, "error", str(exc), self.verdict)
            raise
        if not base.ok:
            message = (f"no verdict: the clean run of {self.playbook_name()} failed (rc={base.result.rc}), "
                       f"so a fault could not be told apart from it\n{base.result.summary()}")
            self.record(self.kind, "error", message.splitlines()[0], self.verdict)
            raise NoVerdict(message)

    def siblings(self) -> list[tuple[AsyncTask, str]]:
        """The (task, kind) of every audit item of this playbook that the session runs (this one included)."""
        return [(i.task, i.kind) for i in self.session.items
                if isinstance(i, ReapAuditItem) and i.parent is self.parent] or [(self.task, self.kind)]

    def runtest(self) -> None:
        auditor: ReapAuditor = self.config.stash[AUDITOR_KEY]
        base = auditor.baseline(self.task.playbook)
        playbook = self.parent.playbook if isinstance(self.parent, PlaybookFile) else None
        probe = self.probe = auditor.verdict(self.task, self.kind, playbook, self.siblings())
        runtime = base.runtime_of(self.task)
        if playbook is not None and runtime is not None:  # the lint again, now with the measured runtime
            measured = _rules(self.config).analyze([playbook], {(self.task.playbook, self.task.name): runtime})
            self.verdict = next((v for v in measured if v.task == self.task), self.verdict)
        headroom = (self.task.async_timeout / runtime
                    if runtime and isinstance(self.task.async_timeout, int) else None)
        jids = [r.jid for run in probe.runs for r in run.faults if r.jid]
        if jids:
            self.user_properties.append(("jid", ",".join(jids)))
        lint = None if self.verdict is None else ("ok" if self.verdict.ok else
                                                  ",".join(f.kind for f in self.verdict.findings))
        self.record(self.kind, probe.verdict, probe.message, self.verdict, runtime=runtime, headroom=headroom,
                    lint_verdict=lint, probes=probe.mode, probes_why=probe.mode_why)
        if not probe.passed:
            raise AuditFailure(probe.message)


class BrokenPlaybookItem(pytest.Item):
    """Stands for a playbook that could not be read at all: it fails with the reason, nothing else does."""

    def runtest(self) -> None:
        assert isinstance(self.parent, PlaybookFile)
        raise NoVerdict(str(self.parent.playbook.error))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return self._repr_failure_py(excinfo, style="value")  # the reason alone

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.path, None, self.name


def shard_unit(item: pytest.Item) -> str:
    """What must run in the same shard as ``item``: its playbook (the items of a playbook share one
    baseline run) for an audit or lint item, the item itself for any other test."""
    return item.parent.nodeid if isinstance(item.parent, PlaybookFile) else item.nodeid


@dataclass(frozen=True)
class ShardUnit:
    """Items that go to one shard together, as pytest-split's algorithms see an item (``nodeid``)."""

    nodeid: str
    items: tuple[str, ...]


def split_units(units: Sequence[ShardUnit], durations: Mapping[str, float], splits: int,
                algorithm: str = "duration_based_chunks") -> list[tuple[list[ShardUnit], float]]:
    """Split whole units into ``splits`` groups with pytest-split's ``algorithm``; each group's units and
    estimated seconds.

    A unit lasts the sum of its items' recorded durations; an item with none counts as the mean of the
    recorded ones among ``units`` (1 s when none is recorded), as pytest-split counts an item. Only
    ``units``, ``durations`` and ``splits`` decide the result, so every shard computes the same split.
    """
    from pytest_split.algorithms import Algorithms

    known = [float(durations[i]) for unit in units for i in unit.items if i in durations]
    mean = sum(known) / len(known) if known else 1.0
    seconds = {u.nodeid: sum(float(durations.get(i, mean)) for i in u.items) for u in units}
    groups = Algorithms[algorithm].value(splits, list(units), seconds)  # type: ignore[arg-type]
    return [(list(group.selected), float(group.duration)) for group in groups]


class AuditSplit:
    """Stands in for pytest-split's own selection when the audit or lint is split (``--splits N --group i``):
    the same options, algorithms and durations file, but a playbook's items are never split, so its
    baseline runs in one shard only, once."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def durations(self) -> dict[str, float]:
        """The ``--durations-path`` file's durations (none when it is missing)."""
        path = self.config.getoption("durations_path")
        try:
            data = json.loads(Path(path).read_text())
            durations = dict(data)  # pytest-split's older files hold a list of [node id, seconds]
            return {str(k): float(v) for k, v in durations.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError) as exc:
            raise pytest.UsageError(f"--durations-path {path} is not a pytest-split durations file ({exc}); "
                                    "record it with --store-durations, or remove it to split by item count.") from exc

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep this shard's units, deselect the others."""
        splits, group = int(config.getoption("splits")), int(config.getoption("group"))
        algorithm = str(config.getoption("splitting_algorithm"))
        members: dict[str, list[str]] = {}
        for item in items:
            members.setdefault(shard_unit(item), []).append(item.nodeid)
        units = [ShardUnit(name, tuple(ids)) for name, ids in members.items()]
        chosen, seconds = split_units(units, self.durations(), splits, algorithm)[group - 1]
        keep = {i for unit in chosen for i in unit.items}
        deselected = [item for item in items if item.nodeid not in keep]
        items[:] = [item for item in items if item.nodeid in keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"asyncplay: pytest-split group {group}/{splits} ({algorithm}): {len(chosen)} of "
                                f"{len(units)} playbook(s), each kept whole: {len(items)} item(s), "
                                f"estimated {seconds:.0f}s")


AUDITOR_KEY = pytest.StashKey[ReapAuditor]()
#: Where the items of this process write their sections of the timeline page (absent: no page is made).
PARTS_KEY = pytest.StashKey[PageParts]()
AUDIT_KEY = pytest.StashKey[AuditSession]()
