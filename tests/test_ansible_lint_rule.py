"""The ansible-lint rule ``async-unreaped``: the real ``ansible-lint`` (a subprocess, offline) over a copy of
``tests/ansible_lint_repo/`` and of ``example_playbooks/``, its codeclimate JSON parsed.

ansible-lint is a ``dev`` extra, not a ``test`` one: without it these tests skip, unless
``ASYNCPLAY_REQUIRE_ANSIBLE_LINT=1`` (then they fail). Each run takes about 2 s, so they are not docker-marked.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_asyncplay.ansible_lint import RULE_ID, RULES_DIR
from pytest_asyncplay.audit import lint

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "ansible_lint_repo"
ADVICE = f"{RULE_ID}[advice]"


def _require_ansible_lint() -> None:
    try:
        importlib.metadata.version("ansible-lint")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("ASYNCPLAY_REQUIRE_ANSIBLE_LINT") == "1":
            pytest.fail("ansible-lint is not installed and ASYNCPLAY_REQUIRE_ANSIBLE_LINT=1: pip install -e '.[dev]'")
        pytest.skip("ansible-lint is not installed (a dev extra); ASYNCPLAY_REQUIRE_ANSIBLE_LINT=1 makes this fail")


def ansible_lint(cwd: Path, *args: str, env: dict[str, str] | None = None, rules_dir: bool = True) -> list[Any]:
    """Run ansible-lint in ``cwd`` (offline, no schema refresh) with the rule's folder as ``-R -r``; its issues."""
    _require_ansible_lint()
    rules = ["-R", "-r", str(RULES_DIR)] if rules_dir else []
    command = [sys.executable, "-m", "ansiblelint", "--offline", "--nocolor", "-f", "codeclimate", *rules, *args]
    run_env = {**os.environ, "ANSIBLE_LINT_SKIP_SCHEMA_UPDATE": "1", "NO_COLOR": "1", **(env or {})}
    done = subprocess.run(command, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 2), f"ansible-lint exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    issues: list[Any] = json.loads(done.stdout or "[]")
    return issues


def ours(issues: list[Any]) -> list[tuple[str, str, int]]:
    """``(check, file, line)`` of this rule's issues (its advice too), sorted; a duplicate stays."""
    return sorted((i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"])
                  for i in issues if i["check_name"].split("[")[0] == RULE_ID)


def by_place(issues: list[Any]) -> dict[tuple[str, int], Any]:
    return {(i["location"]["path"], i["location"]["lines"]["begin"]): i
            for i in issues if i["check_name"].split("[")[0] == RULE_ID}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of ``tests/ansible_lint_repo`` (ansible-lint may write caches beside what it lints)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "repo"))


# The fixture's tasks (see tests/ansible_lint_repo): where each is, what the rule says.
ROLE_TASK = ("roles/indexer/tasks/main.yml", 2)  # unreaped; played by site.yml and playbooks/nightly.yml
UNREAPED = ("site.yml", 15)
SOUND = ("site.yml", 8)  # reaped soundly
BUDGET = ("site.yml", 30)  # reaped, but retries x delay < async: advice
NOQA = ("site.yml", 45)  # unreaped, silenced by a noqa comment for the rule
UNREACHED = ("tasks/cleanup.yml", 2)  # nothing includes the file: cannot establish
EXPECTED = sorted([(RULE_ID, *ROLE_TASK), (RULE_ID, *UNREAPED), (ADVICE, *BUDGET), (RULE_ID, *UNREACHED)])


def test_each_failing_task_is_reported_once_at_its_file_and_line(repo: Path) -> None:
    issues = ansible_lint(repo)
    assert ours(issues) == EXPECTED  # the role's task once though two playbooks play it; not the sound reap
    found = by_place(issues)
    assert SOUND not in found and NOQA not in found
    assert found[UNREAPED]["description"].startswith('unreaped: "Upload report" (site.yml:15) starts a job that no')
    assert found[UNREAPED]["severity"] == "major"
    assert found[UNREAPED]["content"]["body"].startswith("Hint: Register the launch")
    assert found[UNREAPED]["url"].endswith("docs/ansible-lint.md")
    assert found[UNREACHED]["description"].startswith('cannot establish: not-analysed: "Purge temp files"')
    assert found[BUDGET]["description"].startswith('reap-budget-short: "Warm cache"')
    assert found[BUDGET]["severity"] == "minor"  # advice is an ansible-lint warning: it fails only with --strict


def test_a_linted_playbook_reports_its_roles_finding_on_the_roles_file(repo: Path) -> None:
    assert ours(ansible_lint(repo, "site.yml")) == sorted([(RULE_ID, *ROLE_TASK), (RULE_ID, *UNREAPED),
                                                           (ADVICE, *BUDGET)])


def test_loaded_from_the_config_file_with_no_option(repo: Path) -> None:
    # the documented .ansible-lint: the rule's folder as rulesdir, ansible-lint's own rules kept
    (repo / ".ansible-lint").write_text(f"rulesdir:\n  - {RULES_DIR}\nuse_default_rules: true\noffline: true\n")
    assert ours(ansible_lint(repo, rules_dir=False)) == EXPECTED


def test_example_playbooks_give_exactly_the_two_swallowing_tasks(tmp_path: Path) -> None:
    examples = Path(shutil.copytree(ROOT / "example_playbooks", tmp_path / "example_playbooks"))
    issues = ansible_lint(examples)
    assert ours(issues) == [(RULE_ID, "fire_and_forget_unreaped.yml", 6), (RULE_ID, "reap_ignores_errors.yml", 6)]
    same = {(f.task.file.name, f.task.line, f.message) for f in lint([examples]) if f.task is not None}
    assert {(i["location"]["path"], i["location"]["lines"]["begin"], i["description"])
            for i in issues if i["check_name"] == RULE_ID} == same  # the plugin's own findings, word for word


def test_the_rules_folder_is_printed_and_the_package_never_imports_ansible_lint() -> None:
    printed = subprocess.run([sys.executable, "-m", "pytest_asyncplay.ansible_lint"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert Path(printed) == RULES_DIR and (RULES_DIR / "async_unreaped.py").is_file()
    code = ("import sys, pytest_asyncplay, pytest_asyncplay.plugin, pytest_asyncplay.ansible_lint; "
            "sys.exit('ansiblelint' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_ansible_lint_fix_writes_the_reap_asyncplay_lint_fix_writes(tmp_path: Path) -> None:
    """The same change from either tool: ``ansible-lint --fix async-unreaped`` applies the rule's transform, and
    gives asyncplay's bytes plus what ansible-lint's own formatter always writes (a ``---`` document start)."""
    ours_copy, theirs = tmp_path / "asyncplay", tmp_path / "ansible-lint"
    for copy in (ours_copy, theirs):
        shutil.copytree(ROOT / "example_playbooks", copy)
    done = subprocess.run([sys.executable, "-m", "pytest_asyncplay", "lint", "--fix", "."], cwd=ours_copy,
                          capture_output=True, text=True, timeout=120, check=False)
    assert "fire_and_forget_unreaped.yml:6): fixed" in done.stderr, done.stderr
    issues = ansible_lint(theirs, "--fix", RULE_ID, "fire_and_forget_unreaped.yml")
    assert [i for i in ours(issues) if i[1] == "fire_and_forget_unreaped.yml"] == []  # fixed, so no longer found
    fixed = (theirs / "fire_and_forget_unreaped.yml").read_text()
    assert fixed.startswith("---\n") and fixed[4:] == (ours_copy / "fire_and_forget_unreaped.yml").read_text()
    original = (ROOT / "example_playbooks" / "reap_ignores_errors.yml").read_text()
    ansible_lint(theirs, "--fix", RULE_ID, "reap_ignores_errors.yml")  # its fix is the author's: not written
    assert (theirs / "reap_ignores_errors.yml").read_text().lstrip("-\n") == original.lstrip("-\n")


def test_on_files_in_ansible_lints_own_style_the_two_fixes_are_the_same_bytes(tmp_path: Path) -> None:
    """A file that already starts with ``---`` leaves ansible-lint's formatter nothing of its own to change."""
    names = ["cleanup_only.yml", "unreaped.yml"]  # reap-cleanup-only, and two unreaped launches
    ours_copy, theirs = tmp_path / "asyncplay", tmp_path / "ansible-lint"
    for copy in (ours_copy, theirs):
        copy.mkdir()
        for name in names:
            shutil.copy(ROOT / "tests" / "corpus" / name, copy / name)
    subprocess.run([sys.executable, "-m", "pytest_asyncplay", "lint", "--fix", "."], cwd=ours_copy,
                   capture_output=True, text=True, timeout=120, check=False)
    ansible_lint(theirs, "--fix", RULE_ID, *names)
    for name in names:
        fixed = (ours_copy / name).read_bytes()
        assert fixed != (ROOT / "tests" / "corpus" / name).read_bytes(), name  # something was fixed
        assert (theirs / name).read_bytes() == fixed, name
