"""SARIF 2.1.0 from the lint and the reap audit (``pytest_asyncplay.sarif``), checked against the official schema.

``tests/data/sarif-schema-2.1.0.json`` is the OASIS SARIF 2.1.0 schema as published in oasis-tcs/sarif-spec,
``Documents/CommitteeSpecifications/2.1.0/sarif-schema-2.1.0.json`` (commit 3682e9ee648f2f3e11ba1fcd47fc390a0b8f9dab).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_asyncplay.audit.discover import discover
from pytest_asyncplay.audit.lint import FINDING_KINDS, analyze, lint
from pytest_asyncplay.audit.report import AuditRow, merge, write_reports
from pytest_asyncplay.sarif import RULES, audit_sarif, lint_sarif

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(document)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def results(document: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in document["runs"][0]["results"]]


def test_the_schema_is_the_real_one_and_rejects_a_broken_log() -> None:
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    with pytest.raises(jsonschema.ValidationError, match="'version' is a required property"):
        validate({"runs": []})
    with pytest.raises(jsonschema.ValidationError, match="'fatal' is not one of"):
        log = lint_sarif(lint(ROOT / "example_playbooks"), base=ROOT)
        log["runs"][0]["results"][0]["level"] = "fatal"
        validate(log)


def test_the_lint_log_is_valid_and_points_at_the_launching_tasks_lines() -> None:
    examples = ROOT / "example_playbooks"
    playbooks = discover(examples)
    verdicts = analyze(playbooks)
    log = lint_sarif([f for v in verdicts for f in v.findings], verdicts, base=ROOT)
    validate(log)
    unreaped, ignored = examples / "fire_and_forget_unreaped.yml", examples / "reap_ignores_errors.yml"
    assert results(log) == [
        ("unreaped", "error", "example_playbooks/fire_and_forget_unreaped.yml", line_of(unreaped, "name: compress")),
        ("reap-ignores-errors", "error", "example_playbooks/reap_ignores_errors.yml",
         line_of(ignored, "name: rotate certificates")),
    ]
    run = log["runs"][0]
    related = run["results"][1]["relatedLocations"][0]["physicalLocation"]
    assert related["region"]["startLine"] == line_of(ignored, "name: wait for rotate")
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
               for r in run["results"])
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    assert run["properties"]["tasks"] == 7 and len(run["properties"]["ok"]) == 5
    driver = run["tool"]["driver"]
    assert driver["name"] == "pytest-asyncplay" and driver["version"] and driver["informationUri"].startswith("https://")


def test_one_rule_per_finding_kind_with_how_to_fix_and_a_docs_anchor() -> None:
    log = lint_sarif([], base=ROOT)
    validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert set(FINDING_KINDS) <= set(rules) and set(rules) == set(RULES)
    for kind in FINDING_KINDS:
        assert rules[kind]["helpUri"].endswith(f"docs/audit-and-lint.md#{kind}")
        assert "How to fix:" in rules[kind]["help"]["text"]
    assert rules["reap-budget-short"]["defaultConfiguration"]["level"] == "warning"
    assert rules["not-analysed"]["defaultConfiguration"]["level"] == "error"
    for result in lint_sarif(lint(ROOT / "example_playbooks"), base=ROOT)["runs"][0]["results"]:
        assert log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_levels_follow_severity_and_a_broken_playbook_points_at_its_bad_line(tmp_path: Path) -> None:
    (tmp_path / "short.yml").write_text("""\
- hosts: all
  tasks:
    - name: sync
      ansible.builtin.command: rsync -a /a /b
      async: 600
      poll: 0
      register: sync
    - name: wait for sync
      ansible.builtin.async_status:
        jid: "{{ sync.ansible_job_id }}"
      register: synced
      until: synced.finished
      retries: 3
      delay: 1
""")
    (tmp_path / "broken.yml").write_text("- hosts: all\n  tasks:\n    - name: x\n      command: true\n   bad: [\n")
    log = lint_sarif(lint(tmp_path), base=tmp_path, notes=["site.yml:3: role 'web' is not installed here"])
    validate(log)
    assert log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["level"] == "note"
    assert sorted(results(log)) == [("error", "error", "broken.yml", 5),
                                    ("reap-budget-short", "warning", "short.yml", 3)]


def test_audit_rows_swallowed_and_not_proven_are_errors_surfaced_rows_are_silent(tmp_path: Path) -> None:
    rows = [
        AuditRow("pb/a.yml", "compress logs", "pb/a.yml:6", lint="ok", severity="ok", dynamic={"killed": "surfaced"},
                 messages=["ok", 'surfaced: the job of "compress logs" (pb/a.yml:6) was killed on host1 and ...']),
        AuditRow("pb/c.yml", "rotate certs", "pb/c.yml:9", lint="reap-ignores-errors", severity="swallows",
                 dynamic={"killed": "swallowed"},
                 messages=['reap-ignores-errors: "rotate certs" (c.yml:9) is reaped by ..., so it ignores a failed job'
                           "\n    hint: Remove ignore_errors",
                           'swallowed: the job of "rotate certs" (pb/c.yml:9) was killed on host1 and it passed']),
        AuditRow("pb/d.yml", "backup", "pb/d.yml:4", dynamic={"vanished": "not-proven"},
                 messages=['not proven: "backup" (pb/d.yml:4): the fault never applied: the job had ended']),
        AuditRow("pb/e.yml", "warm", "pb/e.yml:2", lint="reap-budget-short", severity="advice",
                 dynamic={"killed": "surfaced"}, messages=["reap-budget-short: ... waits at most 6 s"]),
    ]
    log = audit_sarif(rows)
    validate(log)
    assert results(log) == [("swallowed", "error", "pb/c.yml", 9), ("reap-ignores-errors", "error", "pb/c.yml", 9),
                            ("not-proven", "error", "pb/d.yml", 4), ("reap-budget-short", "warning", "pb/e.yml", 2)]
    messages = [r["message"]["text"] for r in log["runs"][0]["results"]]
    assert messages[0].startswith('swallowed (killed fault): "rotate certs" in pb/c.yml: swallowed: the job of')
    assert "the fault never applied" in messages[2]
    # write_reports writes the SARIF beside the JSON and Markdown
    paths = write_reports(merge([{"playbook": "pb/d.yml", "task": "backup", "where": "pb/d.yml:4", "kind": "killed",
                                  "verdict": "not-proven", "message": "not proven: no job"}]), tmp_path / "audit")
    assert [p.name for p in paths] == ["audit.json", "audit.md", "audit.sarif"]
    written = json.loads(paths[2].read_text())
    validate(written)
    assert results(written) == [("not-proven", "error", "pb/d.yml", 4)]
