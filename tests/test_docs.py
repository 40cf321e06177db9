"""Every snippet in the README and ``docs/*.md`` is exercised: Python examples run against real hosts,
commands use options that exist, YAML and the tox.ini are read by their tools, each finding kind's bad and
fixed playbooks give what the page says through the real lint, every error class has its troubleshooting
row, internal links resolve, and the MkDocs site builds with ``--strict``."""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_readme import DOCS, README, ROOT, blocks, page_blocks, pages

from pytest_asyncplay import errors, faults
from pytest_asyncplay.audit.lint import FINDING_KINDS, SEVERITY, lint

LINT_PAGE = DOCS / "audit-and-lint.md"
FAULTS_PAGE = DOCS / "faults.md"
RUNTIME = re.compile(r"measured runtime: (\d+(?:\.\d+)?) s")


def sections(path: Path, level: str = "## ") -> dict[str, str]:
    """Each ``## heading`` of a page (outside fenced blocks) and the text up to the next one."""
    text, found, current = path.read_text(), {}, None
    in_fence = False
    for line in text.splitlines(keepends=True):
        in_fence ^= line.startswith("```")
        if not in_fence and line.startswith(level):
            current = line[len(level):].strip()
            found[current] = ""
        elif current is not None:
            found[current] += line
    return found


def fenced(text: str, language: str) -> list[str]:
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M) if lang == language]


# -- Python examples ----------------------------------------------------------------------------------------------

def python_tests() -> list[str]:
    """Every distinct Python block that holds a test (a block repeated on two pages runs once)."""
    unique = dict.fromkeys(b for b in blocks("python", pages()) if re.search(r"^def test_", b, flags=re.M))
    return list(unique)


def test_every_python_block_compiles() -> None:
    for path in pages():
        for index, body in enumerate(blocks("python", [path])):
            compile(body, f"{path.name} python block {index}", "exec")


def fault_functions() -> list[str]:
    """The public fault constructors (kill_job, ...): functions of ``faults`` that return a ``Fault``."""
    found = []
    for name, func in inspect.getmembers(faults, inspect.isfunction):
        returned = func.__annotations__.get("return")  # a string: the module has postponed annotations
        returned = getattr(faults, returned, None) if isinstance(returned, str) else returned
        if not name.startswith("_") and inspect.isclass(returned) and issubclass(returned, faults.Fault):
            found.append(name)
    return found


def test_the_faults_page_has_a_runnable_example_for_every_fault() -> None:
    names = fault_functions()
    assert {"kill_job", "slow_job", "vanish_job", "drop_connection", "restart_host"} <= set(names)
    found = sections(FAULTS_PAGE)
    for name in names:
        assert name in found, f"docs/faults.md needs a '## {name}' section"
        examples = fenced(found[name], "python")
        assert len(examples) == 1 and re.search(rf"\b{name}\(", examples[0]), f"one example using {name}()"
        assert re.search(r"^def test_", examples[0], flags=re.M), f"the {name} example must be a test"


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_every_python_example_runs_green(pytester: pytest.Pytester) -> None:
    for folder in (ROOT / "example_playbooks", ROOT / "tests" / "playbooks"):
        for playbook in folder.glob("*.yml"):
            shutil.copy(playbook, pytester.path / playbook.name)
    tests = python_tests()
    expected = sum(len(re.findall(r"^def test_", body, flags=re.M)) for body in tests)
    assert len(tests) >= 7 and expected >= 8  # the README's, getting started's, one per fault (two connection)
    for index, body in enumerate(tests):
        pytester.makepyfile(**{f"test_snippet_{index}": body})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=expected)


# -- commands -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def known_options() -> set[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, cwd=ROOT)
    options = set(re.findall(r"--[a-z][\w-]+", done.stdout))
    return options | {"--junitxml"} if "--junit-xml" in options else options  # pytest lists one spelling


def yaml_strings(node: Any) -> list[str]:
    """Every string in a loaded YAML document (``run:`` steps, ``script:`` lines...)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in yaml_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in yaml_strings(value)]
    return [node] if isinstance(node, str) else []


def command_lines() -> list[str]:
    """Every shell command on the pages: bash lines, YAML strings (CI steps), tox ``commands``."""
    found = []
    for path in pages():
        for lang, body in page_blocks(path):
            if lang in ("bash", "sh", "shell", "console"):
                found += body.replace("\\\n", " ").splitlines()
            elif lang in ("yaml", "yml"):
                found += [s for s in yaml_strings(yaml.safe_load(body)) for s in s.splitlines()]
            elif lang == "ini":
                found += [line for line in body.splitlines() if line.startswith("commands")]
    return [line.split(" #")[0] for line in found]


def invocations(line: str, program: str) -> list[list[str]]:
    """The argument lists of each ``program`` call on a command line (``a && b`` splits)."""
    calls = []
    for part in re.split(r"&&|\|\||;|\|", line):
        try:
            words = shlex.split(part.replace("${{", "'").replace("}}", "'"))
        except ValueError:
            words = part.split()
        for index, word in enumerate(words):
            if word == program or word.endswith("/" + program):
                calls.append(words[index + 1:])
                break
    return calls


def test_every_pytest_command_uses_options_that_exist(known_options: set[str]) -> None:
    used = {arg.split("=")[0] for line in command_lines() for args in invocations(line, "pytest")
            for arg in args if re.match(r"--[a-z][\w-]+", arg)}
    assert "--asyncplay-reap-audit" in used and "--asyncplay-lint" in used
    assert used <= known_options, f"options on the pages that pytest does not know: {used - known_options}"


def test_every_cli_command_uses_options_that_exist() -> None:
    calls: dict[str, set[str]] = {}
    for line in command_lines():
        for args in invocations(line, "asyncplay") + [a[2:] for a in invocations(line, "python")
                                                      if a[:2] == ["-m", "pytest_asyncplay"]]:
            if args and args[0] in ("lint", "merge-reports"):
                calls.setdefault(args[0], set()).update(a.split("=")[0] for a in args if a.startswith("--"))
    assert calls, "the pages show no asyncplay command"
    checked = 0
    for sub, used in calls.items():
        done = subprocess.run([sys.executable, "-m", "pytest_asyncplay", sub, "--help"], capture_output=True,
                              text=True, cwd=ROOT)
        if done.returncode != 0:
            continue  # this subcommand has no --help in this version of the package
        checked += 1
        known = set(re.findall(r"--[a-z][\w-]+", done.stdout))
        assert used <= known, f"`{sub}` options on the pages that it does not know: {used - known}"
    assert checked


# -- YAML, tox, workflows -----------------------------------------------------------------------------------------

def test_every_yaml_block_is_valid_yaml() -> None:
    count = 0
    for path in pages():
        for body in blocks("yaml", [path]) + blocks("yml", [path]):
            count += 1
            assert yaml.safe_load(body) is not None, f"an empty YAML block in {path.name}"
    assert count >= 2 * len(FINDING_KINDS)


def test_the_tox_ini_snippet_is_read_by_tox(tmp_path: Path) -> None:
    (ini,) = [b for b in blocks("ini", pages()) if "[tox]" in b]
    (tmp_path / "tox.ini").write_text(ini)
    tox = [str(Path(sys.executable).parent / "tox"), "-c", str(tmp_path / "tox.ini")]
    listed = subprocess.run([*tox, "-l"], capture_output=True, text=True, check=True).stdout.split()
    assert listed == ["ansible215", "ansible219", "ansible221"]
    shown = subprocess.run([*tox, "config", "-e", "ansible219", "-k", "deps", "base_python", "commands"],
                           capture_output=True, text=True, check=True).stdout
    assert "ansible-core>=2.19,<2.20" in shown and "ansible-core>=2.15" not in shown
    assert "python3.13" in shown and "--asyncplay-reap-audit playbooks/" in shown


def ci_workflow() -> dict[str, Any]:
    """The version-matrix workflow of docs/ci.md."""
    (body,) = [b for b in fenced(sections(DOCS / "ci.md")["GitHub Actions"], "yaml")]
    return yaml.safe_load(body)  # type: ignore[no-any-return]


def test_the_workflow_snippet() -> None:
    job = ci_workflow()["jobs"]["audit"]
    versions = [(m["ansible"], m["python"]) for m in job["strategy"]["matrix"]["include"]]
    assert versions == [("2.15", "3.11"), ("2.19", "3.13"), ("2.21", "3.13")]
    runs = [step.get("run", "") for step in job["steps"]]
    audit = shlex.split(next(r for r in runs if r.startswith("pytest")))
    report = next(a.split("=", 1)[1] for a in audit if a.startswith("--asyncplay-report="))
    assert any(f"{report}.md" in r and "GITHUB_STEP_SUMMARY" in r for r in runs)
    junit = next(a.split("=", 1)[1] for a in audit if a.startswith("--junitxml="))
    assert any(step.get("with", {}).get("path") == junit for step in job["steps"])


def test_the_gitlab_snippet() -> None:
    (body,) = fenced(sections(DOCS / "ci.md")["GitLab CI"], "yaml")
    pipeline = yaml.safe_load(body)
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert set(jobs) == {"reap-lint", "reap-audit"}
    for name, job in jobs.items():
        assert job["stage"] in pipeline["stages"], name
        (command,) = [line for line in job["script"] if line.startswith("pytest")]
        report = next(a.split("=", 1)[1] for a in shlex.split(command) if a.startswith("--asyncplay-report="))
        junit = next(a.split("=", 1)[1] for a in shlex.split(command) if a.startswith("--junitxml="))
        assert job["artifacts"]["reports"]["junit"] == junit and f"{report}.md" in job["artifacts"]["paths"]
    assert jobs["reap-audit"]["variables"]["DOCKER_HOST"].startswith("tcp://")


# -- the finding kinds --------------------------------------------------------------------------------------------

def kind_examples(kind: str) -> tuple[str, str]:
    """The bad and the fixed playbook under ``## <kind>`` of docs/audit-and-lint.md."""
    found = sections(LINT_PAGE)
    assert kind in found, f"docs/audit-and-lint.md needs a '## {kind}' section (anchor #{kind})"
    examples = fenced(found[kind], "yaml")
    assert len(examples) == 2, f"'## {kind}' needs two YAML blocks: the bad playbook, then the fixed one"
    assert "**Fix:**" in found[kind], f"'## {kind}' needs the fix in words (**Fix:** ...)"
    assert f"Severity `{SEVERITY[kind]}`" in found[kind], f"'## {kind}' must name its severity"
    return examples[0], examples[1]


def lint_kinds(tmp_path: Path, playbook: str) -> list[str]:
    path = tmp_path / "site.yml"
    path.write_text(playbook)
    measured = RUNTIME.search(playbook)
    runtimes = {(path, "compress logs"): float(measured.group(1))} if measured else None
    return [finding.kind for finding in lint([tmp_path], runtimes=runtimes)]


@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_the_bad_example_gives_its_kind_and_the_fixed_one_none(kind: str, tmp_path: Path) -> None:
    bad, fixed = kind_examples(kind)
    (tmp_path / "bad").mkdir()
    (tmp_path / "fixed").mkdir()
    assert lint_kinds(tmp_path / "bad", bad) == [kind]
    assert lint_kinds(tmp_path / "fixed", fixed) == []


def test_the_lint_page_has_no_other_kind_headings() -> None:
    headings = [h for h in sections(LINT_PAGE) if re.fullmatch(r"[a-z]+(-[a-z]+)*", h)]
    assert sorted(headings) == sorted(FINDING_KINDS)  # each kind once, no stray one


# -- troubleshooting ----------------------------------------------------------------------------------------------

def test_troubleshooting_names_every_error_class() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    classes = [name for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.AsyncplayError) and cls is not errors.AsyncplayError]
    assert len(classes) >= 8
    missing = [name for name in classes if not re.search(rf"^\| `{name}`[ |]", text, flags=re.M)]
    assert missing == [], f"add a row (| `Name` | when | fix |) to docs/troubleshooting.md for {missing}"


# -- links --------------------------------------------------------------------------------------------------------

def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_internal_links_resolve() -> None:
    broken = []
    for path in pages():
        for target in links(path):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif path.parent == DOCS and DOCS not in resolved.parents:
                broken.append(f"{path.name}: {target} (outside docs/: MkDocs cannot follow it)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{path.name}: {target} (no heading with that anchor)")
    assert broken == []


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def files(nav: Any) -> list[str]:
        if isinstance(nav, dict):
            return [f for value in nav.values() for f in files(value)]
        if isinstance(nav, list):
            return [f for value in nav for f in files(value)]
        return [nav]

    listed = files(config["nav"])
    assert sorted(listed) == sorted(p.name for p in DOCS.glob("*.md"))
    for owned_elsewhere in ("cli.md", "ansible-lint.md", "podman.md", "github-action.md", "timeline.md"):
        assert owned_elsewhere in listed


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("ASYNCPLAY_REQUIRE_MKDOCS") == "1":
            pytest.fail("mkdocs is not installed and ASYNCPLAY_REQUIRE_MKDOCS=1: pip install 'mkdocs>=1.6'")
        pytest.skip("mkdocs is not installed (pip install 'mkdocs>=1.6'; ASYNCPLAY_REQUIRE_MKDOCS=1 makes this fail)")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "audit-and-lint" / "index.html").exists()
    built = (tmp_path / "site" / "audit-and-lint" / "index.html").read_text()
    assert all(f'id="{kind}"' in built for kind in FINDING_KINDS)


def test_every_page_is_linked_from_the_readme_or_the_docs_home() -> None:
    reachable = {t.split("#")[0] for t in links(README)} | {f"docs/{t.split('#')[0]}" for t in links(DOCS / "index.md")}
    assert {f"docs/{p.name}" for p in DOCS.glob("*.md")} - reachable == set()
