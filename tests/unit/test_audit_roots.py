"""Which paths an audit session audits: folders, YAML files, and the playbook of a node id."""

from __future__ import annotations

from pathlib import Path


def test_a_node_id_audits_its_playbook_alone(tmp_path: Path) -> None:
    from pytest_asyncplay.audit.items import audit_roots

    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    assert audit_roots(["site.yml::compress[killed]"], tmp_path) == [(tmp_path / "site.yml").resolve()]
    assert audit_roots(["tests/test_x.py::test_y"], tmp_path) == [tmp_path.resolve()]  # not a playbook: the folder
