"""The audit's verdict table: terminal text, JSON and Markdown, from per-item records.

Each audit or lint item leaves one record (a plain dict, so it crosses pytest-xdist and lands in
JUnit properties); records of the same task merge into one row, rows in collection order. The JSON
reports (and JUnit files) of the shards of a split run merge back into those of one run
(``merge_reports``, ``merge_junit``; ``asyncplay merge-reports``). ``write_reports`` writes JSON, Markdown
and SARIF (:mod:`pytest_asyncplay.sarif`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from ..errors import ReportMergeError
from ..sarif import audit_sarif, sarif_text
from .rows import DYNAMIC_KINDS, PASSING, AuditRow, row_key, severity_of

__all__ = ["DYNAMIC_KINDS", "PASSING", "SCHEMA", "AuditRow", "columns", "format_table", "merge", "merge_junit",
           "merge_reports", "row_key", "severity_of", "tally", "to_json", "to_markdown", "write_reports"]

SCHEMA = 1
"""Version of the JSON report's layout (its ``schema`` key); ``merge_reports`` merges only this one."""


def merge(records: Iterable[Mapping[str, Any]]) -> list[AuditRow]:
    """Rows from item records, in collection order (records without an ``order``: after, first-seen)."""
    rows: dict[tuple[str, str, str], AuditRow] = {}
    for record in records:
        key = row_key(record)
        row = rows.get(key)
        if row is None:
            row = rows[key] = AuditRow(str(record["playbook"]), str(record["task"]), str(record["where"]))
        if record.get("order") is not None:
            order = int(record["order"])
            row.order = order if row.order is None else min(row.order, order)
        kind = str(record["kind"])
        if kind == "lint":
            row.lint = str(record["verdict"])
            row.severity = str(record.get("severity") or severity_of(row.lint))
        else:
            row.dynamic[kind] = str(record["verdict"])
            if row.lint is None and record.get("lint_verdict"):
                row.lint = str(record["lint_verdict"])
                row.severity = severity_of(row.lint)
        for name in ("runtime", "reap_budget", "headroom"):
            if record.get(name) is not None:
                setattr(row, name, float(record[name]))
        if record.get("async_timeout") is not None:
            row.async_timeout = str(record["async_timeout"])
        if record.get("probes"):
            row.probes = str(record["probes"])
            row.probes_why = str(record.get("probes_why") or "") or None
        if record.get("message"):
            row.messages.append(str(record["message"]))
    return sorted(rows.values(), key=_position)


def _position(row: AuditRow) -> tuple[bool, int]:
    return row.order is None, row.order or 0


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}x"


def columns(rows: Sequence[AuditRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the verdict table (dynamic columns only for kinds that ran)."""
    kinds = [k for k in DYNAMIC_KINDS if any(k in r.dynamic for r in rows)]
    probes = ["probes"] if any(r.probes for r in rows) else []
    header = ["playbook", "task", "file:line", "lint", *kinds, "runtime", "async", "reap budget", "headroom",
              *probes, ""]
    cells = []
    for row in rows:
        cells.append([
            row.playbook, row.task, row.where, row.lint or "-", *[row.dynamic.get(k, "-") for k in kinds],
            _seconds(row.runtime), f"{row.async_timeout}s" if row.async_timeout else "-",
            _seconds(row.reap_budget), _ratio(row.headroom), *[row.probes or "-" for _ in probes],
            "DISAGREE" if row.disagreement else "",
        ])
    return header, cells


def isolated_reasons(rows: Sequence[AuditRow]) -> list[str]:
    """``playbook: why`` for each playbook whose probes ran isolated, once each."""
    return list(dict.fromkeys(f"{r.playbook}: {r.probes_why}" for r in rows
                              if r.probes == "isolated" and r.probes_why))


def format_table(rows: Sequence[AuditRow]) -> str:
    """The verdict table as aligned text, followed by a one-line tally."""
    if not rows:
        return "no fire-and-forget task found"
    header, cells = columns(rows)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells)]
    line = "  ".join
    out = [line(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
           line("-" * w for w in widths).rstrip()]
    out += [line(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
    out.append(tally(rows))
    out += [f"isolated probes: {reason}" for reason in isolated_reasons(rows)]
    return "\n".join(out)


def tally(rows: Sequence[AuditRow]) -> str:
    """``N tasks: X surfaced, Y swallowed, ...``."""
    counts: dict[str, int] = {}
    for row in rows:
        for verdict in row.dynamic.values():
            counts[verdict] = counts.get(verdict, 0) + 1
        if row.lint is not None:
            key = {"ok": "lint ok", "advice": "lint advice", "unknown": "lint not analysed"}.get(
                row.severity or "", "lint findings")
            counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} {k}" for k, n in sorted(counts.items())]
    disagreements = sum(r.disagreement for r in rows)
    if disagreements:
        parts.append(f"{disagreements} disagreement(s) between lint and audit")
    return f"{len(rows)} fire-and-forget task(s): " + ", ".join(parts)


def to_json(rows: Sequence[AuditRow], notes: Sequence[str] = (), shard: Optional[tuple[int, int]] = None) -> str:
    """The rows as a JSON document (stable keys, for CI tooling), with discovery's notes; a shard of a
    split run (``shard=(group, splits)``) says which one it is, for ``merge_reports``."""
    document: dict[str, Any] = {
        "schema": SCHEMA, "rows": [dict(asdict(r), passed=r.passed, disagreement=r.disagreement) for r in rows],
        "summary": tally(rows), "notes": list(notes)}
    if shard is not None:
        document["shard"] = {"group": shard[0], "splits": shard[1]}
    return json.dumps(document, indent=2, sort_keys=True)


def to_markdown(rows: Sequence[AuditRow], notes: Sequence[str] = ()) -> str:
    """The rows as a Markdown table (for a CI step summary)."""
    header, cells = columns(rows)
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    def item(text: str) -> str:  # one list item: its further lines indented under it, no blank line ending it
        lines = [esc(line) for line in text.splitlines() if line.strip()] or [""]
        return "\n".join([f"- {lines[0]}", *(f"  {line}" for line in lines[1:])])
    out = ["## pytest-asyncplay reap audit", "", "| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in cell) + " |" for cell in cells]
    out += ["", tally(rows)]
    reasons = isolated_reasons(rows)
    if reasons:
        out += ["", "### Isolated probes", ""] + [item(r) for r in reasons]
    details = [m for r in rows for m in r.messages if not m.startswith(("surfaced", "ok"))]
    if details:
        out += ["", "### Findings", ""] + [item(m) for m in details]
    if notes:
        out += ["", "### Not followed", ""] + [item(n) for n in notes]
    return "\n".join(out) + "\n"


def _sarif(rows: Sequence[AuditRow], notes: Sequence[str], shard: Optional[tuple[int, int]]) -> str:
    return sarif_text(audit_sarif(rows))


ReportWriter = Callable[[Sequence[AuditRow], Sequence[str], Optional[tuple[int, int]]], str]
#: The files ``write_reports`` writes, by suffix: each one's text from the rows, notes and shard.
REPORT_FORMATS: dict[str, ReportWriter] = {
    ".json": lambda rows, notes, shard: to_json(rows, notes, shard) + "\n",
    ".md": lambda rows, notes, shard: to_markdown(rows, notes),
    ".sarif": _sarif,
}


def write_reports(rows: Sequence[AuditRow], base: Path, notes: Sequence[str] = (),
                  shard: Optional[tuple[int, int]] = None) -> list[Path]:
    """Write ``base.json``, ``base.md`` and ``base.sarif`` (one per :data:`REPORT_FORMATS` entry, with
    discovery's notes); return the paths written, in that order."""
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, writer in REPORT_FORMATS.items():
        path = base.with_name(base.name + suffix)
        path.write_text(writer(rows, notes, shard), encoding="utf-8")
        written.append(path)
    return written


_ROW_FIELDS = {f.name for f in fields(AuditRow)}
_REQUIRED = ("playbook", "task", "where", "dynamic", "messages")
_SCHEMA_HINT = ("pass the PATH.json files that --asyncplay-report wrote, and run every shard with the same "
                "pytest-asyncplay version as the merge (pin it in CI); re-run a shard written by another version.")


def rows_from_json(document: Mapping[str, Any], name: str = "report") -> list[AuditRow]:
    """The rows of one JSON report (as ``to_json`` wrote them); ``ReportMergeError`` for anything else."""
    if not isinstance(document, Mapping) or not isinstance(document.get("rows"), list):
        raise ReportMergeError(f"{name} is not a pytest-asyncplay audit report (no \"rows\" list)", _SCHEMA_HINT)
    if document.get("schema") != SCHEMA:
        raise ReportMergeError(f"{name} has report schema {document.get('schema')!r}; this pytest-asyncplay "
                               f"reads schema {SCHEMA}", _SCHEMA_HINT)
    rows = []
    for index, data in enumerate(document["rows"]):
        missing = [k for k in _REQUIRED if not isinstance(data, Mapping) or k not in data]
        if missing:
            raise ReportMergeError(f"{name}: row {index} lacks {', '.join(missing)}", _SCHEMA_HINT)
        rows.append(AuditRow(**{k: v for k, v in data.items() if k in _ROW_FIELDS}))
    return rows


@dataclass
class MergedReport:
    """The rows and notes of several shards' reports, as one run would have written them."""

    rows: list[AuditRow]
    notes: list[str]
    missing: list[int] = field(default_factory=list)
    """Groups of a split run no report was given for (only with ``allow_missing``)."""


def merge_reports(documents: Sequence[tuple[str, Mapping[str, Any]]], allow_missing: bool = False) -> MergedReport:
    """Merge the JSON reports ``(name, document)`` of a split run's shards (or of runs over disjoint paths).

    Shards of one split run (each says ``shard: {group, splits}``) merge in collection order, the same as
    the unsharded run's; other reports keep their rows in the order given. A task in two reports, reports
    of different splits, or a missing group (unless ``allow_missing``) raise ``ReportMergeError``.
    """
    if not documents:
        raise ReportMergeError("no report to merge", "give the PATH.json files --asyncplay-report wrote "
                                                     "(or a glob such as 'reports/shard-*.json').")
    shards = [(name, doc.get("shard")) for name, doc in documents if isinstance(doc, Mapping)]
    splits = {int(s["splits"]) for _, s in shards if isinstance(s, Mapping)}
    seen_groups: dict[int, str] = {}
    missing: list[int] = []
    if splits:
        if len(splits) > 1 or any(not isinstance(s, Mapping) for _, s in shards):
            described = ", ".join(f"{n} ({_shard_text(s)})" for n, s in shards)
            raise ReportMergeError(f"the reports come from different splits: {described}",
                                   "merge the shards of one run: every shard with the same --splits N, "
                                   "each with its own --group.")
        total = next(iter(splits))
        for name, shard in shards:
            group = int(shard["group"])  # type: ignore[index]
            if not 1 <= group <= total:
                raise ReportMergeError(f"{name} says group {group}/{total}", "--group runs from 1 to --splits.")
            if group in seen_groups:
                raise ReportMergeError(f"{seen_groups[group]} and {name} are both group {group}/{total}",
                                       "give each shard's report once; every shard needs its own --group.")
            seen_groups[group] = name
        missing = [g for g in range(1, total + 1) if g not in seen_groups]
        if missing and not allow_missing:
            raise ReportMergeError(
                f"no report for group(s) {', '.join(f'{g}/{total}' for g in missing)} of the split run",
                "a shard job failed before it wrote its report, or its artifact was not downloaded: re-run it "
                "(upload reports with `if: always()`), or merge what there is with --allow-missing.")
    owners: dict[tuple[str, str, str], str] = {}
    rows: list[AuditRow] = []
    notes: dict[str, None] = {}
    for name, document in documents:
        for row in rows_from_json(document, name):
            key = row_key(asdict(row))
            if key in owners:
                raise ReportMergeError(
                    f"{row.playbook}::{row.task} ({row.where}) is in both {owners[key]} and {name}",
                    "each task must be audited in one shard only: run every shard with the same paths and "
                    "--splits N, each with its own --group (and give each shard's report once).")
            owners[key] = name
            rows.append(row)
        notes.update(dict.fromkeys(str(n) for n in document.get("notes", [])))
    if splits:
        rows.sort(key=_position)
    return MergedReport(rows, list(notes), missing)


def _shard_text(shard: Any) -> str:
    if not isinstance(shard, Mapping):
        return "not split"
    return f"group {shard.get('group')}/{shard.get('splits')}"


def _outcome(case: ET.Element) -> str:
    for tag in ("error", "failure", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def _case_order(case: ET.Element) -> Optional[int]:
    for prop in case.iter("property"):
        if prop.get("name") == "asyncplay":
            try:
                order = json.loads(prop.get("value") or "{}").get("order")
            except (ValueError, AttributeError):
                return None
            return order if isinstance(order, int) else None
    return None


def merge_junit(documents: Sequence[tuple[str, ET.Element]]) -> ET.Element:
    """One ``<testsuites>`` with one ``<testsuite>`` holding the test cases of every shard's JUnit XML.

    Counts (tests, errors, failures, skipped) and times add up; the earliest timestamp is kept. The
    audit's test cases go in collection order when every case carries it (shards of one split run),
    else in the order given. A test case (classname and name) in two files raises ``ReportMergeError``.
    """
    if not documents:
        raise ReportMergeError("no JUnit XML to merge", "give the files each shard wrote with --junitxml.")
    cases: list[ET.Element] = []
    owners: dict[tuple[str, str], str] = {}
    suites: list[ET.Element] = []
    for name, root in documents:
        found = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        if root.tag not in ("testsuite", "testsuites"):
            raise ReportMergeError(f"{name} is not JUnit XML (its root is <{root.tag}>)",
                                   "give the files pytest wrote with --junitxml.")
        for suite in found:
            suites.append(suite)
            for case in suite.findall("testcase"):
                key = (case.get("classname") or "", case.get("name") or "")
                if key in owners:
                    raise ReportMergeError(
                        f"test {key[0]}::{key[1]} is in both {owners[key]} and {name}",
                        "run every shard with the same paths and --splits N, each with its own --group "
                        "(and give each shard's JUnit file once).")
                owners[key] = name
                cases.append(case)
    orders = {id(c): _case_order(c) for c in cases}
    if cases and None not in orders.values() and len(set(orders.values())) == len(cases):
        cases.sort(key=lambda c: orders[id(c)] or 0)
    first = suites[0] if suites else ET.Element("testsuite", name="pytest")
    merged = ET.Element("testsuite", {k: v for k, v in first.attrib.items()})
    for attr in ("errors", "failures", "skipped"):
        merged.set(attr, str(sum(int(s.get(attr) or 0) for s in suites)))
    merged.set("tests", str(sum(int(s.get("tests") or 0) for s in suites)))
    merged.set("time", f"{sum(float(s.get('time') or 0) for s in suites):.3f}")
    stamps = sorted(s.get("timestamp") or "" for s in suites if s.get("timestamp"))
    if stamps:
        merged.set("timestamp", stamps[0])
    suite_properties = first.find("properties")
    if suite_properties is not None:
        merged.append(suite_properties)
    merged.extend(cases)
    root_attrs = documents[0][1].attrib if documents[0][1].tag == "testsuites" else {"name": "pytest tests"}
    out = ET.Element("testsuites", dict(root_attrs))
    out.append(merged)
    return out
