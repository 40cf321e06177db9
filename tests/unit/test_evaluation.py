"""The lint evaluates as Ansible would: each way through the run remembers the conditions it took, joined
ways keep what they agree on, a when: list stops at its first false condition, and templating follows the
rules of the ansible-core it judges for."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jinja2
import pytest

from pytest_asyncplay.audit import analyze, discover
from pytest_asyncplay.audit.hostpath import Program, explore
from pytest_asyncplay.audit.lint import TaskVerdict
from pytest_asyncplay.audit.symbolic import Evaluator, Open, TemplateError
from pytest_asyncplay.versions import Version, parse_core_version, undefined_reaches_tests


def verdicts(tmp_path: Path, playbook: str, ansible_core: Version | None = None) -> dict[str, TaskVerdict]:
    path = tmp_path / "site.yml"
    path.write_text(textwrap.dedent(playbook), encoding="utf-8")
    (pb,) = discover(path)
    assert pb.error is None, pb.error
    return {v.task.node_name: v for v in analyze([pb], ansible_core=ansible_core)}


def kinds(verdict: TaskVerdict) -> tuple[str, ...]:
    return tuple(f.kind for f in verdict.findings)


REAP = """
    - name: wait for job
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      register: job_result
      until: job_result.finished
      retries: 30
      delay: 1
"""
LAUNCH = """
    - name: job
      ansible.builtin.shell: sleep 2; echo done
      async: 30
      poll: 0
      register: job
"""


#: ansible/workshops' controller install: a check that runs on an unknown condition, then (after what
#: ``<between>`` becomes) a task on the same conditions that reads the check's result, between a launch and its
#: reap.
CONTROLLER = f"""\
    - hosts: all
      gather_facts: false
      tasks:
{textwrap.indent(LAUNCH, "    ")}
        - name: check the controller
          ansible.builtin.uri:
            url: https://localhost/api/v2/ping/
          register: check
          failed_when: false
          when: controller_install | bool
<between>        - name: install the controller
          ansible.builtin.debug:
            msg: installing
          when:
            - controller_install | bool
            - check.status != 200
{textwrap.indent(REAP, "    ")}
    """


def test_a_task_on_the_same_unknown_conditions_as_a_skipped_check_never_reads_its_result(tmp_path: Path) -> None:
    """The check is skipped exactly when the install's conditions are false: reading ``check.status`` there
    would fail the task before the reap, but no run gets there (ansible/workshops' controller install)."""
    playbook = CONTROLLER.replace("<between>", "")
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert verdict.ok and kinds(verdict) == (), [f.message for f in verdict.findings]
    # not merely some way passes: with the job healthy, no way through the run fails
    (pb,) = discover(tmp_path / "site.yml")
    paths = explore(Program(pb), verdict.task, "ok")
    assert paths and all(p.end == "ok" for p in paths), [(p.end, p.why, p.failed_by) for p in paths]


def test_a_condition_whose_variable_the_run_sets_is_not_carried_over(tmp_path: Path) -> None:
    """A set_fact between the two tasks changes what ``controller_install`` means: the skipped check's result
    is then read, which fails the host before the reap whatever the job does, and the lint says it cannot
    tell."""
    playbook = CONTROLLER.replace("<between>", """\
        - name: install it anyway
          ansible.builtin.set_fact:
            controller_install: true
""")
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert kinds(verdict) == ("not-analysed",)
    assert "the host fails even when the job succeeds" in verdict.findings[0].message


def test_a_when_list_stops_at_its_first_false_condition(tmp_path: Path) -> None:
    """Ansible never evaluates ``later.rc`` (not registered yet) once ``cleanup_enabled`` is false."""
    playbook = f"""\
    - hosts: all
      gather_facts: false
      vars:
        cleanup_enabled: false
      tasks:
{textwrap.indent(LAUNCH, "    ")}
        - name: clean up
          ansible.builtin.debug:
            msg: cleaning
          when:
            - cleanup_enabled
            - later.rc == 0
{textwrap.indent(REAP, "    ")}
        - name: later
          ansible.builtin.command: /bin/true
          register: later
    """
    assert verdicts(tmp_path, playbook)["job"].ok


def test_joined_ways_keep_each_job_id_so_another_launchs_reap_is_known_not_to_read_this_job(tmp_path: Path) -> None:
    """Three items launched or skipped on an inventory value after the launch judged: eight ways, joined into
    one whose results keep
    each item's job id where it was launched. The loop reap then reads another job (or none), never this
    one, and the launch judged is reaped by its own reap."""
    playbook = f"""\
    - hosts: all
      gather_facts: false
      tasks:
{textwrap.indent(LAUNCH, "    ")}
        - name: tag volumes
          ansible.builtin.shell: sleep 2; echo done
          async: 30
          poll: 0
          loop: [1, 2, 3]
          when: item in wanted_volumes
          register: tags
        - name: wait for the tags
          ansible.builtin.async_status:
            jid: "{{{{ item.ansible_job_id }}}}"
          loop: "{{{{ tags.results }}}}"
          when: item.ansible_job_id is defined
          register: tag_result
          until: tag_result.finished
          retries: 30
          delay: 1
{textwrap.indent(REAP, "    ")}
    """
    judged = verdicts(tmp_path, playbook)
    assert judged["job"].ok and kinds(judged["job"]) == (), [f.message for f in judged["job"].findings]
    assert judged["tag volumes"].ok, [f.message for f in judged["tag volumes"].findings]


AFTER_REAP_TEST = f"""\
- hosts: all
  gather_facts: false
  vars:
    volumes: [{{name: data}}]
  tasks:
{textwrap.indent(textwrap.dedent(LAUNCH), "    ")}
    - name: report the ids
      ansible.builtin.debug:
        msg: reporting
      when: volumes.instance_ids is not none
{textwrap.indent(textwrap.dedent(REAP), "    ")}
"""


def test_a_test_on_an_undefined_value_follows_the_ansible_core_judged_for(tmp_path: Path) -> None:
    """``volumes.instance_ids`` is undefined (a list has no such attribute): up to 2.18 ``is not none`` is true
    and the task runs; from 2.19 the conditional fails the task before the reap, whatever the job does."""
    assert verdicts(tmp_path, AFTER_REAP_TEST, ansible_core=(2, 15, 0))["job"].ok
    strict = verdicts(tmp_path, AFTER_REAP_TEST, ansible_core=(2, 19, 0))["job"]
    assert kinds(strict) == ("not-analysed",)
    assert '"report the ids"' in strict.findings[0].message


@pytest.mark.parametrize(("lenient", "condition", "expected"), [
    (True, "out.instance_ids is not none", True),
    (True, "out.instance_ids is string", False),
    (True, "nothing.at.all is none", False),
    (True, "out.instance_ids is defined", False),
    (False, "out.instance_ids is defined", False),
])
def test_tests_on_undefined_values(lenient: bool, condition: str, expected: bool) -> None:
    values = {"out": [Open(failed=False)]}
    evaluator = Evaluator(lambda n: values.get(n, jinja2.StrictUndefined(name=n)), lenient_undefined=lenient)
    assert evaluator.condition(condition) is expected


@pytest.mark.parametrize("condition", ["out.instance_ids is not none", 'out.missing is match("a")',
                                       "out.missing | length > 0"])
def test_what_fails_a_template_from_2_19_or_in_any_version(condition: str) -> None:
    values = {"out": [Open(failed=False)]}
    strict = Evaluator(lambda n: values.get(n, jinja2.StrictUndefined(name=n)))
    with pytest.raises(TemplateError):
        strict.condition(condition)
    if "none" not in condition:  # a test or filter that reads the value fails in 2.15 too
        lenient = Evaluator(lambda n: values.get(n, jinja2.StrictUndefined(name=n)), lenient_undefined=True)
        with pytest.raises(TemplateError):
            lenient.condition(condition)


def test_the_version_rules_and_their_parsing() -> None:
    assert undefined_reaches_tests((2, 18, 9)) and not undefined_reaches_tests((2, 19, 0))
    assert parse_core_version("2.15") == (2, 15, 0) and parse_core_version(" 2.18.3 ") == (2, 18, 3)
    for bad in ("15", "two", "3.1", "2.x"):
        with pytest.raises(ValueError, match="is not an ansible-core version"):
            parse_core_version(bad)


def test_a_launch_the_repos_values_never_start_is_advice_that_names_them(tmp_path: Path) -> None:
    playbook = """\
    - hosts: all
      gather_facts: false
      vars:
        deploy_strategy: rolling
      tasks:
        - name: warm the canary
          ansible.builtin.command: /usr/local/bin/warm-canary
          async: 600
          poll: 0
          when: deploy_strategy == "canary"
    """
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert verdict.ok and kinds(verdict) == ("never-runs",)
    assert "when: deploy_strategy == \"canary\" is false (deploy_strategy = 'rolling')" in verdict.findings[0].message


def test_a_set_fact_tagged_never_does_not_run_before_the_launch(tmp_path: Path) -> None:
    """oVirt's shutdown_env: ``startup: true`` is set only with ``--tags startup``; a plain run shuts down."""
    playbook = """\
    - hosts: all
      gather_facts: false
      tasks:
        - name: default mode
          ansible.builtin.set_fact:
            startup: false
        - name: startup mode
          ansible.builtin.set_fact:
            startup: true
          tags: [never, startup]
        - name: shut down
          ansible.builtin.command: /usr/local/bin/shutdown-hosts
          async: 600
          poll: 0
          when: not startup
    """
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert kinds(verdict) == ("unreaped",)


def test_a_registered_result_keeps_what_a_path_took_of_it_until_it_is_registered_again(tmp_path: Path) -> None:
    """oVirt's disk path: the second find runs only when the first matched nothing, and the set_fact reads the
    second's ``matched`` only on those ways (``and`` stops at a false left side, as Jinja2 does)."""
    playbook = f"""\
    - hosts: all
      gather_facts: false
      tasks:
{textwrap.indent(LAUNCH, "    ")}
        - name: find a qcow2
          ansible.builtin.find:
            paths: /var/tmp/vm
            patterns: "*.qcow2"
          register: qcow2
        - name: find an ova
          ansible.builtin.find:
            paths: /var/tmp/vm/images
          register: ova
          failed_when: false
          when: qcow2.matched == 0
        - name: take the ova
          ansible.builtin.set_fact:
            disk: "{{{{ ova.files[0].path }}}}"
          when: qcow2.matched == 0 and ova.matched > 0
{textwrap.indent(REAP, "    ")}
    """
    (verdict,) = verdicts(tmp_path, playbook).values()
    (pb,) = discover(tmp_path / "site.yml")
    paths = explore(Program(pb), verdict.task, "ok")
    assert paths and all(p.end == "ok" for p in paths), [(p.end, p.failed_by) for p in paths]
    # registered again in between: what the skip took of qcow2 no longer holds, and the read can fail
    again = playbook.replace("        - name: take the ova", "        - name: look again\n"
                             "          ansible.builtin.find:\n            paths: /srv\n          register: qcow2\n"
                             "        - name: take the ova")
    (tmp_path / "site.yml").write_text(textwrap.dedent(again), encoding="utf-8")
    (pb,) = discover(tmp_path / "site.yml")
    launch = next(t for t in pb.tasks if t.name == "job")
    assert any(p.end == "failed" for p in explore(Program(pb), launch, "ok"))


def test_an_and_whose_right_side_errors_where_the_left_is_unknown_is_skipped_or_fails(tmp_path: Path) -> None:
    """``ready and missing.rc == 0``: where ``ready`` (an inventory value) is false the task is skipped, where
    it is true the conditional fails the task; both ways are followed (never only one of them)."""
    playbook = f"""\
    - hosts: all
      gather_facts: false
      tasks:
{textwrap.indent(LAUNCH, "    ")}
        - name: check
          ansible.builtin.debug:
            msg: checking
          when: ready and never_registered.rc == 0
{textwrap.indent(REAP, "    ")}
        - name: later
          ansible.builtin.command: /bin/true
          register: never_registered
    """
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert verdict.ok
    (pb,) = discover(tmp_path / "site.yml")
    ends = sorted(p.end for p in explore(Program(pb), verdict.task, "ok"))
    assert ends == ["failed", "ok"]


def test_an_include_looped_with_fileglob_walks_each_file_it_finds(tmp_path: Path) -> None:
    """oVirt's hooks: ``include_tasks: "{{ hook }}"`` over ``with_fileglob: hooks/*.yml``, found in the role's
    own folders as ansible-core's fileglob looks; and ``../x.yml`` from the role's tasks/ finds tasks/x.yml."""
    role = tmp_path / "roles" / "setup"
    (role / "tasks" / "hooks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text(textwrap.dedent("""\
        - name: run the hooks
          ansible.builtin.include_tasks: "{{ hook }}"
          with_fileglob: "hooks/*.yml"
          loop_control:
            loop_var: hook
        - name: shared step
          ansible.builtin.include_tasks: ../shared.yml
        """), encoding="utf-8")
    (role / "tasks" / "shared.yml").write_text("- name: shared\n  ansible.builtin.debug:\n    msg: shared\n")
    for name in ("b_second", "a_first"):
        (role / "tasks" / "hooks" / f"{name}.yml").write_text(textwrap.dedent(f"""\
            - name: {name}
              ansible.builtin.shell: sleep 2; echo done
              async: 30
              poll: 0
            """), encoding="utf-8")
    (tmp_path / "site.yml").write_text("- hosts: all\n  roles:\n    - setup\n", encoding="utf-8")
    (pb,) = [p for p in discover(tmp_path) if p.path.name == "site.yml"]
    assert pb.error is None, pb.error
    assert [t.name for t in pb.tasks] == ["a_first", "b_second"]
    assert "shared" in [t.name for t in pb.all_tasks]


def test_include_vars_of_a_literal_file_sets_its_values_where_it_runs(tmp_path: Path) -> None:
    """vitabaks' playbooks load vars/system.yml in pre_tasks: its empty pre_deploy_command keeps the launch
    from running (include_vars outranks play vars and the inventory); a file the task cannot be sure to load
    (a when: on the inventory) leaves the value unknown, and the launch is judged as if it ran."""
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "system.yml").write_text('pre_deploy_command: ""\n', encoding="utf-8")
    playbook = """\
    - hosts: all
      gather_facts: false
      pre_tasks:
        - name: system vars
          ansible.builtin.include_vars: vars/system.yml
      tasks:
        - name: run the pre-deploy command
          ansible.builtin.shell: "{{ pre_deploy_command }}"
          async: 600
          poll: 0
          when: pre_deploy_command | length > 0
    """
    (verdict,) = verdicts(tmp_path, playbook).values()
    assert kinds(verdict) == ("never-runs",)
    assert "pre_deploy_command = ''" in verdict.findings[0].message
    unsure = playbook.replace("vars/system.yml\n", "vars/system.yml\n          when: load_system_vars\n")
    (verdict,) = verdicts(tmp_path, unsure).values()
    assert kinds(verdict) == ("unreaped",)


IGNORED_LOOP_REAP = """\
    - hosts: all
      gather_facts: false
      tasks:
        - name: jobs
          ansible.builtin.command: "sleep {{ item }}"
          loop: [1, 2]
          async: 30
          poll: 0
          register: jobs
        - name: wait for jobs
          ansible.builtin.async_status:
            jid: "{{ item.ansible_job_id }}"
          loop: "{{ jobs.results }}"
          register: waited
          until: waited.finished
          retries: 30
          delay: 1
          ignore_errors: true
        - name: none failed
          ansible.builtin.assert:
            that: CHECK
"""


@pytest.mark.parametrize("check, kind", [
    # the real selectattr: a killed job's item has failed: true, so the assert fails the host
    ("waited.results | selectattr('failed') | list | length == 0", None),
    # a filter that is not installed here: the lint cannot tell whether the assert trips, so it says so
    ("waited.results | no_such_filter | length == 0", "not-analysed"),
    # a check that reads nothing of the reap: the failure is ignored and the host ends green
    ("true", "reap-ignores-errors"),
])  # fmt: skip
def test_no_swallowed_verdict_rests_on_a_check_the_lint_could_not_evaluate(tmp_path: Path, check: str,
                                                                            kind: str | None) -> None:
    verdict = verdicts(tmp_path, IGNORED_LOOP_REAP.replace("CHECK", f'"{check}"'))["jobs"]
    assert kinds(verdict) == ((kind,) if kind else ()), [f.message for f in verdict.findings]
    if kind == "not-analysed":
        assert "no_such_filter" in verdict.findings[0].message and "install" in verdict.findings[0].hint


def test_a_guess_before_the_job_exists_or_on_a_task_that_decides_nothing_does_not_count(tmp_path: Path) -> None:
    # the launch's own when: needs an unknown filter (it only decides whether the job exists), and so does a
    # debug task on the way; the reap that ignores errors still swallows the failure
    playbook = IGNORED_LOOP_REAP.replace("CHECK", '"true"').replace(
        "          register: jobs\n",
        "          register: jobs\n          when: \"'x' | no_such_filter\"\n"
        "        - name: say\n          ansible.builtin.debug:\n            msg: hi\n"
        "          when: \"'y' | no_such_filter\"\n")
    verdict = verdicts(tmp_path, playbook)["jobs"]
    assert kinds(verdict) == ("reap-ignores-errors",), [f.message for f in verdict.findings]


def test_a_failed_when_list_stops_at_its_first_false_condition(tmp_path: Path) -> None:
    # cloudera-labs/cloudera.exe's mirror reap tests the launch's own record, whose failed is false: the list
    # stops there, so its second condition (an attribute the record lacks) is never rendered and the reap never
    # fails, whatever the job did (checked on 2.19: a killed job's reap passes)
    verdict = verdicts(tmp_path, """\
        - hosts: all
          gather_facts: false
          tasks:
            - name: downloads
              ansible.builtin.command: "sleep {{ item }}"
              loop: [1, 2]
              async: 30
              poll: 0
              register: downloads
            - name: track downloads
              ansible.builtin.async_status:
                jid: "{{ download.ansible_job_id }}"
              loop: "{{ downloads.results }}"
              loop_control:
                loop_var: download
              register: tracked
              until: tracked.finished
              retries: 30
              delay: 1
              failed_when:
                - download.failed == True
                - download.status_code != 404
    """)["downloads"]
    assert kinds(verdict) == ("reap-cannot-fail",), [f.message for f in verdict.findings]


def test_a_role_task_file_nothing_includes_is_an_entry_point_of_the_role(tmp_path: Path) -> None:
    # a collection role with no main.yml, only ever called with tasks_from: judged as include_role would play it,
    # not as a loose task file whose includer is unknown
    tasks = tmp_path / "roles" / "mirror" / "tasks"
    tasks.mkdir(parents=True)
    (tmp_path / "roles" / "mirror" / "meta").mkdir()
    (tmp_path / "roles" / "mirror" / "meta" / "argument_specs.yml").write_text("argument_specs: {}\n")
    (tasks / "populate.yml").write_text(textwrap.dedent(LAUNCH.replace("\n    ", "\n")) + textwrap.dedent(
        REAP.replace("\n    ", "\n")) + "  ignore_errors: true\n", encoding="utf-8")
    (pb,) = discover(tmp_path)
    assert pb.kind == "role-tasks"
    (verdict,) = analyze([pb])
    assert kinds(verdict) == ("reap-ignores-errors",), [f.message for f in verdict.findings]


@pytest.mark.parametrize("loop", [
    "{{ builds.results }}",
    # ansible/workshops' spelling: the list or nothing, whichever the earlier launch left
    "{{ ('results' in builds) | ternary(builds['results'], []) }}",
])  # fmt: skip
def test_a_reap_looping_over_a_list_made_before_the_launch_reads_other_jobs_only(tmp_path: Path, loop: str) -> None:
    # cloudera.exe's setup: an earlier launch over a list the repo does not give, reaped after this launch; its
    # results (made before this job existed) cannot hold this job's id, so that reap is another job's
    builds = """
    - name: builds
      ansible.builtin.command: "build {{ item }}"
      loop: "{{ build_configs }}"
      when: include_builds
      async: 30
      poll: 0
      register: builds
"""
    wait_for_builds = """
    - name: wait for builds
      ansible.builtin.async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "LOOP"
      when: include_builds
      register: built
      until: built.finished
      retries: 30
      delay: 1
"""
    play = "- hosts: all\n  gather_facts: false\n  tasks:" + "".join(
        textwrap.indent(textwrap.dedent(part), "    ") for part in (builds, LAUNCH, wait_for_builds, REAP))
    verdict = verdicts(tmp_path, play.replace("LOOP", loop))["job"]
    assert kinds(verdict) == (), [f.message for f in verdict.findings]


def test_a_loop_whose_items_each_may_run_or_not_is_joined_item_by_item(tmp_path: Path) -> None:
    # openshift-ansible's upgrade: a loop of many items, each on an unknown when:, after the launch; every way
    # through it (2**10 here) is one of a few once joined, and the verdict is read off them
    checks = """
    - name: checks
      ansible.builtin.command: "check {{ item }}"
      loop: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
      when: item in wanted
      failed_when: false
      register: checks
"""
    play = "- hosts: all\n  gather_facts: false\n  tasks:" + "".join(
        textwrap.indent(textwrap.dedent(part), "    ") for part in (LAUNCH, checks, REAP))
    verdict = verdicts(tmp_path, play)["job"]
    assert kinds(verdict) == (), [f.message for f in verdict.findings]


@pytest.mark.parametrize("action, refused", [
    ("ansible.builtin.copy", True), ("template", True), ("raw", True), ("wait_for_connection", True),
    ("ansible.builtin.command", False), ("shell", False),  # shell hands its work to command, which takes async
    ("file", False), ("ansible.builtin.get_url", False),  # no action plugin: the normal action runs them as jobs
    ("no_such_collection.x.module", False),  # not installed here: the lint does not guess
])  # fmt: skip
def test_which_actions_refuse_async_is_read_off_the_installed_ansible_core(action: str, refused: bool) -> None:
    from pytest_asyncplay.audit.taskargs import async_support

    assert (async_support(action) == "refused") is refused
    assert async_support(action) in (("refused",) if refused else ("job",))


def test_the_tasks_after_a_launch_in_a_looped_include_run_for_the_item_it_ran_for(tmp_path: Path) -> None:
    # linuxhq/ansible-collection-aws's roles: include_tasks looped over batches of a list the role defaults to
    # []; the launch and its reap sit in the included file. The job exists, so the include ran for some item,
    # and the reap runs for that same item: not "never reached" because the default list is empty
    (tmp_path / "present.yml").write_text(textwrap.dedent("""\
        - name: eips
          ansible.builtin.command: "allocate {{ item }}"
          loop: "{{ batch }}"
          async: 30
          poll: 0
          register: eips
        - name: wait for eips
          ansible.builtin.async_status:
            jid: "{{ job.ansible_job_id }}"
          loop: "{{ eips.results }}"
          loop_control:
            loop_var: job
          when: job.ansible_job_id is defined
          register: waited
          until: waited.finished
          retries: 30
          delay: 1
    """), encoding="utf-8")
    verdict = verdicts(tmp_path, """\
        - hosts: all
          gather_facts: false
          vars:
            eip_list: []
          tasks:
            - name: allocate in batches
              ansible.builtin.include_tasks: present.yml
              loop: "{{ eip_list | batch(5) }}"
              loop_control:
                loop_var: batch
    """)["eips"]
    assert kinds(verdict) == (), [f.message for f in verdict.findings]


def test_a_register_named_to_a_module_the_lint_cannot_read_hands_it_the_job(tmp_path: Path) -> None:
    # scylladb's async_extra plugins read the job by its register's name (async_wait: job: <register>), or by an
    # alias registered that way: the lint cannot tell whether that module fails on a failed job, so it says so
    waits = """
    - name: wait for job
      my_ns.jobs.async_wait:
        job: job
        retries: 100
"""
    play = "- hosts: all\n  gather_facts: false\n  tasks:" + "".join(
        textwrap.indent(textwrap.dedent(part), "    ") for part in (LAUNCH, waits))
    (finding,) = verdicts(tmp_path, play)["job"].findings
    assert finding.kind == "not-analysed" and "my_ns.jobs.async_wait" in finding.message
    assert "asyncplay_reap_modules" in finding.hint


def test_a_roles_tasks_see_the_defaults_of_its_dependencies_under_its_own(tmp_path: Path) -> None:
    # openstack/tripleo-quickstart-extras: overcloud-deploy's tasks read deployed_server, a default of its
    # dependency extras-common; ansible-core's Role.get_default_vars() puts the dependencies' defaults under
    # the role's own, so the value is the repo's, not an unknown from the inventory
    roles = tmp_path / "roles"
    for role, files in {
        "common": {"defaults/main.yml": "reap_it: false\nwait_retries: 3\n"},
        "extras": {"meta/main.yml": "dependencies: [common]\n", "defaults/main.yml": "reap_it: true\n"},
        "deploy": {"meta/main.yml": "dependencies: [extras]\n", "tasks/main.yml": textwrap.dedent(
            LAUNCH.replace("\n    ", "\n")) + textwrap.dedent(REAP.replace("\n    ", "\n")).replace(
            "retries: 30", "retries: \"{{ wait_retries }}\"") + "  when: reap_it | bool\n"},
    }.items():
        for name, text in files.items():
            (roles / role / name).parent.mkdir(parents=True, exist_ok=True)
            (roles / role / name).write_text(text, encoding="utf-8")
    (tmp_path / "site.yml").write_text("- hosts: all\n  gather_facts: false\n  roles: [deploy]\n", encoding="utf-8")
    (pb,) = discover(tmp_path / "site.yml")
    (verdict,) = analyze([pb])
    # extras' reap_it: true wins over common's false (the nearer role's value wins), so the reap always runs, and
    # common's wait_retries (a dependency's dependency) gives its budget
    assert kinds(verdict) == ("reap-budget-short",), [f.message for f in verdict.findings]
    assert "(retries 3 x delay 1)" in verdict.findings[0].message, verdict.findings[0].message
    (roles / "extras" / "defaults" / "main.yml").write_text("other: 1\n", encoding="utf-8")
    (pb,) = discover(tmp_path / "site.yml")
    (verdict,) = analyze([pb])
    # now the only value is common's false: a default, meant to be overridden, so the reap may be skipped
    assert kinds(verdict) == ("reap-conditional",), [f.message for f in verdict.findings]


def test_tasks_before_a_launch_gated_by_a_role_default_run_as_in_the_run_that_overrides_it(tmp_path: Path) -> None:
    # linuxhq's ssm_proxy: a role whose inputs default to null gates its include on them; the launch is judged for
    # the run that sets them (never_runs), so the set_fact before it under the same conditions is not "never set",
    # and the wait_for that reads it does not fail every healthy run
    role = tmp_path / "roles" / "proxy"
    (role / "defaults").mkdir(parents=True)
    (role / "defaults" / "main.yml").write_text("proxy_host: null\n", encoding="utf-8")
    (role / "tasks").mkdir()
    (role / "tasks" / "main.yml").write_text(textwrap.dedent("""\
        - name: pick a local port
          ansible.builtin.set_fact:
            local_port: "{{ 65535 | ansible.builtin.random(start=1024) }}"
          when: proxy_host is not none
        - name: start the proxy
          ansible.builtin.command: ssm-proxy {{ proxy_host }} {{ local_port }}
          async: 3600
          poll: 0
          when: proxy_host is not none
        - name: wait for the local port
          ansible.builtin.wait_for:
            port: "{{ local_port }}"
          when: proxy_host is not none
    """), encoding="utf-8")
    (pb,) = discover(tmp_path)
    (verdict,) = analyze([pb])
    assert kinds(verdict) == ("unreaped",), [f.message for f in verdict.findings]


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ 65535 | random(start=1024) }}", None),  # drawn when the play runs: never a value the lint picks
    ("{{ [1, 2, 3] | shuffle }}", None),
    ("{{ [{'a': 1}, {'a': 3}] | max(attribute='a') }}", {"a": 3}),  # ansible-core's max, not Jinja2's
])  # fmt: skip
def test_filters_are_ansible_cores_and_a_value_drawn_at_run_time_is_unknown(template: str, expected: object) -> None:
    from pytest_asyncplay.audit.symbolic import Unknown

    value = Evaluator(lambda name: jinja2.StrictUndefined(name=name)).template(template)
    assert (isinstance(value, Unknown) and not value.unevaluated) if expected is None else value == expected, value


@pytest.mark.parametrize(("handed", "expected"), [
    ("", "reap-ignores-errors"),  # it knows of this run only what it is handed: not the job
    ("\n        vars:\n          host: \"{{ inventory_hostname }}\"", "reap-ignores-errors"),  # nothing of the job
    ("\n        vars:\n          status_of: \"{{ job_result }}\"", "not-analysed"),  # the reap's result holds the id
    ("\n        vars:\n          wait_for: \"{{ job.ansible_job_id }}\"", "not-analysed"),  # the job id: it may reap
])  # fmt: skip
def test_a_role_not_installed_reads_only_the_jobs_it_is_handed(tmp_path: Path, handed: str, expected: str) -> None:
    # openshift's node upgrade: roles from elsewhere (kuryr, tuned) play after a reap that cannot fail; they are
    # not given the job, so they cannot reap it, and the verdict says what it takes of them
    play = "- hosts: all\n  gather_facts: false\n  tasks:" + "".join(
        textwrap.indent(textwrap.dedent(part), "    ") for part in (LAUNCH, REAP)) + (
        "      ignore_errors: true\n    - ansible.builtin.include_role:\n        name: elsewhere.tuned" + handed + "\n")
    (finding,) = verdicts(tmp_path, play)["job"].findings
    assert finding.kind == expected, finding.message
    if expected != "not-analysed":
        assert "taking role elsewhere.tuned (not installed)" in finding.message, finding.message


def test_a_set_fact_name_used_bare_before_the_run_sets_it_may_come_from_the_inventory(tmp_path: Path) -> None:
    # trailofbits/algo: `set_fact: IP_subject_alt_name: "{{ IP_subject_alt_name }}"` re-sets a value the inventory
    # gives; undefined it would fail every run, so the lint takes both ways (as the inventory may give it)
    play = "- hosts: all\n  gather_facts: false\n  tasks:" + textwrap.indent(textwrap.dedent("""
        - name: reboot
          ansible.builtin.shell: sleep 2 && shutdown -r now
          async: 1
          poll: 0
        - name: keep the address
          ansible.builtin.set_fact:
            address: "{{ address }}"
        - name: accumulate
          ansible.builtin.set_fact:
            seen: "{{ seen | default([]) + [address] }}"
    """), "    ")
    (finding,) = verdicts(tmp_path, play)["reboot"].findings
    assert finding.kind == "reboot-by-async", finding.message
    # guarded, it is undefined as before (default() applies); bare, its failure names it, so it is not certain
    from pytest_asyncplay.audit.symbolic import NotSetYet

    assert issubclass(NotSetYet, jinja2.StrictUndefined)
    assert Evaluator(lambda name: NotSetYet(name=name)).template("{{ seen | default([]) }}") == []
    with pytest.raises(TemplateError) as caught:
        Evaluator(lambda name: NotSetYet(name=name)).template("{{ address | upper }}")
    assert caught.value.unset == "address"
