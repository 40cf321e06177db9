"""Proof of ``asyncplay lint --fix``: every launch it fixes in a copy of the examples and the corpus comes out
``surfaced`` when the reap audit kills its job on real hosts (the articles' advice: confirm the reap catches a
deliberately failed job). A fixed launch that a plain run never plays is not-proven, said so, and not counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_asyncplay import lint
from pytest_asyncplay.audit import discover
from pytest_asyncplay.audit.fix import plan_fixes

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_every_launch_the_fix_reaps_is_surfaced_when_its_job_is_killed(tmp_path: Path) -> None:
    fixed: set[tuple[str, str]] = set()  # (file relative to the copy, task name)
    playbooks: list[Path] = []
    for source in (ROOT / "example_playbooks", ROOT / "tests" / "corpus"):
        copy = tmp_path / source.name
        shutil.copytree(source, copy)
        report = plan_fixes(lint(copy))
        for change in report.files:
            change.path.write_text(change.after, encoding="utf-8")
        still = {(f.task.file.resolve(), f.task.name) for f in lint(copy)
                 if f.task is not None and f.severity != "advice"}
        for change in report.files:
            if any((change.path.resolve(), name) in still for name, _ in change.launches):
                change.path.write_text(change.before, encoding="utf-8")  # as the command puts such a file back
            else:
                fixed |= {(str(change.path.relative_to(tmp_path)), name) for name, _ in change.launches}
        files = {c.path.resolve() for c in report.files if c.path.read_text(encoding="utf-8") == c.after}
        playbooks += [p.path for p in discover(copy) if p.tasks and p.kind == "playbook"
                      and (p.path.resolve() in files or files & set(p.reached))]
    assert len(fixed) >= 8 and playbooks, (fixed, playbooks)
    report_path = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=", "-n", "2",
         "--asyncplay-reap-audit", "--asyncplay-faults", "killed", f"--asyncplay-report={report_path}",
         *map(str, sorted(set(playbooks)))],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200, check=False)
    rows = json.loads(report_path.with_name("report.json").read_text())["rows"]
    verdicts = {(row["where"].rsplit(":", 1)[0], row["task"]): row for row in rows}
    missing = fixed - verdicts.keys()
    assert not missing, (missing, sorted(verdicts), done.stdout[-3000:])
    # a launch a plain run never plays (a file only a templated include can pick) cannot be proven either way:
    # the audit says so, and that is no pass
    unplayed = {key for key in fixed if verdicts[key]["dynamic"].get("killed") == "not-proven"
                and any("launched no job in the clean run" in m for m in verdicts[key]["messages"])}
    wrong = {key: verdicts[key]["dynamic"] for key in fixed - unplayed if verdicts[key]["dynamic"].get("killed")
             != "surfaced"}
    assert not wrong, (wrong, done.stdout[-4000:])
    assert len(fixed - unplayed) >= 6 and len(unplayed) <= 3, (fixed, unplayed)
