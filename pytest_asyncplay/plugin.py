"""The pytest plugin: options, the ``asyncplay`` marker and the fixtures. Thin: the work is in the core.

Loaded through the ``pytest11`` entry point ``asyncplay``. Nothing here touches Docker until a test
asks for a fixture. SIGTERM and SIGHUP end a session the way Ctrl-C does (``signals.SignalGuard``): every
container is removed, then the process dies of the signal.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest

from .audit.hostpath import parse_reap_modules
from .audit.items import (
    AUDIT_KEY,
    AUDITOR_KEY,
    PARTS_KEY,
    RECORD_KEY,
    AuditDirectory,
    AuditSession,
    AuditSplit,
    audit_roots,
    guard_conftests,
)
from .audit.lint import Rules
from .audit.reap import DEFAULT_PROBE_HOSTS, FAULT_KINDS, PROBE_MODES, ReapAuditor
from .audit.report import format_table, merge, write_reports
from .image import DEFAULT_BASE
from .pages import PageParts, parts_of_test, write_page
from .result import PlayResult
from .runner import PlaybookRunner, inventory_hosts
from .signals import SignalGuard
from .targets import KEEP_LABEL, HostPool, Target, reap_orphans
from .versions import parse_core_version

log = logging.getLogger("pytest_asyncplay.plugin")

POOL_KEY = pytest.StashKey[HostPool]()
RECORDS_KEY = pytest.StashKey[dict[str, list[dict[str, Any]]]]()
GUARD_KEY = pytest.StashKey["SignalGuard"]()
KEPT_KEY = pytest.StashKey[list[str]]()
SPLIT_KEY = pytest.StashKey[AuditSplit]()

MARKER_HELP = (
    "asyncplay(hosts=1, groups=None, image=None, inventory=None, fresh=False): the hosts a test plays on. "
    "hosts: a count (host1, host2, ...) or a list of names; groups: {group: [host, ...]}; image: the base "
    "image the target image is built FROM; inventory: the repo's inventory, each host mapped onto a "
    "container; fresh: new hosts for this test instead of reused, reset ones."
)


@dataclass(frozen=True)
class HostSpec:
    """The validated arguments of one ``asyncplay`` marker; equal specs share (reset) hosts."""

    names: tuple[str, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    image: Optional[str]
    inventory: Optional[Path]
    fresh: bool

    @property
    def group_map(self) -> dict[str, list[str]]:
        """The groups as a plain mapping."""
        return {name: list(members) for name, members in self.groups}


def host_spec(
    hosts: Union[int, Sequence[str]] = 1,
    groups: Optional[Mapping[str, Sequence[str]]] = None,
    image: Optional[str] = None,
    inventory: Union[str, Path, None] = None,
    fresh: bool = False,
    *,
    base_dirs: Sequence[Path] = (),
) -> HostSpec:
    """Validate marker arguments (``pytest.UsageError`` naming the bad one) and return a ``HostSpec``."""
    def usage(message: str) -> pytest.UsageError:
        return pytest.UsageError(f"@pytest.mark.asyncplay: {message}")

    inventory_path: Optional[Path] = None
    if inventory is not None:
        candidates = [Path(inventory)] if Path(inventory).is_absolute() else [d / inventory for d in base_dirs]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise usage(f"inventory={str(inventory)!r} does not exist (looked at "
                        f"{', '.join(map(str, candidates)) or inventory}); give a path relative to the test file.")
        inventory_path = found.resolve()
        if hosts != 1:
            raise usage("give either hosts= or inventory=, not both: with inventory= every inventory host "
                        "becomes a container.")
        names: tuple[str, ...] = tuple(inventory_hosts(inventory_path))
    elif isinstance(hosts, bool) or not isinstance(hosts, (int, list, tuple)):
        raise usage(f"hosts={hosts!r} must be a count (hosts=2) or a list of names (hosts=['web', 'db']).")
    elif isinstance(hosts, int):
        if hosts < 1:
            raise usage(f"hosts={hosts} starts no host; give hosts=1 or more.")
        names = tuple(f"host{i}" for i in range(1, hosts + 1))
    else:
        names = tuple(str(h) for h in hosts)
        if not names:
            raise usage("hosts=[] starts no host; name at least one.")
        if len(set(names)) != len(names):
            raise usage(f"hosts={list(names)} names a host twice.")
    group_items: list[tuple[str, tuple[str, ...]]] = []
    if groups is not None:
        if not isinstance(groups, Mapping):
            raise usage(f"groups={groups!r} must map a group name to a list of host names.")
        for group, members in groups.items():
            members = (members,) if isinstance(members, str) else tuple(members)
            unknown = [m for m in members if m not in names]
            if unknown:
                raise usage(f"groups={{{group!r}: ...}} names unknown host(s) {unknown}; the hosts are {list(names)}.")
            group_items.append((str(group), members))
    if image is not None and not isinstance(image, str):
        raise usage(f"image={image!r} must be an image name such as 'debian:bookworm-slim'.")
    return HostSpec(names, tuple(group_items), image, inventory_path, bool(fresh))


SPEC_KEY = pytest.StashKey[HostSpec]()


def spec_for(item: pytest.Item) -> HostSpec:
    """The ``HostSpec`` of a test: from its closest ``asyncplay`` marker, or the defaults (read once per
    test: an inventory costs an ``ansible-inventory`` call)."""
    if SPEC_KEY not in item.stash:
        item.stash[SPEC_KEY] = _read_spec(item)
    return item.stash[SPEC_KEY]


def _read_spec(item: pytest.Item) -> HostSpec:
    marker = item.get_closest_marker("asyncplay")
    args: tuple[Any, ...] = marker.args if marker else ()
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    base_dirs = [Path(str(item.path)).parent, Path(str(item.config.rootpath))]
    try:
        return host_spec(*args, **kwargs, base_dirs=base_dirs)
    except TypeError as exc:
        raise pytest.UsageError(f"@pytest.mark.asyncplay: {exc}".replace("host_spec()", "asyncplay()")) from exc


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options and ini settings of pytest-asyncplay."""
    group = parser.getgroup("asyncplay", "pytest-asyncplay: Ansible async jobs on real SSH hosts")
    group.addoption("--asyncplay-base", default=None,
                    help=f"base image the target image is built FROM (default: ini asyncplay_base or {DEFAULT_BASE}).")
    parser.addini("asyncplay_base", f"base image the target image is built FROM (default {DEFAULT_BASE}).",
                  default=DEFAULT_BASE)
    group.addoption("--asyncplay-reap-audit", action="store_true", default=False,
                    help="collect one item per fire-and-forget task of the playbooks and roles under the given "
                         "paths (default: the current folder): it kills the job and passes only if the play fails.")
    group.addoption("--asyncplay-lint", action="store_true", default=False,
                    help="collect one static [lint] item per fire-and-forget task under the given paths "
                         "(default: the current folder); no containers.")
    group.addoption("--asyncplay-strict", action="store_true", default=False,
                    help="advice findings (reap-budget-short, async-timeout-tight) fail their items too.")
    group.addoption("--asyncplay-roles-path", default=None, metavar="PATHS",
                    help="extra folders holding roles (':'-separated), searched before the ansible.cfg's "
                         "roles_path (default: ini asyncplay_roles_path).")
    parser.addini("asyncplay_reap_modules", "modules that reap a job like async_status, one a line as "
                  "MODULE:JID_ARGUMENT (e.g. my_ns.my_coll.async_wait:jid); the lint then judges them like "
                  "async_status",
                  type="linelist", default=[])
    parser.addini("asyncplay_ansible_core", "the ansible-core whose templating rules the lint judges by (e.g. "
                  "2.15; default: the installed one)", default="")
    parser.addini("asyncplay_roles_path", "extra folders holding roles for the audit and the lint", type="paths",
                  default=[])
    group.addoption("--asyncplay-faults", default="killed", metavar="KINDS", type=_fault_kinds,
                    help=f"audit fault kinds, comma-separated from {','.join(FAULT_KINDS)} (default: killed).")
    group.addoption("--asyncplay-hosts", default=1, type=_host_count, metavar="N",
                    help="hosts the audit plays on (host1..hostN; default 1).")
    group.addoption("--asyncplay-inventory", default=None, metavar="PATH",
                    help="the repo's inventory for the audit: each of its hosts mapped onto a container.")
    group.addoption("--asyncplay-probes", default="parallel", choices=PROBE_MODES,
                    help="parallel (default): a playbook's probes share one play, each on its own host beside a "
                         "clean one; isolated: one play per probe (also used, and said, when hosts can affect "
                         "each other).")
    group.addoption("--asyncplay-probe-hosts", default=DEFAULT_PROBE_HOSTS, type=_probe_hosts, metavar="N",
                    help=f"hosts per parallel play, the clean one included (default {DEFAULT_PROBE_HOSTS}); "
                         "more probes go into more plays.")
    group.addoption("--asyncplay-report", default=None, metavar="PATH",
                    help="write the audit's verdict table to PATH.json and PATH.md, and its plays (each item's "
                         "clean baseline beside its probe) as timelines to PATH.html.")
    group.addoption("--asyncplay-timeline", action="store_true", default=False,
                    help="also draw the plays of every test that called asyncplay.run, one section each, on the "
                         f"timeline page: PATH.html of --asyncplay-report, else {TIMELINE_PAGE}.")
    group.addoption("--asyncplay-keep-hosts", action="store_true", default=False,
                    help="leave the hosts running after the session (later sessions do not reap them either); "
                         "the summary prints how to ssh in and the command that removes them.")


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        raise pytest.UsageError(f"--asyncplay-faults={text!r}: unknown kind(s) {unknown}; "
                                f"use a comma-separated list of {', '.join(FAULT_KINDS)}.")
    return kinds


def _at_least(option: str, minimum: int, why: str) -> Callable[[str], int]:
    """An option type: a whole number >= ``minimum``, else a usage error naming the option and ``why``."""
    def parse(text: str) -> int:
        try:
            count = int(text)
        except ValueError:
            count = minimum - 1
        if count < minimum:
            raise pytest.UsageError(f"{option}={text!r}: give a number >= {minimum}{why}.")
        return count

    return parse


_probe_hosts = _at_least("--asyncplay-probe-hosts", 2, " (the clean host and at least one probe host), or "
                         "--asyncplay-probes=isolated for one play per probe")
_host_count = _at_least("--asyncplay-hosts", 1, " (hosts per experiment)")


def audit_mode(config: pytest.Config) -> bool:
    """Whether ``--asyncplay-lint`` or ``--asyncplay-reap-audit`` was given."""
    return bool(config.getoption("asyncplay_lint") or config.getoption("asyncplay_reap_audit"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """In audit mode, never import a ``conftest.py`` under the audited paths: it belongs to the repo's own
    Python tests (which may exit or fail on import), not to the audit."""
    if not any(a in ("--asyncplay-lint", "--asyncplay-reap-audit") for a in args):
        return
    named = getattr(early_config.known_args_namespace, "file_or_dir", None) or []
    guard_conftests(early_config.pluginmanager, audit_roots(named, Path.cwd()))


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and the signal guard; in audit mode, audit the positional paths (default: the
    current folder)."""
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[RECORDS_KEY] = {}
    config.stash[KEPT_KEY] = []
    config.stash[GUARD_KEY] = SignalGuard()
    config.stash[GUARD_KEY].install()
    _start_page(config)
    if not audit_mode(config):
        return
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(config.invocation_params.dir)]  # the repo at hand, not the ini's testpaths
    missing = [a for a in config.args if "::" not in a and not Path(a).exists()]
    if missing:
        raise pytest.UsageError(f"asyncplay: audit/lint path(s) {', '.join(missing)} do not exist; "
                                "give folders or files of playbooks.")
    option = config.getoption("asyncplay_roles_path")
    roles_path = ([Path(p).resolve() for p in option.split(os.pathsep) if p] if option
                  else [Path(p) for p in config.getini("asyncplay_roles_path")])
    try:
        reap_modules = parse_reap_modules(config.getini("asyncplay_reap_modules"))
    except ValueError as exc:
        raise pytest.UsageError(f"asyncplay: ini asyncplay_reap_modules: {exc}; write one module a line, "
                                "MODULE:JID_ARGUMENT.") from exc
    core_text = str(config.getini("asyncplay_ansible_core") or "").strip()
    try:
        core = parse_core_version(core_text) if core_text else None
    except ValueError as exc:
        raise pytest.UsageError(f"asyncplay: ini asyncplay_ansible_core: {exc}; give the ansible-core the "
                                "playbooks run with, e.g. 2.15, or leave it out for the installed one.") from exc
    config.stash[AUDIT_KEY] = AuditSession(audit_roots(config.args, config.invocation_params.dir), roles_path,
                                           strict=bool(config.getoption("asyncplay_strict")),
                                           rules=Rules(reap_modules, core))
    if config.getoption("asyncplay_reap_audit"):
        why = _isolated_why(config)
        config.stash[AUDITOR_KEY] = ReapAuditor(
            lambda: _audit_runner(config), Path(config.rootpath),
            hosts_for=None if why else functools.partial(_parallel_runner, config),
            probe_hosts=int(config.getoption("asyncplay_probe_hosts")), isolated_why=why)


def _isolated_why(config: pytest.Config) -> str:
    """Why every probe of this session gets a play of its own (empty: parallel probes)."""
    if config.getoption("asyncplay_probes") == "isolated":
        return "--asyncplay-probes=isolated"
    if config.getoption("asyncplay_inventory"):
        return ("--asyncplay-inventory maps the repo's own hosts, which may play different parts, onto the "
                "containers, so one play holds one experiment")
    hosts = int(config.getoption("asyncplay_hosts"))
    if hosts > 1:
        return f"--asyncplay-hosts={hosts} makes each experiment a play on {hosts} hosts"
    return ""


#: The timeline page's file when only ``--asyncplay-timeline`` is given (relative to the invocation folder).
TIMELINE_PAGE = "asyncplay-timeline.html"
#: The parts folder this process made (the controller's, or a run without xdist): removed at the end.
OWN_PARTS_KEY = pytest.StashKey[Path]()
RESULTS_KEY = pytest.StashKey[list[PlayResult]]()


def page_path(config: pytest.Config) -> Optional[Path]:
    """Where the timeline page goes: ``PATH.html`` of ``--asyncplay-report``, else ``TIMELINE_PAGE`` with
    ``--asyncplay-timeline``, else nowhere."""
    report = config.getoption("asyncplay_report")
    if report:
        return Path(report).with_name(Path(report).name + ".html")
    if config.getoption("asyncplay_timeline"):
        return Path(config.invocation_params.dir) / TIMELINE_PAGE
    return None


def _start_page(config: pytest.Config) -> None:
    """Give this process the folder the page's parts go to: an xdist worker gets the controller's."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        folder = workerinput.get("asyncplay_parts")
        if folder:
            config.stash[PARTS_KEY] = PageParts(Path(folder))
        return
    if page_path(config) is not None:
        config.stash[OWN_PARTS_KEY] = Path(tempfile.mkdtemp(prefix="asyncplay-page-"))
        config.stash[PARTS_KEY] = PageParts(config.stash[OWN_PARTS_KEY])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand each worker the folder of the page's parts."""
    parts = node.config.stash.get(PARTS_KEY, None)
    if parts is not None:
        node.workerinput["asyncplay_parts"] = str(parts.directory)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With ``--asyncplay-timeline``: a test's plays become its sections of the page, with its outcome."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    results = item.stash.get(RESULTS_KEY, None)
    parts = item.config.stash.get(PARTS_KEY, None)
    if results and parts is not None and (report.when == "call" or report.failed):
        for part in parts_of_test(1 << 20, item.nodeid, report.outcome if report.when == "call" else
                               f"{report.outcome} in {report.when}", results):
            parts.add(part)
        results.clear()  # a setup/teardown report after the call adds only what came later


def _write_page(config: pytest.Config, terminalreporter: Any) -> None:
    """Put the parts together in the page (the controller, or a run without xdist)."""
    folder = config.stash.get(OWN_PARTS_KEY, None)
    path = page_path(config)
    if folder is None or path is None:
        return
    parts = PageParts(folder).parts()
    if not parts:
        terminalreporter.write_line(f"timeline page: not written, no play to draw ({path})")
        return
    write_page(path, parts)
    size = path.stat().st_size
    terminalreporter.write_line(f"timeline page: {path} ({len(parts)} section(s), {size / 1024:.0f} KiB)")


AUDIT_SPEC_KEY = pytest.StashKey[HostSpec]()


def _audit_runner(config: pytest.Config) -> PlaybookRunner:
    """A runner on the audit's hosts (reset on each call), per --asyncplay-hosts/--asyncplay-inventory."""
    if AUDIT_SPEC_KEY not in config.stash:  # read once: an inventory costs an ansible-inventory call
        config.stash[AUDIT_SPEC_KEY] = host_spec(
            hosts=config.getoption("asyncplay_hosts"), inventory=config.getoption("asyncplay_inventory"),
            base_dirs=[Path.cwd(), Path(config.rootpath)])
    spec = config.stash[AUDIT_SPEC_KEY]
    pool = session_pool(config)
    targets = pool.hosts(spec.names, key=("audit", spec))
    return PlaybookRunner(targets, inventory=spec.inventory, rootdir=Path(config.rootpath),
                          workdir=tempfile.mkdtemp(prefix="audit-", dir=pool.workdir))


PARALLEL_HOSTS_KEY = pytest.StashKey[list[Target]]()


def _parallel_runner(config: pytest.Config, count: int) -> PlaybookRunner:
    """A runner on ``count`` audit hosts (host1 is the clean one), reset; hosts are started as more are needed
    and reused across playbooks."""
    pool = session_pool(config)
    hosts = config.stash.setdefault(PARALLEL_HOSTS_KEY, [])
    if len(hosts) < count:
        reuse = hosts[:]
        hosts.extend(pool.start([f"host{i}" for i in range(len(hosts) + 1, count + 1)]))
        pool.reset(reuse)
    else:
        pool.reset(hosts[:count])
    return PlaybookRunner(hosts[:count], rootdir=Path(config.rootpath),
                          workdir=tempfile.mkdtemp(prefix="audit-", dir=pool.workdir))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """In a parallel reap audit under ``-n`` (xdist's default ``load``): keep each playbook's items on one
    worker (``loadfile``), since they share one play."""
    if (config.getoption("asyncplay_reap_audit") and not _isolated_why(config)
            and config.getoption("dist") == "load"):
        from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

        return LoadFileScheduling(config, log)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """An audited folder is collected by the audit alone: its playbooks and roles, never its Python."""
    session = parent.config.stash.get(AUDIT_KEY, None)
    if session is None or session.root_of(path) is None:
        return None
    return AuditDirectory.from_parent(parent, path=path)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """A playbook or task file named on the command line in audit mode."""
    session = parent.config.stash.get(AUDIT_KEY, None)
    if session is None or file_path.suffix not in (".yml", ".yaml") or session.root_of(file_path) is None:
        return None
    return session.file_collector(parent, file_path)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """In audit mode, the repo's own Python files under the audited paths are not collected."""
    session = config.stash.get(AUDIT_KEY, None)
    if session is not None and collection_path.suffix == ".py" and session.root_of(collection_path) is not None:
        return True
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect audit records from item reports (this also works on the xdist controller)."""
    records = [json.loads(str(v)) for k, v in report.user_properties if k == RECORD_KEY]
    if records and _CONFIG:
        _CONFIG[0].stash[RECORDS_KEY][report.nodeid] = records


_CONFIG: list[pytest.Config] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the config for the report hook (which gets no config of its own). A split audit
    (pytest-split's ``--splits N --group i``) selects its shard with ``AuditSplit``: playbooks whole."""
    config = session.config
    _CONFIG[:] = [config]
    split = config.pluginmanager.get_plugin("pytestsplitplugin")  # registered by pytest-split's configure
    if split is not None and AUDIT_KEY in config.stash:
        config.pluginmanager.unregister(split)
        config.stash[SPLIT_KEY] = AuditSplit(config)
        config.pluginmanager.register(config.stash[SPLIT_KEY], "asyncplay-split")


def shard_of(config: pytest.Config) -> Optional[tuple[int, int]]:
    """``(group, splits)`` of a split audit, else None."""
    if SPLIT_KEY not in config.stash:
        return None
    return int(config.getoption("group")), int(config.getoption("splits"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the kept hosts and the audit's verdict table; write ``--asyncplay-report`` files."""
    pool = config.stash.get(POOL_KEY, None)
    kept = config.stash[KEPT_KEY] + (kept_lines(pool) if pool is not None and pool.keep else [])
    if kept:
        terminalreporter.write_sep("=", "asyncplay kept hosts (--asyncplay-keep-hosts)")
        for line in kept:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"remove them all: {pool_removal_command(config)}")
    session = config.stash.get(AUDIT_KEY, None)
    notes = session.notes() if session is not None else []
    if notes:
        terminalreporter.write_sep("=", f"asyncplay notes: {len(notes)} thing(s) the audit could not follow")
        for note in notes:
            terminalreporter.write_line(note)
    rows = merge(r for records in config.stash[RECORDS_KEY].values() for r in records)
    if rows:
        terminalreporter.write_sep("=", "asyncplay reap audit")
        for line in format_table(rows).splitlines():
            terminalreporter.write_line(line)
    report = config.getoption("asyncplay_report")
    if report and (rows or session is not None):  # an audit with nothing to audit still leaves its report
        written = write_reports(rows, Path(report), notes, shard_of(config))
        terminalreporter.write_line(f"reports: {' '.join(map(str, written))}")
    _write_page(config, terminalreporter)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A repo with no fire-and-forget task passes the audit (pytest would exit 5, "no tests ran"); a
    session ended by SIGTERM/SIGHUP exits 128+signum; an xdist worker hands its kept hosts to the controller."""
    config = session.config
    pool = config.stash.get(POOL_KEY, None)
    if pool is not None and pool.keep and hasattr(config, "workeroutput"):
        config.workeroutput["asyncplay_kept"] = kept_lines(pool)
    guard = config.stash.get(GUARD_KEY, None)
    if guard is not None and guard.received is not None:
        session.exitstatus = 128 + guard.received
        return
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and AUDIT_KEY in session.config.stash:
        session.exitstatus = pytest.ExitCode.OK
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        shard = shard_of(config)
        if reporter is not None and shard is not None:
            reporter.write_line(f"asyncplay: nothing to audit in group {shard[0]}/{shard[1]} of the split (no "
                                "playbook with a fire-and-forget task fell to it)")
        elif reporter is not None:
            reporter.write_line("asyncplay: no fire-and-forget task found under the audited paths")


def keep_value(config: pytest.Config) -> Optional[str]:
    """The ``pytest-asyncplay.keep`` label value with ``--asyncplay-keep-hosts`` (one per run: the xdist
    workers share the controller's test run id), else None."""
    if not config.getoption("asyncplay_keep_hosts"):
        return None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])[:12]
    if KEEP_VALUE_KEY not in config.stash:
        config.stash[KEEP_VALUE_KEY] = uuid.uuid4().hex[:12]
    return config.stash[KEEP_VALUE_KEY]


KEEP_VALUE_KEY = pytest.StashKey[str]()


def kept_lines(pool: HostPool) -> list[str]:
    """One line per kept host: name, container id, the ssh command that reaches it after the session."""
    lines = [f"{t.name}  container {t.container_id[:12]}  ssh: {shlex.join(argv)}" for t, argv in pool.kept()]
    return [*lines, f"keys and known_hosts of these hosts: {pool.workdir} (remove it with the hosts)"] if lines else []


def pool_removal_command(config: pytest.Config) -> str:
    """The one command that removes every host this run kept (workers included)."""
    label = shlex.quote(f"{KEEP_LABEL}={keep_value(config)}")
    return f"docker rm -f $(docker ps -aq --filter label={label})"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node: Any) -> None:
    """xdist controller: remember each worker's pid, so SIGTERM/SIGHUP can be forwarded to it."""
    guard = node.config.stash.get(GUARD_KEY, None)
    pid = getattr(node.gateway._rinfo(), "pid", None)  # cached: xdist asked for it when the worker started
    if guard is not None and isinstance(pid, int):
        guard.worker_pids[node.gateway.id] = pid


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect the hosts a worker kept, for the summary."""
    output = getattr(node, "workeroutput", None) or {}
    node.config.stash[KEPT_KEY].extend(output.get("asyncplay_kept", []))
    guard = node.config.stash.get(GUARD_KEY, None)
    if guard is not None:
        guard.worker_pids.pop(node.gateway.id, None)


def session_pool(config: pytest.Config) -> HostPool:
    """The session's host pool (one per xdist worker), created on first use."""
    if POOL_KEY not in config.stash:
        base = config.getoption("asyncplay_base") or config.getini("asyncplay_base") or DEFAULT_BASE
        config.stash[POOL_KEY] = HostPool(Path(tempfile.mkdtemp(prefix="asyncplay-")), base=str(base),
                                          keep=keep_value(config))
    return config.stash[POOL_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove every container of the session, and its key and scratch folder (signals are held off
    meanwhile). The xdist controller also removes the containers of workers that died (crashed, killed)
    before they could clean up. A kept pool leaves its containers and folder."""
    guard = config.stash.get(GUARD_KEY, None)
    pool = config.stash.get(POOL_KEY, None)
    with guard.shield() if guard is not None else contextlib.nullcontext():
        began = time.monotonic()
        if pool is not None:
            pool.close()
            if not pool.keep:
                shutil.rmtree(pool.workdir, ignore_errors=True)
        if config.pluginmanager.hasplugin("dsession") and not hasattr(config, "workerinput"):
            _reap_dead_workers(config)
        if guard is not None and guard.received is not None:
            log.debug("signal cleanup (%s) done in %.1fs", signal.Signals(guard.received).name,
                      time.monotonic() - began)
    folder = config.stash.get(OWN_PARTS_KEY, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if guard is not None:
        guard.restore()


def _reap_dead_workers(config: pytest.Config) -> None:
    """Remove the containers of workers that died; say so (log and terminal) when Docker cannot be asked.

    Not a pytest warning: this runs at unconfigure, after the warnings summary, where a warning would be
    lost or (with ``filterwarnings = error``) turn a finished run's cleanup into a traceback."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        removed = reap_orphans(client)
    except docker.errors.DockerException as exc:
        message = (f"asyncplay: could not remove the containers of dead xdist workers ({type(exc).__name__}: "
                   f"{exc}); the next session on this machine removes them (their owner pid is dead).")
        log.warning("%s", message)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(message, yellow=True)
        return
    if removed:
        log.debug("removed %d container(s) of dead xdist workers", len(removed))


@pytest.fixture(scope="session")
def asyncplay_pool(request: pytest.FixtureRequest) -> HostPool:
    """The session's hosts (one pool per xdist worker); every container is removed at the end."""
    return session_pool(request.config)


@pytest.fixture
def asyncplay_hosts(request: pytest.FixtureRequest) -> Iterator[list[Target]]:
    """The test's hosts (per the ``asyncplay`` marker): reused and reset when an earlier test had the same."""
    spec = spec_for(request.node)  # a bad marker fails here, before anything starts
    asyncplay_pool: HostPool = request.getfixturevalue("asyncplay_pool")
    key = None if spec.fresh else spec
    targets = asyncplay_pool.hosts(spec.names, base=spec.image, key=key)
    try:
        yield targets
    finally:
        if spec.fresh:
            asyncplay_pool.remove(targets)


@pytest.fixture
def asyncplay(request: pytest.FixtureRequest, asyncplay_hosts: list[Target], tmp_path: Path) -> PlaybookRunner:
    """A runner bound to the test's hosts: ``asyncplay.run(playbook, faults=..., ...) -> PlayResult``."""
    spec = spec_for(request.node)
    runner = PlaybookRunner(
        asyncplay_hosts, groups=spec.group_map, inventory=spec.inventory,
        search=[Path(str(request.node.path)).parent], rootdir=Path(str(request.config.rootpath)),
        workdir=tmp_path / "asyncplay",
    )
    if request.config.getoption("asyncplay_timeline") and PARTS_KEY in request.config.stash:
        runner.on_result.append(request.node.stash.setdefault(RESULTS_KEY, []).append)
    return runner
