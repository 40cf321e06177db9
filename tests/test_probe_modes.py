"""The reap audit over the corpus, the examples, the ansible-core port and the coupled cases, killed on real
hosts, in each probe mode: isolated (one play per probe) and parallel (a playbook's probes in one play, each
on its own host beside a clean one).

Every corpus verdict is the one its case expects, in each mode, and the two modes give the same verdict on
every task. A case that comes out differently means the independence check missed a coupling between hosts:
fix the check, not the case.

``ASYNCPLAY_PROBE_MODES`` (default ``parallel``, the audit's default) says which modes run; each mode's verdicts
are checked against the corpus's expectations, so a coupling the independence check missed shows as a wrong
parallel verdict. ``ASYNCPLAY_PROBE_MODES=isolated,parallel`` also plays every probe in a play of its own (about
ten minutes more here) and compares the modes; run it when the probe planning changes. CI runs the parallel
mode once, on the default ansible-core (the matrix runs the audit tests of tests/test_audit.py on the others).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from asyncplay_corpus_expectations import load_corpus  # registered by tests/conftest.py

from pytest_asyncplay.versions import end_in_rescue_fails_play

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
AUDITED = [CORPUS, ROOT / "example_playbooks", ROOT / "tests" / "ansible_core_async", ROOT / "tests" / "audit_coupled"]
LOUD_KINDS = {"reap-budget-short", "async-timeout-tight"}  # flagged, yet a job killed at launch fails the play
# Where the dynamic truth depends on the ansible-core version (the lint, being static, says the same everywhere):
BY_VERSION = {
    ("rescue_end_play.yml", "upload artifacts"): lambda: "surfaced" if end_in_rescue_fails_play() else "swallowed",
}
# A reap without until looks once: whether it sees a job killed at launch depends on who is first (the runner
# writing its failure, or the reap) -- the very reason the lint flags it. Either verdict is right, in either mode:
# that race is the finding itself, not a coupling.
EITHER = {("budget_short.yml", "check links")}
# Launches in the files a templated include can name but a plain run does not pick (extra_tasks is unset, so
# tasks/noop.yml runs): the lint judges them for the run that picks their file; a plain play never starts
# their job, so the fault cannot apply and the audit cannot prove anything.
NOT_PLAYED = {("templated_include.yml", name) for name in ("fetch mirrors", "verify mirrors", "verify mirrors #2")}
# A launch whose role default keeps it off (the lint judges the run that turns it on): a plain play skips it.
NOT_PLAYED.add(("never_runs.yml", "flush the cdn"))
MODES = [m.strip() for m in os.environ.get("ASYNCPLAY_PROBE_MODES", "parallel").split(",") if m.strip()]


def audit(pytester: pytest.Pytester, mode: str) -> tuple[pytest.RunResult, dict[tuple[str, str], dict]]:
    report = pytester.path / f"report-{mode}"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=",
                                           "-n", "2", "--asyncplay-reap-audit", *map(str, AUDITED),
                                           f"--asyncplay-probes={mode}", f"--asyncplay-report={report}",
                                           timeout=2400)
    data = json.loads(report.with_name(report.name + ".json").read_text())
    return result, {(Path(r["playbook"]).name, r["task"]): r for r in data["rows"]}


def expected(case, task: str, kinds: tuple[str, ...]) -> str:  # type: ignore[no-untyped-def]
    """The ``[killed]`` verdict a corpus task must get from its case's lint kinds."""
    key = (Path(case.name).name, task)
    if key in NOT_PLAYED:
        return "not-proven"
    if kinds in (("reap-fails-healthy-job",), ("async-unsupported",)):
        return "error"  # the play fails without a fault (the reap fails a healthy job too, or the action refuses
        # async): the clean run fails, so no fault can be told apart
    if key in BY_VERSION:
        return BY_VERSION[key]()
    if case.errors or any("not installed here" in note for note in case.notes):
        return "error"  # broken, or a role Ansible cannot find: the clean run fails, no verdict
    if kinds in (("not-analysed",), ("never-runs",)):
        return "not-proven"  # a task file no playbook reaches, or a launch its when: skips: no job to kill
    if kinds == ("ok",) or set(kinds) <= LOUD_KINDS:
        return "surfaced"
    return "swallowed"


def check_corpus(result: pytest.RunResult, rows: dict[tuple[str, str], dict]) -> None:
    checked = 0
    for case in load_corpus():
        for task, kinds in case.verdicts.items():
            row = rows[(Path(case.name).name, task)]
            if (Path(case.name).name, task) in EITHER:
                assert row["dynamic"]["killed"] in ("surfaced", "swallowed"), (case.name, task, row["messages"])
            else:
                want = expected(case, task, kinds)
                assert row["dynamic"]["killed"] == want, (case.name, task, kinds, row["messages"])
            checked += 1
    assert checked >= 50
    output = result.stdout.str()
    assert "FAILED tests/corpus/broken_yaml.yml::[broken]" in output and "invalid YAML" in output
    assert "CallInfo" not in output  # no-verdict errors show their reason, not pytest's internals


@pytest.mark.docker  # plays on real hosts in subprocesses
@pytest.mark.parametrize("mode", MODES)
def test_the_corpus_verdicts_in_each_probe_mode_and_the_modes_agree(mode: str, pytester: pytest.Pytester,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """One item per mode, so xdist plays the modes side by side; the item that ends second compares them."""
    monkeypatch.chdir(ROOT)
    assert MODES and set(MODES) <= {"isolated", "parallel"}, f"ASYNCPLAY_PROBE_MODES={MODES}"
    result, rows = audit(pytester, mode)
    check_corpus(result, rows)
    assert {r["probes"] for r in rows.values() if r["probes"]} <= {"isolated", "parallel"}, mode
    if mode == "isolated":
        assert all(r["probes_why"] == "--asyncplay-probes=isolated" for r in rows.values() if r["probes"])
    else:
        modes = {key: (r["probes"], r["probes_why"]) for key, r in rows.items() if r["probes"]}
        assert modes[("independent.yml", "sync files")] == ("parallel", None)
        how, why = modes[("run_once_notice.yml", "sync files")]
        assert how == "isolated" and "run_once_notice.yml:" in why and "run_once runs the task on one host" in why
        how, why = modes[("rescue_end_play.yml", "upload artifacts")]
        assert how == "isolated" and "meta: end_play ends the play for every host" in why
        # confirmed or not, most probes here shared their playbook's play
        assert sum(m == "parallel" for m, _ in modes.values()) >= len(modes) // 2, modes
    # both items write their rows, then look for the other's: whichever writes second sees both (xdist workers
    # of one run share their base temp dirs' parent, pytest-N; without xdist the session's own base temp dir)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent / f"asyncplay-probe-modes-{run}") if run else (base / "asyncplay-probe-modes")
    shared.mkdir(exist_ok=True)
    mine = shared / f"{mode}.json"
    partial = mine.with_suffix(".part")
    partial.write_text(json.dumps([[list(key), row] for key, row in rows.items()]))
    partial.replace(mine)
    other = shared / ("parallel.json" if mode == "isolated" else "isolated.json")
    if len(MODES) < 2 or not other.exists():
        return  # one mode only, or the other item has not ended yet: it compares
    theirs = {tuple(key): row for key, row in json.loads(other.read_text())}
    isolated, parallel = (rows, theirs) if mode == "isolated" else (theirs, rows)
    assert isolated.keys() == parallel.keys() and len(parallel) >= 60
    differ = {key: (isolated[key]["dynamic"], parallel[key]["dynamic"], parallel[key]["messages"])
              for key in parallel if key not in EITHER and isolated[key]["dynamic"] != parallel[key]["dynamic"]}
    assert not differ, differ
