"""pytest-asyncplay's companion callback: records each async task's ``async`` and ``poll`` values.

ansible-runner's event stream carries everything the job ledger needs except these two task
attributes, so this notification callback appends one JSON line per async task to the file named
by ``ASYNCPLAY_META_FILE``. It prints nothing and changes nothing. Works on ansible-core 2.15-2.21.
"""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: asyncplay_meta
    type: notification
    short_description: record async/poll of async tasks for pytest-asyncplay
    description: Appends one JSON line per async task to the file named by ASYNCPLAY_META_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "asyncplay_meta"
    CALLBACK_NEEDS_ENABLED = False
    CALLBACK_NEEDS_WHITELIST = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("ASYNCPLAY_META_FILE")

    def v2_playbook_on_task_start(self, task, is_conditional):
        async_val = getattr(task, "async_val", 0)
        if not self._path or not async_val:
            return
        record = {
            "uuid": str(getattr(task, "_uuid", "")),
            "name": task.get_name(),
            "async": async_val,
            "poll": getattr(task, "poll", None),
            "path": task.get_path() if hasattr(task, "get_path") else None,
        }
        with open(self._path, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _job(self, result):
        """Record the templated async/poll (the task's fields as the worker ran it) of an async job."""
        data = getattr(result, "_result", None) or getattr(result, "result", None) or {}
        nested = data.get("async_result") if isinstance(data, dict) else None
        jid = data.get("ansible_job_id") or (nested or {}).get("ansible_job_id") if isinstance(data, dict) else None
        if not self._path or not jid:
            return
        fields = getattr(result, "_task_fields", None) or getattr(result, "task_fields", None) or {}
        if not fields.get("async_val"):
            return  # an async_status reap of the job, not the async task itself
        record = {"jid": jid, "async": fields.get("async_val"), "poll": fields.get("poll")}
        with open(self._path, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._job(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._job(result)

    def v2_runner_item_on_ok(self, result):
        self._job(result)

    def v2_runner_on_async_ok(self, result):
        self._job(result)

    def v2_runner_on_async_failed(self, result):
        self._job(result)
