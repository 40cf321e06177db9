"""Signals: SIGTERM and SIGHUP end a pytest session the way Ctrl-C does, so that every container is removed.

``SignalGuard`` is installed by the plugin at configure and restored at unconfigure; it kills the session's
running ``ansible-playbook`` processes (``end_plays``) and forwards the signal to xdist workers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Optional, Union

log = logging.getLogger("pytest_asyncplay.plugin")  # one logger with the plugin: its debug lines stay where they were

_Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]
CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class SessionSignalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: pytest unwinds as for Ctrl-C (fixtures torn down, containers removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"asyncplay: got {signal.Signals(signum).name}; removing the session's containers")
        self.signum = signum


class SignalGuard:
    """SIGTERM and SIGHUP end the session like Ctrl-C, then the process dies of the signal.

    The handler raises ``SessionSignalled`` (a KeyboardInterrupt) in the main thread rather than removing
    containers itself: it runs between two bytecodes of code that may hold the pool's lock or be inside a
    Docker API call, while unwinding reaches ``pytest_unconfigure``, the one cleanup path every ending takes.
    Before raising it kills the running ``ansible-playbook`` (pexpect gives it its own session and ignores
    SIGHUP for it, so no signal reaches it) and forwards the signal to the xdist workers (each cleans up its
    own containers at once, instead of after execnet's 5 s). After cleanup an atexit hook re-raises the
    signal with the default action, so the parent sees death by that signal (128+signum in a shell).
    """

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self.worker_pids: dict[str, int] = {}  # xdist gateway id -> worker pid
        self._shielded = False
        self._previous: dict[int, _Handler] = {}

    def install(self) -> None:
        """Handle SIGTERM and SIGHUP (main thread only: Python delivers signals there)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in CLEANUP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put the handlers back that were there before ``install``."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        """While the containers are removed, SIGINT/SIGTERM/SIGHUP are noted (the process still dies of
        them afterwards) instead of interrupting the removal."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._handle) if main else None
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = False
            if main:
                signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        name = signal.Signals(signum).name
        if self.received is not None or self._shielded:
            log.debug("got %s while %s: noted", name, "removing containers" if self._shielded else "unwinding")
            if self.received is None:
                self.received = signum
                atexit.register(self._die)
            return
        self.received = signum
        atexit.register(self._die)
        plays = end_plays()
        for pid in self.worker_pids.values():
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        log.debug("got %s: killed %d play(s), forwarded to %d xdist worker(s); unwinding to remove containers",
                  name, plays, len(self.worker_pids))
        raise SessionSignalled(signum)

    def _die(self) -> None:
        """At interpreter exit, after every cleanup: die of the received signal (default action)."""
        if self.received is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        logging.shutdown()  # the atexit hook that would do it was registered earlier, so runs after this one
        signal.signal(self.received, signal.SIG_DFL)
        os.kill(os.getpid(), self.received)
        os._exit(128 + self.received)  # not reached: the default action of SIGTERM/SIGHUP/SIGINT ends us


def end_plays() -> int:
    """Kill (SIGKILL, as ansible-runner's own cancel does) the process group of every ``ansible-playbook``
    this process spawned; return how many. Linux (/proc); elsewhere nothing."""
    me, killed = os.getpid(), 0
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid != me or b"ansible-playbook" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                    continue
                pid = int(entry)
                if os.getpgid(pid) == pid != os.getpgrp():
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
                killed += 1
            except (OSError, ValueError, IndexError):
                continue
    return killed
