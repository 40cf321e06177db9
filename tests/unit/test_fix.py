"""``asyncplay lint --fix``: the lines it inserts, that nothing else of the file changes, that the fixed file
passes the lint, that a second fix is a no-op, and what it leaves alone (and says why)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_asyncplay import lint
from pytest_asyncplay.audit.fix import FIXABLE, Edit, apply_edits, budget, plan_fixes

ROOT = Path(__file__).resolve().parents[2]
PLAY = """\
# a comment that stays
- name: Deploy
  hosts: all
  gather_facts: false
  tasks:
    - name: compress logs   # keeps its comment
      ansible.builtin.shell: 'sleep 2; echo "compressed"'
      async: 30
      poll: 0
{register}
    - name: go on with other work
      ansible.builtin.command: "true"

  handlers:
    - name: restart
      ansible.builtin.command: "true"
"""


def write(tmp_path: Path, text: str, name: str = "site.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def fix(path: Path) -> str:
    report = plan_fixes(lint(path.parent))
    for change in report.files:
        change.path.write_text(change.after, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def inserted(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before``; fails if any line of ``before`` changed or went."""
    import difflib

    added = []
    matcher = difflib.SequenceMatcher(a=before.splitlines(keepends=True), b=after.splitlines(keepends=True),
                                      autojunk=False)
    for op, _, _, j1, j2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), f"a line of the original changed or went ({op})"
        if op == "insert":
            added += matcher.b[j1:j2]
    return added


@pytest.mark.parametrize("register", ["      register: compress_job\n", ""])
def test_an_unreaped_launch_gets_a_reap_at_the_end_of_its_list_and_nothing_else_changes(tmp_path, register):
    path = write(tmp_path, PLAY.format(register=register.rstrip("\n")))
    before = path.read_text()
    assert [f.kind for f in lint(tmp_path)] == ["unreaped"]
    after = fix(path)
    name = "compress_job" if register else "compress_logs_job"
    expected = ([] if register else [f"      register: {name}\n"]) + [  # its blank line, before "handlers:",
        '    - name: "wait for compress logs"\n', "      ansible.builtin.async_status:\n",  # reads as after it
        f'        jid: "{{{{ {name}.ansible_job_id }}}}"\n', f"      register: {name}_result\n",
        f"      until: {name}_result.finished\n", "      retries: 31\n", "      delay: 1\n", "\n"]
    assert inserted(before, after) == expected
    assert after.index("wait for compress logs") < after.index("handlers:")  # in its own list, at its end
    assert lint(tmp_path) == []  # the fixed file passes the lint
    assert plan_fixes(lint(tmp_path)).files == []  # and a second fix changes nothing


def test_a_loop_launch_gets_a_loop_reap_over_its_results_and_skipped_items_are_not_waited_for(tmp_path):
    path = write(tmp_path, """\
- hosts: all
  tasks:
    - block:
        - name: warm caches
          ansible.builtin.command: "warm {{ item }}"
          loop: [a, b]
          async: 600
          poll: 0
          register: warm
      rescue:
        - ansible.builtin.fail:
            msg: rescued
""")
    before = path.read_text()
    after = fix(path)
    assert inserted(before, after) == [
        "\n", '        - name: "wait for warm caches"\n', "          ansible.builtin.async_status:\n",
        '            jid: "{{ item.ansible_job_id }}"\n', '          loop: "{{ warm.results }}"\n',
        "          when: item.ansible_job_id is defined\n", "          register: warm_result\n",
        "          until: warm_result.finished\n", f"          retries: {budget(600)[0]}\n", "          delay: 5\n"]
    assert after.index("wait for warm caches") < after.index("rescue:")  # at the end of the block's own list
    assert [f.kind for f in lint(tmp_path)] == []


def test_a_reap_without_until_gets_until_retries_and_delay(tmp_path):
    path = write(tmp_path, """\
- hosts: all
  tasks:
    - name: build
      ansible.builtin.command: make
      async: 120
      poll: 0
      register: build
    - name: look once
      ansible.builtin.async_status:
        jid: "{{ build.ansible_job_id }}"
      register: built
""")
    assert [f.kind for f in lint(tmp_path)] == ["reap-no-until"]
    before = path.read_text()
    after = fix(path)
    assert inserted(before, after) == ["      until: built.finished\n", f"      retries: {budget(120)[0]}\n",
                                       "      delay: 5\n"]
    assert lint(tmp_path) == []


def test_a_cleanup_only_reap_gets_the_real_reap_just_before_it(tmp_path):
    source = ROOT / "tests" / "corpus" / "cleanup_only.yml"
    path = write(tmp_path, source.read_text())
    assert [f.kind for f in lint(tmp_path)] == ["reap-cleanup-only"]
    before = path.read_text()
    after = fix(path)
    assert inserted(before, after) == [
        '    - name: "wait for purge temp files"\n', "      ansible.builtin.async_status:\n",
        '        jid: "{{ purge_job.ansible_job_id }}"\n', "      register: purge_job_result\n",
        "      until: purge_job_result.finished\n", "      retries: 31\n", "      delay: 1\n", "\n"]
    assert after.index("wait for purge temp files") < after.index("clean up purge temp files")
    assert lint(tmp_path) == [] and plan_fixes(lint(tmp_path)).files == []


def test_two_launches_of_one_name_register_two_variables(tmp_path):
    """A skipped task's register: overwrites what another launch left there: each launch gets its own."""
    launch = ("    - name: start server\n      ansible.builtin.command: serve {n}\n      async: 60\n      poll: 0\n"
              "      when: flavour == {n}\n")
    path = write(tmp_path, "- hosts: all\n  tasks:\n" + launch.format(n=1) + launch.format(n=2))
    after = fix(path)
    assert "register: start_server_job\n" in after and "register: start_server_job_2\n" in after
    assert after.count("ansible.builtin.async_status") == 2 and "when: start_server_job_2.ansible_job_id" in after


@pytest.mark.parametrize(("task", "why"), [
    ("      ansible.builtin.command: make\n      async: \"{{ budget }}\"\n      poll: 0\n", "async: is templated"),
    ("      ansible.builtin.command: make\n      async: 60\n      poll: 0\n      register: out\n"
     "    - ansible.builtin.command: other\n      register: out\n", "registers out again"),
])
def test_what_cannot_be_fixed_safely_is_left_alone_with_its_reason(tmp_path, task, why):
    path = write(tmp_path, "- hosts: all\n  tasks:\n    - name: launch\n" + task)
    report = plan_fixes(lint(tmp_path))
    assert report.files == [] and len(report.left_alone) == 1
    assert why in report.left_alone[0] and "left alone" in report.left_alone[0], report.left_alone
    assert path.read_text() == "- hosts: all\n  tasks:\n    - name: launch\n" + task


def test_a_fire_and_forget_reboot_is_never_written_and_its_replacement_only_shown(tmp_path):
    """reboot-by-async: no async_status can reap a job whose host goes down; --diff shows ansible.builtin.reboot
    in place of the command, async and poll (the task's other keys stay), --fix writes nothing."""
    text = ("- hosts: all\n  tasks:\n    - name: reboot now\n      ansible.builtin.shell: sleep 2 && shutdown -r now\n"
            "      async: 1\n      poll: 0\n      become: true\n")
    path = write(tmp_path, text)
    report = plan_fixes(lint(tmp_path))
    assert report.files == [] and len(report.left_alone) == 1
    assert "reboot-by-async (" in report.left_alone[0] and "what waits after the reboot" in report.left_alone[0]
    (shown,) = report.suggested
    assert shown.after == ("- hosts: all\n  tasks:\n    - name: reboot now\n      ansible.builtin.reboot:\n"
                           "        reboot_timeout: 600\n        test_command: uptime\n      become: true\n")
    assert path.read_text() == text
    first_key = "- hosts: all\n  tasks:\n    - ansible.builtin.shell: shutdown -r now\n      async: 1\n      poll: 0\n"
    write(tmp_path, first_key)
    assert plan_fixes(lint(tmp_path)).suggested == []  # the command on the "- " line: nothing shown, said so


def test_a_launch_in_a_handler_is_left_alone(tmp_path):
    write(tmp_path, PLAY.format(register="      register: compress_job").replace(
        '    - name: restart\n      ansible.builtin.command: "true"\n',
        "    - name: restart\n      ansible.builtin.command: restart\n      async: 60\n      poll: 0\n").replace(
        '      ansible.builtin.command: "true"\n', '      ansible.builtin.command: "true"\n      notify: restart\n'))
    report = plan_fixes([f for f in lint(tmp_path) if f.task is not None and f.task.name == "restart"])
    assert report.files == [] and "it is a handler" in report.left_alone[0]


def test_edits_at_one_line_keep_their_order_and_a_missing_final_newline_is_added():
    assert apply_edits("a\nb", [Edit(2, ["x\n"]), Edit(2, ["y\n"]), Edit(1, ["m\n"])]) == "a\nm\nb\nx\ny\n"
    assert set(FIXABLE) == {"unreaped", "reap-no-until", "reap-cleanup-only"}


def test_the_command_fixes_a_copy_of_the_examples_and_leaves_the_ignored_errors_alone(tmp_path):
    copy = tmp_path / "examples"
    shutil.copytree(ROOT / "example_playbooks", copy)
    originals = {p.name: p.read_bytes() for p in copy.glob("*.yml")}

    def asyncplay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest_asyncplay", "lint", *args, "."], cwd=copy,
                              capture_output=True, text=True, timeout=120)

    diff = asyncplay("--diff")
    assert diff.stdout.startswith("--- a/fire_and_forget_unreaped.yml\n+++ b/fire_and_forget_unreaped.yml\n")
    assert {p.name: p.read_bytes() for p in copy.glob("*.yml")} == originals  # --diff writes nothing
    fixed = asyncplay("--fix")
    assert fixed.returncode == 1  # reap_ignores_errors.yml still fails: its fix is the author's
    assert "unreaped (fire_and_forget_unreaped.yml:6): fixed" in fixed.stderr, fixed.stderr
    assert "reap-ignores-errors (reap_ignores_errors.yml:6): left alone" in fixed.stderr
    changed = {p.name for p in copy.glob("*.yml") if p.read_bytes() != originals[p.name]}
    assert changed == {"fire_and_forget_unreaped.yml"}
    after = (copy / "fire_and_forget_unreaped.yml").read_text()
    plus = [line for line in diff.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(plus) == len(after.splitlines()) - len(originals["fire_and_forget_unreaped.yml"]
                                                                      .decode().splitlines())
    again = asyncplay("--fix")
    assert (copy / "fire_and_forget_unreaped.yml").read_text() == after and ": fixed" not in again.stderr


def test_a_change_that_makes_another_launch_fail_is_put_back_whole(tmp_path, monkeypatch, capsys):
    """The command's last guard: whatever the plan wrote, a launch that passed before and fails after means
    the whole change goes back (here a plan that, wrongly, adds ignore_errors to a sound reap)."""
    from pytest_asyncplay import cli
    from pytest_asyncplay.audit import fix as fix_module
    from pytest_asyncplay.audit.fix import FileFix, FixReport

    sound = ("- hosts: all\n  tasks:\n    - name: build\n      ansible.builtin.command: make\n      async: 60\n"
             "      poll: 0\n      register: build\n    - name: wait for build\n      ansible.builtin.async_status:\n"
             '        jid: "{{ build.ansible_job_id }}"\n      register: built\n      until: built.finished\n'
             "      retries: 61\n      delay: 1\n")
    path = write(tmp_path, sound)
    broken = sound + "      ignore_errors: true\n"
    monkeypatch.setattr(fix_module, "plan_fixes", lambda findings, base=None: FixReport(
        files=[FileFix(path, sound, broken, ["unreaped (site.yml:3): fixed"], [])]))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lint", "--fix", "."]) == 0  # passes: the change was put back
    assert path.read_text() == sound
    err = capsys.readouterr().err
    assert 'put back 1 file(s): the fix made "build" (site.yml) fail the lint, which passed before' in err
    assert ": fixed" not in err
