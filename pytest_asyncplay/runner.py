"""Play a playbook against ``Target``s and return a ``PlayResult``.

The real ``ansible-playbook`` runs in its own session (``process.py``) and hands each event to us as
it happens, in ansible-runner's event format; the job tracker and the faults see them in real time.
A companion callback (``data/callback_plugins``) adds the two task attributes the stream lacks:
``async`` and ``poll``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from .errors import InventoryError, PlaybookNotFoundError, RelayError
from .faults import Fault, FaultContext
from .ledger import JobTracker, read_outcomes
from .process import display_callback_dir, run_playbook_process
from .result import FailureAccount, PlayResult, TaskFailure, stats_from_event
from .targets import Target

CALLBACK_DIR = Path(__file__).parent / "data" / "callback_plugins"
PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger("pytest_asyncplay.runner")


def resolve_playbook(playbook: PathLike, search: Sequence[Path] = ()) -> Path:
    """An absolute playbook path: as given if absolute, else the first of ``search``/playbook that exists."""
    path = Path(playbook)
    candidates = [path] if path.is_absolute() else [Path(d) / path for d in search] or [Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise PlaybookNotFoundError(
        f"playbook {str(playbook)!r} not found (looked at: {tried})",
        "a relative playbook path resolves against the test file's folder, then the rootdir; "
        "check the spelling or pass an absolute path.",
    )


def find_ansible_cfg(start: Path, stop: Optional[Path] = None) -> Optional[Path]:
    """The nearest ``ansible.cfg`` from ``start`` up to ``stop`` (inclusive), as Ansible would use it."""
    folder = start.resolve()
    stop = stop.resolve() if stop else None
    while True:
        candidate = folder / "ansible.cfg"
        if candidate.is_file():
            return candidate
        if stop is None or folder == stop or folder.parent == folder or stop not in folder.parents:
            return None
        folder = folder.parent


def inventory_hosts(inventory: Path) -> list[str]:
    """The host names of a repository inventory (any format Ansible reads), via ``ansible-inventory``."""
    if not Path(inventory).exists():
        raise InventoryError(f"inventory {inventory} does not exist",
                             "pass inventory= a path to the repo's inventory file or folder.")
    command = [_ansible_bin("ansible-inventory"), "-i", str(inventory), "--list"]
    done = subprocess.run(command, capture_output=True, text=True, env=_base_env())
    if done.returncode != 0:
        raise InventoryError(f"ansible-inventory could not read {inventory}:\n{done.stderr[-2000:]}",
                             "fix the inventory so that `ansible-inventory -i PATH --list` works.")
    data = json.loads(done.stdout)
    hosts = sorted(h for h in data.get("_meta", {}).get("hostvars", {}) if h != "localhost")
    for group, body in data.items():
        if group != "_meta" and isinstance(body, dict):
            hosts += [h for h in body.get("hosts", []) if h not in hosts and h != "localhost"]
    if not hosts:
        raise InventoryError(f"inventory {inventory} has no hosts", "add at least one host to it.")
    return sorted(set(hosts))


def _ansible_bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def check_relays(targets: Iterable[Target], result: Optional[PlayResult] = None) -> None:
    """Raise ``RelayError`` if the relay in front of a target's SSH port stopped with an error (before the play
    when ``result`` is None, else during it): every verdict on that play might be the relay's doing."""
    for target in targets:
        error = target.relay.error
        if error is None:
            continue
        when = "before the play" if result is None else "during the play"
        log.debug("relay of %s is dead %s: %r", target.name, when, error)
        raise RelayError(
            f"the SSH relay of {target.name} (127.0.0.1:{target.relay.port}) stopped {when} with {error!r}, so "
            "Ansible's connections to it were cut by pytest-asyncplay, not by the playbook or a fault",
            "this is a pytest-asyncplay bug or a resource limit on the controller (`ulimit -n`); the relay's "
            "traceback is this error's cause. The host cannot be reached for the rest of the session: ask for new "
            "hosts (`@pytest.mark.asyncplay(fresh=True)`) or restart the session, and report the traceback.",
            result,
        ) from error


def connection_vars(target: Target) -> dict[str, Any]:
    """The inventory variables that point Ansible at ``target`` with the pinned host key."""
    return {
        "ansible_host": target.address,
        "ansible_port": target.port,
        "ansible_user": target.user,
        "ansible_ssh_private_key_file": str(target.identity_file),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={target.known_hosts_file} -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes"
        ),
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def write_inventory(folder: Path, targets: Sequence[Target], groups: Optional[Mapping[str, Iterable[str]]] = None,
                    with_host_vars: bool = False) -> Path:
    """Write a YAML inventory of ``targets`` (and ``groups``) into ``folder``; return its path.

    With ``with_host_vars`` the connection variables also go into ``host_vars/`` beside it, so they win
    over a repository inventory's own ``host_vars`` (same precedence, loaded later).
    """
    folder.mkdir(parents=True, exist_ok=True)
    hosts = {t.name: connection_vars(t) for t in targets}
    children = {name: {"hosts": {h: None for h in members}} for name, members in (groups or {}).items()}
    inventory: dict[str, Any] = {"all": {"hosts": hosts}}
    if children:
        inventory["all"]["children"] = children
    path = folder / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    if with_host_vars:
        (folder / "host_vars").mkdir(exist_ok=True)
        for name, variables in hosts.items():
            (folder / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(variables))
    return path


class PlaybookRunner:
    """Plays playbooks against a fixed set of hosts; ``run`` returns a ``PlayResult``."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        groups: Optional[Mapping[str, Iterable[str]]] = None,
        inventory: Optional[PathLike] = None,
        search: Sequence[PathLike] = (),
        rootdir: Optional[PathLike] = None,
        workdir: Optional[PathLike] = None,
    ) -> None:
        self.targets = list(targets)
        self.groups = {k: list(v) for k, v in (groups or {}).items()}
        self.inventory = Path(inventory).resolve() if inventory else None
        self.search = [Path(s) for s in search]
        self.rootdir = Path(rootdir) if rootdir else None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="asyncplay-runs-"))
        self._runs = 0
        #: Called with every ``PlayResult`` this runner returns (the plugin draws them with ``--asyncplay-timeline``).
        self.on_result: list[Callable[[PlayResult], None]] = []

    def run(
        self,
        playbook: PathLike,
        *,
        faults: Sequence[Fault] = (),
        extra_vars: Optional[Mapping[str, Any]] = None,
        limit: Optional[str] = None,
        check: bool = False,
        tags: Union[str, Sequence[str], None] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        stop_on_failure: Union[bool, Callable[[TaskFailure], bool]] = False,
    ) -> PlayResult:
        """Play ``playbook`` on the hosts, with ``faults`` injected as their moments come.

        ``stop_on_failure`` ends the play at the first counted failure (not ignored, or unreachable), or
        at the first for which it returns True (the reap audit's stops only at a failure after its fault,
        on a host the fault hit, that no rescue may catch). A failure's ``at`` is on the faults' clock.
        """
        path = resolve_playbook(playbook, [*self.search, *([self.rootdir] if self.rootdir else [])])
        check_relays(self.targets)  # before anything starts: a dead relay would fail the play for nothing
        self._runs += 1
        run_dir = self.workdir / f"run{self._runs}"
        run_dir.mkdir(parents=True, exist_ok=True)
        inventories = [str(p) for p in [self.inventory] if p]
        inventories.append(str(write_inventory(run_dir / "inventory", self.targets, self.groups,
                                               with_host_vars=self.inventory is not None)))
        meta_file = run_dir / "asyncplay-meta.jsonl"
        control_dir = Path(tempfile.mkdtemp(prefix="apcp", dir="/tmp"))
        cfg = find_ansible_cfg(path.parent, self.rootdir)
        command = [_ansible_bin("ansible-playbook"), *(a for i in inventories for a in ("-i", i))]
        if extra_vars:
            (run_dir / "extravars.json").write_text(json.dumps(dict(extra_vars)))
            command += ["-e", f"@{run_dir / 'extravars.json'}"]
        if limit:
            command += ["--limit", limit]
        if tags:
            command += ["--tags", ",".join(tags) if isinstance(tags, (list, tuple)) else str(tags)]
        if check:
            command.append("--check")
        command.append(str(path))
        envvars = {
            **_base_env(),
            "ASYNCPLAY_META_FILE": str(meta_file),
            "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join(filter(None, [
                str(display_callback_dir()), str(CALLBACK_DIR), os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "")])),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            **({"ANSIBLE_CONFIG": str(cfg)} if cfg else {}),
            **dict(env or {}),
        }
        tracker = JobTracker(meta_file)
        ctx = FaultContext(self.targets, tracker.jobs)
        started_at = time.time() - ctx.elapsed()  # the faults clock's zero as POSIX time, for events' `created`
        events: list[dict[str, Any]] = []
        stop = threading.Event()
        account = FailureAccount()
        for fault in faults:
            fault.start(ctx)

        def on_event(event: dict[str, Any]) -> None:
            events.append(event)
            job = tracker.feed(event)
            for fault in faults:
                fault.on_event(event, job, ctx)
            for failure in account.feed(event, ctx.elapsed()):
                if stop_on_failure is True or (callable(stop_on_failure) and stop_on_failure(failure)):
                    stop.set()

        log.debug("play %s starts on %s with %d fault(s)", path.name, ", ".join(t.name for t in self.targets),
                  len(faults))
        started = time.monotonic()
        try:
            outcome = run_playbook_process(command, env=envvars, cwd=cfg.parent if cfg else path.parent,
                                           events_dir=run_dir, on_event=on_event, should_stop=stop.is_set,
                                           timeout=timeout)
        finally:
            ctx.close()
            _close_masters(control_dir)
        duration = time.monotonic() - started
        log.debug("play %s ended: rc=%s status=%s in %.1fs, %d async job(s)", path.name, outcome.rc, outcome.status,
                  duration, len(tracker.jobs))
        tracker.finish()
        read_outcomes(tracker.jobs, self.targets)
        stats: dict[str, dict[str, int]] = {}
        for event in events:
            if event.get("event") == "playbook_on_stats":
                stats = stats_from_event(event)
        (run_dir / "stdout").write_text(outcome.stdout)
        # a play stopped at a failure ends as ansible-playbook's own "a host failed" (2); a timed-out one as
        # ansible-runner's 254, as before
        rc = {"stopped": 2, "timeout": 254}.get(outcome.status, outcome.rc)
        from .versions import ansible_core_version

        result = PlayResult(
            playbook=path, rc=rc, stats=stats, events=events, stdout=outcome.stdout, duration=duration,
            faults=[r for f in faults for r in f.finish(ctx)], jobs=tracker.jobs,
            timed_out=outcome.status == "timeout", ansible_version=".".join(map(str, ansible_core_version())),
            failures=account.failures, started_at=started_at, run_dir=run_dir,
        )
        for hook in self.on_result:
            hook(result)
        check_relays(self.targets, result)
        return result


def _close_masters(control_dir: Path) -> None:
    """Stop the SSH ControlPersist masters of one run, so no connection outlives it."""
    exits = [subprocess.Popen(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "asyncplay"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for socket_path in control_dir.glob("*")]  # all at once: one per host
    for process in exits:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(control_dir, ignore_errors=True)
