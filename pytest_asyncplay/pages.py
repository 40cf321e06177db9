"""The session's timeline page: sections written as parts by the items that played (on any xdist worker),
put together in one self-contained HTML page at the end (``--asyncplay-report PATH`` writes ``PATH.html``).

A part is one JSON file per item in a folder the controller makes and hands to the workers, so nothing large
travels in test reports (and nothing ends up in JUnit XML).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .result import PlayResult
from .timeline import Section, Timeline, render_page


@dataclass
class Part:
    """One item's section of the page, sorted by ``order`` (an audit item's row order), then ``nodeid``."""

    order: int
    nodeid: str
    section: Section

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"order": self.order, "nodeid": self.nodeid, "title": self.section.title,
                "verdict": self.section.verdict,
                "panes": [[label, timeline.to_dict()] for label, timeline in self.section.panes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        """The part ``to_dict`` gave."""
        panes = [(str(label), Timeline.from_dict(timeline)) for label, timeline in data["panes"]]
        return cls(int(data["order"]), str(data["nodeid"]),
                   Section(title=str(data["title"]), verdict=str(data["verdict"]), panes=panes))


class PageParts:
    """The folder the parts of one session's page are written to (by the controller and every worker)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, part: Part) -> Path:
        """Write ``part`` (atomically: a reader never sees half a file); return its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".part-", suffix=".json", dir=self.directory)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(part.to_dict(), stream)
        final = Path(temporary).with_name(Path(temporary).name[1:])
        os.replace(temporary, final)
        return final

    def parts(self) -> list[Part]:
        """Every part written so far, in page order; a part that cannot be read becomes a section saying so."""
        found: list[Part] = []
        for path in sorted(self.directory.glob("part-*.json")):
            try:
                found.append(Part.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                found.append(Part(1 << 30, path.name, Section(title=f"{path.name}: unreadable part",
                                                              verdict=f"this item's timelines are lost: {exc}")))
        return sorted(found, key=lambda p: (p.order, p.nodeid))


def play_label(result: PlayResult) -> str:
    """What a pane shows above a play: its playbook and how it ended."""
    end = "timed out" if result.timed_out else f"rc={result.rc}"
    return f"{result.playbook.name}: {end}"


def audit_part(order: int, nodeid: str, title: str, verdict: str, baseline: Optional[PlayResult],
               runs: Sequence[PlayResult], kind: str, shared: bool = False) -> Part:
    """An audit item's section: the clean baseline beside the probe run that decided the verdict (the last one:
    a probe stops at its first run that does not surface; with loops, each item has its own run).

    ``shared``: the runs are parallel probes, each the clean host and the probe's host of one play, drawn as
    one pane (two lanes on one time scale)."""
    panes: list[tuple[str, Timeline]] = []
    if baseline is not None:
        panes.append((f"clean baseline ({play_label(baseline)})", baseline.timeline()))
    if runs:
        which = f", run {len(runs)} of {len(runs)}" if len(runs) > 1 else ""
        if shared:
            lanes = sorted({h for r in runs[-1:] for h in r.stats} or {"?"})
            panes.append((f"one play: the clean host beside the {kind} fault's host{which} "
                          f"({', '.join(lanes)}; {play_label(runs[-1])})", runs[-1].timeline()))
        else:
            panes.append((f"probe: {kind} fault{which} ({play_label(runs[-1])})", runs[-1].timeline()))
    return Part(order, nodeid, Section(title=title, verdict=verdict, panes=panes))


def parts_of_test(order: int, nodeid: str, outcome: str, results: Sequence[PlayResult]) -> list[Part]:
    """A test's sections: one per ``asyncplay.run`` it made, in order."""
    return [Part(order, f"{nodeid}#{index:04d}",
                 Section(title=f"{nodeid}: play {index + 1} of {len(results)}" if len(results) > 1 else nodeid,
                         verdict=f"test {outcome}", panes=[(play_label(result), result.timeline())]))
            for index, result in enumerate(results)]


def write_page(path: Path, parts: Sequence[Part], title: str = "pytest-asyncplay: the plays of this run") -> Path:
    """Write the page of ``parts`` to ``path``; a part without timelines shows its title and verdict alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page([p.section for p in parts], title=title), encoding="utf-8")
    return path


__all__ = ["PageParts", "Part", "audit_part", "parts_of_test", "play_label", "write_page"]
