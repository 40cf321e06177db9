"""No verdict rests on a silent failure: a job file that cannot be read on a real host, and a relay that dies
during a real play, are refused with their reason instead of passing as "nothing failed"."""

from __future__ import annotations

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
