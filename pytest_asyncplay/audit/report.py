"""The audit's verdict table: terminal text, JSON and Markdown, from per-item records.

Each audit or lint item leaves one record (a plain dict, so it crosses pytest-xdist and lands in
JUnit properties); records of the same task merge into one row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from .lint import SEVERITY

DYNAMIC_KINDS = ("killed", "vanished", "slow")
PASSING = {"surfaced", "ok"}


@dataclass
class AuditRow:
    """One fire-and-forget task with every verdict it got."""

    playbook: str
    task: str
    where: str
    lint: Optional[str] = None
    dynamic: dict[str, str] = field(default_factory=dict)
    runtime: Optional[float] = None
    async_timeout: Optional[str] = None
    reap_budget: Optional[float] = None
    headroom: Optional[float] = None
    messages: list[str] = field(default_factory=list)
    severity: Optional[str] = None

    @property
    def lint_passed(self) -> Optional[bool]:
        """Whether the lint's verdict passes (advice does); None without a lint verdict."""
        if self.lint is None:
            return None
        return self.lint == "ok" or self.severity == "advice"

    @property
    def disagreement(self) -> bool:
        """Lint and the dynamic audit disagree on whether a failure of this job fails the play."""
        if self.lint is None or self.severity == "unknown" or "killed" not in self.dynamic:
            return False
        dynamic = self.dynamic["killed"]
        if dynamic not in ("surfaced", "swallowed"):
            return False
        return bool(self.lint_passed) != (dynamic == "surfaced")

    @property
    def passed(self) -> bool:
        """Every verdict of the row passes (lint advice passes)."""
        return all(v in PASSING for v in self.dynamic.values()) and self.lint_passed is not False


def severity_of(kinds: str) -> str:
    """The worst severity among comma-separated finding kinds: swallows, unknown, advice, or ok."""
    found = {SEVERITY.get(k, "unknown") for k in kinds.split(",") if k and k != "ok"}
    return next((s for s in ("swallows", "unknown", "advice") if s in found), "ok")


def merge(records: Iterable[Mapping[str, Any]]) -> list[AuditRow]:
    """Rows from item records, in first-seen order."""
    rows: dict[tuple[str, str, str], AuditRow] = {}
    for record in records:
        key = (str(record["playbook"]), str(record["where"]), str(record["task"]))
        row = rows.get(key)
        if row is None:
            row = rows[key] = AuditRow(str(record["playbook"]), str(record["task"]), str(record["where"]))
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
        if record.get("message"):
            row.messages.append(str(record["message"]))
    return list(rows.values())


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}x"


def columns(rows: Sequence[AuditRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the verdict table (dynamic columns only for kinds that ran)."""
    kinds = [k for k in DYNAMIC_KINDS if any(k in r.dynamic for r in rows)]
    header = ["playbook", "task", "file:line", "lint", *kinds, "runtime", "async", "reap budget", "headroom", ""]
    cells = []
    for row in rows:
        cells.append([
            row.playbook, row.task, row.where, row.lint or "-", *[row.dynamic.get(k, "-") for k in kinds],
            _seconds(row.runtime), f"{row.async_timeout}s" if row.async_timeout else "-",
            _seconds(row.reap_budget), _ratio(row.headroom), "DISAGREE" if row.disagreement else "",
        ])
    return header, cells


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


def to_json(rows: Sequence[AuditRow], notes: Sequence[str] = ()) -> str:
    """The rows as a JSON document (stable keys, for CI tooling), with discovery's notes."""
    return json.dumps({"rows": [dict(asdict(r), passed=r.passed, disagreement=r.disagreement) for r in rows],
                       "summary": tally(rows), "notes": list(notes)}, indent=2, sort_keys=True)


def to_markdown(rows: Sequence[AuditRow], notes: Sequence[str] = ()) -> str:
    """The rows as a Markdown table (for a CI step summary)."""
    header, cells = columns(rows)
    def esc(text: str) -> str:
        return text.replace("|", "\\|")
    out = ["## pytest-asyncplay reap audit", "", "| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in cell) + " |" for cell in cells]
    out += ["", tally(rows)]
    details = [m for r in rows for m in r.messages if not m.startswith(("surfaced", "ok"))]
    if details:
        out += ["", "### Findings", ""] + [f"- {esc(m)}" for m in details]
    if notes:
        out += ["", "### Not followed", ""] + [f"- {esc(n)}" for n in notes]
    return "\n".join(out) + "\n"


def write_reports(rows: Sequence[AuditRow], base: Path, notes: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``base.json`` and ``base.md`` (with discovery's notes); return both paths."""
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path = base.with_name(base.name + ".json")
    md_path = base.with_name(base.name + ".md")
    json_path.write_text(to_json(rows, notes) + "\n")
    md_path.write_text(to_markdown(rows, notes))
    return json_path, md_path
