"""Whether a playbook's hosts are independent experiments (the audit's parallel probes): each coupling
Ansible has, and the look-alikes that are not one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_asyncplay.audit.coupling import couplings, first_coupling
from pytest_asyncplay.audit.discover import discover

LAUNCH = """
- name: compress
  ansible.builtin.command: sleep 1
  async: 30
  poll: 0
  register: job
- name: reap
  ansible.builtin.async_status:
    jid: "{{ job.ansible_job_id }}"
  register: r
  until: r.finished
  retries: 5
"""


def playbook_with(tmp_path: Path, task: str = "", play: str = "", files: dict[str, str] | None = None):
    """A playbook of one launch and its reap, ``task`` (YAML of one more task) after them, ``play`` keywords."""
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    tasks = textwrap.indent(LAUNCH + textwrap.dedent(task), "    ")
    keywords = textwrap.indent(textwrap.dedent(play), "  ")
    (tmp_path / "site.yml").write_text(f"- hosts: all\n  gather_facts: false\n{keywords}  tasks:\n{tasks}")
    found = [p for p in discover([tmp_path], []) if p.path.name == "site.yml"]
    assert found and found[0].error is None, found
    return found[0]


@pytest.mark.parametrize(("task", "why"), [
    ("- ansible.builtin.debug: msg=once\n  run_once: true\n", "run_once runs the task on one host"),
    ("- ansible.builtin.command: hostname\n  delegate_to: db1\n", "delegate_to 'db1' runs the task on another host"),
    ("- ansible.builtin.command: hostname\n  delegate_to: \"{{ groups['db'][0] }}\"\n", "delegate_to"),
    ("- ansible.builtin.add_host: name=extra\n", "add_host runs once for the play"),
    ("- ansible.builtin.group_by: key=kind\n", "group_by changes the groups"),
    ("- ansible.builtin.meta: end_play\n", "meta: end_play ends the play for every host"),
    ("- meta: clear_host_errors\n", "clear_host_errors brings failed hosts back"),
    ("- ansible.builtin.fail: msg=x\n  when: ansible_play_hosts | length < 2\n", "when reads ansible_play_hosts"),
    ("- ansible.builtin.fail: msg=x\n  when: \"'web' in group_names and groups['web'] | length > 1\"\n",
     "when reads groups"),
    ("- ansible.builtin.debug:\n    msg: \"{{ hostvars['host2'].r }}\"\n", "msg reads hostvars"),
    ("- ansible.builtin.assert:\n    that: play_hosts | length == 1\n", "that reads play_hosts"),
])
def test_each_task_level_coupling_is_found_with_its_line(tmp_path: Path, task: str, why: str) -> None:
    playbook = playbook_with(tmp_path, task)
    found = first_coupling(playbook)
    assert found is not None and why in found.why, couplings(playbook)
    assert found.file == tmp_path / "site.yml" and found.line > 13  # the added task, after the launch and reap
    assert found.describe(tmp_path).startswith(f"site.yml:{found.line}: ")


@pytest.mark.parametrize(("play", "why"), [
    ("any_errors_fatal: true\n", "any_errors_fatal ends the play for every host"),
    ("max_fail_percentage: 0\n", "max_fail_percentage"),
    ("serial: 1\n", "serial plays the hosts in batches"),
])
def test_each_play_level_coupling_is_found(tmp_path: Path, play: str, why: str) -> None:
    found = first_coupling(playbook_with(tmp_path, play=play))
    assert found is not None and why in found.why


def test_a_coupling_in_an_included_file_or_a_role_counts(tmp_path: Path) -> None:
    playbook = playbook_with(tmp_path, "- ansible.builtin.include_tasks: more.yml\n", files={
        "more.yml": "- ansible.builtin.debug: msg=x\n  run_once: yes\n"})
    found = first_coupling(playbook)
    assert found is not None and found.file == (tmp_path / "more.yml").resolve() and found.line == 1


def test_a_variable_that_reads_other_hosts_counts(tmp_path: Path) -> None:
    playbook = playbook_with(tmp_path, play="vars:\n  peers: \"{{ groups['all'] | length }}\"\n")
    found = first_coupling(playbook)
    assert found is not None and "reads groups" in found.why


@pytest.mark.parametrize(("task", "play"), [
    ("", ""),
    ("- ansible.builtin.debug: msg=x\n  run_once: false\n", ""),
    ("- ansible.builtin.command: hostname\n  delegate_to: localhost\n", ""),
    ("- ansible.builtin.command: hostname\n  delegate_to: \"{{ inventory_hostname }}\"\n", ""),
    ("- ansible.builtin.debug:\n    msg: \"{{ hostvars[inventory_hostname].r }}\"\n", ""),
    ("- ansible.builtin.meta: end_host\n", ""),
    ("- ansible.builtin.debug:\n    msg: the groups of the hosts and serial numbers\n", ""),
    ("- name: show serial\n  ansible.builtin.debug: msg=x\n", "serial: 0\n"),
    ("", "any_errors_fatal: false\n"),
])
def test_what_does_not_couple_hosts(tmp_path: Path, task: str, play: str) -> None:
    playbook = playbook_with(tmp_path, task, play=play)
    assert couplings(playbook) == []


def test_a_file_that_cannot_be_read_counts_as_a_coupling(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("- hosts: all\n  tasks: [\n")
    found = next(p for p in discover([tmp_path], []) if p.path.name == "broken.yml")
    coupling = first_coupling(found)
    assert coupling is not None and "cannot tell" in coupling.why


@pytest.mark.parametrize(("task", "items"), [
    ("- name: one\n  ansible.builtin.command: sleep 1\n  async: 9\n  poll: 0\n", [None]),
    ("- name: three\n  ansible.builtin.command: sleep {{ item }}\n  async: 9\n  poll: 0\n  loop: [1, 2, 3]\n",
     [0, 1, 2]),
    ("- name: two\n  ansible.builtin.command: sleep {{ item }}\n  async: 9\n  poll: 0\n  with_items: [a, b]\n",
     [0, 1]),
    ("- name: templated\n  ansible.builtin.command: sleep {{ item }}\n  async: 9\n  poll: 0\n"
     "  loop: \"{{ parts }}\"\n", []),
    ("- name: nested\n  ansible.builtin.command: sleep {{ item }}\n  async: 9\n  poll: 0\n"
     "  with_items: [[1, 2], 3]\n", []),
    ("- name: element templated\n  ansible.builtin.command: sleep {{ item }}\n  async: 9\n  poll: 0\n"
     "  loop: [\"{{ a }}\", 2]\n", []),
])
def test_loop_items_planned_before_the_play_only_for_literal_lists(tmp_path: Path, task: str, items: list) -> None:
    from pytest_asyncplay.audit.reap import _items_before_play

    playbook = playbook_with(tmp_path, task)
    launch = [t for t in playbook.tasks if t.name not in ("compress",)]
    assert len(launch) == 1 and _items_before_play(launch[0]) == items

