"""The runner's options: extra vars, limit, tags, env, check mode, timeout, ansible.cfg, repo inventories."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_asyncplay import PlaybookNotFoundError, PlaybookRunner, assert_play_failed, assert_play_ok
from pytest_asyncplay.versions import check_mode_runs_async

HERE = Path(__file__).resolve().parent


def messages(result, task):
    return [e["event_data"]["res"].get("msg") for e in result.events
            if e["event"] == "runner_on_ok" and e["event_data"].get("task") == task]


def test_extra_vars_tags_and_env(asyncplay):
    result = asyncplay.run("playbooks/facts.yml", extra_vars={"greeting": "hello"}, tags=["greeting", "env"],
                           env={"ASYNCPLAY_TEST_MARKER": "m-42"})
    assert_play_ok(result)
    assert messages(result, "show the extra var") == ["greeting=hello"]
    assert messages(result, "env reaches the controller") == ["marker=m-42"]
    assert messages(result, "whoami") == []  # not tagged
    assert result.stats["host1"]["ok"] == 2


@pytest.mark.asyncplay(hosts=2)
def test_limit(asyncplay):
    result = asyncplay.run("playbooks/facts.yml", limit="host2", tags="identity")
    assert_play_ok(result)
    assert set(result.stats) == {"host2"}


WHERE = """
- hosts: all
  gather_facts: false
  tasks:
    - name: where
      ansible.builtin.debug:
        msg: "from {where}"
"""


def test_relative_path_resolves_against_the_test_folder_then_rootdir(asyncplay, asyncplay_hosts, tmp_path):
    assert (asyncplay.search, asyncplay.rootdir) == ([HERE], HERE.parent)
    rooted = asyncplay.run("example_playbooks/keep_alive.yml")  # only under the rootdir
    assert_play_ok(rooted)
    assert rooted.playbook == HERE.parent / "example_playbooks" / "keep_alive.yml"
    local = asyncplay.run("playbooks/facts.yml", tags="greeting")  # only in this folder
    assert_play_ok(local)
    assert local.playbook == HERE / "playbooks" / "facts.yml"
    # a path that exists in both: the test folder's file is played
    for where in ("folder", "root"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "site.yml").write_text(WHERE.format(where=where))
    both = PlaybookRunner(asyncplay_hosts, search=[tmp_path / "folder"], rootdir=tmp_path / "root",
                          workdir=tmp_path / "runs").run("site.yml")
    assert_play_ok(both)
    assert both.playbook == (tmp_path / "folder" / "site.yml").resolve()
    assert messages(both, "where") == ["from folder"]


def test_missing_playbook_names_the_path(asyncplay):
    with pytest.raises(PlaybookNotFoundError, match=r"'playbooks/nope\.yml' not found.*\nHint: .*relative"):
        asyncplay.run("playbooks/nope.yml")


def test_repo_ansible_cfg_is_respected(asyncplay):
    result = asyncplay.run("playbooks/cfg_repo/plays/site.yml")
    assert_play_ok(result)
    tasks = {e["event_data"].get("task") for e in result.events if e["event"] == "runner_on_ok"}
    assert "role found through ansible.cfg roles_path" in tasks


def test_check_mode_with_a_fire_and_forget_task(asyncplay, asyncplay_hosts):
    result = asyncplay.run("playbooks/check_mode.yml", check=True)
    (host,) = asyncplay_hosts
    if check_mode_runs_async():
        # ansible-core 2.17+: the job starts, and its module runs in check mode (command is skipped)
        assert_play_ok(result)
        job = result.job("start job")
        assert job.outcome == "ok" and job.result.get("skipped") is True
    else:
        # 2.15 / 2.16 refuse async in check mode
        assert_play_failed(result, task="start job")
        assert "check mode and async cannot be used on same task" in result.stdout
    assert host.exec("test -e /tmp/check-mode-ran")[0] != 0  # nothing really ran


def test_timeout_stops_a_hanging_play_and_keeps_the_evidence(asyncplay):
    result = asyncplay.run("playbooks/hang.yml", timeout=3)
    assert result.timed_out and not result.ok
    assert result.duration < 30
    with pytest.raises(AssertionError, match="stopped at its timeout"):
        assert_play_ok(result)


@pytest.mark.asyncplay(inventory="playbooks/inventory_repo/hosts.ini")
def test_repo_inventory_hosts_are_mapped_onto_containers(asyncplay_hosts, asyncplay):
    assert sorted(h.name for h in asyncplay_hosts) == ["db1", "web1", "web2"]
    result = asyncplay.run("playbooks/inventory_play.yml")
    assert_play_ok(result)
    assert set(result.stats) == {"web1", "web2"}


def test_a_job_file_removed_after_its_reap_keeps_the_reaped_record(asyncplay, asyncplay_hosts):
    result = asyncplay.run("playbooks/reap_then_cleanup.yml")
    assert_play_ok(result)  # ignore_errors on the reap
    job = result.job("start job")
    assert asyncplay_hosts[0].exec(f"test -e {job.results_file}")[0] != 0  # the file is gone
    assert job.reaped and job.outcome == "failed", job.evidence()
    assert job.result is not None and job.result["rc"] == 3 and job.result["stdout"] == "partial"
    assert result.swallowed_failures == [job]
