"""Soak: many consecutive plays on the same reused host leak nothing, on the controller or on the hosts.

Opt-in (``slow``): ``.venv/bin/pytest -m slow -n 0 -rP tests/test_soak.py`` (CI runs it once, in ``.ci/run``).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import threading
import time

import pytest
from helpers import wait_until

from pytest_asyncplay import assert_play_ok

PLAYS = int(os.environ.get("ASYNCPLAY_SOAK_PLAYS", "60"))  # 12x the bounds below; more to soak longer
WARMUP = 5
# fd and thread bounds: a leak of one per play would show as ~PLAYS. The small slack is for pools that
# grow lazily and stay (docker-py's HTTP connections to the engine, used by exec and the job-file reads:
# a few sockets), and for a helper thread that has finished its work but not yet ended when we count.
FD_GROWTH = 5
THREAD_GROWTH = 2

# One fire-and-forget job, its reap, and the reap's cleanup: a correct run leaves no job file behind.
SOAK_PLAY = """
- name: Soak, one fire-and-forget job reaped and cleaned up
  hosts: all
  gather_facts: false
  tasks:
    - name: soak job
      ansible.builtin.command: echo soaked
      async: 20
      poll: 0
      register: soak_job

    - name: wait for soak job
      ansible.builtin.async_status:
        jid: "{{ soak_job.ansible_job_id }}"
      register: soak_result
      until: soak_result.finished
      retries: 100
      delay: 0  # the job takes a fraction of a second: poll again at once rather than sleep a whole second

    - name: clean up soak job
      ansible.builtin.async_status:
        jid: "{{ soak_job.ansible_job_id }}"
        mode: cleanup
"""

# Every path a job or a module leaves on a host, for the user who plays (ansible) and for root (become).
JOB_PATHS = ["/home/ansible/.ansible_async", "/root/.ansible_async", "/home/ansible/.ansible/tmp", "/root/.ansible/tmp"]


def controller_figures() -> dict[str, int]:
    """Open file descriptors and threads of this pytest process (after a collection: garbage is not a leak)."""
    gc.collect()
    return {"fds": len(os.listdir("/proc/self/fd")), "threads": threading.active_count()}


def children_cpu() -> float:
    """CPU seconds used so far by this process's ended children (ansible-playbook and its ssh)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def leftover_processes(host) -> list[str]:
    """Processes on ``host`` but init, sshd's listener and this ``ps``: jobs, async_wrapper, modules, sessions."""
    rc, output = host.exec(["ps", "-eo", "pid=,ppid=,user=,args="])
    assert rc == 0, output
    left = []
    for line in output.splitlines():
        pid, ppid, _user, args = line.split(None, 3)
        if pid == "1" or args.startswith("ps -eo"):
            continue
        if ppid == "1" and args.startswith(("sshd", "/usr/sbin/sshd")):
            continue  # the listener; a connection's sshd is its child, so it is counted
        left.append(line.strip())
    return left


def leftover_files(host) -> list[str]:
    """Job files, and Ansible temp dirs, left on ``host`` by either user."""
    rc, output = host.exec(["find", *JOB_PATHS, "-mindepth", "1", "-maxdepth", "1"])
    assert rc in (0, 1), output  # 1: some of the folders do not exist, which is fine
    return [line for line in output.splitlines() if not line.startswith("find:")]


def host_leftovers(hosts) -> dict[str, dict[str, list[str]]]:
    return {h.name: {"processes": leftover_processes(h), "files": leftover_files(h)} for h in hosts}


def play_once(asyncplay, playbook, index: int) -> float:
    result = asyncplay.run(playbook)
    assert_play_ok(result)
    job = result.job("soak job", host="host1")
    assert job.reaped and job.outcome == "ok", f"play {index}: {job.evidence()}"
    return result.duration


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.asyncplay(hosts=1)  # one reused host: a leak shows per play, and 60 plays fit CI's budget
def test_many_plays_on_a_reused_host_leak_nothing(asyncplay, asyncplay_hosts, tmp_path, record_property):
    playbook = tmp_path / "soak.yml"
    playbook.write_text(SOAK_PLAY)
    for index in range(WARMUP):
        play_once(asyncplay, playbook, index)
    # an async_wrapper's watchdog notices its job ended within one step, then exits and removes its temp dir:
    # wait for that, then start from clean hosts
    clean = {h.name: {"processes": [], "files": []} for h in asyncplay_hosts}
    assert wait_until(lambda: host_leftovers(asyncplay_hosts) == clean, 15.0, interval=0.5), \
        host_leftovers(asyncplay_hosts)
    before = controller_figures()

    started, cpu_before = time.monotonic(), children_cpu()
    durations = [play_once(asyncplay, playbook, WARMUP + index) for index in range(PLAYS)]
    wall, cpu = time.monotonic() - started, children_cpu() - cpu_before

    live_at_end = {h.name: h.relay.live for h in asyncplay_hosts}
    # each play stops its ControlPersist masters: the relay sees those connections close right after
    relays_drained = wait_until(lambda: all(h.relay.live == 0 for h in asyncplay_hosts), 10.0)
    # the last play's watchdogs end within one step (as above): give them that, not a leak
    wait_until(lambda: host_leftovers(asyncplay_hosts) == clean, 15.0, interval=0.5)
    leftovers = host_leftovers(asyncplay_hosts)
    after = controller_figures()

    figures = {
        "plays": PLAYS, "warmup": WARMUP, "hosts": len(asyncplay_hosts), "wall_s": round(wall, 1),
        "controller_cpu_s_per_play": round(cpu / PLAYS, 2), "loadavg_1m_at_end": os.getloadavg()[0],
        "play_s": {"min": round(min(durations), 2), "median": round(statistics.median(durations), 2),
                   "max": round(max(durations), 2)},
        "fds": {"before": before["fds"], "after": after["fds"]},
        "threads": {"before": before["threads"], "after": after["threads"]},
        "relay_live": {"at_end": live_at_end, "settled": {h.name: h.relay.live for h in asyncplay_hosts}},
        "relay_stats": {h.name: h.relay.stats() for h in asyncplay_hosts},
        "leftovers": leftovers,
    }
    print("asyncplay-soak " + json.dumps(figures, sort_keys=True))
    for key, value in figures.items():
        record_property(f"soak_{key}", json.dumps(value, sort_keys=True))

    assert after["fds"] - before["fds"] <= FD_GROWTH, figures
    assert after["threads"] - before["threads"] <= THREAD_GROWTH, figures
    assert relays_drained, figures
    assert leftovers == clean, figures
