"""The helper kept running in a host during a play with job faults: fast, and never in the way."""

from __future__ import annotations

import gc
import time

import pytest

from pytest_asyncplay.agent import AgentError, HostAgent


def _helpers_running(target) -> int:
    _rc, out = target.exec("ps -eo args | grep -c '^python3 -u -c .* serve$' || true")
    return int(out.strip() or 0)


def test_the_agent_answers_like_an_exec_and_leaves_nothing_behind(asyncplay_hosts):
    [host] = asyncplay_hosts
    agent = HostAgent(host)
    try:
        by_agent = agent.call("signal", "j1234.5", "kill")
        assert _helpers_running(host) == 1  # after its first answer: exec_start returns before the process runs
        assert by_agent == host.hostside("signal", "j1234.5", "kill")
        assert by_agent["signalled"] == []
        jobs = agent.call("jobs", '[["j1234.5", ""]]')
        assert jobs["j1234.5"]["exists"] is False and jobs["j1234.5"]["alive"] is False
    finally:
        agent.close()
    gc.collect()  # what docker-py kept of the exec's HTTP response is closed already, so nothing is raised here
    deadline = time.monotonic() + 10
    while _helpers_running(host) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _helpers_running(host) == 0  # stdin closed: the helper ended
    with pytest.raises(AgentError, match="was closed"):
        agent.call("signal", "j1234.5", "kill")


def test_after_a_restart_the_agent_says_so_instead_of_hanging(asyncplay_hosts):
    [host] = asyncplay_hosts
    agent = HostAgent(host, timeout=20)
    try:
        host.pool.restart(host)
        with pytest.raises(AgentError, match="stopped answering"):
            agent.call("signal", "j1234.5", "kill")
    finally:
        agent.close()
