"""The README is the short front door: it starts with the demo and test commands CI runs, stays short, and its
first example is the test ``tests/test_plugin.py`` runs. Also the snippet readers shared by ``test_docs.py``:
every page (the README and ``docs/*.md``) is read the same way."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
MAX_README_LINES = 125


def pages() -> list[Path]:
    """The README and every page under ``docs/``, in a stable order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def page_blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of one page, in order."""
    return FENCE.findall(path.read_text())


def blocks(language: str, paths: list[Path] | None = None) -> list[str]:
    """The bodies of every fenced block in ``language`` on ``paths`` (default: the README)."""
    return [body for path in (paths or [README]) for lang, body in page_blocks(path) if lang == language]


def readme_example() -> str:
    """The ten-line example test near the top of the README."""
    return next(b for b in blocks("python") if "def test_a_failed_compress_job_fails_the_play" in b)


def the_two_commands() -> list[str]:
    """The README's first block: the demo and the test command, comments dropped."""
    lang, body = page_blocks(README)[0]
    assert lang == "bash", "the README's first block must be the two commands (bash)"
    return [line.split("#")[0].strip() for line in body.strip().splitlines()]


def test_the_readme_starts_with_the_demo_and_the_test_command() -> None:
    text = README.read_text()
    first_block_line = text[:text.index("```")].count("\n") + 1
    assert first_block_line <= 6, f"the two commands start on line {first_block_line}; put them at the very top"
    demo, tests = the_two_commands()
    assert demo == "bash scripts/setup.sh && .venv/bin/pytest -n 2 -p no:cacheprovider --asyncplay-reap-audit " \
                   "example_playbooks --asyncplay-report asyncplay-report"
    assert tests == "bash scripts/setup.sh && .venv/bin/pytest -n 2"


def test_the_readme_commands_are_the_ci_commands() -> None:
    demo, tests = the_two_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci and demo.startswith("bash scripts/setup.sh")


def test_the_readme_is_a_short_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README has {len(lines)} lines: move the detail into docs/"
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", README.read_text()))
    assert {"getting-started.md", "writing-tests.md", "faults.md", "audit-and-lint.md", "ci.md",
            "troubleshooting.md"} <= linked


def test_the_readme_example_is_a_marked_test_of_one_host() -> None:
    example = readme_example()
    compile(example, "README example", "exec")
    assert "@pytest.mark.asyncplay(hosts=1)" in example and "kill_job(\"compress logs\")" in example
