"""Discovery: which playbooks and fire-and-forget tasks are found, where, and how errors read."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import asyncplay_corpus_expectations as expectations  # registered by tests/conftest.py
import pytest

from pytest_asyncplay.audit.discover import (
    AsyncTask,
    Playbook,
    discover,
    display_path,
    is_playbook,
    is_playbook_candidate,
    load_yaml,
)
from pytest_asyncplay.audit.walker import MISSING_ROLE
from pytest_asyncplay.errors import AsyncplayError, PlaybookNotFoundError, PlaybookSyntaxError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"



CASES = expectations.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def discovered() -> dict[Path, Playbook]:
    return {pb.path.resolve(): pb for pb in discover(CORPUS)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


LAUNCH = """
    - name: {name}
      ansible.builtin.shell: sleep 2; echo done
      async: 30
      poll: 0
      register: {register}
"""


# --------------------------------------------------------------------------------------------------
# The corpus, driven by the comments in each playbook


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 30


def test_discovers_exactly_the_marked_playbooks(discovered: dict[Path, Playbook]) -> None:
    assert sorted(discovered) == sorted(case.path for case in CASES)


def test_playbooks_come_back_sorted_by_path() -> None:
    paths = [pb.path for pb in discover(CORPUS)]
    assert paths == sorted(paths)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fire_and_forget_tasks(case: Any, discovered: dict[Path, Playbook]) -> None:
    pb = discovered[case.path]
    assert [t.node_name for t in pb.tasks] == list(case.verdicts)
    assert all(isinstance(t, AsyncTask) and t.is_fire_and_forget for t in pb.tasks)
    if case.nothing:
        assert pb.tasks == ()


@pytest.mark.parametrize("case", [c for c in CASES if c.where], ids=lambda c: c.name)
def test_where_tasks_are(case: Any, discovered: dict[Path, Playbook]) -> None:
    pb = discovered[case.path]
    by_name = {t.node_name: t for t in pb.tasks}
    for name, where in case.where.items():
        task = by_name[name]
        got = (display_path(task.file, pb.path.parent), task.line, task.section, task.role)
        assert got == (where.file, where.line, where.section, where.role), name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_errors_and_notes(case: Any, discovered: dict[Path, Playbook]) -> None:
    pb = discovered[case.path]
    if case.errors:
        assert isinstance(pb.error, PlaybookSyntaxError)
        for text in case.errors:
            assert text in str(pb.error)
        assert pb.error.hint
    else:
        assert pb.error is None, str(pb.error)
    for text in case.notes:
        assert any(text in note for note in pb.notes), pb.notes
    if not case.notes:
        assert pb.notes == ()


def test_every_corpus_task_line_points_at_the_task(discovered: dict[Path, Playbook]) -> None:
    tasks = [task for pb in discovered.values() for task in pb.all_tasks]
    assert len(tasks) >= len(discovered) > 0  # a discovery that found nothing would pass the loop below
    for pb in discovered.values():
        for task in pb.all_tasks:
            text = task.file.read_text(encoding="utf-8").splitlines()[task.line - 1]
            assert text.lstrip().startswith("- "), (task.where(), text)
            if task.named:
                assert f"name: {task.name}" in text or "name:" not in text, (task.where(), text)


# --------------------------------------------------------------------------------------------------
# Details of what discovery records


def test_task_fields_of_a_clean_reap(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "clean_reap.yml"]
    (task,) = pb.tasks
    assert task.playbook == CORPUS / "clean_reap.yml"
    assert task.file == CORPUS / "clean_reap.yml"
    assert (task.name, task.line, task.action, task.section) == ("compress logs", 9, "ansible.builtin.shell", "tasks")
    assert (task.async_timeout, task.poll, task.register, task.loop) == (30, 0, "compress_job", False)
    assert (task.play_index, task.role, task.node_name, task.named) == (0, None, "compress logs", True)
    assert [t.name for t in pb.all_tasks] == ["compress logs", "do other work meanwhile", "reap compress logs"]
    assert [t.order for t in pb.all_tasks] == [0, 1, 2]
    reap = pb.all_tasks[2]
    assert reap.short_action == "async_status"
    assert reap.args == {"jid": "{{ compress_job.ansible_job_id }}"}
    assert not reap.is_fire_and_forget


def test_templated_async_is_kept_raw(discovered: dict[Path, Playbook]) -> None:
    (task,) = discovered[CORPUS / "templated_async.yml"].tasks
    assert task.async_timeout == "{{ docs_timeout | default(30) }}"
    keep_alive = discovered[CORPUS / "templated_async.yml"].all_tasks[1]
    assert keep_alive.poll == "{{ doc_poll | default(2) }}" and not keep_alive.is_fire_and_forget


def test_keep_alive_tasks_are_listed_but_not_collected(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "keep_alive.yml"]
    assert pb.tasks == ()
    polls = [(t.async_timeout, t.poll) for t in pb.all_tasks]
    assert polls == [(30, 1), (30, None), (0, 0), (None, None)]


def test_loops(discovered: dict[Path, Playbook]) -> None:
    warm, reports = discovered[CORPUS / "loop_full.yml"].tasks
    assert warm.loop and reports.loop
    reap_reports = discovered[CORPUS / "loop_full.yml"].all_tasks[-1]
    assert reap_reports.loop_var == "report"


def test_later_play_and_import_playbook_count_plays(discovered: dict[Path, Playbook]) -> None:
    later = discovered[CORPUS / "later_play.yml"].all_tasks
    assert [(t.name, t.play_index) for t in later] == [("seed test data", 0), ("reap seed test data", 1)]
    imported = discovered[CORPUS / "import_playbook.yml"].all_tasks
    assert [(t.name, t.play_index, t.file.name) for t in imported] == [
        ("imported launch", 0, "launch_only.yml"),
        ("reap imported launch", 1, "import_playbook.yml"),
    ]
    assert imported[0].playbook == CORPUS / "import_playbook.yml"


def test_sections_in_execution_order(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "pre_post_tasks.yml"]
    assert [t.section for t in pb.all_tasks] == ["pre_tasks", "tasks", "post_tasks"]


def test_handlers_come_last_with_their_notifications(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "handler_reap.yml"]
    assert [t.section for t in pb.all_tasks] == ["tasks"] * 3 + ["handlers"] * 3
    assert pb.all_tasks[0].notify == ("reap rotate archives",)
    assert pb.all_tasks[4].listen == ("prune reapers",)


def test_role_tasks_and_role_handlers(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "roles_dir.yml"]
    got = [(t.name, t.role, t.section) for t in pb.all_tasks]
    assert got == [
        ("role launch", "launcher", "roles"),
        ("reap role launch", "reaper", "roles"),
        ("notified launch", "notifier", "roles"),
        ("reap notified launch", "notifier", "handlers"),
    ]


def test_role_dependencies_run_first(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "role_deps.yml"]
    assert [(t.name, t.role) for t in pb.all_tasks] == [
        ("role launch", "launcher"),
        ("reap the dependency's job", "with_deps"),
    ]


def test_import_role_twice_gives_distinct_node_names(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "import_role.yml"]
    assert [t.node_name for t in pb.tasks] == ["role launch", "role launch #2"]
    assert [t.occurrence for t in pb.tasks] == [1, 2]
    assert pb.all_tasks[-1].name == "clean up role launch"  # tasks_from: cleanup


def test_blocks_are_recorded_outermost_first(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "nested_blocks.yml"]
    reap = next(t for t in pb.all_tasks if t.name == "reap nested rescued")
    assert [(f.part, f.has_rescue, f.line) for f in reap.blocks] == [("block", True, 58), ("block", True, 60)]
    assert reap.section == "block"
    rescue = next(t for t in pb.all_tasks if t.name == "re-raise from the inner rescue")
    assert [f.part for f in rescue.blocks] == ["block", "rescue"]
    assert rescue.blocks[1].block_id == reap.blocks[1].block_id
    conditional = next(t for t in pb.all_tasks if t.name == "reap nested conditional")
    assert conditional.when == ("reap_jobs | default(false) | bool",)


def test_ignore_errors_is_inherited_with_its_origin(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "ignore_errors_block.yml"]
    block_reap = next(t for t in pb.all_tasks if t.name == "reap index documents")
    assert block_reap.ignore_errors is True
    assert block_reap.ignore_errors_origin == ("block", CORPUS / "ignore_errors_block.yml", 17)
    play_reap = next(t for t in pb.all_tasks if t.name == "reap vacuum database")
    assert play_reap.ignore_errors_origin == ("play", CORPUS / "ignore_errors_block.yml", 28)


def test_free_form_and_action_forms(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "free_form.yml"]
    short, action = pb.tasks
    assert (short.action, action.action) == ("shell", "command")
    assert action.args == {"_raw_params": "sleep 2"}
    reap = next(t for t in pb.all_tasks if t.name == "reap short names")
    assert reap.action == "async_status"
    assert reap.args == {"jid": "{{ short_job.ansible_job_id }}"}


def test_unnamed_tasks_are_named_after_their_line(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "unnamed.yml"]
    assert [(t.name, t.named) for t in pb.tasks] == [("line 10", False), ("line 15", False)]
    assert pb.all_tasks[-1].name == "line 20"


def test_where_is_relative_to_the_playbook(discovered: dict[Path, Playbook]) -> None:
    (task, _) = discovered[CORPUS / "include_tasks.yml"].tasks
    assert task.where() == "tasks/launch_jobs.yml:3"
    assert task.where(CORPUS.parent) == "corpus/tasks/launch_jobs.yml:3"


def test_broken_playbook_keeps_the_tasks_found(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "missing_include.yml"]
    assert pb.error is not None and "include_tasks file 'tasks/not_there.yml' not found" in pb.error.message
    assert [t.name for t in pb.tasks] == ["found before the include"]


def test_a_role_that_is_not_installed_is_a_note_and_a_stand_in(discovered: dict[Path, Playbook]) -> None:
    pb = discovered[CORPUS / "missing_role.yml"]
    assert pb.error is None and [t.name for t in pb.tasks] == ["still found"]
    (stand_in,) = [t for t in pb.all_tasks if t.action == MISSING_ROLE]
    assert (stand_in.line, stand_in.name) == (10, "role not_a_role (not installed)")


# --------------------------------------------------------------------------------------------------
# is_playbook


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clean_reap.yml", True),
        ("import_playbook.yml", True),
        ("imported/launch_only.yml", True),
        ("tasks_file.yml", False),
        ("vars.yml", False),
        ("group_vars/all.yml", False),
        ("tasks/launch_jobs.yml", False),
        ("roles/launcher/tasks/main.yml", False),
        ("roles/with_deps/meta/main.yml", False),
        ("broken_yaml.yml", False),
    ],
)
def test_is_playbook_on_the_corpus(name: str, expected: bool) -> None:
    assert is_playbook(CORPUS / name) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", False),
        ("[]\n", False),
        ("- just a string\n", False),
        ("key: value\n", False),
        ("- name: a task\n  ansible.builtin.debug: {}\n", False),
        ("- hosts: all\n  tasks: []\n", True),
        ("- import_playbook: other.yml\n", True),
        ("- ansible.builtin.import_playbook: other.yml\n", True),
        ("- name: a play\n  hosts: all\n", True),
    ],
)
def test_is_playbook(tmp_path: Path, text: str, expected: bool) -> None:
    assert is_playbook(write(tmp_path, "x.yml", text)) is expected


def test_is_playbook_on_a_missing_file(tmp_path: Path) -> None:
    assert is_playbook(tmp_path / "nope.yml") is False


# --------------------------------------------------------------------------------------------------
# Walking the file system


def test_walk_skips_hidden_and_vars_dirs_but_finds_role_tests(tmp_path: Path) -> None:
    play = "- hosts: all\n  tasks: []\n"
    for name in ("site.yml", ".hidden/p.yml", "roles/r/tests/test.yml", "group_vars/all.yml", "host_vars/h.yml"):
        write(tmp_path, name, play)
    write(tmp_path, "sub/deeper/other.yaml", play)
    write(tmp_path, "notes.txt", play)
    assert [pb.path for pb in discover(tmp_path)] == [
        tmp_path / "roles/r/tests/test.yml", tmp_path / "site.yml", tmp_path / "sub/deeper/other.yaml"]


def test_is_playbook_candidate_matches_the_walk() -> None:
    every_yaml = sorted(CORPUS.rglob("*.yml"))
    candidates = [p for p in every_yaml if is_playbook_candidate(p, CORPUS)]
    assert candidates == sorted(pb.path for pb in discover(CORPUS) if pb.kind == "playbook")
    assert is_playbook_candidate(CORPUS / "broken_yaml.yml")
    assert not is_playbook_candidate(CORPUS / "roles/launcher/tasks/main.yml")
    assert not is_playbook_candidate(CORPUS / "README.md")
    assert not is_playbook_candidate(CORPUS / "clean_reap.yml", root=CORPUS / "tasks")


def test_is_playbook_candidate_skips_dirs_below_root_only(tmp_path: Path) -> None:
    nested = write(tmp_path, "group_vars/r/tests/test.yml", "- hosts: all\n")
    assert not is_playbook_candidate(nested, tmp_path)
    assert is_playbook_candidate(nested, tmp_path / "group_vars/r/tests")
    assert is_playbook_candidate(nested)


def test_discover_takes_one_path_or_many(tmp_path: Path) -> None:
    site = write(tmp_path, "site.yml", "- hosts: all\n")
    assert [pb.path for pb in discover(str(site))] == [site]
    assert [pb.path for pb in discover([site, tmp_path])] == [site]  # no duplicates


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(PlaybookNotFoundError, match="no such file") as info:
        discover(tmp_path / "nope.yml")
    assert isinstance(info.value, AsyncplayError)
    assert "Hint:" in str(info.value)


def test_an_explicit_non_playbook_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "vars.yml", "job_timeout: 30\n")
    (pb,) = discover(path)
    assert pb.error is not None
    assert f"{path}:1: not a playbook" in pb.error.message
    assert "task, role or vars file" in pb.error.hint


def test_unparseable_non_playbook_is_not_collected(tmp_path: Path) -> None:
    write(tmp_path, "vars.yml", "key: [unclosed\n")
    assert discover(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# Errors and notes


def test_bad_yaml_names_file_line_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "site.yml", "- hosts: all\n  tasks:\n    - name: x\n     shell: true\n")
    (pb,) = discover(tmp_path)
    assert pb.error is not None
    assert pb.error.message.startswith(f"{path}:4: invalid YAML")
    assert "indentation" in pb.error.hint
    assert str(pb.error).endswith("Hint: " + pb.error.hint)
    with pytest.raises(PlaybookSyntaxError, match=r":4: invalid YAML"):
        load_yaml(path)


def test_missing_role_names_file_line_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "site.yml", "- hosts: all\n  roles:\n    - ghost\n")
    (pb,) = discover(path)
    (note,) = pb.notes
    assert note.startswith(f"{path}:3: role 'ghost' is not installed here (searched {tmp_path / 'roles/ghost'}")
    assert "roles_path" in note and "requirements.yml" in note


def test_roles_path_is_searched(tmp_path: Path) -> None:
    write(tmp_path, "shared/worker/tasks/main.yaml", LAUNCH.format(name="shared launch", register="j"))
    site = write(tmp_path, "play/site.yml", "- hosts: all\n  roles:\n    - role: worker\n")
    (pb,) = discover(site, roles_path=[tmp_path / "shared"])
    assert pb.error is None
    assert [(t.name, t.role, t.file) for t in pb.tasks] == [
        ("shared launch", "worker", tmp_path / "shared/worker/tasks/main.yaml")
    ]
    (pb,) = discover(site)
    assert not pb.tasks and "role 'worker' is not installed here" in pb.notes[0]


def test_role_dedup_in_roles_keyword(tmp_path: Path) -> None:
    write(tmp_path, "roles/worker/tasks/main.yml", LAUNCH.format(name="launch", register="j"))
    site = write(tmp_path, "site.yml", "- hosts: all\n  roles: [worker, worker, {role: worker, x: 1}]\n")
    (pb,) = discover(site)
    assert [t.node_name for t in pb.tasks] == ["launch", "launch #2"]


def test_include_inside_a_role_resolves_from_its_tasks_dir(tmp_path: Path) -> None:
    write(tmp_path, "roles/worker/tasks/main.yml", "- ansible.builtin.include_tasks: sub/more.yml\n")
    write(tmp_path, "roles/worker/tasks/sub/more.yml", LAUNCH.format(name="deep", register="j"))
    write(tmp_path, "roles/worker/tasks/sub/missing.yml", "- import_tasks: nothere.yml\n")
    site = write(tmp_path, "site.yml", "- hosts: all\n  tasks:\n    - include_role: {name: worker}\n")
    (pb,) = discover(site)
    assert pb.error is None
    assert [t.name for t in pb.tasks] == ["deep"]
    write(tmp_path, "roles/worker/tasks/main.yml", "- ansible.builtin.import_tasks: nothere.yml\n")
    (pb,) = discover(site)
    assert pb.error is not None
    assert "main.yml:1: import_tasks file 'nothere.yml' not found" in pb.error.message
    assert "role's tasks/" in pb.error.hint


def test_include_cycle_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- import_tasks: b.yml\n")
    write(tmp_path, "b.yml", "- import_tasks: a.yml\n")
    site = write(tmp_path, "site.yml", "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n")
    (pb,) = discover(site)
    assert pb.error is not None and "includes itself" in pb.error.message


def test_import_playbook_cycle_is_an_error(tmp_path: Path) -> None:
    site = write(tmp_path, "site.yml", "- import_playbook: other.yml\n")
    write(tmp_path, "other.yml", "- import_playbook: site.yml\n")
    pb = next(p for p in discover(tmp_path) if p.path == site)
    assert pb.error is not None and "imports itself" in pb.error.message


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    site = write(
        tmp_path,
        "site.yml",
        "- hosts: all\n  roles: [ghost]\n  tasks:\n    - name: no module\n      register: x\n    - 42\n",
    )
    (pb,) = discover(site)
    assert pb.error is not None
    assert "2 problems" in pb.error.message
    assert "role 'ghost' is not installed here" in pb.notes[0]
    assert f"{site}:4: task has no module (keys: name, register)" in pb.error.message
    assert "not a task" in pb.error.message


def test_play_without_hosts_and_non_list_tasks(tmp_path: Path) -> None:
    site = write(tmp_path, "site.yml", "- hosts: all\n  tasks: {a: 1}\n- name: no hosts\n  tasks: []\n")
    (pb,) = discover(site)
    assert pb.error is not None
    assert "tasks must be a list" in pb.error.message
    assert f"{site}:3: play has no 'hosts:'" in pb.error.message


def test_templated_names_become_notes(tmp_path: Path) -> None:
    site = write(
        tmp_path,
        "site.yml",
        """
        - import_playbook: "{{ pb }}.yml"
        - hosts: all
          tasks:
            - include_role:
                name: "{{ role_name }}"
            - import_role:
                name: community.general.thing
        """,
    )
    (pb,) = discover(site)
    assert pb.error is None
    assert len(pb.notes) == 3
    assert pb.notes[0].startswith(f"{site}:1: import_playbook")
    assert "role '{{ role_name }}' is templated" in pb.notes[1]
    assert "collection role 'community.general.thing' is not installed here" in pb.notes[2]


def test_ansible_tags_and_merge_keys_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "site.yml",
        """
        - hosts: all
          vars:
            secret: !vault |
              $ANSIBLE_VAULT;1.1;AES256
              3132
            raw: !unsafe "{{ not templated }}"
          tasks:
            - &launch
              name: first
              ansible.builtin.shell: sleep 2; echo done
              async: 30
              poll: 0
              register: first_job
            - <<: *launch
              name: second
        """,
    )
    data = load_yaml(path)
    assert data[0]["vars"]["raw"] == "{{ not templated }}"
    assert data[0].line == 1 and data[0]["tasks"][1].line == 14
    (pb,) = discover(path)
    assert [(t.name, t.line) for t in pb.tasks] == [("first", 8), ("second", 14)]


# --------------------------------------------------------------------------------------------------
# Finding roles and collections as Ansible does


def test_roles_path_comes_from_the_ansible_cfg_ansible_would_use(tmp_path: Path) -> None:
    write(tmp_path, "ansible.cfg", "[defaults]\nroles_path = ./galaxy_roles:~/nowhere\n")
    write(tmp_path, "galaxy_roles/worker/tasks/main.yml", LAUNCH.format(name="cfg launch", register="j"))
    site = write(tmp_path, "playbooks/site.yml", "- hosts: all\n  roles: [worker]\n")
    (pb,) = [p for p in discover(tmp_path) if p.path == site]
    assert [t.file for t in pb.tasks] == [tmp_path / "galaxy_roles/worker/tasks/main.yml"]


def test_ansible_roles_path_wins_over_the_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "ansible.cfg", "[defaults]\nroles_path = ./from_cfg\n")
    write(tmp_path, "from_cfg/worker/tasks/main.yml", LAUNCH.format(name="cfg", register="j"))
    write(tmp_path, "from_env/worker/tasks/main.yml", LAUNCH.format(name="env", register="j"))
    site = write(tmp_path, "site.yml", "- hosts: all\n  roles: [worker]\n")
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", str(tmp_path / "from_env"))
    (pb,) = discover(site)
    assert [t.name for t in pb.tasks] == ["env"]


def test_a_role_test_playbook_finds_its_role_by_path_and_by_name(tmp_path: Path) -> None:
    write(tmp_path, "roles/web/tasks/main.yml", LAUNCH.format(name="web launch", register="j"))
    by_path = write(tmp_path, "roles/web/tests/test.yml", "- hosts: all\n  roles: ['../..']\n")
    by_name = write(tmp_path, "roles/web/molecule/default/converge.yml", "- hosts: all\n  roles: [acme.web]\n")
    found = {pb.path: pb for pb in discover(tmp_path)}
    for playbook in (by_path, by_name):
        assert [t.file for t in found[playbook].tasks] == [tmp_path / "roles/web/tasks/main.yml"], playbook
    # reached by a playbook: the role is not also linted on its own
    assert tmp_path / "roles/web/tasks/main.yml" not in found


def test_role_names_with_a_slash_are_searched_like_any_other(tmp_path: Path) -> None:
    write(tmp_path, "roles/kubernetes/preinstall/tasks/main.yml", LAUNCH.format(name="pre", register="j"))
    site = write(tmp_path, "playbooks/cluster.yml", "- hosts: all\n  roles: [kubernetes/preinstall]\n")
    write(tmp_path, "ansible.cfg", "[defaults]\nroles_path = roles\n")
    (pb,) = [p for p in discover(tmp_path) if p.path == site]
    assert pb.error is None and [t.name for t in pb.tasks] == ["pre"]


def test_collection_content_is_found_when_installed_and_a_note_otherwise(tmp_path: Path) -> None:
    coll = tmp_path / "collections/ansible_collections/acme/ops"
    write(coll, "roles/backup/tasks/main.yml", LAUNCH.format(name="coll launch", register="j"))
    write(coll, "playbooks/site.yml", "- hosts: all\n  roles: [acme.ops.backup]\n")
    site = write(tmp_path, "site.yml", """
        - import_playbook: acme.ops.site
        - import_playbook: other.coll.missing
        - hosts: all
          roles: [other.coll.role]
        """)
    (pb,) = discover(site)
    assert pb.error is None and [t.name for t in pb.tasks] == ["coll launch"]
    assert any("import_playbook 'other.coll.missing': collection playbook not installed" in n for n in pb.notes)
    assert any("collection role 'other.coll.role' is not installed here" in n for n in pb.notes)


def test_a_role_no_playbook_plays_is_walked_on_its_own(tmp_path: Path) -> None:
    write(tmp_path, "roles/lonely/tasks/main.yml", LAUNCH.format(name="lonely launch", register="j"))
    write(tmp_path, "roles/lonely/defaults/main.yml", "x: 1\n")
    (pb,) = discover(tmp_path)
    assert (pb.kind, pb.role_dir, pb.path) == ("role", tmp_path / "roles/lonely",
                                               tmp_path / "roles/lonely/tasks/main.yml")
    assert [(t.name, t.role) for t in pb.tasks] == [("lonely launch", "lonely")]


def test_a_templated_poll_that_can_be_zero_is_a_launch(tmp_path: Path) -> None:
    site = write(tmp_path, "site.yml", """
        - hosts: all
          vars:
            bg_poll: 0
          tasks:
            - name: check mode aware
              ansible.builtin.command: sleep 1
              async: 60
              poll: "{{ ansible_check_mode | ternary(omit, '0') }}"
            - name: from play vars
              ansible.builtin.command: sleep 1
              async: 60
              poll: "{{ bg_poll }}"
            - name: always keep-alive
              ansible.builtin.command: sleep 1
              async: 60
              poll: "{{ slow_poll | default(5) }}"
            - name: unknowable
              ansible.builtin.command: sleep 1
              async: 60
              poll: "{{ lookup('env', 'POLL') }}"
            - name: never runs
              ansible.builtin.command: sleep 1
              async: 60
              poll: 0
              when: false
        """)
    (pb,) = discover(site)
    assert [(t.name, bool(t.not_analysed)) for t in pb.tasks] == [
        ("check mode aware", False), ("from play vars", False), ("unknowable", True)]
    assert any("evaluates to ['5']: keep-alive" in n for n in pb.notes)
    assert any("never runs" in n and "when: false" in n.lower() for n in pb.notes)


def test_a_role_included_by_another_only_through_tasks_from_is_still_judged_from_its_main(tmp_path: Path) -> None:
    # EnterpriseDB/tpa: roles/pgbench includes `test` with tasks_from=output.yml, and nothing plays test's main;
    # test's own task files include test again with another tasks_from (not a cycle), one through a templated
    # tasks_from (each file it can name is a way the run goes), and it uses roles beside it in the same roles/
    write(tmp_path, "roles/pgbench/tasks/main.yml", """\
        - include_role: name=test tasks_from=output.yml
    """)
    write(tmp_path, "roles/test/tasks/output.yml", "- debug: msg=out\n")
    write(tmp_path, "roles/test/tasks/main.yml", """\
        - name: crash tests
          include_role:
            name: test
            tasks_from: "failures/{{ failure }}.yml"
        - include_role: name=pkg/list
    """)
    for name in ("none", "powerfail"):
        write(tmp_path, f"roles/test/tasks/failures/{name}.yml", f"""\
            - name: {name} job
              ansible.builtin.shell: sleep 1
              async: 30
              poll: 0
        """)
    write(tmp_path, "roles/pkg/list/tasks/main.yml", "- include_role: name=test tasks_from=output.yml\n")
    by_path = {pb.path.relative_to(tmp_path).as_posix(): pb for pb in discover(tmp_path)}
    main = by_path["roles/test/tasks/main.yml"]
    assert main.kind == "role" and main.error is None, main.error
    assert sorted(t.name for t in main.tasks) == ["none job", "powerfail job"]
    assert any("followed to each of the 2 file(s)" in note for note in main.notes), main.notes
    assert not any("pkg/list" in note and "not installed" in note for note in main.notes), main.notes
