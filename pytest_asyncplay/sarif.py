"""SARIF 2.1.0 for the lint's findings and the reap audit's verdict rows (GitHub code scanning and the like).

One rule per finding kind (``id`` = the kind, help text saying how to fix it, ``helpUri`` into the docs);
results at the launching task's ``file:line``, relative to the repository root (``uriBaseId: %SRCROOT%``),
the reap as a related location. Levels: ``error`` for what swallows a failure or could not be judged,
``warning`` for advice, ``note`` for anything informational.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .audit.lint import SEVERITY, Finding, TaskVerdict
from .audit.rows import AuditRow

__all__ = ["RULES", "SARIF_SCHEMA", "audit_sarif", "lint_sarif", "location_of", "sarif_text"]

SARIF_VERSION = "2.1.0"
#: The OASIS SARIF 2.1.0 (errata 01) schema a log declares in ``$schema``.
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/pytest-asyncplay/pytest-asyncplay"
DOCS_URI = f"{INFORMATION_URI}/blob/main/docs/audit-and-lint.md"
SRCROOT = "%SRCROOT%"
_LEVELS = {"swallows": "error", "unknown": "error", "advice": "warning"}


@dataclass(frozen=True)
class Rule:
    """What a finding kind (or an audit verdict) means and how to fix it: a SARIF ``reportingDescriptor``."""

    id: str
    name: str
    short: str
    full: str
    fix: str
    anchor: str = ""

    def descriptor(self) -> dict[str, Any]:
        """The rule as SARIF's ``reportingDescriptor``."""
        severity = SEVERITY.get(self.id, "swallows" if self.id in AUDIT_RULE_IDS else "")
        level = _LEVELS.get(severity, "note")
        return {
            "id": self.id,
            "name": self.name,
            "shortDescription": {"text": self.short},
            "fullDescription": {"text": self.full},
            "help": {"text": f"{self.full} How to fix: {self.fix}",
                     "markdown": f"{self.full}\n\n**How to fix:** {self.fix}"},
            "helpUri": f"{DOCS_URI}#{self.anchor or self.id}",
            "defaultConfiguration": {"level": level},
            "properties": {"tags": ["ansible", "async", "reliability"], "asyncplay.severity": severity or "note",
                           "problem.severity": "recommendation" if level == "note" else level},
        }


_RULE_LIST = [
    Rule("error", "BrokenPlaybook", "The playbook (or a file it pulls in) cannot be read.",
         "The playbook, or a file it imports or includes, does not parse or names something missing, so none of "
         "its fire-and-forget tasks can be judged: a partial read could hide a reap.",
         "Fix the YAML or the reference at the line named; the message says what is wrong."),
    Rule("not-analysed", "NotAnalysed", "The lint cannot judge this fire-and-forget task.",
         "A poll: template it cannot evaluate, a role or collection that is not installed, a reap handing its "
         "result to a module it cannot read, or a task file nothing reaches statically: no verdict, never a pass.",
         "Write poll: literally, install the roles (or set roles_path), or reap the job in the file that "
         "launches it."),
    Rule("unreaped", "Unreaped", "A fire-and-forget job is never reaped.",
         "The task starts a job with async: N and poll: 0, and no later async_status task reads its job id: "
         "when the job fails, the play still ends green.",
         'Register the launch and add a later ansible.builtin.async_status task with jid: '
         '"{{ <register>.ansible_job_id }}", until: <result>.finished, retries and delay.'),
    Rule("reboot-by-async", "RebootByAsync", "A fire-and-forget job takes its host down.",
         "The task reboots or shuts the host down with async: N and poll: 0: the job file goes down with the host, "
         "so no async_status can reap it, and a reboot that fails or never happens leaves the play green.",
         "Use ansible.builtin.reboot (reboot_timeout, test_command), which waits for the host to come back and "
         "fails the play when it does not."),
    Rule("register-overwritten", "RegisterOverwritten", "The launch's register is overwritten before the reap.",
         "Another task registers the same variable before the reap reads it, so this job's id is lost and its "
         "failure unseen (a skipped task overwrites its register too).",
         "Give each launch its own register and reap each job before the next one registers it."),
    Rule("reap-wrong-job", "ReapWrongJob", "The async_status that looks like the reap reads another job.",
         "The only async_status after the launch reads a register that was overwritten, belongs to no "
         "fire-and-forget launch, or whose job was already reaped: this job is never looked at.",
         'Reap this job with jid: "{{ <its register>.ansible_job_id }}" and give each launch its own register.'),
    Rule("reap-cleanup-only", "ReapCleanupOnly", "The reap only runs mode: cleanup.",
         "async_status with mode: cleanup removes the job file and never fails for a failed job.",
         "Reap with mode: status (the default) and until: <result>.finished first; clean up afterwards."),
    Rule("reap-ignores-errors", "ReapIgnoresErrors", "The reap ignores errors.",
         "The reap (or its block, role or play) has ignore_errors: true or a template that may be true, so a "
         "failed job does not fail the play.",
         "Remove ignore_errors from the reap and what encloses it; handle expected failures with a rescue "
         "that re-raises."),
    Rule("reap-cannot-fail", "ReapCannotFail", "The reap has failed_when: false.",
         "The reap can never fail and no later assert or fail task checks its result, so a failed job passes.",
         "Drop failed_when: false, or add a later assert on the reap's register."),
    Rule("reap-conditional", "ReapConditional", "The reap may be skipped.",
         "The reap (or what encloses it) has a when: the launch does not have, or sits in a rescue: and runs "
         "only when its block failed: when it is skipped, a failed job is never seen.",
         "Make the reap unconditional (a guard such as when: item.ansible_job_id is defined is fine), or move "
         "it out of the rescue."),
    Rule("reap-rescued", "ReapRescued", "The reap's failure is rescued without being re-raised.",
         "The reap sits in a block whose rescue: handles the failure (meta: end_play/end_host included) "
         "without an unconditional fail, so the play ends green.",
         "End the rescue with an unconditional ansible.builtin.fail, or move the reap out of the block."),
    Rule("loop-partly-reaped", "LoopPartlyReaped", "Only some of a looped launch's jobs are reaped.",
         "The launch loops, and every reference from the reap picks items (results[0], a slice, first, "
         "select...): the other items' jobs are never looked at.",
         'Loop the reap over <register>.results with jid: "{{ item.ansible_job_id }}".'),
    Rule("reap-no-until", "ReapNoUntil", "The reap looks once.",
         "The reap has no until:, so it reads the job once: a job still running then passes, and its later "
         "failure is never seen.",
         "Add until: <result>.finished with retries and delay, so the reap waits for the job's end."),
    Rule("reap-budget-short", "ReapBudgetShort", "The reap gives up before the job's async: deadline (advice).",
         "retries x delay is below the job's async: a slow job fails the play when the retries run out. This "
         "hides no failure; it only makes a slow job fail early.",
         "Set retries x delay >= async if the job may really take that long."),
    Rule("reap-fails-healthy-job", "ReapFailsHealthyJob", "The reap fails even a job that succeeded (advice).",
         "The host fails when the job succeeds too, at the reap itself (an inverted failed_when, say): a failed "
         "job still fails the play, but so does every healthy one.",
         "Make the reap's failed_when hold only for a failed job (a healthy job's result has rc: 0 and failed: "
         "false)."),
    Rule("async-timeout-tight", "AsyncTimeoutTight", "async: leaves little headroom over the measured runtime "
         "(advice).",
         "The job's async: is below 1.5 x the runtime measured in the audit's clean run: a slower day times "
         "it out.",
         "Raise async well above the realistic worst case."),
    Rule("never-runs", "NeverRuns", "The launch never runs with the values the repo gives (advice).",
         "Its when: is false with the repo's group_vars, play vars or role vars: no plain run starts the job, so "
         "none of its failures can be hidden (a role default, meant to be overridden, never decides this).",
         "Give the values the playbook runs with in the repo, so the run that starts the job is judged."),
    Rule("async-unsupported", "AsyncUnsupported", "The action does not support async: the task fails on every run "
         "(advice).",
         "Its action plugin (copy, template, reboot, raw...) refuses async, so the task fails before any job "
         "starts; the play fails with it, so nothing is hidden, but the task never does its work.",
         "Drop async and poll, or use a module that supports async."),
]
#: Audit verdicts that fail a row (``surfaced`` rows produce no result).
AUDIT_RULE_IDS = ("swallowed", "not-proven")
_AUDIT_RULES = [
    Rule("swallowed", "FailureSwallowed", "A fault in the job left the play green (reap audit).",
         "The reap audit played the playbook on real hosts, made this task's job fail (killed, vanished or "
         "slow), and the play still succeeded: the failure was swallowed.",
         "Reap the job with async_status (until: <result>.finished, retries, delay) and let its failure fail "
         "the play; the message says what the job file held.", anchor="items-severities-and-verdicts"),
    Rule("not-proven", "NotProven", "The reap audit could not prove that a failure of the job fails the play.",
         "The fault never applied, the job's outcome could not be read, the clean run failed, or the play failed "
         "for another reason: the run proves nothing, which is never a pass.",
         "Read the message: make the clean run pass, name the task as the play shows it, or keep the host up "
         "until the play ends.", anchor="items-severities-and-verdicts"),
]
#: Every rule, by id: one per finding kind, then the audit's verdicts.
RULES: dict[str, Rule] = {r.id: r for r in (*_RULE_LIST, *_AUDIT_RULES)}


def tool_version() -> str:
    """This package's version (from its metadata)."""
    try:
        return importlib.metadata.version("pytest-asyncplay")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def below(path: Path | str, base: Path | str) -> Optional[Path]:
    """``path`` relative to ``base`` when it lies below it, else None. The real path comes first: a file reached
    through a symlinked folder (``playbooks/roles -> ../roles``) is named where it lives, once."""
    for candidate, root in ((os.path.realpath(path), os.path.realpath(base)), (os.path.abspath(path),
                                                                               os.path.abspath(base))):
        found, top = Path(candidate), Path(root)
        if found == top or top in found.parents:
            return found.relative_to(top)
    return None


def location_of(path: Path | str, base: Optional[Path]) -> dict[str, Any]:
    """An ``artifactLocation``: relative to ``base`` (with ``uriBaseId``) when below it, else absolute."""
    path = Path(path)
    if base is not None:
        inside = below(path, base)
        if inside is not None:
            return {"uri": inside.as_posix(), "uriBaseId": SRCROOT}
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": path.as_posix(), "uriBaseId": SRCROOT}  # already relative to the root (audit rows)


def _physical(path: Path | str, line: Optional[int], base: Optional[Path]) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": location_of(path, base)}
    if line:
        location["region"] = {"startLine": int(line)}
    return {"physicalLocation": location}


def _fingerprint(*parts: object) -> str:
    """A stable id of a result across runs: the rule, the file and the task, not the line (edits move it)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _result(rule_id: str, level: str, message: str, path: Path | str, line: Optional[int], base: Optional[Path],
            task: str, reap: Optional[tuple[Path | str, Optional[int]]] = None,
            properties: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": list(RULES).index(rule_id),
        "level": level,
        "message": {"text": message},
        "locations": [_physical(path, line, base)],
        "partialFingerprints": {"asyncplayTask/v1": _fingerprint(rule_id, location_of(path, base)["uri"], task)},
    }
    if reap is not None:
        related = _physical(reap[0], reap[1], base)
        related.update(id=1, message={"text": "the reap"})
        result["relatedLocations"] = [related]
    if properties:
        result["properties"] = dict(properties)
    return result


def _log(results: list[dict[str, Any]], base: Optional[Path], properties: Mapping[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "pytest-asyncplay",
            "version": tool_version(),
            "informationUri": INFORMATION_URI,
            "rules": [rule.descriptor() for rule in RULES.values()],
        }},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": dict(properties),
    }
    if base is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path(os.path.abspath(base)).as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def finding_location(finding: Finding) -> tuple[Path, int]:
    """Where a finding points: the launching task's ``file:line``, or for a broken playbook the file and line
    its error names (else the playbook's first line)."""
    if finding.task is not None:
        return finding.task.file, finding.task.line
    text = finding.message.removeprefix("error: ")
    head, _, rest = text.partition(": ")
    file, _, line = head.rpartition(":")
    if file and line.isdigit() and rest:
        return Path(file), int(line)
    return finding.playbook or Path("."), 1


def lint_sarif(findings: Iterable[Finding], verdicts: Optional[Sequence[TaskVerdict]] = None,
               base: Optional[Path] = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    """A SARIF log of the lint's ``findings`` (paths relative to ``base``, the repository root; default the cwd).

    With the ``verdicts`` the findings came from, the run's properties count the fire-and-forget tasks
    judged and list those judged ok (SARIF has no result for a pass that code scanning would show).
    Discovery's ``notes`` (what it could not follow) become the invocation's ``note`` notifications.
    """
    base = Path.cwd() if base is None else base
    results = []
    seen: set[tuple[Any, ...]] = set()
    for finding in findings:
        path, line = finding_location(finding)
        key = (finding.kind, path, line, finding.message)
        if key in seen:  # a role's task reached by two playbooks: one result
            continue
        seen.add(key)
        reap = (finding.reap_file, finding.reap_line) if finding.reap_file is not None else None
        message = finding.message + (f"\nHint: {finding.hint}" if finding.hint else "")
        task = finding.task.name if finding.task is not None else ""
        results.append(_result(finding.kind, _LEVELS[finding.severity], message, path, line, base, task, reap,
                               {"severity": finding.severity, "task": task or None}))
    properties: dict[str, Any] = {"findings": len(results)}
    if verdicts is not None:
        properties["tasks"] = len(verdicts)
        properties["ok"] = [
            {"uri": location_of(v.task.file, base)["uri"], "line": v.task.line, "task": v.task.node_name}
            for v in verdicts if v.ok
        ]
    log = _log(results, base, properties)
    log["runs"][0]["invocations"] = [{
        "executionSuccessful": True,
        "toolExecutionNotifications": [{"level": "note", "message": {"text": note}} for note in notes],
    }]
    return log


def _split_where(where: str) -> tuple[str, Optional[int]]:
    file, _, line = where.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (where, None)


def _message_for(row: AuditRow, prefixes: Sequence[str]) -> str:
    """The row's message (or line of one) that starts with one of ``prefixes``; "" when there is none."""
    for message in row.messages:
        for line in message.splitlines():
            if line.startswith(tuple(prefixes)):
                return line
    return ""


def audit_sarif(rows: Iterable[AuditRow], base: Optional[Path] = None) -> dict[str, Any]:
    """A SARIF log of the reap audit's rows (``audit.rows.AuditRow``; ``where`` is relative to the rootdir).

    A ``swallowed`` verdict is an error result at the task's line; ``not-proven`` (or any other verdict that is
    not ``surfaced``, such as ``error``: no verdict) is an error too, its message saying why; the lint's failing
    findings on the row are results of their own kinds (advice a warning). Surfaced rows produce no result.
    """
    results = []
    rows = list(rows)
    for row in rows:
        file, line = _split_where(row.where)
        for kind, verdict in row.dynamic.items():
            if verdict in ("surfaced", "ok"):
                continue
            rule = "swallowed" if verdict == "swallowed" else "not-proven"
            why = _message_for(row, ("swallowed:", "not proven:", "not-proven:", "no verdict", "not audited")) or \
                next(iter(row.messages), "")
            lead = f'{verdict} ({kind} fault): "{row.task}" in {row.playbook}'
            results.append(_result(rule, "error", f"{lead}: {why}" if why else lead, file, line, base, row.task,
                                   properties={"fault": kind, "verdict": verdict, "playbook": row.playbook,
                                               **({"probes": row.probes} if row.probes else {}),
                                               **({"probesWhy": row.probes_why} if row.probes_why else {})}))
        if row.lint and row.lint not in ("ok", "error"):
            for kind in row.lint.split(","):
                if kind not in RULES or kind in AUDIT_RULE_IDS:
                    continue
                severity = SEVERITY.get(kind, "unknown")
                text = _message_for(row, (f"{kind}:",)) or f'{kind}: "{row.task}" in {row.playbook}'
                results.append(_result(kind, _LEVELS[severity], text, file, line, base, row.task,
                                       properties={"severity": severity, "playbook": row.playbook}))
        elif row.lint == "error":
            why = next(iter(row.messages), "the playbook cannot be read")
            results.append(_result("error", "error", f"error: {why}", file, line, base, row.task,
                                   properties={"severity": "unknown", "playbook": row.playbook}))
    return _log(results, base, {"rows": len(rows), "passed": sum(r.passed for r in rows)})


def sarif_text(document: Mapping[str, Any]) -> str:
    """A SARIF log as the text of a ``.sarif`` file."""
    return json.dumps(document, indent=2) + "\n"
