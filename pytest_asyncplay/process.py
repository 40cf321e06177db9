"""Run ``ansible-playbook`` and hand each of its events to a callback the moment it is printed.

The events are ansible-runner's: its ``awx_display`` stdout callback prints each event's uuid, base64
encoded between ``ESC[K`` markers, around the event's own stdout, and drops the event's data in a
``job_events/<uuid>-partial.json`` file. ``EventDecoder`` turns that stream back into ansible-runner's
event dicts (same keys, same order, same ``counter``/``stdout``/``start_line``/``end_line``), so
``PlayResult.events`` reads as it always has.

We drive the process ourselves rather than through ``ansible_runner.run``: its pexpect loop checks for
a cancel only every 5 seconds (a play the audit wanted stopped at its first failure ran on for up to
5 s), sleeps 0.1 s on close, and writes every event to its own JSON file. Here a stop or a timeout
kills the process group at once, and nothing is written but the play's stdout.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import datetime
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable, Optional

log = logging.getLogger("pytest_asyncplay.process")

EVENT_MARK = re.compile(r"\x1b\[K((?:[A-Za-z0-9+/=]+\x1b\[\d+D)+)\x1b\[K")
CHUNK_END = re.compile(r"\x1b\[\d+D")
EventHandler = Callable[[dict[str, Any]], None]


def display_callback_dir() -> Path:
    """The folder of ansible-runner's ``awx_display`` callback plugin (found without importing ansible-runner)."""
    spec = find_spec("ansible_runner")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("ansible-runner is not installed; pytest-asyncplay uses its event callback")
    return Path(next(iter(spec.submodule_search_locations))) / "display_callback" / "callback"


def event_env(events_dir: Path) -> dict[str, str]:
    """The environment that makes ``ansible-playbook`` print ansible-runner's events (partials in ``events_dir``)."""
    return {
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "AWX_ISOLATED_DATA_DIR": str(events_dir),
        "RUNNER_OMIT_EVENTS": "False",
        "RUNNER_ONLY_FAILED_EVENTS": "False",
        "PYTHONUNBUFFERED": "1",
    }


class EventDecoder:
    """Feed it ``ansible-playbook``'s output as it comes; it calls ``handler`` with each complete event.

    ``events_dir`` is where the callback drops each event's data (``job_events/<uuid>-partial.json``);
    a partial is read, merged and removed as its event completes. Text printed outside any event (errors
    before the play starts, warnings) becomes ``verbose`` events, one per line, as with ansible-runner.
    """

    def __init__(self, events_dir: Path, handler: EventHandler) -> None:
        self.partials = events_dir / "job_events"
        self.handler = handler
        self.counter = 0
        self.line = 0
        self.stdout: list[str] = []
        self._buffer = ""
        self._current: Optional[dict[str, Any]] = None

    def feed(self, text: str) -> None:
        """Take the next piece of output (any split; a marker may straddle two pieces)."""
        self._buffer += text
        while "\x1b[K" in self._buffer:
            match = EVENT_MARK.search(self._buffer)
            if match is None:
                break  # a marker has begun but not ended: wait for more
            before, self._buffer = self._buffer[:match.start()], self._buffer[match.end():]
            try:
                data = json.loads(base64.b64decode(CHUNK_END.sub("", match.group(1))).decode("utf-8"))
            except (ValueError, binascii.Error):
                data = {}
            self._emit(before)
            self._current = data if isinstance(data, dict) and data.get("uuid") else None
        if self._current is None and "\n" in self._buffer and "\x1b[K" not in self._buffer:
            complete, _, self._buffer = self._buffer.rpartition("\n")
            self._emit(complete + "\n")

    def close(self) -> None:
        """The output ended: emit what is left."""
        rest, self._buffer = self._buffer, ""
        self._emit(rest)
        self._current = None

    def _emit(self, text: str) -> None:
        if self._current is not None:
            event = self._current
            event.update(self._partial(event["uuid"]))
            self._send(event, text)
            self._current = None
        elif text:
            for line in text.splitlines(True):
                self._send({"event": "verbose", "uuid": str(uuid.uuid4())}, line)

    def _partial(self, event_uuid: str) -> dict[str, Any]:
        path = self.partials / f"{event_uuid}-partial.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            path.unlink()
        except (OSError, ValueError) as exc:
            log.debug("event %s: no readable partial data (%s)", event_uuid, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _send(self, event: dict[str, Any], text: str) -> None:
        self.counter += 1
        lines = text.count("\n")
        stdout = text.rstrip("\r\n")
        event.update(counter=self.counter, stdout=stdout, start_line=self.line, end_line=self.line + lines)
        self.line += lines
        event.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat())
        if stdout:
            self.stdout.append(stdout + "\n")
        self.handler(event)


@dataclasses.dataclass
class ProcessOutcome:
    """How an ``ansible-playbook`` process ended: ``status`` is successful, failed, stopped or timeout."""

    rc: int
    status: str
    stdout: str


def run_playbook_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    events_dir: Path,
    on_event: EventHandler,
    should_stop: Callable[[], bool] = lambda: False,
    timeout: Optional[float] = None,
) -> ProcessOutcome:
    """Run ``command`` (an ``ansible-playbook`` command line) in its own session, decode its events into
    ``on_event`` as they come, and kill its process group as soon as ``should_stop()`` turns true after an
    event, or at ``timeout`` seconds. ``env`` gets ``event_env(events_dir)`` on top; ansible-runner's callback
    must be among its ``ANSIBLE_CALLBACK_PLUGINS`` (``display_callback_dir()``)."""
    decoder = EventDecoder(events_dir, on_event)
    process = subprocess.Popen(list(command), cwd=cwd, env={**env, **event_env(events_dir)}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout if timeout else None
    status: Optional[str] = None
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    ended = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not selector.select(wait):
                    status = "timeout"
                    break
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    ended = True
                    break
                decoder.feed(text.decode(chunk))
                if should_stop():
                    status = "stopped"
                    break
    finally:
        if not ended or not _exits(process, deadline):
            _kill_group(process)  # stopped, timed out, or the handler raised: nothing of the play outlives it
            status = status or "timeout"
        process.stdout.close()
        process.wait()
    decoder.close()
    rc = process.returncode
    if status is None:
        status = "successful" if rc == 0 else "failed"
    return ProcessOutcome(rc=rc, status=status, stdout="".join(decoder.stdout))


def _exits(process: subprocess.Popen[bytes], deadline: Optional[float]) -> bool:
    """After EOF on its output, whether the process exits on its own (within 30 s, or by the deadline)."""
    wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
    try:
        process.wait(timeout=wait)
        return True
    except subprocess.TimeoutExpired:
        return False


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's whole group (its forks and the workers), as ansible-runner's cancel does."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
