"""The package as users get it: the wheel and sdist ``python -m build`` makes pass ``twine check --strict``, and
the wheel, installed (not editable) into a fresh venv, works from a folder that is not this repository: the
``asyncplay`` command, ``__version__``, its data files, and a host test through the pytest plugin.

Docker-marked: building, installing (pip may fetch dependencies from PyPI; the pip cache speeds it) and one
host take a minute or two. The build and the venv are made once per session (xdist workers share them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import filelock
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "pytest_asyncplay")

pytestmark = pytest.mark.docker


def pyproject_version() -> str:
    """``version`` of ``[project]`` in pyproject.toml (Python 3.9 has no tomllib)."""
    found = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml has no static version"
    return found.group(1)


def clean_env() -> dict[str, str]:
    """The environment for the installed package's processes: none of the outer pytest run's variables,
    no virtualenv or PYTHONPATH leading back to this repository."""
    drop = ("PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command, output captured, in ``cwd``."""
    return subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder made by ``make`` once per session, shared by xdist workers (a file lock beside it)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # parent of a worker's: the session's
    folder = root / f"asyncplay-package-{name}"
    with filelock.FileLock(str(folder) + ".lock", timeout=1200):
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and sdist of a copy of the sources (so the build leaves no ``build/`` or egg-info here)."""
    def build(folder: Path) -> None:
        source = folder / "src"
        source.mkdir()
        for name in SOURCES:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(ROOT / name, source / name)
        done = run([sys.executable, "-m", "build", "--outdir", str(folder / "dist"), str(source)], cwd=folder)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    dist = once(tmp_path_factory, "dist", build) / "dist"
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, dists: tuple[Path, Path]) -> Path:
    """A fresh venv with the wheel installed (not editable), dependencies at this venv's versions when it has
    them (constraints from ``pip freeze``: fewer downloads, the versions the suite ran with)."""
    def install(folder: Path) -> None:
        done = run([sys.executable, "-m", "venv", str(folder / "venv")], cwd=folder)
        assert done.returncode == 0, done.stderr
        freeze = run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], cwd=folder).stdout
        pins = [line for line in freeze.splitlines() if "==" in line and " @ " not in line]
        (folder / "constraints.txt").write_text("\n".join(pins) + "\n")
        done = run([str(folder / "venv/bin/python"), "-m", "pip", "install", "--disable-pip-version-check",
                    "-c", str(folder / "constraints.txt"), str(dists[0])], cwd=folder, timeout=1200)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    return once(tmp_path_factory, "venv", install) / "venv"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder that is not this repository, with its own pytest.ini (as a user's repo has)."""
    folder = tmp_path / "user-repo"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def test_twine_check_strict_passes_for_the_wheel_and_the_sdist(dists: tuple[Path, Path], tmp_path: Path) -> None:
    done = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_sdist_holds_the_package_license_readme_and_pyproject(dists: tuple[Path, Path]) -> None:
    with tarfile.open(dists[1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    top = {name.split("/")[0] for name in names}
    assert top == {"pytest_asyncplay", "pytest_asyncplay.egg-info", "LICENSE", "README.md", "pyproject.toml",
                   "MANIFEST.in", "PKG-INFO", "setup.cfg"}
    assert "pytest_asyncplay/data/hostside.py" in names and "pytest_asyncplay/py.typed" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_holds_the_typing_marker_data_files_and_entry_points(dists: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(dists[0]) as wheel:
        names = set(wheel.namelist())
        dist_info = f"pytest_asyncplay-{pyproject_version()}.dist-info"
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    package = ROOT / "pytest_asyncplay"
    expected = {"pytest_asyncplay/py.typed", "pytest_asyncplay/data/callback_plugins/asyncplay_meta.py",
                "pytest_asyncplay/data/hostside.py", "pytest_asyncplay/data/Dockerfile",
                "pytest_asyncplay/data/sshd_config", "pytest_asyncplay/data/entrypoint.sh",
                f"{dist_info}/licenses/LICENSE"}
    rules = package / "ansible_lint"  # the ansible-lint rule folder, when the repo has it: every file ships
    expected |= {f"pytest_asyncplay/{p.relative_to(package)}" for p in rules.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert re.search(r"^\[console_scripts\]\nasyncplay = pytest_asyncplay\.cli:main$", entry_points, re.M)
    assert re.search(r"^\[pytest11\]\nasyncplay = pytest_asyncplay\.plugin$", entry_points, re.M)


def test_version_of_the_installed_package_is_pyprojects(venv: Path, elsewhere: Path) -> None:
    done = run([str(venv / "bin/python"), "-c", "import pytest_asyncplay; print(pytest_asyncplay.__version__); "
                "print(pytest_asyncplay.__file__)"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    version, location = done.stdout.split()
    assert version == pyproject_version()
    assert Path(location).is_relative_to(venv), "imported from the venv, not from this repository"


def test_asyncplay_lint_from_the_installed_wheel_finds_the_two_swallowing_examples(venv: Path, elsewhere: Path) -> None:
    shutil.copytree(ROOT / "example_playbooks", elsewhere / "example_playbooks")
    done = run([str(venv / "bin/asyncplay"), "lint", "example_playbooks"], cwd=elsewhere)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = [line for line in done.stdout.splitlines() if "unreaped" in line or "reap-ignores-errors" in line]
    assert any("fire_and_forget_unreaped.yml" in line and "compress logs" in line for line in findings), done.stdout
    assert any("reap_ignores_errors.yml" in line and "rotate certificates" in line for line in findings), done.stdout
    assert "fire_and_forget_reaped.yml" not in "\n".join(findings)


HOST_TEST = '''
import pytest
import pytest_asyncplay
from pytest_asyncplay import assert_all_jobs_reaped, assert_play_ok


@pytest.mark.asyncplay(hosts=1)
def test_one_task_plays_green(asyncplay):
    assert pytest_asyncplay.__file__.startswith({venv!r})
    result = asyncplay.run("one_task.yml")
    assert_play_ok(result)
    assert_all_jobs_reaped(result)
    assert result.stats["host1"]["ok"] >= 1
'''

ONE_TASK = """- hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.command: echo hello
"""


def test_a_host_test_runs_green_through_the_installed_plugin(venv: Path, elsewhere: Path) -> None:
    """The plugin loads by its entry point alone and finds (or builds) its target image from a folder that is
    not this repository: the Dockerfile and files come from the installed package."""
    (elsewhere / "one_task.yml").write_text(ONE_TASK)
    (elsewhere / "test_host.py").write_text(HOST_TEST.format(venv=str(venv)))
    done = run([str(venv / "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_host.py"],
               cwd=elsewhere, timeout=900)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert re.search(r"^1 passed", done.stdout, re.M), done.stdout
