"""Static reap lint: verdicts per corpus playbook, finding messages, and the rules' edge cases."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import asyncplay_corpus_expectations as expectations  # registered by tests/conftest.py
import pytest

from pytest_asyncplay.audit import FINDING_KINDS, Finding, TaskVerdict, analyze, discover, lint
from pytest_asyncplay.audit.hostpath import parse_reap_modules

CORPUS = Path(__file__).resolve().parents[1] / "corpus"



CASES = expectations.load_corpus(CORPUS)


def kinds(verdict: TaskVerdict) -> tuple[str, ...]:
    """Every kind reported (advice included), or ``ok``; the corpus markers list them the same way."""
    return tuple(sorted({f.kind for f in verdict.findings})) or ("ok",)


def verdicts_of(path: Path, runtimes: dict[str, float] | None = None) -> dict[str, TaskVerdict]:
    playbooks = discover(path)
    known = {(pb.path, name): seconds for pb in playbooks for name, seconds in (runtimes or {}).items()}
    return {v.task.node_name: v for v in analyze(playbooks, known)}


# --------------------------------------------------------------------------------------------------
# The corpus


@pytest.mark.parametrize("case", [c for c in CASES if c.verdicts], ids=lambda c: c.name)
def test_corpus_verdicts(case: Any) -> None:
    got = {name: kinds(v) for name, v in verdicts_of(case.path, case.runtimes).items()}
    expected = {name: tuple(sorted(v)) for name, v in case.verdicts.items()}
    assert got == expected


def test_every_finding_kind_is_in_the_corpus() -> None:
    used = {kind for case in CASES for verdict in case.verdicts.values() for kind in verdict}
    assert used == {*FINDING_KINDS, "ok"} - {"error"}  # broken playbooks carry expect-error markers instead
    assert any(case.errors for case in CASES)


def test_corpus_expectations_use_known_kinds_only() -> None:
    for case in CASES:
        for name, verdict in case.verdicts.items():
            assert verdict == ("ok",) or (verdict and set(verdict) <= set(FINDING_KINDS)), (case.name, name)


def test_analyze_is_deterministic() -> None:
    first = analyze(discover(CORPUS))
    second = analyze(discover(CORPUS))
    assert [(v.task.where(), v.ok, [f.message for f in v.findings]) for v in first] == [
        (v.task.where(), v.ok, [f.message for f in v.findings]) for v in second
    ]
    assert len(first) == sum(len(case.verdicts) for case in CASES)


# --------------------------------------------------------------------------------------------------
# Messages and verdict fields


def test_unreaped_message() -> None:
    verdict = verdicts_of(CORPUS / "unreaped.yml")["rotate logs"]
    (finding,) = verdict.findings
    assert finding.message == 'unreaped: "rotate logs" (unreaped.yml:13) starts a job that no async_status reaps'
    assert str(finding) == finding.message
    assert finding.hint.startswith("Register the launch")
    assert (finding.reap_file, finding.reap_line) == (None, None)
    assert verdict.reap is None and verdict.reap_budget_seconds is None


def test_unreaped_without_register_says_so() -> None:
    (finding,) = verdicts_of(CORPUS / "unreaped.yml")["fire without register"].findings
    assert finding.message.endswith("(it has no register:, so nothing can)")


@pytest.mark.parametrize(
    ("playbook", "task", "fragment", "reap_line"),
    [
        ("ignore_errors.yml", "sync mirror", "which has ignore_errors: true, so it ignores", 15),
        ("ignore_errors_block.yml", "index documents", "enclosing block (ignore_errors_block.yml:17)", 20),
        ("ignore_errors_block.yml", "vacuum database", "enclosing play (ignore_errors_block.yml:28)", 39),
        ("failed_when_false.yml", "rebuild index", "failed_when: false and no later assert/fail", 15),
        ("when_reap.yml", "render thumbnails", "(when: reap_jobs | default(false) | bool)", 15),
        ("reap_in_rescue.yml", "prefetch packages", "sits in a rescue:", 20),
        ("rescue_swallows.yml", "export metrics", "rescue (rescue_swallows.yml:25) handles the failure", 17),
        ("cleanup_only.yml", "purge temp files", "only runs mode: cleanup", 19),
        ("loop_partial.yml", "shard index", "({{ index_jobs.results[0].ansible_job_id }})", 25),
        ("loop_partial.yml", "shard copy", "({{ copy_jobs.results[:2] }})", 33),
        ("budget_short.yml", "compile assets", "at most 5 s (retries 5 x delay 1), for a job allowed 30 s", 36),
        ("budget_short.yml", "check links", "has no until:, so it looks once", 31),
        ("budget_short.yml", "default budget", "at most 15 s (retries 3 x delay 5)", 44),
        ("wrong_jid.yml", "encode video", "it reaps 'audio_job' of \"encode audio\" (wrong_jid.yml:11) again", 31),
        ("register_overwritten.yml", "first batch", "registers 'batch_job', but \"second batch\"", 23),
        ("import_role.yml", "role launch #2", '"clean up role launch" (roles/reaper/tasks/cleanup.yml:2)', 2),
    ],
)
def test_finding_messages_name_task_and_reap(playbook: str, task: str, fragment: str, reap_line: int) -> None:
    verdict = verdicts_of(CORPUS / playbook)[task]
    (finding,) = verdict.findings
    launch = verdict.task
    assert finding.message.startswith(f'{finding.kind}: "{task}" ({launch.where()}) ')
    assert fragment in finding.message
    assert finding.reap_line == reap_line and finding.reap_file is not None
    assert f"{finding.reap_file.name}:{reap_line}" in finding.message
    assert finding.task is launch and finding.hint


def test_budget_and_reap_of_a_sound_verdict() -> None:
    verdict = verdicts_of(CORPUS / "clean_reap.yml")["compress logs"]
    assert verdict.ok and verdict.findings == ()
    assert verdict.reap is not None and verdict.reap.name == "reap compress logs"
    assert verdict.reaps == (verdict.reap,)
    assert verdict.reap_budget_seconds == 30.0
    assert (verdict.runtime_seconds, verdict.headroom) == (None, None)


def test_multiple_reaps_pick_the_sound_one() -> None:
    verdict = verdicts_of(CORPUS / "multiple_reaps.yml")["migrate schema"]
    assert verdict.ok
    assert [r.name for r in verdict.reaps] == ["peek at the migration", "reap migrate schema"]
    assert verdict.reap is not None and verdict.reap.name == "reap migrate schema"


def test_runtimes_give_headroom_and_tight_findings() -> None:
    verdict = verdicts_of(CORPUS / "timeout_tight.yml", {"quick sync": 3.5})["quick sync"]
    assert verdict.runtime_seconds == 3.5
    assert verdict.headroom == pytest.approx(5 / 3.5)
    (finding,) = verdict.findings
    assert finding.message == (
        'async-timeout-tight: "quick sync" (timeout_tight.yml:11) has async: 5 but took 3.5 s; '
        "keep async >= 1.5 x the runtime (5.25 s)"
    )
    assert verdicts_of(CORPUS / "timeout_tight.yml")["quick sync"].ok
    relaxed = verdicts_of(CORPUS / "clean_reap.yml", {"compress logs": 20.0})["compress logs"]
    assert relaxed.ok and relaxed.headroom == 1.5  # exactly 1.5 x is not tight


# --------------------------------------------------------------------------------------------------
# lint()


def test_lint_returns_findings_of_good_playbooks() -> None:
    assert lint(CORPUS / "clean_reap.yml") == []
    findings = lint([CORPUS / "unreaped.yml", CORPUS / "wrong_jid.yml"])
    assert [(f.kind, f.task.name) for f in findings] == [
        ("unreaped", "rotate logs"),
        ("unreaped", "fire without register"),
        ("reap-wrong-job", "encode video"),
    ]
    assert all(isinstance(f, Finding) for f in findings)


def test_lint_never_raises_for_a_broken_playbook() -> None:
    (error,) = lint(CORPUS / "missing_include.yml")
    assert error.kind == "error" and error.task is None and error.severity == "unknown"
    assert "missing_include.yml:16: include_tasks file 'tasks/not_there.yml' not found" in error.message
    assert error.hint
    findings = lint(CORPUS)
    errors = {Path(str(f.playbook)).name for f in findings if f.kind == "error"}
    assert errors == {"broken_yaml.yml", "missing_include.yml"}
    # every other playbook is still analysed
    assert {f.kind for f in findings} >= {"unreaped", "reap-ignores-errors", "reap-budget-short"}


def test_lint_passes_roles_path_and_runtimes(tmp_path: Path) -> None:
    role = tmp_path / "shared/worker/tasks/main.yml"
    role.parent.mkdir(parents=True)
    role.write_text(
        "- name: role job\n  ansible.builtin.shell: sleep 2\n  async: 30\n  poll: 0\n  register: j\n",
        encoding="utf-8",
    )
    site = tmp_path / "site.yml"
    site.write_text("- hosts: all\n  roles: [worker]\n", encoding="utf-8")
    unreaped, tight = lint(site, roles_path=tmp_path / "shared", runtimes={(site, "role job"): 25.0})
    assert (unreaped.kind, tight.kind) == ("unreaped", "async-timeout-tight")
    assert "(shared/worker/tasks/main.yml:1)" in unreaped.message
    assert lint(site, roles_path=[tmp_path / "shared"], runtimes={(site, "role job"): 2.0})[0].kind == "unreaped"


# --------------------------------------------------------------------------------------------------
# Rule edge cases, on small playbooks written here


def play(tmp_path: Path, tasks: str, extra: str = "") -> dict[str, TaskVerdict]:
    """Write and analyse a one-play playbook: ``tasks`` is a task list, ``extra`` play keys or plays."""
    text = "- hosts: all\n  gather_facts: false\n  tasks:\n" + textwrap.indent(textwrap.dedent(tasks), "    ")
    path = tmp_path / "site.yml"
    path.write_text(text + extra, encoding="utf-8")
    (pb,) = discover(path)
    assert pb.error is None, pb.error
    return {v.task.node_name: v for v in analyze([pb])}


def launch(name: str = "job", register: str = "job", extra: str = "") -> str:
    return f"""
- name: {name}
  ansible.builtin.shell: sleep 2; echo done
  async: 30
  poll: 0
  register: {register}
{extra}"""


def reap(jid: str = "{{ job.ansible_job_id }}", extra: str = "", name: str = "reap") -> str:
    return f"""
- name: {name}
  ansible.builtin.async_status:
    jid: "{jid}"
  register: result
  until: result.finished
  retries: 30
  delay: 1
{extra}"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('  ignore_errors: "{{ tolerate | default(false) }}"\n', ("reap-ignores-errors",)),
        ("  ignore_errors: false\n", ("ok",)),
        ("  ignore_errors: no\n", ("ok",)),
        ("  ignore_errors: yes\n", ("reap-ignores-errors",)),
        ("  failed_when: [false]\n", ("reap-cannot-fail",)),
        ('  failed_when: "False"\n', ("reap-cannot-fail",)),
        ('  failed_when: "{{ false }}"\n', ("reap-cannot-fail",)),
        ("  failed_when: result.rc != 0\n", ("ok",)),
        ("  when: true\n", ("ok",)),
        ('  when: [true, "{{ true }}"]\n', ("ok",)),
        ("  when: false\n", ("reap-conditional",)),
        ('  retries: "{{ n }}"\n', ("ok",)),
        ("  delay: 0.5\n", ("reap-budget-short",)),  # advice: the item passes
        ("  when: x is defined\n  ignore_errors: true\n", ("reap-conditional", "reap-ignores-errors")),
    ],
)
def test_reap_keywords(tmp_path: Path, extra: str, expected: tuple[str, ...]) -> None:
    verdict = play(tmp_path, launch() + reap(extra=extra))["job"]
    assert kinds(verdict) == expected


def test_templated_retries_give_no_budget(tmp_path: Path) -> None:
    verdict = play(tmp_path, launch() + reap(extra='  retries: "{{ n }}"\n'))["job"]
    assert verdict.ok and verdict.reap_budget_seconds is None


def test_templated_async_skips_the_budget_check(tmp_path: Path) -> None:
    tasks = launch().replace("async: 30", 'async: "{{ t }}"') + reap(extra="  retries: 1\n")
    verdict = play(tmp_path, tasks)["job"]
    assert verdict.ok and verdict.reap_budget_seconds == 1.0


def test_later_fail_task_counts_as_a_check(tmp_path: Path) -> None:
    check = "\n- name: check\n  ansible.builtin.fail:\n    msg: failed\n  when: result.rc != 0\n"
    assert play(tmp_path, launch() + reap(extra="  failed_when: false\n") + check)["job"].ok
    unrelated = "\n- ansible.builtin.assert:\n    that: other.rc == 0\n"
    verdict = play(tmp_path, launch() + reap(extra="  failed_when: false\n") + unrelated)["job"]
    assert kinds(verdict) == ("reap-cannot-fail",)


def test_a_check_before_the_reap_does_not_count(tmp_path: Path) -> None:
    check = "\n- ansible.builtin.assert:\n    that: result.rc == 0\n  when: result is defined\n"
    verdict = play(tmp_path, launch() + check + reap(extra="  failed_when: false\n"))["job"]
    assert kinds(verdict) == ("reap-cannot-fail",)


def test_a_reap_before_the_launch_does_not_count(tmp_path: Path) -> None:
    verdict = play(tmp_path, reap() + launch())["job"]
    assert kinds(verdict) == ("unreaped",)


def test_a_typo_in_the_jid_is_a_wrong_job(tmp_path: Path) -> None:
    verdict = play(tmp_path, launch() + reap(jid="{{ jbo.ansible_job_id }}"))["job"]
    (finding,) = verdict.findings
    assert finding.kind == "reap-wrong-job"
    assert "takes the job id from 'jbo', registered by no task" in finding.message


def test_reaping_a_keep_alive_task_is_a_wrong_job(tmp_path: Path) -> None:
    keep_alive = "\n- name: kept alive\n  ansible.builtin.shell: sleep 1\n  async: 30\n  poll: 2\n  register: kept\n"
    verdict = play(tmp_path, launch() + keep_alive + reap(jid="{{ kept.ansible_job_id }}"))["job"]
    (finding,) = verdict.findings
    assert finding.kind == "reap-wrong-job" and "not a fire-and-forget task" in finding.message


def test_a_genuine_reap_of_another_job_is_not_a_wrong_job(tmp_path: Path) -> None:
    tasks = launch() + launch("other", "other") + reap(jid="{{ other.ansible_job_id }}")
    verdicts = play(tmp_path, tasks)
    assert kinds(verdicts["job"]) == ("unreaped",)
    assert verdicts["other"].ok


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        ('"{{ job.results }}"', ("ok",)),
        ("\"{{ job.results | selectattr('ansible_job_id', 'defined') | list }}\"", ("ok",)),
        ('"{{ job.results | first }}"', ("not-analysed",)),  # a loop over a mapping: an error in every world
        ("\"{{ job.results | selectattr('item', 'equalto', 1) }}\"", ("loop-partly-reaped",)),
        ('"{{ job.results[1:] }}"', ("loop-partly-reaped",)),
    ],
)
def test_loop_reaps(tmp_path: Path, loop: str, expected: tuple[str, ...]) -> None:
    tasks = launch(extra="  loop: [1, 2, 3]\n") + reap(jid="{{ item.ansible_job_id }}", extra=f"  loop: {loop}\n")
    assert kinds(play(tmp_path, tasks)["job"]) == expected


def test_reap_looping_over_job_ids(tmp_path: Path) -> None:
    tasks = (
        launch(extra="  loop: [1, 2]\n")
        + launch("other", "other")
        + reap(
            jid="{{ item }}",
            extra="  loop: \"{{ job.results | map(attribute='ansible_job_id') | list }}\"\n",
        )
        + reap(jid="{{ item }}", extra='  loop:\n    - "{{ other.ansible_job_id }}"\n', name="reap other")
    )
    verdicts = play(tmp_path, tasks)
    assert verdicts["job"].ok and verdicts["other"].ok


def test_jid_through_task_vars_and_bracket_access(tmp_path: Path) -> None:
    tasks = launch() + reap(jid="{{ my_jid }}", extra="  vars:\n    my_jid: \"{{ job['ansible_job_id'] }}\"\n")
    assert play(tmp_path, tasks)["job"].ok


def test_handler_notified_before_the_launch_counts_unless_flushed_before_it(tmp_path: Path) -> None:
    notifier = "\n- ansible.builtin.command: echo hi\n  notify: reap\n"
    handlers = "  handlers:\n" + textwrap.indent(reap(), "    ")
    # notified earlier in the same section: the handler still runs at the section's end, after the launch
    assert play(tmp_path, notifier + launch(), extra=handlers)["job"].ok
    assert play(tmp_path, launch() + notifier, extra=handlers)["job"].ok
    # notified in pre_tasks: the handler runs when pre_tasks end, before the launch, and never again
    pre = "  pre_tasks:\n" + textwrap.indent(notifier, "    ") + handlers
    verdict = play(tmp_path, launch(), extra=pre)["job"]
    assert kinds(verdict) == ("unreaped",)
    assert "nothing notifies it after the launch" in verdict.findings[0].message


def test_handler_notified_as_role_colon_name(tmp_path: Path) -> None:
    roles = tmp_path / "roles/worker"
    (roles / "handlers").mkdir(parents=True)
    (roles / "handlers/main.yml").write_text(textwrap.dedent(reap()), encoding="utf-8")
    tasks = launch(extra="  notify: 'worker : reap'\n") + "\n- ansible.builtin.import_role: {name: worker}\n"
    assert play(tmp_path, tasks)["job"].ok


@pytest.mark.parametrize(
    ("rescue", "expected"),
    [
        ("- ansible.builtin.fail: {msg: again}\n", ("ok",)),
        ("- fail: {msg: again}\n  when: strict | default(false)\n", ("reap-rescued",)),
        ("- fail: {msg: again}\n  ignore_errors: true\n", ("reap-rescued",)),
        ("- block:\n    - fail: {msg: again}\n  rescue:\n    - debug: {msg: caught}\n", ("reap-rescued",)),
        ("- block:\n    - fail: {msg: again}\n", ("ok",)),
        ("- ansible.builtin.meta: end_host\n", ("reap-rescued",)),
    ],
)
def test_rescue_rules(tmp_path: Path, rescue: str, expected: tuple[str, ...]) -> None:
    block = "\n- block:\n" + textwrap.indent(textwrap.dedent(reap()), "    ") + "  rescue:\n"
    block += textwrap.indent(rescue, "    ")
    assert kinds(play(tmp_path, launch() + block)["job"]) == expected


def test_block_without_rescue_and_always_are_fine(tmp_path: Path) -> None:
    block = "\n- block:\n    - debug: {msg: hi}\n  always:\n" + textwrap.indent(textwrap.dedent(reap()), "    ")
    assert play(tmp_path, launch() + block)["job"].ok
    block = "\n- block:\n" + textwrap.indent(textwrap.dedent(reap()), "    ") + "  rescue: []\n"
    assert play(tmp_path, launch() + block)["job"].ok


def test_when_inherited_from_an_include(tmp_path: Path) -> None:
    (tmp_path / "reap.yml").write_text(textwrap.dedent(reap()), encoding="utf-8")
    tasks = launch() + "\n- ansible.builtin.include_tasks: reap.yml\n  when: do_reap | default(false)\n"
    verdict = play(tmp_path, tasks)["job"]
    assert kinds(verdict) == ("reap-conditional",)
    assert "(when: do_reap | default(false))" in verdict.findings[0].message


def test_reap_in_an_imported_playbook_counts(tmp_path: Path) -> None:
    (tmp_path / "reap.yml").write_text(
        "- hosts: all\n  tasks:\n" + textwrap.indent(textwrap.dedent(reap()), "    "), encoding="utf-8"
    )
    verdicts = play(tmp_path, launch(), extra="- import_playbook: reap.yml\n")
    assert verdicts["job"].ok


def test_a_role_not_installed_after_the_launch_and_handed_the_job_leaves_it_not_analysed(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    path.write_text(
        "- hosts: all\n  tasks:\n" + textwrap.indent(textwrap.dedent(launch()), "    ")
        + "    - include_role: {name: ghost}\n      vars: {jobs: [\"{{ job }}\"]}\n",
        encoding="utf-8",
    )
    (verdict,) = analyze(discover(path))
    assert kinds(verdict) == ("not-analysed",)
    assert "role ghost (not installed) (site.yml:" in verdict.findings[0].message
    assert "is handed the job, so it may reap it" in verdict.findings[0].message
    # handed nothing of the job, it cannot read it: the job is unreaped, and the message says what was taken
    path.write_text(path.read_text(encoding="utf-8").replace('[\"{{ job }}\"]', "[]"), encoding="utf-8")
    (verdict,) = analyze(discover(path))
    assert kinds(verdict) == ("unreaped",), [f.message for f in verdict.findings]
    assert "taking role ghost (not installed)" in verdict.findings[0].message


def test_a_loop_reap_guarded_by_the_job_id_is_sound(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    path.write_text(textwrap.dedent("""
        - hosts: all
          tasks:
            - name: start
              ansible.builtin.command: sleep 1
              async: 60
              poll: 0
              loop: [a, b]
              register: jobs
              when: item != 'c'
            - name: reap
              ansible.builtin.async_status:
                jid: "{{ job.ansible_job_id }}"
              loop: "{{ jobs.results }}"
              loop_control:
                loop_var: job
              register: r
              until: r.finished
              retries: 60
              delay: 1
              when: job.ansible_job_id is defined and not ansible_check_mode
        """), encoding="utf-8")
    (verdict,) = analyze(discover(path))
    assert verdict.ok and not verdict.findings


def test_a_condition_the_launch_shares_does_not_make_the_reap_conditional(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    reap = textwrap.indent(textwrap.dedent(launch()), "        ") + textwrap.indent(textwrap.dedent("""
        - name: reap
          ansible.builtin.async_status: {jid: "{{ job.ansible_job_id }}"}
          register: r
          until: r.finished
          retries: 30
          delay: 1
        """), "        ")
    path.write_text("- hosts: all\n  tasks:\n    - when: feature_enabled\n      block:\n" + reap, encoding="utf-8")
    (verdict,) = analyze(discover(path))
    assert kinds(verdict) == ("ok",)


def test_the_articles_canonical_reap_is_ok_with_one_advice(tmp_path: Path) -> None:
    """SEEDS.md: a command with async 3600, poll 0, register batch_job; async_status until finished,
    retries 60, delay 30 (a 30-minute reap budget for a job allowed an hour)."""
    path = tmp_path / "site.yml"
    path.write_text(textwrap.dedent("""
        - hosts: all
          tasks:
            - name: run batch
              ansible.builtin.command: /usr/local/bin/batch
              async: 3600
              poll: 0
              register: batch_job
            - name: wait for batch
              ansible.builtin.async_status:
                jid: "{{ batch_job.ansible_job_id }}"
              register: job_result
              until: job_result.finished
              retries: 60
              delay: 30
        """), encoding="utf-8")
    (verdict,) = analyze(discover(path))
    assert verdict.ok and [f.kind for f in verdict.findings] == ["reap-budget-short"]
    assert verdict.findings[0].severity == "advice"


def test_a_launch_without_register_is_unreaped_whatever_runs_after(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    unregistered = textwrap.dedent(launch()).replace("  register: job\n", "")
    path.write_text("- hosts: all\n  tasks:\n" + textwrap.indent(unregistered, "    ")
                    + "    - include_role: {name: ghost}\n", encoding="utf-8")
    (verdict,) = analyze(discover(path))
    assert kinds(verdict) == ("unreaped",)  # nothing can reap a job whose id was never registered


# --------------------------------------------------------------------------------------------------
# Modules the lint cannot read, templated includes, unknowns


CUSTOM_WAIT = """
- name: wait for the job with the repo's own module
  my_ns.jobs.async_wait:
    job: "{{ job.ansible_job_id }}"
"""


def test_a_job_id_handed_to_an_unknown_module_is_not_analysed_and_names_the_fix(tmp_path: Path) -> None:
    verdict = play(tmp_path, launch() + CUSTOM_WAIT)["job"]
    (finding,) = verdict.findings
    assert finding.kind == "not-analysed"
    assert "the job id goes to my_ns.jobs.async_wait (site.yml:" in finding.message
    assert "which the lint cannot read" in finding.message
    assert "asyncplay_reap_modules = my_ns.jobs.async_wait:<job-id argument>" in finding.hint


def test_a_declared_reap_module_is_judged_like_async_status(tmp_path: Path) -> None:
    text = "- hosts: all\n  gather_facts: false\n  tasks:\n" + textwrap.indent(textwrap.dedent(launch() + CUSTOM_WAIT),
                                                                             "    ")
    (tmp_path / "site.yml").write_text(text, encoding="utf-8")
    (pb,) = discover(tmp_path / "site.yml")
    (verdict,) = analyze([pb], reap_modules=parse_reap_modules(["my_ns.jobs.async_wait:job"]))
    assert verdict.ok and verdict.reap is not None and verdict.reap.action == "my_ns.jobs.async_wait"
    # declared under its short name too; a declared module waits for the job's end itself (no until needed)
    (verdict,) = analyze([pb], reap_modules=parse_reap_modules(["async_wait:job"]))
    assert verdict.ok
    # the job id under another argument name is not this module's job id: the job is never read
    (verdict,) = analyze([pb], reap_modules=parse_reap_modules(["my_ns.jobs.async_wait:jid"]))
    assert not verdict.ok


@pytest.mark.parametrize("spec", ["a b", "mod:", "mod:1x", ":jid", "a..b:jid"])
def test_malformed_reap_module_specs_are_refused_with_the_form(spec: str) -> None:
    with pytest.raises(ValueError, match="is not MODULE or MODULE:JID_ARGUMENT"):
        parse_reap_modules([spec])


def test_a_templated_include_is_followed_to_each_file_it_can_name(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    for kind in ("vm", "container"):  # each file launches and reaps its own job
        (tmp_path / "tasks" / f"instances_{kind}.yml").write_text(textwrap.dedent(
            launch(f"create {kind}s", f"{kind}_job") + reap(f"{{{{ {kind}_job.ansible_job_id }}}}")), encoding="utf-8")
    (tmp_path / "tasks" / "instances_bare.yml").write_text(textwrap.dedent(launch("create bares", "bare_job")),
                                                           encoding="utf-8")
    verdicts = play(tmp_path, "- ansible.builtin.include_tasks: 'tasks/instances_{{ kind }}.yml'\n")
    assert verdicts["create vms"].ok and verdicts["create containers"].ok
    assert kinds(verdicts["create bares"]) == ("unreaped",)  # the file that reaps nothing, when it is the one


def test_a_reap_skipped_on_an_inventory_variable_can_swallow(tmp_path: Path) -> None:
    verdict = play(tmp_path, launch() + reap(extra="  when: reap_now\n"))["job"]
    assert kinds(verdict) == ("reap-conditional",)
    assert "(when: reap_now)" in verdict.findings[0].message
    # the same condition on the launch: wherever the job exists, the reap runs
    assert play(tmp_path, launch(extra="  when: reap_now\n") + reap(extra="  when: reap_now\n"))["job"].ok


def test_repo_defined_values_are_known(tmp_path: Path) -> None:
    extra = "  vars:\n    reap_now: false\n"
    verdict = play(tmp_path, launch() + reap(extra="  when: reap_now\n"), extra=extra)["job"]
    assert kinds(verdict) == ("reap-conditional",)
    assert play(tmp_path, launch() + reap(extra="  when: reap_now\n"), extra="  vars:\n    reap_now: true\n")["job"].ok
