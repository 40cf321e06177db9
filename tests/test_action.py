"""The GitHub Action (``action.yml``): a valid composite action, and its shell steps, run here with bash as the
runner runs them, lint or audit ``example_playbooks/`` and keep the verdict in their exit code.

The ``uses:`` steps (actions/setup-python, github/codeql-action/upload-sarif) need GitHub's runner and are
skipped locally: the Python on PATH is this venv's, and the upload is checked only by its condition and the
file it would send.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = r"^[_a-zA-Z][a-zA-Z0-9_-]*$"

#: The parts of GitHub's metadata syntax a composite action must satisfy ("Metadata syntax for GitHub Actions").
COMPOSITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "runs"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "author": {"type": "string"},
        "branding": {"type": "object", "additionalProperties": False,
                     "properties": {"icon": {"type": "string"}, "color": {"enum": [
                         "white", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"]}}},
        "inputs": {"type": "object", "additionalProperties": False, "patternProperties": {NAME: {
            "type": "object", "required": ["description"], "additionalProperties": False,
            "properties": {"description": {"type": "string"}, "required": {"type": "boolean"},
                           "default": {"type": "string"}, "deprecationMessage": {"type": "string"}}}}},
        "outputs": {"type": "object", "additionalProperties": False, "patternProperties": {NAME: {
            "type": "object", "required": ["description", "value"], "additionalProperties": False,
            "properties": {"description": {"type": "string"}, "value": {"type": "string"}}}}},
        "runs": {"type": "object", "required": ["using", "steps"], "additionalProperties": False, "properties": {
            "using": {"const": "composite"},
            "steps": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"}, "id": {"type": "string", "pattern": NAME}, "if": {"type": "string"},
                    "run": {"type": "string"}, "shell": {"type": "string"}, "uses": {"type": "string"},
                    "with": {"type": "object"}, "env": {"type": "object"}, "working-directory": {"type": "string"},
                    "continue-on-error": {"type": ["boolean", "string"]}},
                # a step runs a script (and then must name its shell) or uses an action, never both
                "oneOf": [{"required": ["run", "shell"], "not": {"required": ["uses"]}},
                          {"required": ["uses"], "not": {"anyOf": [{"required": ["run"]}, {"required": ["shell"]}]}}],
            }},
        }},
    },
}


def load_action() -> dict[str, Any]:
    """``action.yml`` as data."""
    document = yaml.safe_load(ACTION.read_text())
    assert isinstance(document, dict)
    return document


def expressions(node: Any) -> Iterator[str]:
    """Every expression in a YAML tree: each ``${{ ... }}`` in a string, and an ``if:`` value (an expression
    without the braces)."""
    if isinstance(node, str):
        yield from EXPRESSION.findall(node)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key == "if" and isinstance(value, str) and not EXPRESSION.search(value):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)


def test_action_yml_is_a_valid_composite_action() -> None:
    jsonschema.validate(load_action(), COMPOSITE_SCHEMA)


def test_the_action_has_the_documented_inputs_and_defaults() -> None:
    inputs = load_action()["inputs"]
    assert {name: spec.get("default") for name, spec in inputs.items()} == {
        "paths": ".", "mode": "lint", "ansible-core": "<2.22", "python-version": "3.12", "args": "",
        "sarif": "true"}
    assert not any(spec.get("required") for spec in inputs.values())  # every input has a working default


def test_every_expression_names_a_declared_input_or_an_earlier_step() -> None:
    action = load_action()
    steps = action["runs"]["steps"]
    declared = set(action["inputs"])
    used: set[str] = set()
    step_ids: list[str] = []
    problems = []
    for where, node in [*((f"step {i + 1}", step) for i, step in enumerate(steps)), ("outputs", action["outputs"])]:
        known = step_ids if where != "outputs" else [s["id"] for s in steps if "id" in s]
        for expression in expressions(node):
            for name in re.findall(r"\binputs\.([A-Za-z0-9_-]+)", expression):
                used.add(name)
                if name not in declared:
                    problems.append(f"{where}: inputs.{name} is not declared")
            for step_id in re.findall(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs\.", expression):
                if step_id not in known:
                    problems.append(f"{where}: steps.{step_id} is not an earlier step's id")
            for context in re.findall(r"(?<![.\w'-])([a-z_]+)\.", expression):
                if context not in {"inputs", "steps", "github", "runner", "env"}:
                    problems.append(f"{where}: unknown context {context!r} in {expression!r}")
        if isinstance(node, Mapping) and "id" in node:
            step_ids.append(node["id"])
    assert problems == []
    assert used == declared, f"declared but never used: {sorted(declared - used)}"


def test_inputs_reach_the_scripts_through_env_only() -> None:
    """Pasting an input into a script lets its value run as shell code; env keeps it data."""
    for step in load_action()["runs"]["steps"]:
        if "run" in step:
            assert EXPRESSION.search(step["run"]) is None, step["name"]


# -- running the shell steps as the runner would ----------------------------------------------------------------


def render(text: str, inputs: Mapping[str, str], step_outputs: Mapping[str, Mapping[str, str]]) -> str:
    """Substitute the expressions the action uses: ``inputs.x``, ``github.action_path``,
    ``steps.id.outputs.x``; anything else is an error (so the test notices a new kind)."""
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression[len("inputs."):]]
        if expression == "github.action_path":
            return str(ROOT)
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if step:
            return step_outputs.get(step.group(1), {}).get(step.group(2), "")
        raise AssertionError(f"the test cannot evaluate ${{{{ {expression} }}}}")
    return EXPRESSION.sub(value, text)


def read_outputs(path: Path) -> dict[str, str]:
    """A ``$GITHUB_OUTPUT`` file's ``name=value`` lines (the action writes no multi-line values)."""
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def clean_env() -> dict[str, str]:
    """This process's environment without what the outer pytest run sets for itself."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GITHUB_", "RUNNER_"))}


class ActionRun:
    """The outcome of the action's steps: each step's exit code and outputs, the step summary."""

    def __init__(self, tmp_path: Path) -> None:
        self.summary = tmp_path / "step_summary.md"
        self.runner_temp = tmp_path / "runner_temp"
        self.rc: dict[str, int] = {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.logs: dict[str, str] = {}


def run_action(inputs: Mapping[str, str], workspace: Path, tmp_path: Path, bindir: Path,
               skip: tuple[str, ...] = ()) -> ActionRun:
    """Run the action's ``run:`` steps in order with bash (``bash --noprofile --norc -eo pipefail``, as
    GitHub runs ``shell: bash``), in ``workspace``, ``bindir`` first on PATH. A ``uses:`` step and the
    steps named in ``skip`` do not run; a failed step stops the rest unless their ``if:`` has always()."""
    action = load_action()
    values = {**{name: spec.get("default", "") for name, spec in action["inputs"].items()}, **inputs}
    run = ActionRun(tmp_path)
    run.runner_temp.mkdir(exist_ok=True)
    failed = False
    for index, step in enumerate(action["runs"]["steps"]):
        if "uses" in step or step["name"] in skip:
            continue
        if failed and "always()" not in step.get("if", ""):
            continue
        assert step["shell"] == "bash"
        outputs = tmp_path / f"output_{index}"
        outputs.touch()
        env = {**clean_env(), **{k: render(str(v), values, run.outputs) for k, v in step.get("env", {}).items()}}
        env.update(GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(run.summary), RUNNER_TEMP=str(run.runner_temp),
                   PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
        script = tmp_path / f"step_{index}.sh"
        script.write_text(render(step["run"], values, run.outputs))
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=900)
        run.rc[step["name"]] = done.returncode
        run.logs[step["name"]] = done.stdout + done.stderr
        run.outputs[step.get("id", step["name"])] = read_outputs(outputs)
        failed = failed or done.returncode != 0
    return run


def project_script(name: str) -> str:
    """The ``module:function`` of a console script in pyproject's ``[project.scripts]`` (3.9 has no tomllib)."""
    table = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert table, "pyproject.toml has no [project.scripts]"
    found = re.search(rf'^{re.escape(name)}\s*=\s*"([\w.]+):(\w+)"', table.group(1), re.M)
    assert found, f"pyproject.toml declares no {name} script"
    return f"{found.group(1)}:{found.group(2)}"


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    """A folder for PATH standing in for what the install step puts there: this venv's ``python`` and the
    ``asyncplay`` console script as pip would write it from pyproject (whatever this venv last installed)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    python = folder / "python"  # a script, not a symlink: Python finds its venv from the path it was started by
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    module, function = project_script("asyncplay").split(":")
    script = folder / "asyncplay"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\n"
                      f"sys.exit({function}())\n")
    script.chmod(0o755)
    return folder


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A user's checkout: a copy of ``example_playbooks/``, outside this repository."""
    folder = tmp_path / "workspace"
    shutil.copytree(ROOT / "example_playbooks", folder / "example_playbooks")
    return folder


SWALLOWING = {("fire_and_forget_unreaped.yml", "unreaped"), ("reap_ignores_errors.yml", "reap-ignores-errors")}
INSTALL = "Install pytest-asyncplay and ansible-core"


def sarif_results(path: Path) -> list[dict[str, Any]]:
    """The results of every run of a SARIF file."""
    document = json.loads(path.read_text())
    assert document["version"] == "2.1.0"
    return [result for run in document["runs"] for result in run["results"]]


def assert_upload_would_send(run: ActionRun, inputs: Mapping[str, str]) -> Path:
    """The upload step (skipped here: it needs GitHub) runs after a failed check and would send an existing file."""
    upload = next(s for s in load_action()["runs"]["steps"] if s.get("uses", "").startswith("github/codeql-action/"))
    assert upload["if"].startswith("always() && inputs.sarif == 'true'")
    sarif = Path(run.outputs["check"]["sarif"])
    assert sarif.is_file() and render(upload["with"]["sarif_file"], inputs, run.outputs) == str(sarif)
    return sarif


def test_lint_mode_fails_on_the_two_swallowing_examples_with_sarif_and_summary(
        workspace: Path, tmp_path: Path, bindir: Path) -> None:
    inputs = {"paths": "example_playbooks", "mode": "lint"}
    run = run_action(inputs, workspace, tmp_path, bindir, skip=(INSTALL,))
    check = "Check how fire-and-forget jobs are reaped"
    assert run.rc[check] == 1, run.logs[check]
    assert run.outputs["check"]["exit-code"] == "1"
    results = sarif_results(assert_upload_would_send(run, inputs))
    found = {(Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name, r["ruleId"].split("/")[-1])
             for r in results if r.get("level", "warning") == "error"}
    assert found == SWALLOWING, results
    summary = run.summary.read_text()
    assert summary.startswith("## pytest-asyncplay lint: FAILED\n\nasyncplay lint: 7 fire-and-forget task(s) in 7 "
                              "file(s): 5 ok, 2 can swallow a failure: FAILED\n")
    assert "| finding | level | where | message |" in summary
    assert "fire_and_forget_unreaped.yml" in summary and "reap_ignores_errors.yml" in summary
    assert Path(run.outputs["check"]["markdown"]).parent.parent == run.runner_temp
    assert not list(workspace.glob("asyncplay*")), "reports go to RUNNER_TEMP, not into the user's checkout"


def test_lint_mode_passes_on_a_reaped_playbook(workspace: Path, tmp_path: Path, bindir: Path) -> None:
    reaped = "example_playbooks/fire_and_forget_reaped.yml"
    run = run_action({"paths": reaped, "mode": "lint"}, workspace, tmp_path, bindir, skip=(INSTALL,))
    assert run.outputs["check"]["exit-code"] == "0", run.logs
    assert run.summary.read_text().startswith("## pytest-asyncplay lint: passed\n")


def test_an_unknown_mode_fails_with_an_annotation(workspace: Path, tmp_path: Path, bindir: Path) -> None:
    run = run_action({"mode": "fix"}, workspace, tmp_path, bindir, skip=(INSTALL,))
    assert run.outputs["check"] == {"exit-code": "2"}
    assert "::error title=pytest-asyncplay::unknown mode 'fix'" in run.logs["Check how fire-and-forget jobs are reaped"]


@pytest.mark.parametrize(("spec", "requirement"), [
    ("2.19", "ansible-core==2.19.*"), ("2.19.3", "ansible-core==2.19.3"), ("2.19.*", "ansible-core==2.19.*"),
    (">=2.17,<2.19", "ansible-core>=2.17,<2.19"), ("<2.22", "ansible-core<2.22"), ("", "ansible-core"),
])
def test_the_install_step_turns_the_ansible_core_input_into_a_pip_requirement(
        spec: str, requirement: str, tmp_path: Path, workspace: Path) -> None:
    """With a ``python`` on PATH that records its arguments (the real install is the docker-marked test below)."""
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "python").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{tmp_path}/argv"\n')
    (fake / "python").chmod(0o755)
    run = run_action({"ansible-core": spec}, workspace, tmp_path, fake, skip=("Check how fire-and-forget jobs are "
                                                                           "reaped",))
    assert run.rc[INSTALL] == 0, run.logs
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:argv.index("-c")] == ["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar",
                                       "off", str(ROOT), requirement]


@pytest.mark.docker  # not Docker, but pip install from PyPI: with the slow tests that need the machine
def test_the_install_step_installs_the_action_and_ansible_core_into_a_fresh_venv(
        tmp_path: Path, workspace: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    run = run_action({"ansible-core": "2.19"}, workspace, tmp_path, venv / "bin",
                     skip=("Check how fire-and-forget jobs are reaped",))
    assert run.rc[INSTALL] == 0, run.logs[INSTALL][-3000:]
    assert re.search(r"^pytest-asyncplay \S+ ansible-core 2\.19\.\d+$", run.logs[INSTALL], re.M), run.logs[INSTALL]
    assert (venv / "bin" / "asyncplay").is_file()


@pytest.mark.docker
def test_audit_mode_kills_each_job_and_fails_on_the_two_swallowing_examples(
        workspace: Path, tmp_path: Path, bindir: Path) -> None:
    inputs = {"paths": "example_playbooks", "mode": "audit", "args": "--asyncplay-hosts 1 -n 0 -p no:cacheprovider"}
    run = run_action(inputs, workspace, tmp_path, bindir, skip=(INSTALL,))
    check = "Check how fire-and-forget jobs are reaped"
    assert run.rc[check] == 1, run.logs[check][-5000:]
    outputs = run.outputs["check"]
    assert outputs["exit-code"] == "1" and outputs["json"], run.logs[check][-5000:]
    report = json.loads(Path(outputs["json"]).read_text())
    swallowed = {(Path(r["playbook"]).name, r["lint"]) for r in report["rows"]
                 if "swallowed" in r["dynamic"].values()}
    assert swallowed == SWALLOWING
    summary = run.summary.read_text()
    assert summary.startswith("## pytest-asyncplay reap audit")
    assert re.search(r"^\| playbook \| task \| file:line \| lint \| killed \|", summary, re.M), summary
    assert "7 fire-and-forget task(s)" in summary and "2 swallowed" in summary
    results = sarif_results(assert_upload_would_send(run, inputs))
    assert {Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name
            for r in results if r.get("level") == "error"} == {name for name, _ in SWALLOWING}
    page = Path(outputs["html"])
    assert page == Path(outputs["json"]).with_suffix(".html")
    assert page.read_text().count('<section class="play" id="part-') == 7
