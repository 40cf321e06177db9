"""A helper kept running inside a host for one play, so a fault reaches the job in a pipe round trip.

``Target.hostside`` starts a process in the container for every command (``docker exec``: a runtime
call, a process start, a Python start). That is fine for reading job files after a play, but a fault
that must freeze a three-second job is racing it. ``HostAgent`` starts ``data/hostside.py serve`` once
(one ``docker exec`` with stdin attached) and sends it each command as a JSON line over the exec's
socket; the answer comes back as one JSON line in Docker's stdout frames.

If the agent cannot start, dies (the host restarted) or does not answer in time, ``call`` raises
``AgentError`` and the caller falls back to ``Target.hostside``; nothing is lost but the head start.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any, Optional

from .errors import AsyncplayError

if TYPE_CHECKING:
    from .targets import Target

log = logging.getLogger("pytest_asyncplay.agent")

_HEADER = struct.Struct(">BxxxL")  # Docker's multiplexed stream frame: stream id, 3 pad bytes, payload size
_STDOUT, _STDERR = 1, 2


class AgentError(AsyncplayError):
    """The helper kept running in a host could not be started, or stopped answering."""


class HostAgent:
    """``data/hostside.py serve`` running in one host, answering one command at a time."""

    def __init__(self, target: Target, timeout: float = 15.0) -> None:
        from .targets import HOSTSIDE_SCRIPT

        self.host = target.name
        self.timeout = timeout
        self._lock = threading.Lock()
        self._buffer = b""
        self._stderr = b""
        try:
            api = target.pool.client.api
            exec_id = api.exec_create(target.container_id, ["python3", "-u", "-c", HOSTSIDE_SCRIPT, "serve"],
                                      stdin=True, stdout=True, stderr=True, user="root")["Id"]
            attached = api.exec_start(exec_id, socket=True)
        except Exception as exc:
            raise AgentError(f"could not start the helper in {self.host}: {exc!r}",
                             "faults fall back to one docker exec each; look at the container's logs.") from exc
        self._attached = attached
        self._sock: socket.socket = getattr(attached, "_sock", attached)  # the raw socket under docker's SocketIO
        self._sock.settimeout(timeout)
        self._closed = False
        log.debug("agent started in %s", self.host)

    def call(self, command: str, *args: str) -> Any:
        """Run one ``hostside`` command in the host and return its JSON answer; ``AgentError`` if it cannot."""
        with self._lock:
            if self._closed:
                raise AgentError(f"the helper in {self.host} was closed", "start a new HostAgent.")
            try:
                self._sock.sendall((json.dumps([command, *args]) + "\n").encode())
                answer = json.loads(self._read_line())  # not JSON: the runtime's own error (the exec failed)
            except (OSError, ValueError) as exc:
                self._close_locked()
                raise AgentError(f"the helper in {self.host} stopped answering: {exc!r}",
                                 "the host may have restarted; the fault falls back to docker exec.") from exc
        if "error" in answer:
            raise AgentError(f"the helper in {self.host} failed: {answer['error']}",
                             "this is a bug in pytest-asyncplay's host helper; please report it.")
        return answer["ok"]

    def _read_line(self) -> bytes:
        while b"\n" not in self._buffer:
            stream, size = _HEADER.unpack(self._read_exactly(_HEADER.size))
            payload = self._read_exactly(size)
            if stream == _STDERR:
                self._stderr = (self._stderr + payload)[-4000:]
            else:
                self._buffer += payload
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                detail = self._stderr.decode(errors="replace").strip()[-500:]
                raise OSError("the helper's output ended" + (f": {detail}" if detail else ""))
            data += chunk
        return data

    def _close_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        # the HTTP response docker-py keeps on the attached stream first (closing it later, at garbage
        # collection, would flush a stream already closed), then the socket: stdin closes, the helper ends
        response = getattr(self._attached, "_response", None)
        for closing in (response, self._attached, self._sock):
            try:
                if closing is not None:
                    closing.close()
            except (OSError, ValueError):
                pass
        log.debug("agent in %s closed", self.host)

    def close(self) -> None:
        """End the helper (its stdin closes) and release the socket."""
        with self._lock:
            self._close_locked()


def start_agent(target: Target) -> Optional[HostAgent]:
    """A ``HostAgent`` for ``target``, or None (logged) when it cannot start: callers then use docker exec."""
    try:
        return HostAgent(target)
    except AgentError as exc:
        log.warning("%s", exc)
        return None
