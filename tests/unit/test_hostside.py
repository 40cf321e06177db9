"""Which processes a job fault signals: the runner found in async_wrapper's fork chain, on process tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import pytest_asyncplay

_spec = importlib.util.spec_from_file_location(
    "asyncplay_hostside", Path(pytest_asyncplay.__file__).parent / "data" / "hostside.py")
assert _spec is not None and _spec.loader is not None
hostside = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostside)

JID = b"j517144977656"
WRAPPER = [b"/usr/bin/python3", b"/root/.ansible/tmp/ansible-tmp-1/async_wrapper.py", JID, b"45",
           b"/root/.ansible/tmp/ansible-tmp-1/AnsiballZ_command.py", b"_"]
MODULE = [b"/usr/bin/python3", b"/root/.ansible/tmp/ansible-tmp-1/AnsiballZ_command.py"]
SHELL = [b"/bin/sh", b"-c", b"sleep 20; echo compressed"]

# (pid, ppid, pgid, sid, argv): init, sshd, the SSH session's shell (session 590), then the job's chain
BASE = [(1, 0, 1, 1, [b"/sbin/docker-init"]), (7, 1, 7, 7, [b"sshd: /usr/sbin/sshd -D"]),
        (590, 7, 590, 590, [b"sshd: ansible@notty"]), (600, 590, 600, 590, [b"/bin/sh", b"-c", b"..."])]
LAUNCHER = (602, 600, 600, 590, WRAPPER)           # prints "started" once notified, then exits
FIRST_CHILD = (603, 602, 600, 590, WRAPPER)        # forks and exits
LEADER = (604, 1, 604, 604, WRAPPER)               # setsid, forks and exits
WATCHDOG = (605, 1, 604, 604, WRAPPER)
RUNNER = (606, 605, 606, 604, WRAPPER)
JOB = [(607, 606, 606, 604, MODULE), (608, 607, 606, 604, SHELL), (609, 608, 606, 604, [b"sleep", b"20"])]


def find(table):
    return hostside.find_job(BASE + table, JID)


def test_the_settled_job():
    assert find([WATCHDOG, RUNNER, *JOB]) == (605, 606, [607, 608, 609])


def test_a_session_leader_still_exiting_is_not_taken_for_the_watchdog():
    # seen under load: the runner was taken for the module's parent, and the kill took the runner too
    leader_exiting = (604, 1, 604, 604, WRAPPER)
    watchdog = (605, 604, 604, 604, WRAPPER)
    assert find([leader_exiting, watchdog, RUNNER, *JOB]) == (605, 606, [607, 608, 609])


def test_a_session_leader_already_exited_but_not_reaped():
    # seen on 2.15 in CI: the exited leader (no argv) is still in the table; its session is still the job's
    zombie = (604, 1, 604, 604, [b""])
    watchdog = (605, 604, 604, 604, WRAPPER)
    assert find([zombie, watchdog, RUNNER, *JOB]) == (605, 606, [607, 608, 609])


def test_the_whole_chain_still_visible():
    chain = [LAUNCHER, FIRST_CHILD, (604, 603, 604, 604, WRAPPER), (605, 604, 604, 604, WRAPPER), RUNNER, *JOB]
    assert find(chain) == (605, 606, [607, 608, 609])


def test_before_the_watchdog_made_the_runner_a_group_leader():
    runner = (606, 605, 604, 604, WRAPPER)
    job = [(607, 606, 604, 604, MODULE), (608, 607, 604, 604, SHELL)]
    assert find([WATCHDOG, runner, *job]) == (605, 606, [607, 608])


def test_the_modules_fork_before_its_exec_is_not_the_runner():
    module_fork = (607, 606, 606, 604, WRAPPER)
    assert find([WATCHDOG, RUNNER, module_fork]) == (605, 606, [607])


def test_launched_with_become_through_a_session_leading_launcher():
    launcher = (602, 601, 602, 602, WRAPPER)
    first_child = (603, 602, 602, 602, WRAPPER)
    sudo = (601, 600, 600, 590, [b"sudo", b"-H", b"-S", b"-n", b"-u", b"root", b"/bin/sh", b"-c", b"..."])
    table = [sudo, launcher, first_child, (604, 603, 604, 604, WRAPPER), (605, 604, 604, 604, WRAPPER), RUNNER]
    assert find(table) == (605, 606, [])


@pytest.mark.parametrize("table, expected", [
    ([WATCHDOG], (605, None, [])),         # the runner is gone: only the watchdog is left
    ([], (None, None, [])),                # nothing of the job is left
    ([LAUNCHER], (602, None, [])),         # only the launcher, exiting
])
def test_without_a_runner(table, expected):
    assert find(table) == expected


def plan(table, action):
    return hostside.plan(BASE + table, JID, action)


def test_stop_freezes_the_module_and_its_command_but_not_the_runner():
    targets, answer = plan([WATCHDOG, RUNNER, *JOB], "stop")
    assert targets == [607, 608, 609] and answer["froze"] == "job"


def test_stop_freezes_the_runner_when_the_module_is_in_the_watchdogs_group():
    # seen under load: the module was in the watchdog's group; frozen, it got the watchdog SIGHUP'd at the
    # timeout kill of the runner (orphaned process group with a stopped member) and nothing wrote the timeout
    job = [(607, 606, 604, 604, MODULE), (608, 607, 604, 604, SHELL)]
    targets, answer = plan([WATCHDOG, RUNNER, *job], "stop")
    assert targets == [606] and answer["froze"] == "runner"
    cont, _ = plan([WATCHDOG, RUNNER, *job], "cont")
    assert cont == [607, 608, 606]  # resume resumes either


@pytest.mark.parametrize("action, expected", [
    ("kill", [607, 608, 609]),             # the runner lives to record the failure
    ("vanish", [605, 606, 607, 608, 609]),  # nothing is left to write a result
])
def test_kill_and_vanish(action, expected):
    targets, answer = plan([WATCHDOG, RUNNER, *JOB], action)
    assert targets == expected and (answer["watchdog"], answer["runner"]) == (605, 606)


def test_vanish_kills_every_process_of_the_job_even_mid_fork():
    leader_exiting = (604, 1, 604, 604, WRAPPER)
    targets, _ = plan([leader_exiting, (605, 604, 604, 604, WRAPPER), RUNNER, *JOB], "vanish")
    assert targets == [604, 605, 606, 607, 608, 609]


def test_stop_of_a_job_whose_runner_is_gone_signals_nothing():
    assert plan([WATCHDOG], "stop") == ([], {"watchdog": 605, "runner": None, "froze": None})


def test_serve_answers_each_command_line_and_survives_a_bad_one():
    import json
    import subprocess
    import sys

    script = Path(pytest_asyncplay.__file__).parent / "data" / "hostside.py"
    lines = [["signal", "j1.2", "kill"], ["no-such-command"], ["signal", "j3.4", "stop"]]
    done = subprocess.run([sys.executable, str(script), "serve"], capture_output=True, timeout=30,
                          input="".join(json.dumps(line) + "\n" for line in lines), text=True)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr  # stdin closed: the loop ended on its own
    assert answers[0] == {"ok": {"watchdog": None, "runner": None, "froze": None, "signalled": []}}
    assert answers[1] == {"error": "SystemExit: unknown command 'no-such-command'"}
    assert answers[2]["ok"]["signalled"] == []


# ---- whether a job is alive: its runner, not any process with the jid in argv ------------------------------
@pytest.mark.parametrize(("table", "alive"), [
    ([WATCHDOG, RUNNER, *JOB], True),
    ([WATCHDOG], False),                          # the runner finished; the watchdog sleeps out its step (5 s)
    ([WATCHDOG, (606, 605, 606, 604, [b""])], False),  # the runner a zombie the watchdog has not reaped yet
    ([(606, 1, 606, 604, WRAPPER), *JOB], True),  # the watchdog killed: the orphaned runner runs on
    ([LAUNCHER, FIRST_CHILD], False),             # a launch chain still exiting is no job
])
def test_a_job_is_alive_while_its_runner_is(table, alive):
    assert hostside.runner_alive(BASE + table, JID) is alive
