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
