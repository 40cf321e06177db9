"""A TCP relay in front of a host's SSH port, so a fault can cut live connections and refuse new ones.

Ansible connects to ``127.0.0.1:<relay.port>``; the relay forwards every connection to the host's
published SSH port (``relay.upstream``). Because every byte passes through the relay, a fault can

* ``reset()`` — close every live connection at once (Ansible's ControlPersist master included): the
  client side with an RST, the upstream side with a plain close. New connections keep working, so
  Ansible can reconnect right away (unlike Toxiproxy's ``reset_peer``, toxiproxy#465);
* ``down(seconds)`` — the same, and for ``seconds`` answer every new connection with an immediate
  RST close without ever contacting the upstream; then accept again (or earlier, with ``up()``).

One relay is one daemon thread: a ``selectors`` loop over non-blocking sockets (no thread per
connection). Each direction has a bounded buffer: the relay stops reading a side while the buffer
towards the other side holds ``buffer_limit`` bytes or more (back-pressure), so a slow reader
never makes the relay grow. An EOF from one side becomes ``shutdown(SHUT_WR)`` on the other once
the buffer towards it is flushed; a pair is closed when both directions are done.

``reset()``, ``down()`` and ``close()`` may be called from any thread. They hand the work to the
relay thread (through a wake-up socket registered in its selector) and wait until it confirms,
so when ``reset()`` returns every pair that was live is closed.
"""

from __future__ import annotations

import errno
import logging
import math
import selectors
import socket
import struct
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Optional

__all__ = ["Relay"]

log = logging.getLogger("pytest_asyncplay.connection")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_CHUNK = 64 * 1024
_ACCEPTS_PER_WAKE = 64
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on with 0 s: close() sends an RST, no TIME_WAIT
_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY})
_LISTENER = "listener"
_WAKER = "waker"
_AddrInfo = tuple[Any, ...]


def _abort(sock: socket.socket) -> None:
    """Close ``sock`` with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    sock.close()


def _flush(sock: socket.socket, buf: bytearray) -> None:
    """Send as much of ``buf`` as ``sock`` takes now, and drop what was sent."""
    while buf:
        try:
            sent = sock.send(buf)
        except BlockingIOError:
            return
        del buf[:sent]


class _Reset:
    """One reset request from another thread, answered by the relay thread."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result = 0


class _Pair:
    """One client connection and its upstream connection, with the buffer of each direction."""

    __slots__ = (
        "addrs",
        "c2u",
        "client",
        "client_eof",
        "client_shut",
        "closed",
        "cmask",
        "connecting",
        "deadline",
        "u2c",
        "umask",
        "upstream",
        "upstream_eof",
        "upstream_shut",
    )

    def __init__(self, client: socket.socket, addrs: list[_AddrInfo]) -> None:
        self.client = client
        self.upstream: Optional[socket.socket] = None
        self.addrs: deque[_AddrInfo] = deque(addrs)
        self.connecting = False
        self.deadline = 0.0
        self.c2u = bytearray()  # read from the client, to send upstream
        self.u2c = bytearray()  # read from upstream, to send to the client
        self.client_eof = False  # the client sent EOF
        self.upstream_eof = False  # upstream sent EOF
        self.client_shut = False  # we shut down writing towards the client
        self.upstream_shut = False  # we shut down writing towards upstream
        self.cmask = 0  # selector interest registered for the client socket (0: not registered)
        self.umask = 0  # ... and for the upstream socket
        self.closed = False


class Relay:
    """A TCP relay on 127.0.0.1 in front of one upstream address; can reset live connections and go down."""

    #: Stop reading a side while the buffer towards the other side holds this many bytes.
    buffer_limit: int = 256 * 1024
    #: Give up on an upstream connect attempt after this many seconds (the client is then closed).
    connect_timeout: float = 10.0
    #: If set, SO_SNDBUF/SO_RCVBUF for both sockets of every pair (None: the kernel's autotuning).
    socket_buffer: Optional[int] = None
    #: How long ``reset()``/``down()``/``close()`` wait for the relay thread before giving up.
    sync_timeout: float = 5.0

    def __init__(self, upstream: tuple[str, int], listen_host: str = "127.0.0.1", listen_port: int = 0) -> None:
        """Bind and listen on ``listen_host:listen_port`` (0: any free port) now; forward to ``upstream``."""
        #: Where new connections go; may be reassigned at any time (live connections keep theirs).
        self.upstream: tuple[str, int] = upstream
        #: Connections accepted from clients (refused ones included).
        self.accepted = 0
        #: Connections answered with an RST close during a down period (never forwarded).
        self.refused = 0
        #: Live pairs closed by ``reset()``/``down()``.
        self.resets = 0
        #: Accepted connections closed because upstream could not be reached.
        self.upstream_failures = 0
        self._live = 0
        self._stalls = 0  # times a side was left unread because the buffer towards the other side was full
        self._peak = 0  # largest buffer seen, in bytes
        self._pairs: set[_Pair] = set()
        self._connecting: set[_Pair] = set()
        self._lock = threading.Lock()
        self._requests: deque[_Reset] = deque()
        self._down_until = 0.0
        self._thread: Optional[threading.Thread] = None
        self._stop = False
        self._closed = False
        self._finished = False
        #: The exception that ended the relay thread, if one did.
        self.error: Optional[BaseException] = None

        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        self._listener = socket.create_server((listen_host, listen_port), family=family, backlog=128)
        try:
            self._listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            self._listener.close()
            raise
        try:
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._sel = selectors.DefaultSelector()
            self._sel.register(self._listener, _READ, _LISTENER)
            self._sel.register(self._wake_r, _READ, _WAKER)
        except BaseException:
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()
            raise
        #: The listening port: Ansible connects to ``127.0.0.1:port``.
        self.port: int = self._listener.getsockname()[1]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "down" if self.is_down else "up"
        return (
            f"<Relay 127.0.0.1:{self.port} -> {self.upstream[0]}:{self.upstream[1]} {state} live={self._live} "
            f"accepted={self.accepted} refused={self.refused} resets={self.resets}>"
        )

    # -- public API ---------------------------------------------------------------------------------

    def start(self) -> Relay:
        """Start the relay thread (once; later calls do nothing) and return the relay."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"relay on port {self.port} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"asyncplay-relay-{self.port}", daemon=True)
                self._thread.start()
        return self

    @property
    def live(self) -> int:
        """How many connection pairs are live now (accepted and not closed)."""
        return self._live

    @property
    def is_down(self) -> bool:
        """Whether a down period is under way (new connections are refused)."""
        return time.monotonic() < self._down_until

    def reset(self) -> int:
        """Close every live pair (RST to the client, close upstream) and return how many; new ones still work."""
        with self._lock:
            thread = self._thread
            if thread is None or self._finished:
                return 0  # not running: nothing is live
            request = _Reset()
            self._requests.append(request)
            self._wake_locked()
        if thread is threading.current_thread():
            self._serve_requests()
        elif not request.done.wait(self.sync_timeout):
            raise TimeoutError(f"relay on port {self.port} did not confirm the reset within {self.sync_timeout} s")
        log.debug("relay %d: reset closed %d connection(s)", self.port, request.result)
        return request.result

    def down(self, seconds: float) -> int:
        """``reset()``, and refuse new connections (RST, never forwarded) for ``seconds``; return how many closed.

        ``seconds=0`` resets only. A down period already under way is extended, never shortened;
        ``up()`` ends it.
        """
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"down(seconds) needs a finite number >= 0, got {seconds!r}")
        if seconds > 0:
            with self._lock:
                self._down_until = max(self._down_until, time.monotonic() + seconds)
            log.debug("relay %d: down for %.1f s", self.port, seconds)
        return self.reset()

    def up(self) -> None:
        """End a down period early: new connections are forwarded again."""
        with self._lock:
            self._down_until = 0.0

    def stats(self) -> dict[str, int]:
        """The counters, for a fault record: live, accepted, refused, resets, upstream_failures."""
        return {
            "live": self._live,
            "accepted": self.accepted,
            "refused": self.refused,
            "resets": self.resets,
            "upstream_failures": self.upstream_failures,
        }

    @property
    def backpressure(self) -> dict[str, int]:
        """How the bounded buffers behaved so far (read-only, for tests and benchmarks).

        ``stalls``: times a side was left unread because the buffer towards the other side held
        ``buffer_limit`` bytes or more; ``peak``: the largest buffer seen, in bytes.
        """
        return {"stalls": self._stalls, "peak": self._peak}

    def close(self) -> None:
        """Stop the thread, close every connection (RST) and the listening socket; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop = True
            thread = self._thread
            if thread is not None:
                self._wake_locked()
        log.debug("relay %d: closing", self.port)
        if thread is None:
            self._teardown()
        elif thread is not threading.current_thread():
            thread.join(self.sync_timeout)

    def __enter__(self) -> Relay:
        """Start the relay (if not started yet) and return it."""
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Close the relay."""
        self.close()

    # -- relay thread -------------------------------------------------------------------------------

    def _wake_locked(self) -> None:
        """Wake the relay thread's selector (caller holds the lock)."""
        if self._finished:
            return
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # buffer full: a wake-up is already pending

    def _run(self) -> None:
        try:
            while not self._stop:
                events = self._sel.select(self._select_timeout())
                for key, mask in events:
                    data = key.data
                    if data is _LISTENER:
                        self._accept()
                    elif data is _WAKER:
                        self._drain_wake()
                    else:
                        pair, is_client = data
                        if not pair.closed:
                            self._service(pair, is_client, mask)
                self._expire_connects()
                self._serve_requests()
        except BaseException as exc:  # kept for the runner, which raises RelayError with it
            self.error = exc
            log.error("relay %d stopped: %r", self.port, exc, exc_info=exc)
        finally:
            self._teardown()

    def _select_timeout(self) -> Optional[float]:
        if not self._connecting:
            return None
        return max(0.0, min(p.deadline for p in self._connecting) - time.monotonic())

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _serve_requests(self) -> None:
        while True:
            with self._lock:
                if not self._requests:
                    return
                request = self._requests.popleft()
            request.result = self._reset_all()
            request.done.set()

    def _reset_all(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            self._close_pair(pair, rst_client=True, rst_upstream=False)
        self.resets += len(pairs)
        return len(pairs)

    def _teardown(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            pending = list(self._requests)
            self._requests.clear()
        if pending:
            pending[0].result = self._reset_all()
        for pair in list(self._pairs):
            self._close_pair(pair, rst_client=True, rst_upstream=False)
        for request in pending:
            request.done.set()
        with self._lock:
            self._sel.close()
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                client, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError:
                return  # e.g. out of file descriptors: try again on the next wake-up
            self.accepted += 1
            if self.is_down:
                self.refused += 1
                _abort(client)
                continue
            client.setblocking(False)
            self._tune(client)
            host, port = self.upstream
            try:
                addrs = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                addrs = []
            pair = _Pair(client, addrs)
            self._pairs.add(pair)
            self._live = len(self._pairs)
            self._connect_next(pair)
            if not pair.closed:
                self._update(pair)

    def _tune(self, sock: socket.socket) -> None:
        """No Nagle delay (SSH is interactive); fixed kernel buffers if ``socket_buffer`` is set."""
        options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        if self.socket_buffer:
            options += [(socket.SOL_SOCKET, opt, self.socket_buffer) for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF)]
        for level, opt, value in options:
            try:
                sock.setsockopt(level, opt, value)
            except OSError:
                pass

    def _connect_next(self, pair: _Pair) -> None:
        """Start connecting ``pair`` to its next upstream address; close the client when none is left."""
        self._drop_upstream(pair)
        while pair.addrs:
            family, type_, proto, _name, addr = pair.addrs.popleft()
            try:
                sock = socket.socket(family, type_, proto)
            except OSError:
                continue
            try:
                sock.setblocking(False)
                self._tune(sock)
                err = sock.connect_ex(addr)
            except OSError:
                sock.close()
                continue
            if err == 0 or err in _IN_PROGRESS:
                pair.upstream = sock
                pair.connecting = True
                pair.deadline = time.monotonic() + self.connect_timeout
                self._connecting.add(pair)
                return
            sock.close()
        self._close_pair(pair, rst_client=True, rst_upstream=False)
        self.upstream_failures += 1

    def _drop_upstream(self, pair: _Pair) -> None:
        sock = pair.upstream
        if sock is None:
            return
        if pair.umask:
            self._sel.unregister(sock)
            pair.umask = 0
        sock.close()
        pair.upstream = None
        pair.connecting = False
        self._connecting.discard(pair)

    def _expire_connects(self) -> None:
        if not self._connecting:
            return
        now = time.monotonic()
        for pair in [p for p in self._connecting if p.deadline <= now]:
            self._connect_next(pair)
            if not pair.closed:
                self._update(pair)

    def _finish_connect(self, pair: _Pair, sock: socket.socket) -> bool:
        """Complete a pending connect; False when it failed (the next address was tried instead)."""
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_next(pair)
            return False
        pair.connecting = False
        self._connecting.discard(pair)
        return True

    def _recv(self, sock: socket.socket, buf: bytearray) -> bool:
        """Read what ``sock`` has into ``buf``; False on EOF."""
        try:
            data = sock.recv(_CHUNK)
        except BlockingIOError:
            return True
        if not data:
            return False
        buf += data
        if len(buf) > self._peak:
            self._peak = len(buf)
        return True

    def _service(self, pair: _Pair, is_client: bool, mask: int) -> None:
        upstream = pair.upstream
        try:
            if not is_client and pair.connecting and (upstream is None or not self._finish_connect(pair, upstream)):
                if not pair.closed:
                    self._update(pair)
                return
            if mask & _READ:
                if is_client:
                    if not pair.client_eof and not self._recv(pair.client, pair.c2u):
                        pair.client_eof = True
                elif upstream is not None and not pair.upstream_eof and not self._recv(upstream, pair.u2c):
                    pair.upstream_eof = True
            # Send whatever is pending both ways: the side just read from is usually writable too.
            if pair.c2u and upstream is not None and not pair.connecting:
                _flush(upstream, pair.c2u)
            if pair.u2c:
                _flush(pair.client, pair.u2c)
            self._progress(pair)
        except OSError:
            # A reset or broken pipe on one side: pass the abort on to the other.
            self._close_pair(pair, rst_client=True, rst_upstream=True)

    def _progress(self, pair: _Pair) -> None:
        """Propagate EOFs once the buffers are flushed, close a finished pair, update the interest."""
        upstream = pair.upstream
        if upstream is not None and not pair.connecting:
            if pair.client_eof and not pair.c2u and not pair.upstream_shut:
                pair.upstream_shut = True
                upstream.shutdown(socket.SHUT_WR)
            if pair.upstream_eof and not pair.u2c and not pair.client_shut:
                pair.client_shut = True
                pair.client.shutdown(socket.SHUT_WR)
            if pair.client_shut and pair.upstream_shut:
                self._close_pair(pair, rst_client=False, rst_upstream=False)
                return
        self._update(pair)

    def _update(self, pair: _Pair) -> None:
        """Register the selector interest that matches ``pair``'s state."""
        limit = self.buffer_limit
        cmask = 0
        if not pair.client_eof:
            if len(pair.c2u) < limit:
                cmask |= _READ
            else:
                self._stalls += 1
        if pair.u2c:
            cmask |= _WRITE
        pair.cmask = self._register(pair.client, pair.cmask, cmask, (pair, True))
        upstream = pair.upstream
        if upstream is None:
            return
        if pair.connecting:
            umask = _WRITE
        else:
            umask = 0
            if not pair.upstream_eof:
                if len(pair.u2c) < limit:
                    umask |= _READ
                else:
                    self._stalls += 1
            if pair.c2u:
                umask |= _WRITE
        pair.umask = self._register(upstream, pair.umask, umask, (pair, False))

    def _register(self, sock: socket.socket, old: int, new: int, data: tuple[_Pair, bool]) -> int:
        if new != old:
            if not old:
                self._sel.register(sock, new, data)
            elif not new:
                self._sel.unregister(sock)
            else:
                self._sel.modify(sock, new, data)
        return new

    def _close_pair(self, pair: _Pair, *, rst_client: bool, rst_upstream: bool) -> None:
        if pair.closed:
            return
        pair.closed = True
        if pair.cmask:
            self._sel.unregister(pair.client)
            pair.cmask = 0
        if rst_client:
            _abort(pair.client)
        else:
            pair.client.close()
        upstream = pair.upstream
        if upstream is not None:
            if pair.umask:
                self._sel.unregister(upstream)
                pair.umask = 0
            if rst_upstream:
                _abort(upstream)
            else:
                upstream.close()
        pair.c2u.clear()
        pair.u2c.clear()
        self._connecting.discard(pair)
        self._pairs.discard(pair)
        self._live = len(self._pairs)
