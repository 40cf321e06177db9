"""No verdict rests on a silent failure: a job file that cannot be read on a real host, and a relay that dies
during a real play, are refused with their reason instead of passing as "nothing failed"."""

from __future__ import annotations

import base64
import re

import pytest

from pytest_asyncplay import assert_no_swallowed_failures, assert_play_ok
from pytest_asyncplay.errors import RelayError

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: compress logs
      ansible.builtin.shell: echo half; exit 3
      async: 30
      poll: 0
    - name: kept alive
      ansible.builtin.shell: sleep 1; echo kept
      async: 30
      poll: 1
"""


class PauseAtTheEnd:
    """A fault-like hook: pauses the host's container at the play's last event (the recap), before the runner
    reads the job files, so the read fails the way it does when a host is paused or gone."""

    def __init__(self, target):
        self.target = target
        self.paused = False

    def start(self, ctx):
        self.paused = False

    def on_event(self, event, job, ctx):
        if event.get("event") == "playbook_on_stats":
            self.target.pool.client.containers.get(self.target.container_id).pause()
            self.paused = True

    def finish(self, ctx):
        return []


def test_a_job_file_that_cannot_be_read_is_unknown_and_refused(asyncplay, asyncplay_hosts, tmp_path):
    (host,) = asyncplay_hosts
    playbook = tmp_path / "site.yml"
    playbook.write_text(PLAYBOOK)
    pause = PauseAtTheEnd(host)
    try:
        result = asyncplay.run(playbook, faults=[pause])
    finally:
        if pause.paused:
            host.pool.client.containers.get(host.container_id).unpause()
    assert pause.paused
    assert_play_ok(result)  # rc comes from the controller: still decided
    lost = result.job("compress logs")
    assert lost.outcome == "unknown", lost.evidence()
    assert lost.unknown_reason is not None and lost.unknown_reason.startswith(
        f"could not read the job file on {host.name}: APIError: "), lost.unknown_reason
    assert "paused" in lost.unknown_reason
    kept = result.job("kept alive")  # the controller saw its end: that stands without the file
    assert (kept.outcome, kept.unknown_reason) == ("ok", None), kept.evidence()
    assert result.unknown_jobs == [lost]
    with pytest.raises(AssertionError, match=(
            r'^1 job\(s\) have an unknown outcome, so this assertion cannot be decided:\n'
            rf'  "compress logs" \(.*site\.yml:\d+\) on {host.name}: jid \S+, outcome unknown \(could not read the job '
            r"file on .*paused.*\n(.|\n)*Hint: ")):
        assert_no_swallowed_failures(result)
    # with the host running again the same job file reads fine: the job failed, and the play swallowed it
    again = asyncplay.run(playbook)
    with pytest.raises(AssertionError, match=r"^1 job failure\(s\) were swallowed"):
        assert_no_swallowed_failures(again)


OVERWRITE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: short job
      ansible.builtin.command: /bin/false
      async: 30
      poll: 0
      register: job
    - name: wait for the job to end
      ansible.builtin.wait_for:
        path: "{{{{ job.results_file }}}}"
        search_regex: '"rc"'
        timeout: 30
    - name: overwrite its job file
      ansible.builtin.shell: {write} > {{{{ job.results_file }}}}
"""


def writes(text):
    """A shell command that prints ``text`` exactly (base64: no quoting, nothing YAML could read into it)."""
    return f"echo '{base64.b64encode(text.encode()).decode()}' | base64 -d"


@pytest.mark.parametrize(("text", "reason"), [
    ("", r"is empty \(0 bytes\)"),
    ("not json{", r"holds 9 bytes that are not JSON: 'not json\{'"),
    ('["started"]', r"holds JSON that is not an object: '\[\"started\"\]'"),
    ('{"note": "rotated"}', r"holds an object with none of a job record's keys"),
    ('{"rc": 0, "ansible_job_id": "j1.1"}', r"is the record of job j1\.1, not of j\d+\.\d+"),
], ids=["empty", "not-json", "not-an-object", "no-job-keys", "another-jid"])
def test_a_job_file_that_says_nothing_is_unknown_and_refused(asyncplay, tmp_path, text, reason):
    """The job ended (``/bin/false``), then something else wrote its file: no outcome may be read from it."""
    playbook = tmp_path / "site.yml"
    playbook.write_text(OVERWRITE.format(write=writes(text)))
    result = asyncplay.run(playbook)
    assert_play_ok(result)
    job = result.job("short job")
    assert job.outcome == "unknown" and job.result is None, job.evidence()
    assert job.unknown_reason is not None and re.search(reason, job.unknown_reason), job.unknown_reason
    with pytest.raises(AssertionError, match=r"^1 job\(s\) have an unknown outcome(.|\n)*" + reason):
        assert_no_swallowed_failures(result)


FROZEN_WATCHDOG = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: short job
      ansible.builtin.shell: while [ ! -e {go} ]; do sleep 0.1; done; exit 1
      async: 30
      poll: 0
      register: job
    - name: hold its watchdog frozen while the job still runs
      ansible.builtin.shell: {hold}
    - name: let the job end
      ansible.builtin.file:
        path: {go}
        state: touch
    - name: wait for the job to end
      ansible.builtin.wait_for:
        path: "{{{{ job.results_file }}}}"
        search_regex: '"rc"'
        timeout: 30
    - name: set its job file back to started
      ansible.builtin.shell: {write} > {{{{ job.results_file }}}}
"""
#: The job's watchdog: of the processes whose argv holds the jid's prefix, the one that does not lead its
#: process group (the runner does; grep -z: argv is NUL-separated; field 5 of /proc/PID/stat is the group).
WATCHDOG = ("for p in $(grep -l -z -x -F {jid} /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do "
            "[ \"$(cut -d' ' -f5 /proc/$p/stat 2>/dev/null)\" != \"$p\" ] && echo $p; done")


def test_a_finished_job_whose_file_is_set_back_to_started_is_not_alive(asyncplay, asyncplay_hosts, tmp_path):
    """The watchdog outlives its runner (it sleeps out its 5 s step; here it is held frozen from while the job
    still runs, so it is there whatever the machine's load): no process of a running job, so a file that still
    says "started" is a vanished job, never a running one."""
    playbook = tmp_path / "site.yml"
    go = f"/tmp/asyncplay-go-{tmp_path.name}"
    watchdog = WATCHDOG.format(jid="{{ job.ansible_job_id.split('.')[0] }}")
    # a launcher process may be exiting as kill runs (kill then fails): what was held is counted below
    playbook.write_text(FROZEN_WATCHDOG.format(go=go, hold=f"kill -STOP $({watchdog}) 2>/dev/null; true",
                                               write=writes('{"started": 1, "finished": 0}')))
    result = asyncplay.run(playbook)
    assert_play_ok(result)
    job = result.job("short job")
    frozen = asyncplay_hosts[0].exec(  # the watchdog, stopped (grep's own argv has the jid: it is gone by then)
        f"for p in $({WATCHDOG.format(jid=job.jid.split('.')[0])}); do "
        "grep -qs '^State:.*stopped' /proc/$p/status && echo $p; done")[1]
    try:
        assert frozen.split(), "the watchdog was not held: this run does not test what it is about"
        assert job.outcome == "vanished", job.evidence()
        with pytest.raises(AssertionError, match=r"^1 job failure\(s\) were swallowed"):
            assert_no_swallowed_failures(result)
    finally:
        asyncplay_hosts[0].exec(f"kill -9 {' '.join(frozen.split()) or '-0 $$'}; rm -f {go}")


@pytest.mark.asyncplay(fresh=True)  # the relay dies for good: never hand these hosts to another test
def test_a_relay_that_dies_during_the_play_raises_relay_error(asyncplay, asyncplay_hosts, tmp_path):
    (host,) = asyncplay_hosts
    playbook = tmp_path / "site.yml"
    playbook.write_text(PLAYBOOK)

    def broken(*args):
        raise RuntimeError("a relay bug")

    host.relay._accept = broken  # the play's first SSH connection ends the relay's thread
    with pytest.raises(RelayError, match=(
            rf"^the SSH relay of {host.name} \(127\.0\.0\.1:{host.port}\) stopped during the play with "
            r"RuntimeError\('a relay bug'\)(.|\n)*\nHint: ")) as info:
        asyncplay.run(playbook)
    assert info.value.result is not None and not info.value.result.ok  # the evidence: Ansible could not connect
    assert host.name in info.value.result.unreachable_hosts
