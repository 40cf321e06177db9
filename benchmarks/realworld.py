"""Score the lint against the hand-judged real-world corpus (tests/realworld/), one half at a time.

    .venv/bin/python benchmarks/realworld.py                 # every half, JSON
    .venv/bin/python benchmarks/realworld.py --half development --show   # and each miss of that half
    .venv/bin/python benchmarks/realworld.py --repo owner__name --show   # one folder, whatever its half

Each repo folder's ``EXPECTED.yml`` holds the verdict a careful reader gave every fire-and-forget launch
(``ok``, a list of finding kinds, ``never-runs`` or ``not-analysable``) and its ``half``: ``development``
(mechanisms are fixed against it), ``held-out`` (scored, never tuned on) or none (the first corpus), and,
when the reader judged with a given ansible-core (``ansible_core: "2.13"``), that version. The lint runs at
each folder as at a repo root, exactly as ``pytest --asyncplay-lint .`` does there (with ini
``asyncplay_ansible_core`` set to that version, when there is one).

A verdict is right when its class is: ``surfaced`` (the lint passes the launch and the truth is ok),
``swallowed`` (a finding that swallows, and the truth is a list of kinds), ``never-runs`` (a
``never-runs`` finding, or no item and a note saying so). ``false_surfaced`` counts the worst error (the
lint passes a launch whose failure is swallowed), ``false_alarms`` a swallowing finding on a launch whose
failure surfaces, ``not_analysed`` the lint saying it cannot tell. ``decided_right`` is right over the
launches the lint decided.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT / "tests" / "realworld"


def truth_class(verdict: Any) -> str:
    """``surfaced``, ``swallowed``, ``never-runs`` or ``not-analysable`` for a hand-judged verdict."""
    if verdict == "ok":
        return "surfaced"
    if isinstance(verdict, list) and len(verdict) == 1:
        verdict = verdict[0]
    if verdict in ("never-runs", "not-analysable"):
        return str(verdict)
    return "swallowed"


def lint_classes(repo: Path, ansible_core: str | None = None) -> tuple[dict[str, set[str]], list[str]]:
    """The lint's class for each launch ``file:line`` (a set: one per playbook that plays it), and its notes;
    judged by the rules of ``ansible_core`` (the version the reader judged with) or the installed one."""
    from pytest_asyncplay.audit import analyze, discover
    from pytest_asyncplay.audit.lint import SEVERITY
    from pytest_asyncplay.versions import parse_core_version

    core = parse_core_version(ansible_core) if ansible_core else None

    classes: dict[str, set[str]] = {}
    notes: list[str] = []
    for playbook in discover(repo):
        notes += playbook.notes
        if playbook.error is not None:
            for task in playbook.tasks:
                classes.setdefault(f"{task.file.relative_to(repo)}:{task.line}", set()).add("not-analysed")
            continue
        for verdict in analyze([playbook], ansible_core=core):
            severities = {SEVERITY[f.kind] for f in verdict.findings}
            cls = ("swallowed" if "swallows" in severities else "not-analysed" if "unknown" in severities
                   else "never-runs" if any(f.kind == "never-runs" for f in verdict.findings) else "surfaced")
            classes.setdefault(f"{verdict.task.file.relative_to(repo)}:{verdict.task.line}", set()).add(cls)
    return classes, notes


def worst(classes: set[str]) -> str:
    for cls in ("swallowed", "not-analysed", "surfaced", "never-runs"):
        if cls in classes:
            return cls
    return "missing"


def score(half: str | None, show: bool, only: list[str] | None = None) -> dict[str, Any]:
    """The counts for one half (``only``: those repo folders, whatever their half)."""
    counts = {"launches": 0, "right": 0, "false_surfaced": 0, "false_alarms": 0, "not_analysed": 0, "other_wrong": 0}
    misses: list[dict[str, str]] = []
    repos = 0
    for repo in sorted(p for p in REALWORLD.iterdir() if (p / "EXPECTED.yml").is_file()):
        expected = yaml.safe_load((repo / "EXPECTED.yml").read_text(encoding="utf-8"))
        if (repo.name not in only) if only else expected.get("half") != half:
            continue
        repos += 1
        classes, notes = lint_classes(repo, expected.get("ansible_core"))
        for launch in expected["launches"]:
            want = truth_class(launch["verdict"])
            where = launch["where"]
            got_set = classes.get(where, set())
            if not got_set:
                file = where.rsplit(":", 1)[0]
                got = "never-runs" if any(file in n and "never runs" in n for n in notes) else "missing"
            else:
                got = worst(got_set)
            counts["launches"] += 1
            if got == want or (want == "not-analysable" and got == "not-analysed"):
                counts["right"] += 1
                continue
            if got == "surfaced" and want in ("swallowed", "never-runs"):
                counts["false_surfaced"] += 1 if want == "swallowed" else 0
                counts["other_wrong"] += 0 if want == "swallowed" else 1
            elif got == "swallowed" and want == "surfaced":
                counts["false_alarms"] += 1
            elif got == "not-analysed":
                counts["not_analysed"] += 1
            else:
                counts["other_wrong"] += 1
            misses.append({"repo": repo.name, "where": where, "want": want, "got": got})
    decided = counts["launches"] - counts["not_analysed"]
    out: dict[str, Any] = {"half": half or "first-corpus", "repos": repos, **counts,
                           "decided_right": round(counts["right"] / decided, 3) if decided else None,
                           "not_analysed_share": round(counts["not_analysed"] / counts["launches"], 3)
                           if counts["launches"] else None}
    if show:
        out["misses"] = misses
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=["development", "held-out", "first-corpus"], action="append")
    parser.add_argument("--show", action="store_true", help="list each miss (never use it on the held-out half "
                        "while tuning)")
    parser.add_argument("--repo", action="append", help="score only this folder of tests/realworld/ (a repo just "
                        "judged, scored as it came before any change for it)")
    args = parser.parse_args(argv)
    if args.repo:
        results = [dict(score(None, args.show, args.repo), half="repos: " + ", ".join(args.repo))]
    else:
        halves = args.half or ["first-corpus", "development", "held-out"]
        results = [score(None if h == "first-corpus" else h, args.show) for h in halves]
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
