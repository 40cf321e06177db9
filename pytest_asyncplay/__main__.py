"""``python -m pytest_asyncplay``: ``image [BASE]`` builds (or finds) the target image ahead of the tests;
``merge-reports OUT REPORT...`` merges the reports of a split audit's shards into one run's."""

from __future__ import annotations

import argparse
import glob
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .audit.report import merge_junit, merge_reports, to_json, to_markdown
from .errors import ReportMergeError

USAGE = """usage: python -m pytest_asyncplay image [BASE]             build the target image, print its tag
       python -m pytest_asyncplay merge-reports OUT REPORT...  merge the shards' reports into OUT.json, OUT.md"""


def main(argv: list[str]) -> int:
    """Entry point of ``python -m pytest_asyncplay``."""
    if argv and argv[0] == "image":
        from .image import DEFAULT_BASE, ensure_image

        print(ensure_image(base=argv[1] if len(argv) > 1 else DEFAULT_BASE))
        return 0
    if argv and argv[0] == "merge-reports":
        return merge_reports_main(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_asyncplay merge-reports",
        description="Merge the --asyncplay-report JSON files (and --junitxml files) of a split audit's shards "
                    "into the reports one unsharded run writes: OUT.json and OUT.md (and OUT.xml).")
    parser.add_argument("out", metavar="OUT", help="base path of the merged reports (OUT.json, OUT.md)")
    parser.add_argument("inputs", metavar="REPORT", nargs="+",
                        help="a shard's PATH.json (or PATH, as given to --asyncplay-report) or --junitxml file "
                             "(*.xml); globs such as 'reports/shard-*.json' are expanded")
    parser.add_argument("--junitxml", metavar="PATH", default=None,
                        help="where the merged JUnit XML goes (default OUT.xml, when *.xml inputs are given)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="merge even when the report of a shard of the split is missing")
    return parser


def _expand(patterns: list[str], outputs: set[Path]) -> list[Path]:
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
    merged (the reason and a hint on stderr)."""
    args = _parser().parse_intermixed_args(argv)
    out = Path(args.out)
    for suffix in (".json", ".md"):
        if out.suffix == suffix:
            out = out.with_suffix("")
    json_out, md_out = out.with_name(out.name + ".json"), out.with_name(out.name + ".md")
    junit_out = Path(args.junitxml) if args.junitxml else out.with_name(out.name + ".xml")
    try:
        paths = _expand(args.inputs, {json_out.resolve(), md_out.resolve(), junit_out.resolve()})
        reports = [p for p in paths if p.suffix != ".xml"]
        junits = [p for p in paths if p.suffix == ".xml"]
        merged = (merge_reports([(str(p), _read_json(p)) for p in reports], allow_missing=args.allow_missing)
                  if reports or not junits else None)  # JUnit files alone merge into OUT.xml alone
        tree = merge_junit([(str(p), _read_xml(p)) for p in junits]) if junits else None
    except ReportMergeError as exc:
        print(f"merge-reports: {exc}", file=sys.stderr)
        return 1
    written = []
    if merged is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(to_json(merged.rows, merged.notes) + "\n")
        md_out.write_text(to_markdown(merged.rows, merged.notes))
        written += [str(json_out), str(md_out)]
    if tree is not None:
        junit_out.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(tree).write(junit_out, encoding="utf-8", xml_declaration=True)
        written.append(str(junit_out))
    rows = f": {len(merged.rows)} row(s)" if merged is not None else ""
    missing = f"; missing group(s) {', '.join(map(str, merged.missing))}" if merged and merged.missing else ""
    print(f"merged {len(reports)} report(s), {len(junits)} JUnit file(s){rows}{missing}")
    print("wrote " + " ".join(written))
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
