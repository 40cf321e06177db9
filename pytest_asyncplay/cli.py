"""The ``asyncplay`` command (also ``python -m pytest_asyncplay``).

``lint`` runs the reap lint outside pytest (text, JSON, SARIF or JUnit; for CI and pre-commit), ``image``
builds the target image ahead of the tests, ``merge-reports`` merges the reports of a split audit's shards.
Exit codes: 0 passed, 1 a finding fails (or the reports cannot be merged), 2 bad usage.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .audit.discover import Playbook, discover, is_playbook_candidate, load_yaml
from .audit.fix import FIXABLE
from .audit.hostpath import parse_reap_modules
from .audit.lint import DEFAULT_RULES, Finding, Rules, TaskVerdict, distinct
from .audit.report import merge_junit, merge_reports, write_reports
from .audit.walker import is_play
from .errors import CommandLineError, PlaybookSyntaxError, ReportMergeError
from .sarif import below, finding_location, lint_sarif, sarif_text, tool_version
from .versions import parse_core_version

__all__ = ["LINT_SCHEMA", "CommandLineError", "LintRun", "lint_document", "lint_junit", "main", "run_lint"]

USAGE = """asyncplay lint [PATH ...] [--format text|json|sarif|junit] [--output FILE] [--strict] [--roles-path PATHS]
                      [--reap-module MODULE:ARG] [--ansible-core X.Y]
                      [--context DIR] [--fix | --diff]
       asyncplay image [BASE]
       asyncplay merge-reports OUT REPORT... [--junitxml PATH] [--allow-missing]"""
LINT_SCHEMA = 1
"""Version of ``asyncplay lint --format json``'s layout (its ``schema`` key)."""
FORMATS = ("text", "json", "sarif", "junit")
_VARS_DIRS = frozenset({"group_vars", "host_vars", "vars", "defaults", "meta"})


@dataclass
class LintRun:
    """What ``asyncplay lint`` found: a verdict per fire-and-forget task, a finding per broken playbook.

    ``skipped`` are files named on the command line that are neither playbooks nor task files (vars files,
    role metadata): pre-commit passes every staged YAML file, and those are not the lint's business.
    """

    base: Path
    paths: list[Path]
    strict: bool = False
    playbooks: list[Playbook] = field(default_factory=list)
    verdicts: list[TaskVerdict] = field(default_factory=list)
    broken: list[Finding] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    context: Optional[Path] = None

    def findings(self) -> list[Finding]:
        """Broken playbooks first, then each task's findings in discovery order; each finding once
        (:func:`~pytest_asyncplay.audit.lint.distinct`: a role's task judged alike under several playbooks is one)."""
        return distinct([*self.broken, *(f for v in self.verdicts for f in v.findings)])

    def fails(self, finding: Finding) -> bool:
        """Whether ``finding`` fails the lint: anything but advice, and advice too with ``--strict``."""
        return self.strict or finding.severity != "advice"

    @property
    def passed(self) -> bool:
        """No finding fails."""
        return not any(self.fails(f) for f in self.findings())

    def show(self, path: Path | str) -> str:
        """``path`` relative to the cwd when it lies below it (POSIX separators), else absolute."""
        inside = below(path, self.base)
        return inside.as_posix() if inside is not None else os.path.abspath(path)

    def counts(self) -> dict[str, int]:
        """Tasks by their worst severity (``ok`` has no finding at all), broken playbooks, skipped files."""
        tasks: dict[tuple[Path, int], set[str]] = {}  # a task played by several playbooks counts once, at its worst
        for verdict in self.verdicts:
            tasks.setdefault((Path(os.path.realpath(verdict.task.file)), verdict.task.line), set()).update(
                f.severity for f in verdict.findings)
        counts = {"files": len(self.playbooks), "tasks": len(tasks), "ok": 0, "advice": 0, "swallows": 0,
                  "unknown": 0, "broken": len(self.broken), "skipped": len(self.skipped)}
        for severities in tasks.values():
            counts[next((s for s in ("swallows", "unknown", "advice") if s in severities), "ok")] += 1
        return counts

    def tally(self) -> str:
        """One line: what was judged and whether the lint passed."""
        c = self.counts()
        parts = [f"{c['ok']} ok"]
        parts += [text.format(n) for key, text in (
            ("advice", "{} with advice"), ("swallows", "{} can swallow a failure"), ("unknown", "{} not analysed"),
            ("broken", "{} broken playbook(s)"), ("skipped", "{} file(s) skipped (not a playbook or task file)"),
        ) if (n := c[key])]
        verdict = "passed" if self.passed else "FAILED"
        strict = " (--strict)" if self.strict else ""
        return (f"asyncplay lint: {c['tasks']} fire-and-forget task(s) in {c['files']} file(s): "
                f"{', '.join(parts)}: {verdict}{strict}")


def _lintable(path: Path) -> bool:
    """Whether a file named on the command line is something to lint: a playbook (or a broken file that reads
    like one, or sits in a role's ``tasks/``) or a task file. Vars files, role metadata and other YAML are not."""
    if any(part in ("group_vars", "host_vars") for part in path.parts[:-1]):
        return False
    try:
        data = load_yaml(path)
    except PlaybookSyntaxError:
        return is_playbook_candidate(path) or path.parent.name in ("tasks", "handlers")
    if not isinstance(data, list) or not data:
        return False
    if any(is_play(entry) for entry in data):
        return True
    return path.parent.name not in _VARS_DIRS and all(isinstance(entry, dict) for entry in data)


def _broken(playbook: Playbook) -> Finding:
    assert playbook.error is not None
    return Finding("error", None, f"error: {playbook.error.message}", hint=playbook.error.hint,
                   playbook=playbook.path)


def _signature(verdict: TaskVerdict) -> tuple[str, ...]:
    return tuple(sorted(f.kind for f in verdict.findings))


def _verdicts(playbooks: Sequence[Playbook], rules: Rules = DEFAULT_RULES) -> list[TaskVerdict]:
    """Each playbook's verdicts; a task of an imported playbook is listed again under the importer only when
    the importer judges it otherwise (as the pytest items do)."""
    judged = [(pb, rules.analyze([pb])) for pb in playbooks if pb.error is None]
    own = {(v.task.file, v.task.line): _signature(v)
           for pb, verdicts in judged if pb.kind == "playbook" for v in verdicts if v.task.file == pb.path}
    return [v for pb, verdicts in judged for v in verdicts
            if v.task.file == pb.path or own.get((v.task.file, v.task.line)) != _signature(v)]


def _touches(verdict: TaskVerdict, selected: Sequence[Path]) -> bool:
    files = [verdict.task.file, verdict.task.playbook, *(r.file for r in verdict.reaps)]
    return any(_within(f, selected) for f in files)


def _within(path: Path, selected: Sequence[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == s or s in real.parents for s in selected)


def run_lint(paths: Sequence[str], roles_path: Sequence[str] = (), strict: bool = False,
             context: Optional[str] = None, cwd: Optional[Path] = None,
             rules: Rules = DEFAULT_RULES) -> LintRun:
    """Lint ``paths`` as ``pytest --asyncplay-lint`` would (``CommandLineError`` for a path that does not exist).

    Folders are searched; a file named is linted when it is a playbook or a task file (a role's task file as
    discovery treats it: its role walked on its own) and skipped otherwise. With ``context`` (a folder), all of
    it is discovered, as Ansible would play it, and only what touches ``paths`` is reported: the tasks they
    launch, the playbooks they are and the reaps they hold, so a role's task file is judged with the playbook
    that reaps its job.
    """
    base = Path(os.path.abspath(cwd or Path.cwd()))
    given = [Path(os.path.abspath(base / p)) for p in (paths or ["."])]
    for path in given:
        if not path.exists():
            raise CommandLineError(f"{path}: no such file or directory", "give existing playbooks, task files or "
                               "folders (default: the current folder).")
    run = LintRun(base=base, paths=given, strict=strict)
    if context is not None:
        root = Path(os.path.abspath(base / context))
        if not root.is_dir():
            raise CommandLineError(f"--context {context}: not a folder", "give the repository's root folder, "
                               "e.g. --context . (pre-commit runs hooks there).")
        outside = [p for p in given if not _within(p, [Path(os.path.realpath(root))])]
        if outside:
            raise CommandLineError(f"{outside[0]} is not under --context {context}", "name files inside that folder, "
                               "or drop --context to lint them on their own.")
        run.context = root
        selected = [Path(os.path.realpath(p)) for p in given]
        run.playbooks = discover([root], roles_path)
        run.verdicts = [v for v in _verdicts(run.playbooks, rules) if _touches(v, selected)]
        run.broken = [_broken(pb) for pb in run.playbooks if pb.error is not None
                      and (_within(pb.path, selected) or _within(finding_location(_broken(pb))[0], selected))]
    else:
        targets = [p for p in given if p.is_dir() or _lintable(p)]
        run.skipped = [p for p in given if p not in targets]
        run.playbooks = discover(targets, roles_path) if targets else []
        run.verdicts = _verdicts(run.playbooks, rules)
        run.broken = [_broken(pb) for pb in run.playbooks if pb.error is not None]
    run.notes = list(dict.fromkeys(n for pb in run.playbooks for n in pb.notes))
    return run


# --------------------------------------------------------------------------------------------------
# Formats


def lint_text(run: LintRun) -> str:
    """``file:line: kind: message`` per finding (an indented hint under it), discovery's notes, then the tally."""
    out = []
    for finding in run.findings():
        path, line = finding_location(finding)
        message = finding.message
        if finding.kind == "error":  # the error names its file:line; say it once, relative
            message = "error: " + message.removeprefix("error: ").removeprefix(f"{path}:{line}: ")
        out.append(f"{run.show(path)}:{line}: {message}")
        if finding.hint:
            out.append(f"    hint: {finding.hint}")
    out += [f"note: {note}" for note in run.notes]  # what discovery could not follow: never dropped in silence
    out.append(run.tally())
    return "\n".join(out) + "\n"


def _reap(run: LintRun, file: Optional[Path], line: Optional[int]) -> Optional[dict[str, Any]]:
    return {"file": run.show(file), "line": line} if file is not None else None


def lint_document(run: LintRun) -> dict[str, Any]:
    """The JSON document of ``--format json`` (layout ``schema`` 1, described in docs/cli.md)."""
    findings = []
    for finding in run.findings():
        path, line = finding_location(finding)
        task = finding.task
        findings.append({
            "file": run.show(path), "line": line, "kind": finding.kind, "severity": finding.severity,
            "fails": run.fails(finding), "message": finding.message, "hint": finding.hint,
            "task": task.node_name if task is not None else None,
            "playbook": run.show(task.playbook if task is not None else finding.playbook or path),
            "reap": _reap(run, finding.reap_file, finding.reap_line),
        })
    ok = [{
        "file": run.show(v.task.file), "line": v.task.line, "task": v.task.node_name,
        "playbook": run.show(v.task.playbook),
        "reap": _reap(run, v.reap.file, v.reap.line) if v.reap is not None else None,
        "reap_budget_seconds": v.reap_budget_seconds, "advice": [f.kind for f in v.findings],
    } for v in run.verdicts if v.ok]
    return {
        "schema": LINT_SCHEMA,
        "tool": {"name": "pytest-asyncplay", "version": tool_version()},
        "paths": [run.show(p) for p in run.paths],
        "context": run.show(run.context) if run.context is not None else None,
        "strict": run.strict,
        "passed": run.passed,
        "summary": {**run.counts(), "text": run.tally()},
        "findings": findings,
        "ok": ok,
        "skipped": [run.show(p) for p in run.skipped],
        "notes": run.notes,
    }


def lint_junit(run: LintRun) -> ET.Element:
    """JUnit XML: one test case per fire-and-forget task (``<playbook>::<task>[lint]``, as the pytest items are
    named) and one per broken playbook (``[broken]``), a ``<failure>`` on each that a finding fails."""
    suite = ET.Element("testsuite", name="asyncplay lint", errors="0", skipped="0", time="0.000")
    failures = 0

    def case(playbook: Path, name: str, file: Path, line: int, findings: Sequence[Finding]) -> None:
        nonlocal failures
        element = ET.SubElement(suite, "testcase", classname=run.show(playbook).replace("/", "."), name=name,
                                file=run.show(file), line=str(line), time="0.000")
        properties = ET.SubElement(element, "properties")
        ET.SubElement(properties, "property", name="file_line", value=f"{run.show(file)}:{line}")
        text = "\n".join(f.message + (f"\n    hint: {f.hint}" if f.hint else "") for f in findings)
        failing = [f for f in findings if run.fails(f)]
        if failing:
            failures += 1
            failure = ET.SubElement(element, "failure", message=failing[0].message.splitlines()[0])
            failure.text = text
        elif text:
            ET.SubElement(element, "system-out").text = text

    for finding in run.broken:
        path, line = finding_location(finding)
        case(finding.playbook or path, "[broken]", path, line, [finding])
    for verdict in run.verdicts:
        case(verdict.task.playbook, f"{verdict.task.node_name}[lint]", verdict.task.file, verdict.task.line,
             verdict.findings)
    tests = len(suite.findall("testcase"))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    root = ET.Element("testsuites", name="asyncplay lint", tests=str(tests), failures=str(failures), errors="0")
    root.append(suite)
    return root


def render(run: LintRun, fmt: str) -> str:
    """The lint's output in one of :data:`FORMATS`."""
    if fmt == "json":
        return json.dumps(lint_document(run), indent=2) + "\n"
    if fmt == "sarif":
        return sarif_text(lint_sarif(run.findings(), run.verdicts, base=run.base, notes=run.notes))
    if fmt == "junit":
        root = lint_junit(run)
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return lint_text(run)


# --------------------------------------------------------------------------------------------------
# The command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncplay", usage=USAGE,
        description="pytest-asyncplay outside pytest: the reap lint for CI and pre-commit, the target image, "
                    "merging a split audit's reports.",
        epilog="exit codes: 0 passed, 1 a finding fails (lint) or the reports cannot be merged, 2 bad usage. "
               "Run 'asyncplay COMMAND --help' for a command's options.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", prog="asyncplay")
    lint = commands.add_parser(
        "lint", help="lint how every fire-and-forget task is reaped (no containers)",
        description="Find every fire-and-forget task (async: N + poll: 0) under the paths, as Ansible would play "
                    "them, and check that a reap fails the play when its job fails: the checks of "
                    "'pytest --asyncplay-lint', without pytest.",
        epilog="exit codes: 0 no finding fails (advice is printed but passes), 1 a finding fails (a swallowed "
               "failure, a task that cannot be judged, a broken playbook; advice too with --strict), 2 bad usage.")
    lint.add_argument("paths", metavar="PATH", nargs="*", default=["."],
                      help="playbooks, task files or folders (default: .); other YAML files (vars, role metadata) "
                           "are skipped, so pre-commit can pass every staged file")
    lint.add_argument("--format", choices=FORMATS, default="text",
                      help="text (file:line: kind: message; default), json, sarif (SARIF 2.1.0) or junit")
    lint.add_argument("--output", "-o", metavar="FILE", default=None,
                      help="write the output to FILE instead of stdout (the tally still goes to stderr)")
    lint.add_argument("--roles-path", metavar="PATHS", default="",
                      help=f"extra folders holding roles ('{os.pathsep}'-separated), searched before the "
                           "ansible.cfg's roles_path, as --asyncplay-roles-path")
    lint.add_argument("--strict", action="store_true", help="advice (reap-budget-short...) fails too")
    lint.add_argument("--reap-module", metavar="MODULE:ARG", action="append", default=[],
                      help="a module that reaps a job like async_status, and its job-id argument (repeatable; "
                           "as ini asyncplay_reap_modules)")
    lint.add_argument("--ansible-core", metavar="X.Y", default=None,
                      help="judge by the templating rules of this ansible-core (e.g. 2.15: up to 2.18 a test "
                           "such as 'is none' on an undefined value is false, from 2.19 it fails the task); "
                           "default: the installed one, as ini asyncplay_ansible_core")
    lint.add_argument("--context", metavar="DIR", default=None,
                      help="discover all of DIR (the repository) and report only what touches the PATHs: the "
                           "tasks they launch, the playbooks they are, the reaps they hold (pre-commit's mode)")
    fixing = lint.add_mutually_exclusive_group()
    fixing.add_argument("--fix", action="store_true",
                        help="write the reap that unreaped, reap-no-until and reap-cleanup-only findings ask for "
                             "(every other byte of the file stays), lint again, and say which findings were left "
                             "alone and why")
    fixing.add_argument("--diff", action="store_true", help="print what --fix would change as a unified diff, "
                                                           "write nothing")
    image = commands.add_parser("image", help="build (or find) the target image, print its tag",
                                description="Build (or find) the target image the hosts run, and print its tag.")
    image.add_argument("base", metavar="BASE", nargs="?", default=None,
                       help="the base image it is built FROM (default debian:bookworm-slim)")
    commands.add_parser("merge-reports", add_help=False,
                        help="merge a split audit's shard reports into OUT.json, OUT.md, OUT.sarif (and OUT.xml)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``asyncplay`` console script and of ``python -m pytest_asyncplay``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["merge-reports"]:
        return merge_reports_main(args_list[1:])
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2, already printed)
        return int(exc.code or 0)
    if args.command == "image":
        from .image import DEFAULT_BASE, ensure_image

        print(ensure_image(base=args.base or DEFAULT_BASE))
        return 0
    if args.command == "lint":
        return lint_main(args)
    print(f"usage: {USAGE}", file=sys.stderr)
    return 2


def lint_main(args: argparse.Namespace) -> int:
    """``asyncplay lint``: 0 passed, 1 a finding fails, 2 bad usage (one line: the cause, then the fix)."""
    try:
        roles = [os.path.abspath(p) for p in str(args.roles_path).split(os.pathsep) if p]
        try:
            reap_modules = parse_reap_modules(args.reap_module)
        except ValueError as exc:
            raise CommandLineError(f"--reap-module: {exc}", "give the module's name and its job-id argument, "
                                   "e.g. --reap-module my_ns.my_coll.async_wait:jid") from exc
        try:
            core = parse_core_version(args.ansible_core) if args.ansible_core else None
        except ValueError as exc:
            raise CommandLineError(f"--ansible-core {args.ansible_core}: {exc}", "give a version such as 2.15 "
                                   "(the ansible-core the playbooks are run with).") from exc
        rules = Rules(reap_modules, core)
        run = run_lint(args.paths, roles, strict=args.strict, context=args.context, rules=rules)
        if args.fix or args.diff:
            return fix_main(run, args, roles, rules)
        text = render(run, args.format)
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(text, encoding="utf-8")
    except CommandLineError as exc:
        print(f"asyncplay lint: {exc.message}; {exc.hint}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"asyncplay lint: cannot write {args.output}: {exc.strerror}; give a writable --output path.",
              file=sys.stderr)
        return 2
    if not args.output:
        sys.stdout.write(text)
    if args.output or args.format != "text":
        print(run.tally(), file=sys.stderr)
    return 0 if run.passed else 1


def fix_main(run: LintRun, args: argparse.Namespace, roles: Sequence[str], rules: Rules) -> int:
    """``asyncplay lint --fix`` / ``--diff``: 0 when nothing fails after the fix (or, with ``--diff``, would not),
    1 when a finding still fails. A file whose fix does not make its launches pass the lint is put back, and the
    whole change when it makes a launch that passed before fail."""
    from .audit.fix import plan_fixes

    report = plan_fixes(run.findings(), base=run.base)
    if args.diff:
        for change in report.files + report.suggested:
            sys.stdout.write(change.diff(run.base))
        for line in [d.replace(": fixed", ": would be fixed") for change in report.files for d in change.done]:
            print(f"asyncplay lint --diff: {line}", file=sys.stderr)
        for line in report.left_alone:
            print(f"asyncplay lint --diff: {line}", file=sys.stderr)
        return 0 if not report.left_alone and all(not run.fails(f) or f.kind in FIXABLE for f in run.findings()) \
            else 1
    for change in report.files:
        change.path.write_text(change.after, encoding="utf-8")
    again = run_lint(args.paths, roles, strict=args.strict, context=args.context, rules=rules)
    verdicts = {(v.task.file.resolve(), v.task.line): v for v in again.verdicts}
    put_back = False
    for change in report.files:
        missed = [(name, verdicts.get((change.path.resolve(), line))) for name, line in change.launches]
        wrong = [f'"{name}": ' + ("no verdict" if v is None else ",".join(f.kind for f in v.findings) or "?")
                 for name, v in missed if v is None or not v.ok]
        if wrong:
            change.path.write_text(change.before, encoding="utf-8")
            put_back = True
            print(f"asyncplay lint --fix: {display(change.path, run.base)}: put back, after the fix the lint "
                  f"still does not pass {'; '.join(wrong)}; fix it by hand (the hint says how)", file=sys.stderr)
    if put_back:
        again = run_lint(args.paths, roles, strict=args.strict, context=args.context, rules=rules)
    ok_before = {(v.task.file.resolve(), v.task.node_name) for v in run.verdicts if v.ok}
    worse = sorted({f'"{v.task.node_name}" ({display(v.task.file, run.base)})' for v in again.verdicts
                    if not v.ok and (v.task.file.resolve(), v.task.node_name) in ok_before})
    if worse:  # a reap added in one file changed how another launch's run goes: the change as a whole goes
        kept = [c for c in report.files if c.path.read_text(encoding="utf-8") == c.after]
        for change in kept:
            change.path.write_text(change.before, encoding="utf-8")
        print(f"asyncplay lint --fix: put back {len(kept)} file(s): the fix made {', '.join(worse)} fail the lint, "
              "which passed before; fix by hand (the hints say how)", file=sys.stderr)
        again = run_lint(args.paths, roles, strict=args.strict, context=args.context, rules=rules)
    else:
        for line in [d for c in report.files if c.path.read_text(encoding="utf-8") == c.after for d in c.done]:
            print(f"asyncplay lint --fix: {line}", file=sys.stderr)
    for line in report.left_alone:
        print(f"asyncplay lint --fix: {line}", file=sys.stderr)
    sys.stdout.write(lint_text(again))
    return 0 if again.passed else 1


def display(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it is inside it."""
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# merge-reports (moved from __main__)


def _merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncplay merge-reports",
        description="Merge the --asyncplay-report JSON files (and --junitxml files) of a split audit's shards "
                    "into the reports one unsharded run writes: OUT.json, OUT.md and OUT.sarif (and OUT.xml).")
    parser.add_argument("out", metavar="OUT", help="base path of the merged reports (OUT.json, OUT.md, OUT.sarif)")
    parser.add_argument("inputs", metavar="REPORT", nargs="+",
                        help="a shard's PATH.json (or PATH, as given to --asyncplay-report) or --junitxml file "
                             "(*.xml); globs such as 'reports/shard-*.json' are expanded")
    parser.add_argument("--junitxml", metavar="PATH", default=None,
                        help="where the merged JUnit XML goes (default OUT.xml, when *.xml inputs are given)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="merge even when the report of a shard of the split is missing")
    return parser


def _expand(patterns: Iterable[str], outputs: set[Path]) -> list[Path]:
    """Input paths in the order given, globs expanded (sorted), the outputs and repeats left out."""
    paths: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if not path.suffix and not path.exists() and path.with_name(path.name + ".json").exists():
            path = path.with_name(path.name + ".json")  # the PATH given to --asyncplay-report
        found = [path] if path.exists() else [Path(p) for p in sorted(glob.glob(pattern))]
        if not found:
            raise ReportMergeError(f"{pattern}: no such file", "give the shards' PATH.json files (and their "
                                                             "--junitxml files), or a glob that matches them.")
        paths += [p for p in found if p.resolve() not in outputs and p.resolve() not in {q.resolve() for q in paths}]
    return paths


def merge_reports_main(argv: list[str]) -> int:
    """``merge-reports OUT REPORT...``: 0 when merged (whatever the verdicts), 1 when the inputs cannot be
    merged (the reason and a hint on stderr), 2 on bad usage."""
    try:
        args = _merge_parser().parse_intermixed_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Path(args.out)
    for suffix in (".json", ".md", ".sarif"):
        if out.suffix == suffix:
            out = out.with_suffix("")
    outputs = {out.with_name(out.name + s).resolve() for s in (".json", ".md", ".sarif")}
    junit_out = Path(args.junitxml) if args.junitxml else out.with_name(out.name + ".xml")
    try:
        paths = _expand(args.inputs, {*outputs, junit_out.resolve()})
        reports = [p for p in paths if p.suffix != ".xml"]
        junits = [p for p in paths if p.suffix == ".xml"]
        merged = (merge_reports([(str(p), _read_json(p)) for p in reports], allow_missing=args.allow_missing)
                  if reports or not junits else None)  # JUnit files alone merge into OUT.xml alone
        tree = merge_junit([(str(p), _read_xml(p)) for p in junits]) if junits else None
    except ReportMergeError as exc:
        print(f"merge-reports: {exc}", file=sys.stderr)
        return 1
    written: list[Path] = []
    if merged is not None:
        written += write_reports(merged.rows, out, merged.notes)
    if tree is not None:
        junit_out.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(tree).write(junit_out, encoding="utf-8", xml_declaration=True)
        written.append(junit_out)
    rows = f": {len(merged.rows)} row(s)" if merged is not None else ""
    missing = f"; missing group(s) {', '.join(map(str, merged.missing))}" if merged and merged.missing else ""
    print(f"merged {len(reports)} report(s), {len(junits)} JUnit file(s){rows}{missing}")
    print("wrote " + " ".join(map(str, written)))
    return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ReportMergeError(f"{path} is not JSON ({exc})", "give the PATH.json files --asyncplay-report "
                                                              "wrote, and *.xml for JUnit files.") from exc


def _read_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ReportMergeError(f"{path} is not XML ({exc})", "give the files pytest wrote with --junitxml.") from exc
