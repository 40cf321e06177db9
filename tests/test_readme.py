"""Every snippet in the README is exercised: Python examples run, commands use real options, the
tox.ini is read by tox, the workflow is valid YAML whose pytest commands exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def readme_example() -> str:
    """The ten-line example test at the top of the README."""
    return next(b for b in blocks("python") if "def test_a_failed_compress_job_fails_the_play" in b)


@pytest.fixture(scope="module")
def known_options() -> set[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, cwd=ROOT)
    options = set(re.findall(r"--[a-z][\w-]+", done.stdout))
    return options | {"--junitxml"} if "--junit-xml" in options else options  # pytest lists one spelling


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_every_python_snippet_runs_green(pytester: pytest.Pytester) -> None:
    for folder in (ROOT / "example_playbooks", ROOT / "tests" / "playbooks"):
        for playbook in folder.glob("*.yml"):
            shutil.copy(playbook, pytester.path / playbook.name)
    python = blocks("python")
    assert len(python) == 3
    for index, body in enumerate(python):
        pytester.makepyfile(**{f"test_snippet_{index}": body})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)


def test_every_command_uses_options_that_exist(known_options: set[str]) -> None:
    commands = [line for body in blocks("bash") for line in body.splitlines() if "pytest" in line]
    commands += [step["run"] for step in workflow()["jobs"]["audit"]["steps"] if "pytest" in step.get("run", "")]
    commands += [line for body in blocks("ini") for line in body.splitlines() if line.startswith("commands")]
    used = {opt.split("=")[0] for command in commands for opt in re.findall(r"--[a-z][\w-]+(?:=\S+)?", command)}
    assert used and used <= known_options, used - known_options


def test_the_readme_commands_are_the_ci_commands() -> None:
    setup, tests = [line.split("#")[0].strip() for line in blocks("bash")[0].strip().splitlines()]
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci and setup.startswith("bash scripts/setup.sh")
    assert "--asyncplay-reap-audit example_playbooks" in setup


def test_the_tox_ini_snippet_is_read_by_tox(tmp_path: Path) -> None:
    (ini,) = blocks("ini")
    (tmp_path / "tox.ini").write_text(ini)
    tox = [str(Path(sys.executable).parent / "tox"), "-c", str(tmp_path / "tox.ini")]
    listed = subprocess.run([*tox, "-l"], capture_output=True, text=True, check=True).stdout.split()
    assert listed == ["ansible215", "ansible219", "ansible221"]
    shown = subprocess.run([*tox, "config", "-e", "ansible219", "-k", "deps", "base_python", "commands"],
                           capture_output=True, text=True, check=True).stdout
    assert "ansible-core>=2.19,<2.20" in shown and "ansible-core>=2.15" not in shown
    assert "python3.13" in shown and "--asyncplay-reap-audit playbooks/" in shown


def workflow() -> dict:
    (body,) = blocks("yaml")
    return yaml.safe_load(body)


def test_the_workflow_snippet() -> None:
    flow = workflow()
    job = flow["jobs"]["audit"]
    versions = [(m["ansible"], m["python"]) for m in job["strategy"]["matrix"]["include"]]
    assert versions == [("2.15", "3.11"), ("2.19", "3.13"), ("2.21", "3.13")]
    runs = [step.get("run", "") for step in job["steps"]]
    audit = shlex.split(next(r for r in runs if r.startswith("pytest")))
    report = next(a.split("=", 1)[1] for a in audit if a.startswith("--asyncplay-report="))
    assert any(f"{report}.md" in r and "GITHUB_STEP_SUMMARY" in r for r in runs)
    junit = next(a.split("=", 1)[1] for a in audit if a.startswith("--junitxml="))
    assert any(step.get("with", {}).get("path") == junit for step in job["steps"])


def test_troubleshooting_names_every_error_class() -> None:
    import inspect

    from pytest_asyncplay import errors

    section = README[README.index("## Troubleshooting"):]
    section = section[:section.index("\n## ", 1)]
    classes = [name for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.AsyncplayError) and cls is not errors.AsyncplayError]
    assert len(classes) >= 8
    missing = [name for name in classes if f"| `{name}` |" not in section]
    assert missing == [], f"add a Troubleshooting row (when, fix) for {missing}"
