"""``asyncplay lint`` (``pytest_asyncplay.cli``): every format, exit codes, files pre-commit passes. Pure, no Docker."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_asyncplay.cli import LINT_SCHEMA, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_playbooks"

UNREAPED = """\
- hosts: all
  tasks:
    - name: compress logs
      ansible.builtin.command: gzip -r /var/log/app
      async: 60
      poll: 0
      register: compress
"""
REAPED = UNREAPED + """\
    - name: wait for compress logs
      ansible.builtin.async_status:
        jid: "{{ compress.ansible_job_id }}"
      register: done
      until: done.finished
      retries: 30
      delay: 2
"""
SHORT_BUDGET = REAPED.replace("retries: 30", "retries: 2").replace("delay: 2", "delay: 1")
BROKEN = "- hosts: all\n  tasks:\n    - name: x\n      command: true\n   bad: [\n"
ROLE_LAUNCH = """\
- name: warm cache
  ansible.builtin.command: /usr/local/bin/warm
  async: 120
  poll: 0
  register: warm
"""
ROLE_PLAYBOOK = """\
- hosts: all
  roles: [cache]
  post_tasks:
    - name: wait for warm cache
      ansible.builtin.async_status:
        jid: "{{ warm.ansible_job_id }}"
      register: warmed
      until: warmed.finished
      retries: 60
      delay: 2
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["lint", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small repo (the cwd): one unreaped and one reaped playbook, vars files, a role reaped by its playbook."""
    monkeypatch.chdir(tmp_path)
    return write(tmp_path, {
        "unreaped.yml": UNREAPED, "reaped.yml": REAPED, "group_vars/all.yml": "x: 1\n", "vars.yml": "a: [1, 2]\n",
        "roles/cache/tasks/main.yml": ROLE_LAUNCH, "roles/cache/defaults/main.yml": "ttl: 3\n",
        "cache.yml": ROLE_PLAYBOOK,
    })


def test_text_names_each_finding_at_file_line_and_exits_1_on_the_examples(capsys: pytest.CaptureFixture[str],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = lint(capsys, "example_playbooks")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith('example_playbooks/fire_and_forget_unreaped.yml:6: unreaped: "compress logs"')
    assert lines[1].startswith("    hint: Register the launch")
    assert lines[2].startswith("example_playbooks/reap_ignores_errors.yml:6: reap-ignores-errors: ")
    assert lines[-1] == ("asyncplay lint: 7 fire-and-forget task(s) in 7 file(s): 5 ok, 2 can swallow a failure: "
                         "FAILED")


def test_a_sound_playbook_passes_and_paths_outside_the_cwd_stay_absolute(
        repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(capsys, "reaped.yml")[0] == 0
    elsewhere = write(tmp_path_factory.mktemp("other"), {"site.yml": UNREAPED})
    code, out, _ = lint(capsys, str(elsewhere / "site.yml"))
    assert code == 1 and out.startswith(f"{elsewhere / 'site.yml'}:3: unreaped: ")


def test_advice_passes_unless_strict(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"short.yml": SHORT_BUDGET})
    code, out, _ = lint(capsys, "short.yml")
    assert code == 0 and "short.yml:3: reap-budget-short: " in out and "1 with advice: passed" in out
    code, out, _ = lint(capsys, "short.yml", "--strict")
    assert code == 1 and out.rstrip().endswith("FAILED (--strict)")


def test_a_broken_playbook_fails_with_its_line_and_the_others_are_still_judged(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"broken.yml": BROKEN})
    code, out, _ = lint(capsys, "broken.yml", "reaped.yml")
    assert code == 1
    assert out.startswith("broken.yml:5: error: invalid YAML: ")
    assert "1 fire-and-forget task(s) in 2 file(s): 1 ok, 1 broken playbook(s): FAILED" in out


def test_files_that_are_not_playbooks_or_task_files_are_skipped_quietly(repo: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"requirements.yml": "- src: geerlingguy.docker\n", "empty.yml": "", "bad_vars.yml": "a: [\n"})
    code, out, _ = lint(capsys, "group_vars/all.yml", "vars.yml", "roles/cache/defaults/main.yml", "requirements.yml",
                        "empty.yml", "bad_vars.yml", "reaped.yml")
    assert code == 0
    assert out == ("asyncplay lint: 1 fire-and-forget task(s) in 1 file(s): 1 ok, 5 file(s) skipped "
                   "(not a playbook or task file): passed\n")  # requirements.yml is a task-like list: read, no noise


def test_a_role_task_file_alone_is_its_role_walked_alone_and_with_context_the_playbook_reaps_it(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lint(capsys, "roles/cache/tasks/main.yml")
    assert code == 1 and out.startswith('roles/cache/tasks/main.yml:1: unreaped: "warm cache"')
    code, out, _ = lint(capsys, "--context", ".", "roles/cache/tasks/main.yml", "vars.yml")
    assert code == 0, out
    assert "1 fire-and-forget task(s) in 3 file(s): 1 ok: passed" in out
    # the whole repo is discovered, but only what touches the files named is reported
    code, out, _ = lint(capsys, "--context", ".", "reaped.yml")
    assert code == 0 and "unreaped.yml" not in out
    code, out, _ = lint(capsys, "--context", ".", "unreaped.yml")
    assert code == 1 and out.startswith("unreaped.yml:3: unreaped: ")


def test_a_role_task_played_by_several_playbooks_is_one_finding_and_one_task(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # seen in debops (65b66ff): ansible/playbooks/service/{controller,postwhite}.yml and playbooks importing them
    # play roles whose handler fires and forgets; each playbook judged the handler again, 8 lines for 2 tasks
    monkeypatch.chdir(tmp_path)
    play = "- hosts: all\n  roles: [cache]\n"
    write(tmp_path, {"roles/cache/tasks/main.yml": ROLE_LAUNCH, "playbooks/service/cache.yml": play,
                     "playbooks/site.yml": "- import_playbook: service/cache.yml\n", "playbooks/other.yml": play})
    (tmp_path / "playbooks" / "roles").symlink_to(tmp_path / "roles")
    (tmp_path / "playbooks" / "service" / "roles").symlink_to(tmp_path / "roles")
    code, out, _ = lint(capsys, ".")
    lines = [line for line in out.splitlines() if ": unreaped: " in line]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("roles/cache/tasks/main.yml:1: unreaped:"), out
    assert "asyncplay lint: 1 fire-and-forget task(s)" in out and "1 can swallow a failure" in out
    sarif = main(["lint", ".", "--format", "sarif"])
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert sarif == 1 and len(results) == 1


def test_roles_path_finds_a_role_kept_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(write(tmp_path, {"site/cache.yml": ROLE_PLAYBOOK, "shared/cache/tasks/main.yml": ROLE_LAUNCH}))
    code, out, _ = lint(capsys, "site/cache.yml")  # the role is not installed: nothing to judge, said aloud
    assert code == 0 and out.startswith(f"note: {tmp_path / 'site' / 'cache.yml'}:2: role 'cache' is not installed")
    assert main(["lint", "site/cache.yml", "--format", "sarif"]) == 0
    notifications = json.loads(capsys.readouterr().out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "role 'cache' is not installed" in notifications[0]["message"]["text"]
    code, out, _ = lint(capsys, "site/cache.yml", "--roles-path", "shared")
    assert code == 0 and "1 fire-and-forget task(s) in 1 file(s): 1 ok: passed" in out


def test_a_folder_is_searched_as_discovery_does(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lint(capsys)  # default: the cwd
    assert code == 1
    assert [line.split(": ")[0] for line in out.splitlines() if not line.startswith(" ")][:-1] == ["unreaped.yml:3"]
    assert "3 fire-and-forget task(s) in 3 file(s): 2 ok, 1 can swallow a failure: FAILED" in out


def test_json_is_the_documented_document(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = lint(capsys, "example_playbooks", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and err.startswith("asyncplay lint: 7 fire-and-forget task(s)")
    assert set(doc) == {"schema", "tool", "paths", "context", "strict", "passed", "summary", "findings", "ok",
                        "skipped", "notes"}
    assert doc["schema"] == LINT_SCHEMA and doc["tool"]["name"] == "pytest-asyncplay" and doc["passed"] is False
    assert {k: doc["summary"][k] for k in ("tasks", "ok", "swallows", "unknown", "advice", "broken")} == {
        "tasks": 7, "ok": 5, "swallows": 2, "unknown": 0, "advice": 0, "broken": 0}
    ignored = doc["findings"][1]
    assert ignored == {
        "file": "example_playbooks/reap_ignores_errors.yml", "line": 6, "kind": "reap-ignores-errors",
        "severity": "swallows", "fails": True, "message": ignored["message"], "hint": ignored["hint"],
        "task": "rotate certificates", "playbook": "example_playbooks/reap_ignores_errors.yml",
        "reap": {"file": "example_playbooks/reap_ignores_errors.yml", "line": 12}}
    assert doc["findings"][0]["reap"] is None and doc["findings"][0]["hint"].startswith("Register the launch")
    ok = {(t["file"], t["line"], t["task"]) for t in doc["ok"]}
    assert ("example_playbooks/fire_and_forget_reaped.yml", 6, "compress logs") in ok and len(ok) == 5
    reaped = next(t for t in doc["ok"] if t["file"].endswith("fire_and_forget_reaped.yml"))
    assert reaped["reap"] == {"file": "example_playbooks/fire_and_forget_reaped.yml", "line": 15}


def test_junit_has_a_case_per_task_and_per_broken_playbook(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"broken.yml": BROKEN, "short.yml": SHORT_BUDGET})
    code, out, _ = lint(capsys, "broken.yml", "unreaped.yml", "reaped.yml", "short.yml", "--format", "junit")
    root = ET.fromstring(out)
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert code == 1
    assert set(cases) == {("broken.yml", "[broken]"), ("unreaped.yml", "compress logs[lint]"),
                          ("reaped.yml", "compress logs[lint]"), ("short.yml", "compress logs[lint]")}
    failed = {key for key, case in cases.items() if case.find("failure") is not None}
    assert failed == {("broken.yml", "[broken]"), ("unreaped.yml", "compress logs[lint]")}
    assert cases[("unreaped.yml", "compress logs[lint]")].get("line") == "3"
    assert "reap-budget-short" in (cases[("short.yml", "compress logs[lint]")].findtext("system-out") or "")
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("4", "2")


def test_output_writes_the_file_and_keeps_stdout_clean(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = lint(capsys, "unreaped.yml", "--format", "sarif", "--output", "reports/lint.sarif")
    assert code == 1 and out == ""
    assert err == "asyncplay lint: 1 fire-and-forget task(s) in 1 file(s): 0 ok, 1 can swallow a failure: FAILED\n"
    results = json.loads((repo / "reports" / "lint.sarif").read_text())["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("unreaped", 3)]


def test_bad_usage_exits_2_with_the_cause_and_the_fix(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = lint(capsys, "nope.yml")
    assert (code, out) == (2, "")
    assert err == (f"asyncplay lint: {repo / 'nope.yml'}: no such file or directory; give existing playbooks, task "
                   "files or folders (default: the current folder).\n")
    code, _, err = lint(capsys, "--format", "xml")
    assert code == 2 and "invalid choice: 'xml'" in err
    code, _, err = lint(capsys, "--context", "roles", "reaped.yml")
    assert code == 2 and "is not under --context roles" in err
    assert main([]) == 2 and "asyncplay lint [PATH ...]" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "merge-reports" in capsys.readouterr().out


def test_python_dash_m_runs_the_same_command(repo: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_asyncplay", "lint", "unreaped.yml", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["findings"][0]["kind"] == "unreaped"


CUSTOM_REAP = """- hosts: all
  gather_facts: false
  tasks:
    - name: build index
      ansible.builtin.shell: sleep 2; echo done
      async: 30
      poll: 0
      register: index_job
    - name: wait with the repo's own module
      my_ns.jobs.async_wait:
        job: "{{ index_job.ansible_job_id }}"
"""


def test_reap_module_declares_a_module_that_reaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.yml").write_text(CUSTOM_REAP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["lint", "site.yml"]) == 1
    out = capsys.readouterr().out
    assert "not-analysed" in out and "the job id goes to my_ns.jobs.async_wait" in out
    assert "--reap-module my_ns.jobs.async_wait:<argument>" in out
    assert main(["lint", "site.yml", "--reap-module", "my_ns.jobs.async_wait:job"]) == 0
    assert main(["lint", "site.yml", "--reap-module", "my_ns.jobs.async_wait:"]) == 2
    assert "is not MODULE or MODULE:JID_ARGUMENT" in capsys.readouterr().err


def test_ini_asyncplay_reap_modules_serves_the_lint_items(pytester: pytest.Pytester) -> None:
    (pytester.path / "site.yml").write_text(CUSTOM_REAP, encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    assert result.ret == 1
    pytester.makeini("[pytest]\nasyncplay_reap_modules =\n    my_ns.jobs.async_wait:job\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    assert result.ret == 0, result.stdout.str()
    pytester.makeini("[pytest]\nasyncplay_reap_modules =\n    not a module\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    result.stderr.fnmatch_lines(["*asyncplay_reap_modules*is not MODULE or MODULE:JID_ARGUMENT*"])


UNDEFINED_BEFORE_REAP = """\
- hosts: all
  gather_facts: false
  vars:
    volumes: [{name: data}]
  tasks:
    - name: job
      ansible.builtin.shell: sleep 2; echo done
      async: 30
      poll: 0
      register: job
    - name: report the ids
      ansible.builtin.debug:
        msg: reporting
      when: volumes.instance_ids is not none
    - name: wait for job
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      register: job_result
      until: job_result.finished
      retries: 30
      delay: 1
"""


def test_ansible_core_option_judges_by_that_versions_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site.yml").write_text(UNDEFINED_BEFORE_REAP, encoding="utf-8")
    assert main(["lint", "site.yml", "--ansible-core", "2.15"]) == 0
    assert main(["lint", "site.yml", "--ansible-core", "2.19"]) == 1
    assert "not-analysed" in capsys.readouterr().out
    assert main(["lint", "site.yml", "--ansible-core", "latest"]) == 2
    err = capsys.readouterr().err
    assert "--ansible-core latest: 'latest' is not an ansible-core version" in err and "such as 2.15" in err


def test_ini_asyncplay_ansible_core_serves_the_lint_items(pytester: pytest.Pytester) -> None:
    (pytester.path / "site.yml").write_text(UNDEFINED_BEFORE_REAP, encoding="utf-8")
    pytester.makeini("[pytest]\nasyncplay_ansible_core = 2.15\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    assert result.ret == 0, result.stdout.str()
    pytester.makeini("[pytest]\nasyncplay_ansible_core = 2.20\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    assert result.ret == 1, result.stdout.str()
    pytester.makeini("[pytest]\nasyncplay_ansible_core = newest\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--asyncplay-lint", "site.yml")
    result.stderr.fnmatch_lines(["*asyncplay_ansible_core*'newest' is not an ansible-core version*e.g. 2.15*"])
