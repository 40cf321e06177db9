"""The pre-commit hook (``.pre-commit-hooks.yaml``) as a user runs it: ``pre-commit try-repo`` installs this
package into its own environment and lints a fixture repository's playbooks.

``try-repo`` installs the *committed* HEAD of the repository it is given, so the working tree (tracked and
untracked files, as ``git ls-files`` lists them) is copied into a fresh git repository and committed there first:
the hook tested is the code in front of us, not the last commit. Marked ``docker`` only to keep it off the fast
path (it builds a virtualenv from PyPI: about a minute); it needs no Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=asyncplay test", "-c", "user.email=test@example.invalid",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]

UNREAPED = """\
- hosts: all
  tasks:
    - name: compress logs
      ansible.builtin.command: gzip -r /var/log/app
      async: 60
      poll: 0
      register: compress
"""
REAP = """\
    - name: wait for compress logs
      ansible.builtin.async_status:
        jid: "{{ compress.ansible_job_id }}"
      register: done
      until: done.finished
      retries: 30
      delay: 2
"""

pytestmark = [pytest.mark.docker, pytest.mark.skipif(shutil.which("git") is None, reason="needs git")]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def snapshot_of_working_tree(dest: Path) -> Path:
    """This repository's working tree as a one-commit git repository (what try-repo will install)."""
    if (ROOT / ".git").exists():
        files = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for name in filter(None, files):
            source = ROOT / name
            if source.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    else:  # an unpacked source tree
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".venv", ".tox", "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist"))
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "working tree")
    return dest


def try_repo(hook_repo: Path, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "asyncplay-lint",
                           "--all-files", "--verbose"], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def test_the_hook_fails_on_an_unreaped_job_naming_its_line_and_passes_after_the_fix(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    hook_repo = snapshot_of_working_tree(tmp_path_factory.mktemp("hook-repo"))
    project = tmp_path_factory.mktemp("playbooks-repo")
    home = tmp_path_factory.mktemp("pre-commit-home")
    git(project, "init", "-q")
    (project / "playbooks").mkdir()
    (project / "playbooks" / "site.yml").write_text(UNREAPED)
    (project / "playbooks" / "reaped.yml").write_text(UNREAPED + REAP)
    (project / "group_vars").mkdir()
    (project / "group_vars" / "all.yml").write_text("app_dir: /srv/app\n")
    git(project, "add", "-A")

    failed = try_repo(hook_repo, project, home)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert 'playbooks/site.yml:3: unreaped: "compress logs"' in output
    assert "playbooks/reaped.yml:" not in output and "group_vars" not in output  # the sound playbook, vars: no noise
    assert "FAILED" in output

    (project / "playbooks" / "site.yml").write_text(UNREAPED + REAP)
    git(project, "add", "-A")
    passed = try_repo(hook_repo, project, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "2 fire-and-forget task(s)" in passed.stdout and ": passed" in passed.stdout
