"""The pure helpers of benchmarks/bench.py: figures, pair ratios, the goals table, the command line and the
generated lint repo. No Docker, no plays."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def _load_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("asyncplay_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

ISSUE_10_GOALS = {
    "host_ready_s": 0.25, "hosts8_ready_s": 1.0, "hosts32_ready_s": 3.0, "overhead_ratio": 1.05,
    "kill_to_fail_s": 0.5, "molecule_ratio": 0.15, "hosts32_ratio": 2.0, "audit_xdist_ratio": 0.55,
    "lint_2000_files_s": 5.0,
}
ISSUE_19_GOALS = {"audit_parallel_ratio": 0.35, "audit_parallel_ratio_40": 0.25, "audit_estimate_500_tasks_s": 300.0}


def test_summary_is_median_min_max_and_runs() -> None:
    assert bench.summary([3.0, 1.0, 2.0]) == {"median_s": 2.0, "min_s": 1.0, "max_s": 3.0, "runs": 3}
    assert bench.summary([1.0, 2.0])["median_s"] == 1.5
    assert bench.summary([0.12345])["median_s"] == 0.123


def test_summary_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        bench.summary([])


def test_pair_ratio_is_the_median_of_per_pair_ratios() -> None:
    # a noisy second pair moves both sides: pair by pair it cancels, a ratio of medians would not
    ratio = bench.pair_ratio([1.0, 4.0, 1.2], [2.0, 8.0, 2.0])
    assert ratio == {"median": 0.5, "min": 0.5, "max": 0.6, "pairs": 3}


def test_pair_ratio_needs_pairs() -> None:
    with pytest.raises(ValueError):
        bench.pair_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        bench.pair_ratio([], [])


def test_figure_reads_summaries_ratios_and_numbers() -> None:
    assert bench.figure(bench.summary([1.0, 2.0, 3.0])) == 2.0
    assert bench.figure(bench.pair_ratio([1.0], [4.0])) == 0.25
    assert bench.figure(0.7) == 0.7
    assert bench.figure({"error": "boom"}) is None
    assert bench.figure(True) is None


def test_the_goals_are_those_of_issues_10_and_19() -> None:
    assert {key: goal for key, (goal, _) in bench.GOALS.items()} == {**ISSUE_10_GOALS, **ISSUE_19_GOALS}


def test_goal_table_is_flat_with_value_goal_and_met_for_every_key() -> None:
    results = {
        "machine": {"cpus": 2},
        "hosts": {"host_ready_s": bench.summary([0.2, 0.3, 0.4]), "hosts8_ready_s": bench.summary([1.5])},
        "play": {"overhead_ratio": bench.pair_ratio([1.0], [1.0])},
        "audit": {"error": "RuntimeError: no docker"},
    }
    table = bench.goal_table(bench.goal_values(results))
    assert list(table) == list(bench.GOALS)
    assert table["host_ready_s"] == {"value": 0.3, "goal": 0.25, "met": False, "what": bench.GOALS["host_ready_s"][1]}
    assert table["hosts8_ready_s"]["met"] is False
    assert table["overhead_ratio"]["met"] is True  # at the bound is met
    assert table["audit_xdist_ratio"] == {"value": None, "goal": 0.55, "met": None,
                                          "what": bench.GOALS["audit_xdist_ratio"][1]}
    assert all(set(row) == {"value", "goal", "met", "what"} for row in table.values())


def test_goals_markdown_has_a_row_per_goal() -> None:
    table = bench.goal_table({"lint_2000_files_s": 1.3, "molecule_ratio": 0.3})
    text = bench.goals_markdown(table)
    assert "| `lint_2000_files_s` | 1.3 | ≤ 5 | yes |" in text
    assert "| `molecule_ratio` | 0.3 | ≤ 0.15 | **no** |" in text
    assert "| `host_ready_s` | not measured | ≤ 0.25 | - |" in text
    assert len(text.splitlines()) == 2 + len(bench.GOALS)


@pytest.mark.parametrize(("poll_start", "waited"), [(None, 0.0), (4.5, 0.0), (10.4, 0.4), (12.0, 1.0)])
def test_kill_to_fail_takes_off_only_the_reap_sleep_after_the_kill(poll_start, waited) -> None:  # type: ignore[no-untyped-def]
    row = bench.kill_to_fail(kill_at=10.0, end=11.9, poll_start=poll_start, delay=1.0)
    assert row["reap_wait_s"] == pytest.approx(waited)
    assert row["kill_to_end_s"] == pytest.approx(1.9)
    assert row["kill_to_fail_s"] == pytest.approx(1.9 - waited)


def test_command_line_quick_json_and_kinds(tmp_path: Path) -> None:
    quick = bench.parse_args(["--quick", "--json", str(tmp_path / "b.json")])
    assert quick.runs == 3 and quick.out == tmp_path / "b.json"
    assert "faults" not in quick.which and {"molecule", "scale", "kill", "lint"} <= set(quick.which)
    assert bench.parse_args(["--out", "x.json"]).out == Path("x.json")  # the old spelling still works
    full = bench.parse_args([])
    assert full.runs == 5 and full.which == bench.KINDS
    assert bench.parse_args(["--quick", "--runs", "4", "lint"]).which == ["lint"]
    with pytest.raises(SystemExit):
        bench.parse_args(["nonsense"])


def test_generated_lint_repo_has_2000_yaml_files(tmp_path: Path) -> None:
    count = bench.make_repo(tmp_path)
    assert count == sum(1 for _ in tmp_path.rglob("*.yml")) == 160 * 13 + 80
    assert count >= 2000


def test_small_generated_repo_counts_its_files(tmp_path: Path) -> None:
    assert bench.make_repo(tmp_path, roles=2, playbooks=3) == 2 * 13 + 3


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="a.yml" name="a.yml::compress logs[lint]" time="0.001"/>
<testcase classname="a.yml" name="a.yml::compress logs[killed]" time="9.0"/>
<testcase classname="a.yml" name="a.yml::rotate[killed]" time="3.0"/>
<testcase classname="b.yml" name="b.yml::backup[killed]" time="5.0"/>
<testcase classname="b.yml" name="b.yml::backup[lint]" time="0.003"/>
</testsuite></testsuites>"""


def test_audit_costs_from_a_junit_report() -> None:
    items = bench.junit_items(JUNIT)
    assert items[1] == ("a.yml", "a.yml::compress logs[killed]", 9.0)
    costs = bench.audit_costs(items, wall=20.0)
    assert costs["killed_items"] == 3 and costs["lint_items"] == 2 and costs["playbooks"] == 2
    assert costs["killed_item_s"] == 3.0  # items after the first of their playbook
    assert costs["baseline_s"] == 4.0  # median(9, 5) - 3: what the first item of a playbook pays more
    assert costs["fixed_s"] == pytest.approx(20.0 - 17.004)


def test_audit_estimate_divides_items_and_baselines_across_machines() -> None:
    costs = {"killed_item_s": 2.0, "baseline_s": 3.0, "fixed_s": 4.0}
    one = bench.audit_estimate(500, 100, 1, costs, host_start_s=0.5, xdist_ratio=0.5)
    assert one == pytest.approx(4.0 + 0.5 + (500 * 2.0 + 100 * 3.0) * 0.5)
    sixteen = bench.audit_estimate(500, 100, 16, costs, host_start_s=0.5, xdist_ratio=0.5)
    assert sixteen == pytest.approx(4.0 + 0.5 + (32 * 2.0 + 7 * 3.0) * 0.5)  # ceil(500/16), ceil(100/16)
    results = {"hosts": {"host_ready_s": bench.summary([0.5])},
               "audit": {"per_item_costs_n0": costs, "audit_xdist_ratio": bench.pair_ratio([1.0], [2.0])}}
    estimate = bench.audit_estimates(results)
    assert estimate is not None and estimate["machines_1_s"] == round(one, 1)
    assert set(estimate) == {"assumptions", "machines_1_s", "machines_4_s", "machines_16_s"}
    assert bench.audit_estimates({"audit": {"error": "x"}}) is None


def test_the_generated_audit_set_is_40_launches_the_lint_reads_as_designed(tmp_path: Path) -> None:
    from pytest_asyncplay.audit.discover import discover
    from pytest_asyncplay.audit.lint import analyze

    assert bench.make_audit_set(tmp_path) == 40
    verdicts = analyze(discover([tmp_path], []))
    assert len(verdicts) == 40 and sum(v.ok for v in verdicts) == 32  # every fifth task is left unreaped
    assert {f.kind for v in verdicts for f in v.findings} == {"unreaped"}
    assert sum(t.loop for v in verdicts for t in [v.task]) == 8  # one loop task per playbook
