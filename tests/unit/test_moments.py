"""Event moments on synthetic event streams: which event is the moment, on which host, and how many times."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from pytest_asyncplay import FaultError, job_polled, task_end
from pytest_asyncplay.faults import Moment
from pytest_asyncplay.ledger import AsyncJob


def event(kind: str, host: str, task: str, jid: Optional[str] = None, action: str = "ansible.builtin.shell",
          **res: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"host": host, "task": task, "task_action": action, "task_path": f"/r/site.yml:{len(task)}"}
    if jid:
        data["res"] = {"ansible_job_id": jid, **res}
    return {"event": kind, "event_data": data}


def launched(host: str, task: str, jid: str) -> AsyncJob:
    return AsyncJob(task=task, host=host, jid=jid, async_timeout=30, poll=0, item=None, reaped=False)


def moments(moment: Moment, stream: list[tuple[dict[str, Any], Optional[AsyncJob]]]) -> list[tuple[int, str]]:
    """``(index, host)`` of each event of ``stream`` that is the moment, as one fault sees them."""
    watch = moment.watcher()
    return [(i, host) for i, (e, job) in enumerate(stream) for host in watch.hosts_at(e, job)]


KEEP_ALIVE = [
    (event("runner_on_start", "host1", "download"), None),
    (event("runner_on_start", "host2", "download"), None),
    (event("runner_on_async_poll", "host1", "download", "j1.1"), launched("host1", "download", "j1.1")),
    (event("runner_on_async_poll", "host2", "download", "j2.1"), launched("host2", "download", "j2.1")),
    (event("runner_on_async_poll", "host1", "download", "j1.1"), None),
    (event("runner_on_async_ok", "host1", "download", "j1.1"), None),
    (event("runner_on_ok", "host1", "download", "j1.1"), None),
    (event("runner_on_async_poll", "host2", "download", "j2.1"), None),
    (event("runner_on_async_failed", "host2", "download", "j2.1"), None),
    (event("runner_on_failed", "host2", "download", "j2.1"), None),
]


def test_the_nth_poll_of_a_keep_alive_task_is_counted_per_host():
    assert moments(job_polled("download"), KEEP_ALIVE) == [(2, "host1"), (3, "host2")]
    assert moments(job_polled("download", n=2), KEEP_ALIVE) == [(4, "host1"), (7, "host2")]
    assert moments(job_polled("download", n=3), KEEP_ALIVE) == [(5, "host1"), (8, "host2")]  # the one that ended it
    assert moments(job_polled("download", n=4), KEEP_ALIVE) == []  # no fourth look: the fault says "never came"
    assert moments(job_polled("other"), KEEP_ALIVE) == []


def test_a_keep_alive_poll_without_a_task_name_is_the_task_the_host_started():
    stream = [(event("runner_on_start", "host1", "download"), None),
              ({"event": "runner_on_async_poll", "event_data": {"host": "host1", "res": {"ansible_job_id": "j1"}}},
               None)]
    assert moments(job_polled("download"), stream) == [(1, "host1")]


FIRE_AND_FORGET = [
    (event("runner_on_ok", "host1", "start backup", "j7.1", started=1, finished=0),
     launched("host1", "start backup", "j7.1")),
    (event("runner_on_ok", "host1", "start other", "j8.1", started=1, finished=0),
     launched("host1", "start other", "j8.1")),
    (event("runner_on_start", "host1", "wait for backup"), None),
    (event("runner_retry", "host1", "wait for backup", "j7.1", "ansible.builtin.async_status", finished=0), None),
    (event("runner_retry", "host1", "wait for backup", "j7.1", "ansible.builtin.async_status", finished=0), None),
    (event("runner_on_ok", "host1", "wait for backup", "j7.1", "ansible.builtin.async_status", finished=1), None),
    (event("runner_on_start", "host1", "wait for other"), None),
    (event("runner_on_ok", "host1", "wait for other", "j8.1", "async_status", finished=1), None),
]


def test_the_nth_answer_of_a_reap_to_a_job_the_task_launched():
    """A reap is named by the task that launched its job: the reap's own name may be anything."""
    assert moments(job_polled("start backup"), FIRE_AND_FORGET) == [(3, "host1")]
    assert moments(job_polled("start backup", n=3), FIRE_AND_FORGET) == [(5, "host1")]
    assert moments(job_polled("start other"), FIRE_AND_FORGET) == [(7, "host1")]
    assert moments(job_polled("wait for backup"), FIRE_AND_FORGET) == []  # the reap launched no job


def test_each_fault_counts_its_own_looks():
    """One moment object handed to two faults: each fault's watcher starts from zero."""
    moment = job_polled("download", n=2)
    assert moments(moment, KEEP_ALIVE) == moments(moment, KEEP_ALIVE) == [(4, "host1"), (7, "host2")]


def test_task_end_is_each_hosts_end_of_the_task_not_its_items():
    stream = [(event("runner_on_start", "host1", "copy"), None),
              (event("runner_item_on_ok", "host1", "copy"), None),
              (event("runner_on_ok", "host1", "copy"), None),
              (event("runner_on_unreachable", "host2", "copy"), None),
              (event("runner_on_skipped", "host3", "copy"), None),
              (event("runner_on_ok", "host1", "later"), None)]
    assert moments(task_end("copy"), stream) == [(2, "host1"), (3, "host2"), (4, "host3")]
    assert task_end("copy").describe() == 'task_end("copy")'


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_job_polled_counts_from_one(n):
    with pytest.raises(FaultError, match="names no look") as raised:
        job_polled("download", n=n)
    assert "n=1 is the first" in str(raised.value)
    assert job_polled("download", n=2).describe() == 'job_polled("download", n=2)'
