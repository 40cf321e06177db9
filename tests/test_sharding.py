"""Sharding the audit across CI machines with pytest-split (``--splits N --group i``): a playbook's items stay
in one shard (its one play runs there once), every item runs in exactly one shard, and ``merge-reports`` turns
the shards' reports into the unsharded run's."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

import docker
import pytest
from pytest_split.algorithms import Algorithms

from pytest_asyncplay.audit.items import ShardUnit, split_units
from pytest_asyncplay.targets import OWNER_PID_LABEL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_playbooks"
ALGORITHMS = ("duration_based_chunks", "least_duration")


def playbook(nodeid: str) -> str:
    return nodeid.split("::")[0]


# -- the split itself (pure) --------------------------------------------------------------------------------

UNITS = [ShardUnit("a.yml", ("a.yml::x[killed]", "a.yml::y[killed]", "a.yml::z[killed]")),
         ShardUnit("b.yml", ("b.yml::x[killed]",)), ShardUnit("c.yml", ("c.yml::x[killed]", "c.yml::y[killed]")),
         ShardUnit("t.py::test_solo", ("t.py::test_solo",))]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("splits", [1, 2, 3, 5])
@pytest.mark.parametrize("durations", [{}, {"a.yml::x[killed]": 40.0, "a.yml::z[killed]": 2.0, "c.yml::y[killed]": 9.0,
                                            "gone.yml::x[killed]": 500.0}])
def test_each_unit_lands_whole_in_exactly_one_group(algorithm: str, splits: int, durations: dict[str, float]) -> None:
    groups = split_units(UNITS, durations, splits, algorithm)
    assert len(groups) == splits
    placed = [unit for units, _ in groups for unit in units]
    assert sorted(placed, key=lambda u: u.nodeid) == sorted(UNITS, key=lambda u: u.nodeid)
    assert groups == split_units(list(UNITS), dict(durations), splits, algorithm)  # what every shard computes


def test_a_unit_lasts_its_items_durations_and_an_unknown_item_the_mean() -> None:
    durations = {"a.yml::x[killed]": 30.0, "a.yml::y[killed]": 2.0, "b.yml::x[killed]": 4.0}
    (group,) = split_units(UNITS, durations, 1)
    assert group[1] == pytest.approx(30 + 2 + 12 + 4 + 12 * 2 + 12)  # mean of the recorded ones: 12 s
    assert split_units(UNITS, {}, 1)[0][1] == pytest.approx(7.0)  # nothing recorded: 1 s per item
    big_first = split_units(UNITS, durations, 2, "least_duration")
    assert [u.nodeid for u in big_first[0][0]] == ["a.yml"]


# -- collection: what each shard selects ----------------------------------------------------------------------

# Item-level pytest-split would cut parallel_jobs.yml in two with these durations (see the first test below).
SKEWED = {
    "example_playbooks/parallel_jobs.yml::backup database[killed]": 20.0,
    "example_playbooks/parallel_jobs.yml::warm cache[killed]": 5.0,
    "example_playbooks/parallel_jobs.yml::build report[killed]": 5.0,
    "example_playbooks/fire_and_forget_unreaped.yml::compress logs[killed]": 10.0,
}
SUBSET = ("example_playbooks/parallel_jobs.yml", "example_playbooks/fire_and_forget_unreaped.yml")


@pytest.fixture
def copied(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose folder holds a copy of example_playbooks/."""
    shutil.copytree(EXAMPLES, pytester.path / "example_playbooks")
    return pytester


def selected(pytester: pytest.Pytester, *args: str) -> list[str]:
    """The node ids a (collect-only) session keeps."""
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", *args)
    assert result.ret in (0, 5), result.stdout.str()
    return [line for line in result.stdout.lines if "::" in line and not line.startswith(("asyncplay", "["))]


def test_item_level_splitting_alone_would_cut_a_playbook_in_two() -> None:
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    items = [Item(i) for i in SKEWED]
    first, second = Algorithms["duration_based_chunks"].value(2, items, SKEWED)  # type: ignore[arg-type]
    assert {playbook(i.nodeid) for i in first.selected} & {playbook(i.nodeid) for i in second.selected}


@pytest.mark.parametrize(("splits", "algorithm", "durations", "args"), [
    (2, "duration_based_chunks", SKEWED, SUBSET),
    (2, "duration_based_chunks", None, ("example_playbooks",)),
    (3, "least_duration", SKEWED, ("example_playbooks",)),
    (4, "least_duration", None, ("--asyncplay-lint", "example_playbooks")),
])
def test_every_item_in_exactly_one_shard_and_every_playbook_whole(
        copied: pytest.Pytester, splits: int, algorithm: str, durations: Optional[dict[str, float]],
        args: tuple[str, ...]) -> None:
    path = copied.path / "durations.json"
    if durations is not None:
        path.write_text(json.dumps(durations))
    common = ("--asyncplay-reap-audit", *args, "--splitting-algorithm", algorithm, f"--durations-path={path}")
    everything = selected(copied, *common)
    shards = [selected(copied, *common, "--splits", str(splits), "--group", str(g)) for g in range(1, splits + 1)]
    assert sorted(i for shard in shards for i in shard) == sorted(everything) and len(everything) >= 4
    owners = {playbook(i): g for g, shard in enumerate(shards) for i in shard}
    assert all(owners[playbook(i)] == g for g, shard in enumerate(shards) for i in shard), shards
    if durations is SKEWED:
        assert len({playbook(i) for i in shards[0]}) == 1  # parallel_jobs.yml (30 s) alone in group 1
    for shard in shards:  # the order within a shard is the collection order
        assert shard == [i for i in everything if i in shard]


def test_an_empty_shard_passes_and_says_why(copied: pytest.Pytester) -> None:
    report = copied.path / "shard-3"
    result = copied.runpytest("-p", "no:cacheprovider", "--asyncplay-lint", SUBSET[1], "--splits", "3",
                              "--group", "3", f"--asyncplay-report={report}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*asyncplay: nothing to audit in group 3/3 of the split (no playbook*"])
    data = json.loads(report.with_suffix(".json").read_text())
    assert data["rows"] == [] and data["shard"] == {"group": 3, "splits": 3}


def test_a_broken_durations_file_is_a_usage_error(copied: pytest.Pytester) -> None:
    (copied.path / "durations.json").write_text(json.dumps({"example_playbooks/x.yml::t[killed]": "slow"}))
    result = copied.runpytest("-p", "no:cacheprovider", "--asyncplay-lint", SUBSET[1], "--splits", "2",
                              "--group", "1", f"--durations-path={copied.path / 'durations.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--durations-path *durations.json is not a pytest-split durations file*"])


def test_without_the_audit_pytest_split_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--splits", "2", "--group", "2", "-v")
    result.stdout.fnmatch_lines(["*Running group 2/2*", "*test_b PASSED*"])
    assert "asyncplay: pytest-split" not in result.stdout.str()


# -- real shards against an unsharded run ----------------------------------------------------------------------

NOISE = [(re.compile(r"ansible-tmp-[\d.-]+"), "TMP"), (re.compile(r"\bj\d+\.\d+"), "JID"),
         (re.compile(r"\d+\.\d+[sx]?"), "N")]


def normal(text: str) -> str:
    """A report with what differs between two runs of the same audit (times, jids, temp paths) masked."""
    for pattern, mask in NOISE:
        text = pattern.sub(mask, text)
    return text


def markdown(text: str, probes: bool = True) -> str:
    """``normal`` Markdown, a measured cell and an empty one alike: whether the unreaped job had finished (and so
    has a runtime and headroom) when its play ended is a race of each run, as ``report_json`` knows; and
    (``probes=False``) without how the probes were played and why, which is one too."""
    text = re.sub(r"\| (?:-|N) (?=\|)", "| ? ", normal(text))
    if not probes:
        text = re.sub(r"\| (?:parallel|isolated) (?=\|)", "| P ", text)
        # the section of probes replayed alone, which one run may have and the other not, blank line and all
        text = re.sub(r"\n\n### Isolated probes\n\n(?:- .*\n(?:  .*\n)*)*", "\n", text)
        # a finding's verdict word, not its words (nor its further lines, which a probe replayed alone has)
        text = re.sub(r"^(- [a-z-]+):.*(?:\n  .*)*$", r"\1", text, flags=re.M)
    return text


def report_json(path: Path, probes: bool = True) -> dict[str, Any]:
    """The JSON report with its run's races masked: runtimes, and (``probes=False``) how the probes were played,
    since a parallel probe that another probe's host held back is replayed alone when the machine is loaded."""
    data: dict[str, Any] = json.loads(path.read_text())
    for row in data["rows"]:
        row["runtime"] = row["headroom"] = None
        row["messages"] = [normal(m) for m in row["messages"]]
        if not probes:  # how the probes were played, and so the words of what they saw
            assert row["probes"] in ("parallel", "isolated"), row
            row["probes"] = row["probes_why"] = None
            row["messages"] = [m.split(":", 1)[0] for m in row["messages"]]  # the verdict word stays
    return data


def junit_cases(path: Path) -> dict[str, str]:
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((t for t in ("error", "failure", "skipped") if case.find(t) is not None), "passed")
        cases[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return cases


@pytest.mark.docker  # plays on real hosts in subprocesses
def test_two_shards_merge_into_the_unsharded_reports(tmp_path: Path) -> None:
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps(SKEWED))
    runs = {"full": (), "shard-1": ("--splits", "2", "--group", "1"), "shard-2": ("--splits", "2", "--group", "2")}
    procs, started = {}, time.monotonic()
    for name, extra in runs.items():  # side by side: the three sessions take about as long as the unsharded one
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-n", "0",
                "--asyncplay-reap-audit", *SUBSET, *extra, f"--durations-path={durations}",
                f"--asyncplay-report={tmp_path / name}", f"--junitxml={tmp_path / name}.xml",
                f"--log-file={tmp_path / name}.log", "--log-file-level=DEBUG"]
        procs[name] = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {}
    try:
        for name, proc in procs.items():
            outputs[name] = proc.communicate(timeout=600)[0]
    finally:
        for proc in procs.values():
            if proc.poll() is None:  # the plugin removes its containers on SIGTERM
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    print(f"the three sessions took {time.monotonic() - started:.0f}s side by side")
    assert [procs[n].returncode for n in runs] == [1, 0, 1], outputs  # the unreaped job is swallowed

    # every item ran in exactly one shard, each playbook in one shard only, played there in one play (parallel probes:
    # its clean host and every probe host in one play)
    full, one, two = (junit_cases(tmp_path / f"{n}.xml") for n in runs)
    assert not set(one) & set(two) and {**one, **two} == full and len(full) == 4
    assert {playbook(c) for c in one} == {"example_playbooks.parallel_jobs.yml"}, outputs["shard-1"]
    assert {playbook(c) for c in two} == {"example_playbooks.fire_and_forget_unreaped.yml"}, outputs["shard-2"]
    for name, playbooks in (("shard-1", ["parallel_jobs.yml"]), ("shard-2", ["fire_and_forget_unreaped.yml"])):
        log = (tmp_path / f"{name}.log").read_text()
        plays = re.findall(r"play (\S+) starts on ", log)
        # the shard's playbook, played first as one play of all its probes; a probe replayed alone after it (a
        # loaded machine held its look back, or its fault landed late) plays that playbook again, nothing else
        assert plays[:1] == playbooks and set(plays) == set(playbooks), (name, plays)

    completed = subprocess.run(
        [sys.executable, "-m", "pytest_asyncplay", "merge-reports", str(tmp_path / "merged"),
         str(tmp_path / "shard-*.json"), str(tmp_path / "shard-*.xml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    merged_rows = report_json(tmp_path / "merged.json")["rows"]
    assert sorted(merged_rows, key=str) == sorted(  # the shards' own rows, each kept whole
        [r for n in ("shard-1", "shard-2") for r in report_json(tmp_path / f"{n}.json")["rows"]], key=str)
    assert report_json(tmp_path / "merged.json", probes=False) == report_json(tmp_path / "full.json", probes=False)
    assert markdown((tmp_path / "merged.md").read_text(), probes=False) == markdown(
        (tmp_path / "full.md").read_text(), probes=False)
    assert json.loads((tmp_path / "merged.json").read_text())["summary"] == (
        "4 fire-and-forget task(s): 1 lint findings, 3 lint ok, 3 surfaced, 1 swallowed")
    merged = ET.parse(tmp_path / "merged.xml").getroot()
    assert junit_cases(tmp_path / "merged.xml") == full
    assert list(junit_cases(tmp_path / "merged.xml")) == list(full)  # the same order
    (suite,), (full_suite,) = merged.iter("testsuite"), ET.parse(tmp_path / "full.xml").getroot().iter("testsuite")
    assert {k: suite.get(k) for k in ("tests", "errors", "failures", "skipped")} == {
        k: full_suite.get(k) for k in ("tests", "errors", "failures", "skipped")}
    left = [c.name for proc in procs.values() for c in docker.from_env().containers.list(
        all=True, filters={"label": f"{OWNER_PID_LABEL}={proc.pid}"})]
    assert left == []  # each session removed its containers
