"""The reap audit and the lint as a user runs them: real pytest sessions (pytester, subprocess)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from asyncplay_corpus_expectations import load_corpus  # registered by tests/conftest.py
from browser import EXTERNAL, page_dom

from pytest_asyncplay.audit.lint import SEVERITY

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
# The corpus killed on real hosts, in both probe modes: tests/test_probe_modes.py.


@pytest.fixture
def in_repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs start in the repository root, as a user's CI would."""
    monkeypatch.chdir(ROOT)
    return pytester


def run_audit(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=",
                                           *args, f"--asyncplay-report={report}", timeout=1500)
    data = json.loads((pytester.path / "report.json").read_text()) if (pytester.path / "report.json").exists() else {}
    return result, data


def rows_by_task(data: dict) -> dict[tuple[str, str], dict]:
    return {(Path(r["playbook"]).name, r["task"]): r for r in data["rows"]}


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_demo_verdicts_on_the_example_playbooks(in_repo: pytest.Pytester) -> None:
    pytester = in_repo
    result, data = run_audit(pytester, "--asyncplay-reap-audit", str(ROOT / "example_playbooks"),
                             f"--junitxml={pytester.path / 'junit.xml'}")
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines([
        "*asyncplay reap audit*",
        "*fire_and_forget_unreaped.yml*compress logs*unreaped*swallowed*",
        "*7 fire-and-forget task(s)*5 surfaced, 2 swallowed*",
        "FAILED example_playbooks/fire_and_forget_unreaped.yml::compress logs[[]killed[]]*",
        "FAILED example_playbooks/reap_ignores_errors.yml::rotate certificates[[]killed[]]*",
    ])
    verdicts = {key: row["dynamic"]["killed"] for key, row in rows_by_task(data).items()}
    assert verdicts == {
        ("batch_job.yml", "process batch"): "surfaced",
        ("fire_and_forget_reaped.yml", "compress logs"): "surfaced",
        ("fire_and_forget_unreaped.yml", "compress logs"): "swallowed",
        ("parallel_jobs.yml", "backup database"): "surfaced",
        ("parallel_jobs.yml", "warm cache"): "surfaced",
        ("parallel_jobs.yml", "build report"): "surfaced",
        ("reap_ignores_errors.yml", "rotate certificates"): "swallowed",
    }
    markdown = (pytester.path / "report.md").read_text()
    assert "| example_playbooks/batch_job.yml | process batch |" in markdown
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    properties = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    killed = properties["compress logs[killed]"]
    assert killed["file_line"].endswith(".yml:6") and killed["jid"].startswith("j")
    jids = {j for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
            for p in c.iter("property") if p.get("name") == "jid" for j in p.get("value", "").split(",")}
    check_demo_page(pytester.path / "report.html", pytester.path / "profile", data, jids)


def check_demo_page(page: Path, profile: Path, data: dict, faulted: set[str]) -> None:
    """report.html draws every item from its one play: the clean host's lane (host1) beside the probe's own
    host's lane on one time scale, every job of the ledger as a bar, the fault on the faulted job alone, the polls
    of a reaped one; and it fetches nothing."""
    text = page.read_text(encoding="utf-8")
    assert not EXTERNAL.search(text), f"the page refers outside itself: {EXTERNAL.search(text)}"
    dom = page_dom(page, profile)
    assert len(dom.sections) == len(data["rows"]) == 7 and all(len(s) == 1 for s in dom.sections)
    assert len(faulted) == 9  # a job per item, and the batch's three loop items one by one
    for (probe,) in dom.sections:
        lanes = {a["data-host"] for a in dom.having("lane", probe)}
        assert len(lanes) == 2 and "host1" in lanes, lanes
        assert len(dom.having("job", probe)) == dom.ledger_rows[probe] >= 2, f"timeline {probe}: a job is not drawn"
        assert len(dom.having("end", probe)) == 2
        (fault,) = dom.having("fault", probe)
        assert fault["data-jid"] in faulted and fault["data-host"] != "host1"  # the clean host has no fault
        assert [a for a in dom.having("job", probe) if a["data-jid"] == fault["data-jid"]]
    shown = {a["data-jid"] for (probe,) in dom.sections for a in dom.having("fault", probe)}
    polled = {a["data-jid"] for (probe,) in dom.sections for a in dom.having("poll", probe)}
    assert len(shown) == 7 and len(polled & shown) == 6  # the unreaped job alone has no poll


def test_lint_items_match_the_corpus_expectations(in_repo: pytest.Pytester) -> None:
    result = in_repo.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=",
                                          "--asyncplay-lint", str(CORPUS), "-rA")
    outcomes = {}
    for line in result.stdout.lines:
        for word in ("PASSED", "FAILED", "ERROR"):
            if line.startswith(word + " tests/corpus/"):
                node = line[len(word) + 1:].split(" - ")[0]
                outcomes[node] = word
    expected = {}
    for case in load_corpus():
        rel = f"tests/corpus/{case.name}"
        for task, kinds in case.verdicts.items():
            # advice (reap-budget-short, async-timeout-tight) passes the item; the rest fail it
            static = [k for k in kinds if k != "ok" and SEVERITY[k] != "advice"]
            expected[f"{rel}::{task}[lint]"] = "FAILED" if case.errors or static else "PASSED"
        if case.errors and not case.verdicts:
            expected[f"{rel}::[broken]"] = "FAILED"
    assert outcomes == expected


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_vanished_and_slow_kinds(in_repo: pytest.Pytester) -> None:
    result, data = run_audit(in_repo, "--asyncplay-reap-audit", str(ROOT / "tests" / "audit_cases"),
                             "--asyncplay-faults", "killed,vanished,slow")
    rows = rows_by_task(data)
    quick, lazy = rows[("kinds.yml", "quick job")], rows[("kinds.yml", "lazy job")]
    assert quick["dynamic"] == {"killed": "surfaced", "vanished": "surfaced", "slow": "surfaced"}, quick["messages"]
    # looked at once without until: only a job killed at once is seen; a vanished or slow one is not
    assert lazy["dynamic"] == {"killed": "surfaced", "vanished": "swallowed", "slow": "swallowed"}, lazy["messages"]
    result.assert_outcomes(passed=4, failed=2)


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_a_failing_baseline_and_a_broken_playbook_fail_only_their_own_items(in_repo: pytest.Pytester) -> None:
    result, _ = run_audit(in_repo, "--asyncplay-reap-audit", str(ROOT / "tests" / "audit_broken"))
    result.assert_outcomes(passed=1, failed=1, errors=1)
    summary = result.stdout.str()
    assert "ERROR tests/audit_broken/baseline_fails.yml::background job[killed]" in summary
    assert "FAILED tests/audit_broken/bad_yaml.yml::[broken]" in summary
    assert "no verdict: the clean run of tests/audit_broken/baseline_fails.yml failed" in result.stdout.str()


def test_bad_audit_options_are_usage_errors(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--asyncplay-reap-audit", str(CORPUS), "--asyncplay-faults", "killed,melted")
    result.stderr.fnmatch_lines(["*--asyncplay-faults='killed,melted': unknown kind(s)*melted*"])
    result = pytester.runpytest("--asyncplay-lint", "no/such/dir")
    result.stderr.fnmatch_lines(["*audit/lint path(s) *no/such/dir do not exist*"])
    result = pytester.runpytest("--asyncplay-reap-audit", str(CORPUS), "--asyncplay-probe-hosts", "1")
    result.stderr.fnmatch_lines(["*--asyncplay-probe-hosts='1': give a number >= 2 (the clean host and at least one "
                                 "probe host), or --asyncplay-probes=isolated for one play per probe."])
    result = pytester.runpytest("--asyncplay-reap-audit", str(CORPUS), "--asyncplay-probes", "sometimes")
    result.stderr.fnmatch_lines(["*--asyncplay-probes: invalid choice: 'sometimes'*"])
    result = pytester.runpytest("--asyncplay-reap-audit", str(CORPUS), "--asyncplay-hosts", "zero")
    result.stderr.fnmatch_lines(["*--asyncplay-hosts='zero': give a number >= 1 (hosts per experiment).*"])


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_audit_on_several_hosts_and_on_the_repo_inventory(in_repo: pytest.Pytester) -> None:
    playbook = str(ROOT / "example_playbooks" / "fire_and_forget_reaped.yml")
    result, data = run_audit(in_repo, "--asyncplay-reap-audit", playbook, "--asyncplay-hosts", "2")
    result.assert_outcomes(passed=1)
    assert "was killed on host1, host2 and the play failed" in data["rows"][0]["messages"][0]
    assert data["rows"][0]["probes"] == "isolated"  # each experiment is a play on 2 hosts: one probe per play
    assert data["rows"][0]["probes_why"] == "--asyncplay-hosts=2 makes each experiment a play on 2 hosts"
    assert "isolated probes: example_playbooks/fire_and_forget_reaped.yml: --asyncplay-hosts=2" in result.stdout.str()
    inventory = str(ROOT / "tests" / "playbooks" / "inventory_repo" / "hosts.ini")
    result, data = run_audit(in_repo, "--asyncplay-reap-audit", playbook, "--asyncplay-inventory", inventory)
    result.assert_outcomes(passed=1)
    assert "was killed on db1, web1, web2 and the play failed" in data["rows"][0]["messages"][0]
    assert data["rows"][0]["probes"] == "isolated" and "--asyncplay-inventory" in data["rows"][0]["probes_why"]


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_a_role_no_playbook_plays_is_audited_as_hosts_all_with_the_role(in_repo: pytest.Pytester) -> None:
    """A Galaxy role at the root of its repo: played as ``hosts: all`` + ``roles: [it]``, its defaults in force;
    a task file of it that nothing includes is played as ``include_role`` with its ``tasks_from``."""
    result, data = run_audit(in_repo, "--asyncplay-reap-audit", str(ROOT / "tests" / "audit_role"))
    rows = rows_by_task(data)
    assert rows[("main.yml", "refresh index")]["dynamic"] == {"killed": "surfaced"}
    assert rows[("main.yml", "warm thumbnails")]["dynamic"] == {"killed": "swallowed"}
    assert rows[("rebuild.yml", "rebuild index")]["dynamic"] == {"killed": "surfaced"}
    assert all(r["probes"] == "parallel" for r in rows.values())
    assert "refresh index" in rows[("main.yml", "refresh index")]["messages"][0]
    result.assert_outcomes(passed=2, failed=1)
    assert not list((ROOT / "tests" / "audit_role").glob("*.yml"))  # the play was written elsewhere, not into the repo
