"""Merging the reports of a split audit's shards (``merge-reports``): pure, no pytest session, no Docker."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

import pytest

from pytest_asyncplay.__main__ import main
from pytest_asyncplay.audit.report import (
    SCHEMA,
    ReportMergeError,
    merge,
    merge_junit,
    merge_reports,
    to_json,
    to_markdown,
)
from pytest_asyncplay.errors import AsyncplayError


def record(order: int, playbook: str, task: str, line: int, kind: str = "killed", verdict: str = "surfaced",
           **extra: Any) -> dict[str, Any]:
    message = f"{verdict}: {task}" if kind != "lint" else "ok"
    return {"playbook": playbook, "task": task, "where": f"{playbook}:{line}", "kind": kind, "verdict": verdict,
            "message": message, "async_timeout": 30, "reap_budget": 30.0, "order": order, **extra}


# One run's records as they arrive (xdist: out of collection order); lint and killed items of a task.
RECORDS = [
    record(3, "pb/b.yml", "warm cache", 13, runtime=2.0, headroom=30.0),
    record(0, "pb/a.yml", "compress logs", 6, kind="lint", verdict="ok", severity="ok"),
    record(5, "pb/c.yml", "rotate certs", 6, verdict="swallowed", lint_verdict="reap-ignores-errors"),
    record(1, "pb/a.yml", "compress logs", 6, runtime=3.5, headroom=8.5),
    record(2, "pb/b.yml", "backup db", 7, runtime=1.0),
    record(4, "pb/b.yml", "build report", 19),
]
NOTES = ["pb/x.yml:3: include_tasks with a template: not followed", "roles/y not installed"]


def document(records: list[dict[str, Any]], shard: Optional[tuple[int, int]] = None,
             notes: list[str] = NOTES) -> dict[str, Any]:
    return json.loads(to_json(merge(records), notes, shard))


def shards(*groups: list[int]) -> list[tuple[str, dict[str, Any]]]:
    """Documents of a split run: each group holds the records of the given orders."""
    return [(f"shard-{i}.json", document([r for r in RECORDS if r["order"] in orders], (i, len(groups))))
            for i, orders in enumerate(groups, 1)]


def test_rows_follow_collection_order_whatever_order_the_records_arrive_in() -> None:
    rows = merge(RECORDS)
    assert [(r.playbook, r.task) for r in rows] == [
        ("pb/a.yml", "compress logs"), ("pb/b.yml", "backup db"), ("pb/b.yml", "warm cache"),
        ("pb/b.yml", "build report"), ("pb/c.yml", "rotate certs")]
    assert rows[0].order == 0 and rows[0].lint == "ok" and rows[0].dynamic == {"killed": "surfaced"}


def test_merged_shards_are_byte_for_byte_the_unsharded_reports() -> None:
    unsharded = merge(RECORDS)
    # the shards given in any order, each with its rows in its own order
    merged = merge_reports(list(reversed(shards([2, 3, 4], [0, 1, 5]))))
    assert to_json(merged.rows, merged.notes) == to_json(unsharded, NOTES)
    assert to_markdown(merged.rows, merged.notes) == to_markdown(unsharded, NOTES)
    assert json.loads(to_json(merged.rows, merged.notes))["summary"].startswith("5 fire-and-forget task(s)")


def test_an_empty_shard_and_repeated_notes_merge_away() -> None:
    merged = merge_reports(shards([0, 1, 2, 3, 4, 5], []))
    assert to_json(merged.rows, merged.notes) == to_json(merge(RECORDS), NOTES)
    assert merged.notes == NOTES and merged.missing == []


def test_a_task_in_two_shards_is_an_error_naming_it_and_both_reports() -> None:
    with pytest.raises(ReportMergeError) as caught:
        merge_reports(shards([0, 1, 2], [1, 3, 4, 5]))
    message = str(caught.value)
    assert "pb/a.yml::compress logs (pb/a.yml:6) is in both shard-1.json and shard-2.json" in message
    assert "\nHint: " in message and "--group" in message
    assert isinstance(caught.value, AsyncplayError)


@pytest.mark.parametrize(("doc", "expected"), [
    ({"rows": [], "summary": "", "notes": []}, "has report schema None; this pytest-asyncplay reads schema 1"),
    ({"schema": SCHEMA + 1, "rows": []}, f"has report schema {SCHEMA + 1}"),
    ([1, 2], "is not a pytest-asyncplay audit report"),
    ({"schema": SCHEMA, "results": []}, "is not a pytest-asyncplay audit report"),
    ({"schema": SCHEMA, "rows": [{"playbook": "a.yml", "task": "t"}]}, "row 0 lacks where, dynamic, messages"),
])
def test_a_report_of_another_schema_is_an_error_with_a_hint(doc: Any, expected: str) -> None:
    with pytest.raises(ReportMergeError) as caught:
        merge_reports([("shard-1.json", document(RECORDS[:1])), ("old.json", doc)])
    assert "old.json" in str(caught.value) and expected in str(caught.value)
    assert "Hint: pass the PATH.json files that --asyncplay-report wrote" in str(caught.value)


def test_shards_of_different_splits_or_a_missing_shard_are_errors() -> None:
    one, two = shards([0, 1], [2, 3, 4, 5])
    three = ("other.json", document(RECORDS[:1], (3, 3)))
    with pytest.raises(ReportMergeError) as caught:
        merge_reports([one, three])
    assert "different splits: shard-1.json (group 1/2), other.json (group 3/3)" in str(caught.value)
    with pytest.raises(ReportMergeError, match="different splits"):
        merge_reports([one, ("plain.json", document(RECORDS[2:3]))])
    with pytest.raises(ReportMergeError, match=r"shard-1\.json and again\.json are both group 1/2"):
        merge_reports([one, ("again.json", document(RECORDS[2:3], (1, 2)))])
    with pytest.raises(ReportMergeError, match=r"no report for group\(s\) 2/2 of the split run") as caught:
        merge_reports([one])
    assert "--allow-missing" in str(caught.value)
    partial = merge_reports([one], allow_missing=True)
    assert partial.missing == [2] and [r.task for r in partial.rows] == ["compress logs"]
    assert merge_reports([two, one]).rows == merge(RECORDS)


def test_reports_of_unsplit_runs_over_other_paths_keep_the_order_given() -> None:
    c, a = ("c.json", document(RECORDS[2:3], notes=[])), ("a.json", document(RECORDS[1:2], notes=["n"]))
    merged = merge_reports([c, a])
    assert [r.playbook for r in merged.rows] == ["pb/c.yml", "pb/a.yml"] and merged.notes == ["n"]
    with pytest.raises(ReportMergeError, match="no report to merge"):
        merge_reports([])


def junit(cases: list[tuple[str, str, str, Optional[int]]], time: float = 1.0,
          stamp: str = "2026-01-01T00:00:00") -> ET.Element:
    """A pytest-style JUnit document; each case (classname, name, outcome, audit order)."""
    root = ET.Element("testsuites", name="pytest tests")
    counts = {o: sum(c[2] == o for c in cases) for o in ("error", "failure", "skipped")}
    suite = ET.SubElement(root, "testsuite", name="pytest", errors=str(counts["error"]),
                          failures=str(counts["failure"]), skipped=str(counts["skipped"]), tests=str(len(cases)),
                          time=f"{time:.3f}", timestamp=stamp, hostname="vm")
    for classname, name, outcome, order in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0.5")
        if order is not None:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="asyncplay", value=json.dumps({"order": order}))
        if outcome != "passed":
            ET.SubElement(case, outcome, message="why")
    return root


def outcomes(root: ET.Element) -> list[tuple[str, str]]:
    result = []
    for case in root.iter("testcase"):
        kind = next((t for t in ("error", "failure", "skipped") if case.find(t) is not None), "passed")
        result.append((f"{case.get('classname')}::{case.get('name')}", kind))
    return result


def test_junit_files_merge_into_one_suite_in_collection_order() -> None:
    one = junit([("pb.b.yml", "warm cache[killed]", "passed", 3), ("pb.a.yml", "compress logs[killed]", "passed", 1)],
                time=2.0, stamp="2026-01-01T00:00:05")
    two = junit([("pb.c.yml", "rotate certs[killed]", "failure", 5), ("pb.b.yml", "backup db[killed]", "error", 2)],
                time=3.5, stamp="2026-01-01T00:00:01")
    merged = merge_junit([("one.xml", one), ("two.xml", two)])
    (suite,) = merged.iter("testsuite")
    assert merged.tag == "testsuites" and merged.get("name") == "pytest tests"
    assert {k: suite.get(k) for k in ("tests", "errors", "failures", "skipped", "time", "timestamp")} == {
        "tests": "4", "errors": "1", "failures": "1", "skipped": "0", "time": "5.500",
        "timestamp": "2026-01-01T00:00:01"}
    assert outcomes(merged) == [
        ("pb.a.yml::compress logs[killed]", "passed"), ("pb.b.yml::backup db[killed]", "error"),
        ("pb.b.yml::warm cache[killed]", "passed"), ("pb.c.yml::rotate certs[killed]", "failure")]


def test_junit_without_the_audit_order_keeps_the_files_order_and_a_repeated_test_is_an_error() -> None:
    one, two = junit([("t", "b", "passed", None)]), junit([("t", "a", "skipped", None)])
    assert outcomes(merge_junit([("one.xml", one), ("two.xml", two)])) == [("t::b", "passed"), ("t::a", "skipped")]
    with pytest.raises(ReportMergeError, match=r"test t::b is in both one\.xml and again\.xml"):
        merge_junit([("one.xml", one), ("again.xml", junit([("t", "b", "failure", None)]))])
    with pytest.raises(ReportMergeError, match="not JUnit XML"):
        merge_junit([("x.xml", ET.Element("html"))])


def write_shards(tmp_path: Path) -> None:
    for name, doc in shards([0, 1], [2, 3, 4, 5]):
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "shard-1.xml").write_text(ET.tostring(junit([("pb.a.yml", "compress logs[killed]", "passed", 1)]),
                                                      encoding="unicode"))
    (tmp_path / "shard-2.xml").write_text(ET.tostring(junit([("pb.b.yml", "backup db[killed]", "failure", 2)]),
                                                      encoding="unicode"))


def test_the_command_merges_globs_into_out_json_md_and_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_shards(tmp_path)
    out = tmp_path / "merged" / "audit"
    assert main(["merge-reports", str(out), str(tmp_path / "shard-*.json"), str(tmp_path / "shard-*.xml")]) == 0
    assert (out.parent / "audit.json").read_text() == to_json(merge(RECORDS), NOTES) + "\n"
    assert (out.parent / "audit.md").read_text() == to_markdown(merge(RECORDS), NOTES)
    assert outcomes(ET.parse(out.parent / "audit.xml").getroot()) == [
        ("pb.a.yml::compress logs[killed]", "passed"), ("pb.b.yml::backup db[killed]", "failure")]
    assert "merged 2 report(s), 2 JUnit file(s): 5 row(s)" in capsys.readouterr().out
    # the base paths given to --asyncplay-report work too; a glob matching the output is not read back
    assert main(["merge-reports", str(tmp_path / "shard-all"), str(tmp_path / "shard-1"), str(tmp_path / "shard-2"),
                 "--junitxml", str(tmp_path / "junit.xml"), str(tmp_path / "shard-?.xml")]) == 0
    assert main(["merge-reports", str(tmp_path / "shard-all"), str(tmp_path / "shard-*.json")]) == 0
    assert (tmp_path / "shard-all.json").read_text() == to_json(merge(RECORDS), NOTES) + "\n"
    assert main(["merge-reports", str(tmp_path / "only"), str(tmp_path / "shard-*.xml")]) == 0  # JUnit alone
    assert (tmp_path / "only.xml").exists() and not (tmp_path / "only.json").exists()


def test_the_command_fails_with_the_reason_and_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_shards(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["merge-reports", str(tmp_path / "out"), str(tmp_path / "shard-1.json")]) == 1
    assert "no report for group(s) 2/2" in capsys.readouterr().err
    assert main(["merge-reports", str(tmp_path / "out"), str(tmp_path / "broken.json")]) == 1
    assert "broken.json is not JSON" in capsys.readouterr().err
    assert main(["merge-reports", str(tmp_path / "out"), str(tmp_path / "nothing-*.json")]) == 1
    assert "nothing-*.json: no such file\nHint: " in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_the_command_keeps_the_image_subcommand_and_prints_usage(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import pytest_asyncplay.image as image

    monkeypatch.setattr(image, "ensure_image", lambda base: f"asyncplay-target:{base}")
    assert main(["image", "debian:trixie-slim"]) == 0
    assert capsys.readouterr().out == "asyncplay-target:debian:trixie-slim\n"
    assert main([]) == 2
    assert "merge-reports OUT REPORT..." in capsys.readouterr().err
