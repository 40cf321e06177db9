"""Nothing leaks, whatever ends the session: SIGINT, SIGTERM, SIGHUP (hosts up, a play running, xdist) and
``--asyncplay-keep-hosts``, which leaves the hosts on purpose and says how to reach and remove them."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from pytest_asyncplay.targets import KEEP_LABEL, LABEL, reap_orphans

pytestmark = pytest.mark.docker  # real hosts in a subprocess

TESTS = '''
import os
import time
from pathlib import Path

import pytest

LONG_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: sleep 67
"""


def tell(pool):
    """Let the parent know the hosts are up: the session label, one line per process (xdist workers)."""
    name = os.environ["MARKERS"] + "/" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(name + ".tmp").write_text(pool.session_id)
    os.replace(name + ".tmp", name)


@pytest.mark.asyncplay(hosts=2)
def test_hosts_up(asyncplay_hosts, asyncplay_pool):
    tell(asyncplay_pool)
    time.sleep(60)


@pytest.mark.asyncplay(hosts=2)
def test_play_running(asyncplay, asyncplay_pool, tmp_path):
    (tmp_path / "long.yml").write_text(LONG_PLAY)
    tell(asyncplay_pool)
    asyncplay.run(tmp_path / "long.yml")


@pytest.mark.parametrize("worker", [1, 2])
def test_worker_hosts_up(asyncplay_hosts, asyncplay_pool, worker):
    tell(asyncplay_pool)
    time.sleep(60)
'''


def _child_signals_default() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a background shell may ignore SIGINT
        signal.signal(signum, signal.SIG_DFL)


def start_session(path: Path, *args: str) -> subprocess.Popen[str]:
    """A pytest session (this plugin through its entry point) in ``path`` with the generated tests."""
    (path / "test_generated.py").write_text(TESTS)
    (path / "markers").mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--basetemp", str(path / "basetemp"), *args],
        cwd=path, env={**os.environ, "MARKERS": str(path / "markers")}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, preexec_fn=_child_signals_default,
    )


def wait_for_sessions(proc: subprocess.Popen[str], path: Path, count: int = 1, timeout: float = 120) -> list[str]:
    """The session ids the child's processes wrote once their hosts were up."""
    deadline = time.monotonic() + timeout
    while len(found := sorted(f for f in (path / "markers").iterdir() if f.suffix != ".tmp")) < count:
        assert proc.poll() is None, f"the session ended early:\n{proc.communicate()[0]}"
        assert time.monotonic() < deadline, "the hosts never came up"
        time.sleep(0.1)
    return [f.read_text() for f in found]


def wait_for_task(client: docker.DockerClient, session: str, timeout: float = 60) -> None:
    """Until the play's ``sleep 67`` runs on every host of the session."""
    deadline = time.monotonic() + timeout
    containers = client.containers.list(filters={"label": f"{LABEL}={session}"})
    while not all(any("sleep 67" in " ".join(p) for p in c.top()["Processes"] or []) for c in containers):
        assert time.monotonic() < deadline, "the play's task never started"
        time.sleep(0.2)


def containers_of(client: docker.DockerClient, session: str) -> list[str]:
    """``docker ps -a --filter label=pytest-asyncplay=<session>``."""
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}={session}"})]


NUL = b"\0"


def processes_mentioning(text: str) -> list[str]:
    """Processes whose argv or environment holds ``text`` (the play, its ssh clients and masters)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
            if text.encode() in argv or text.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(f"{entry}: {argv.replace(NUL, b' ').decode(errors='replace')[:160]}")
        except OSError:
            continue
    return found


EXPECTED_STATUS = {signal.SIGINT: 2, signal.SIGTERM: -signal.SIGTERM, signal.SIGHUP: -signal.SIGHUP}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("moment", ["hosts_up", "play_running"])
def test_signal_removes_every_container_then_exits_with_the_signal_status(
    tmp_path: Path, moment: str, signum: signal.Signals
) -> None:
    client = docker.from_env()
    proc = start_session(tmp_path, "-p", "no:xdist", f"test_generated.py::test_{moment}")
    (session,) = wait_for_sessions(proc, tmp_path)
    if moment == "play_running":
        wait_for_task(client, session)
    assert len(containers_of(client, session)) == 2
    sent = time.monotonic()
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    # SIGINT keeps pytest's own status (2, interrupted); SIGTERM and SIGHUP end the process by the signal
    assert proc.returncode == EXPECTED_STATUS[signum], output
    assert containers_of(client, session) == [], output
    assert processes_mentioning(str(tmp_path)) == [], output
    assert took < 30, f"cleanup after {signum.name} took {took:.1f}s"


def test_sigterm_to_the_xdist_controller_removes_the_workers_containers(tmp_path: Path) -> None:
    client = docker.from_env()
    proc = start_session(tmp_path, "-p", "xdist", "-n", "2", "test_generated.py::test_worker_hosts_up")
    sessions = wait_for_sessions(proc, tmp_path, count=2)
    assert all(containers_of(client, s) for s in sessions)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, output
    # the workers remove their own containers before the controller exits: no wait is needed
    assert [containers_of(client, s) for s in sessions] == [[], []], output


def test_keep_hosts_leaves_them_reachable_and_prints_the_command_that_removes_them(tmp_path: Path) -> None:
    client = docker.from_env()
    (tmp_path / "test_keep.py").write_text("def test_it(asyncplay_hosts):\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--asyncplay-keep-hosts",
         "test_keep.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    lines = proc.stdout.splitlines()
    ssh = next((line.split("ssh: ", 1)[1] for line in lines if line.startswith("host1  container ")), "")
    remove = next((line.split(": ", 1)[1] for line in lines if line.startswith("remove them all: ")), "")
    keep_label = shlex.split(remove.split("label=")[-1].rstrip(")"))[0] if remove else f"{KEEP_LABEL}=missing"
    try:
        assert proc.returncode == 0, proc.stdout
        kept = client.containers.list(all=True, filters={"label": keep_label})
        assert len(kept) == 1 and kept[0].status == "running", proc.stdout
        reap_orphans(client)  # what the next session does first: its owner is dead, but it is kept
        assert client.containers.list(all=True, filters={"label": keep_label}) == kept
        assert subprocess.run([*shlex.split(ssh), "true"], capture_output=True, timeout=30).returncode == 0, ssh
        assert subprocess.run(remove, shell=True, capture_output=True, timeout=60).returncode == 0, remove
        assert client.containers.list(all=True, filters={"label": keep_label}) == []
    finally:
        for container in client.containers.list(all=True, filters={"label": keep_label}):
            container.remove(force=True)
        for line in lines:
            if line.startswith("keys and known_hosts of these hosts: "):
                subprocess.run(["rm", "-rf", line.split(": ", 1)[1].split(" (")[0]], check=False)
