"""Marker validation and fault declarations: pure argument checking, no containers."""

from __future__ import annotations

import pytest

from pytest_asyncplay import FaultError, after, kill_job, restart_host, slow_job, task_start
from pytest_asyncplay.faults import JobLaunched
from pytest_asyncplay.plugin import host_spec


def test_host_spec_names_and_groups():
    spec = host_spec(hosts=3, groups={"web": ["host1", "host2"], "db": "host3"})
    assert spec.names == ("host1", "host2", "host3")
    assert spec.group_map == {"web": ["host1", "host2"], "db": ["host3"]}
    assert host_spec(hosts=["a", "b"]).names == ("a", "b")
    assert host_spec() == host_spec(hosts=1)  # equal specs share hosts


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hosts": 0}, "hosts=0 starts no host"),
    ({"hosts": True}, "must be a count"),
    ({"hosts": []}, r"hosts=\[\] starts no host"),
    ({"groups": ["host1"]}, "must map a group name"),
    ({"image": 3}, "must be an image name"),
])
def test_host_spec_errors_name_the_argument(kwargs, match):
    with pytest.raises(pytest.UsageError, match=match):
        host_spec(**kwargs)


def test_fault_declarations():
    fault = kill_job("compress logs", host=["host1", "host2"], item=1)
    assert fault.at == JobLaunched("compress logs") and fault.wants("host2") and not fault.wants("host3")
    assert kill_job("x", at=task_start("y")).at.describe() == 'task_start("y")'
    with pytest.raises(FaultError, match="needs the name of the async task"):
        kill_job("")
    with pytest.raises(FaultError, match="freezes nothing"):
        slow_job("x", 0)
    with pytest.raises(FaultError, match="needs a moment"):
        restart_host("host1")
    with pytest.raises(FaultError, match="in the past"):
        after(-1)
