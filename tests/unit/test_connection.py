"""The TCP relay behind drop_connection: forwarding, half-close, back-pressure, reset, down, close.

Real sockets on 127.0.0.1 only; every socket has a timeout and every test is closed off by fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time

import pytest
from helpers import wait_until

from pytest_asyncplay.connection import Relay

TIMEOUT = 3.0
BANNER = b"SSH-2.0-fake\r\n"


class Server:
    """A threaded upstream on 127.0.0.1:0: sends a banner, echoes, and on EOF sends ``trailer`` and closes."""

    def __init__(self, banner=b"", trailer=b""):
        self.banner = banner
        self.trailer = trailer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()[:2]
        self.accepted = 0
        self.closed_by_peer = []  # one Event per accepted connection: set when the relay side went away
        self._conns = []
        self._threads = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(0.05)
            gone = threading.Event()
            with self._lock:
                self.accepted += 1
                self.closed_by_peer.append(gone)
                self._conns.append(conn)
            thread = threading.Thread(target=self._handle, args=(conn, gone), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn, gone):
        try:
            if self.banner:
                conn.sendall(self.banner)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    if self.trailer:
                        conn.sendall(self.trailer)
                    conn.shutdown(socket.SHUT_WR)
                    break
                conn.settimeout(TIMEOUT)
                conn.sendall(data)
                conn.settimeout(0.05)
        except OSError:
            pass
        finally:
            gone.set()

    def close(self):
        self._stop.set()
        self._thread.join(TIMEOUT)
        for thread in self._threads:
            thread.join(TIMEOUT)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def server_factory():
    servers = []

    def make(**kwargs):
        server = Server(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def relay_factory():
    """Started relays, closed after the test; a relay whose thread died errors the test at teardown.

    That teardown check is a guard on top of each test's own assertions (a crash in the relay thread
    would otherwise only be logged), never the check a test is named for.
    """
    relays = []

    def make(upstream, listen_port=0, **tunables):
        relay = Relay(upstream, listen_port=listen_port)
        relays.append(relay)
        for name, value in tunables.items():
            setattr(relay, name, value)
        return relay.start()

    yield make
    for relay in relays:
        relay.close()
        assert relay.error is None


@pytest.fixture
def clients():
    socks = []

    def connect(port, rcvbuf=None):
        sock = socket.socket()
        socks.append(sock)
        sock.settimeout(TIMEOUT)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", port))
        return sock

    yield connect
    for sock in socks:
        sock.close()


def recv_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_all(sock):
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def closed_without_data(sock):
    """True when the peer closed ``sock`` (RST or EOF) and no byte came first."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def refused(port):
    """True when a new connection to ``port`` is reset or closed before any byte arrives.

    The kernel completes the handshake before the relay accepts, so the RST may come while
    ``connect()`` is still waiting (ConnectionResetError there) or afterwards (on ``recv``).
    """
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    except (ConnectionResetError, ConnectionRefusedError):
        return True
    with sock:
        return closed_without_data(sock)


def test_bytes_flow_both_ways(server_factory, relay_factory, clients):
    up = server_factory(banner=BANNER)
    relay = relay_factory(up.address)
    assert relay.port != up.address[1]
    sock = clients(relay.port)
    assert recv_exactly(sock, len(BANNER)) == BANNER
    for message in (b"x", b"hello relay", os.urandom(100_000)):
        sock.sendall(message)
        assert recv_exactly(sock, len(message)) == message
    assert relay.live == 1
    assert relay.accepted == 1


def test_large_transfer_intact_with_back_pressure(server, relay_factory, clients):
    # Small fixed kernel buffers, so what the client does not read piles up in the relay's own buffers.
    relay = relay_factory(server.address, socket_buffer=32 * 1024)
    sock = clients(relay.port, rcvbuf=32 * 1024)
    payload = os.urandom(4 * 1024 * 1024)
    sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
    sender.start()
    # nobody reads the echo yet: the relay must stop reading a side instead of buffering it all
    assert wait_until(lambda: relay.backpressure["stalls"] > 0, TIMEOUT), relay.backpressure
    received = recv_exactly(sock, len(payload))
    sender.join(TIMEOUT)
    assert not sender.is_alive()
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()
    # a buffer stops growing at the limit; one read (64 KiB at most) may land on top of it
    assert 0 < relay.backpressure["peak"] <= relay.buffer_limit + 64 * 1024, relay.backpressure


def test_half_close_keeps_the_other_direction(server_factory, relay_factory, clients):
    up = server_factory(trailer=b"BYE")
    relay = relay_factory(up.address)
    sock = clients(relay.port)
    sock.sendall(b"hello")
    assert recv_exactly(sock, 5) == b"hello"
    sock.shutdown(socket.SHUT_WR)
    assert recv_all(sock) == b"BYE"  # the reply after our EOF arrives, then the server's EOF
    assert wait_until(lambda: relay.live == 0, TIMEOUT)  # both directions done: the pair is closed


def test_reset_closes_live_pairs_and_new_ones_work(server_factory, relay_factory, clients):
    up = server_factory(banner=BANNER)
    relay = relay_factory(up.address)
    old = [clients(relay.port) for _ in range(3)]
    for sock in old:
        assert recv_exactly(sock, len(BANNER)) == BANNER
    assert relay.live == 3
    assert relay.reset() == 3
    assert relay.live == 0
    assert relay.resets == 3
    for sock in old:
        with pytest.raises(ConnectionResetError, match="reset by peer"):
            sock.recv(1)
    for gone in up.closed_by_peer:
        assert gone.wait(TIMEOUT)  # the upstream side saw its connection end
    new = clients(relay.port)
    assert recv_exactly(new, len(BANNER)) == BANNER
    new.sendall(b"again")
    assert recv_exactly(new, 5) == b"again"
    assert relay.reset() == 1
    assert relay.reset() == 0


def test_down_refuses_new_connections_for_the_window(server_factory, relay_factory, clients):
    up = server_factory(banner=BANNER)
    relay = relay_factory(up.address)
    live = clients(relay.port)
    assert recv_exactly(live, len(BANNER)) == BANNER
    started = time.monotonic()
    assert relay.down(1.0) == 1
    assert relay.is_down
    assert closed_without_data(live)
    assert refused(relay.port)
    assert relay.refused == 1
    assert wait_until(lambda: not relay.is_down, 2.0)
    assert time.monotonic() - started >= 1.0
    after = clients(relay.port)
    assert recv_exactly(after, len(BANNER)) == BANNER
    # Upstream saw the first connection and the one after the window, never the refused one (accepts are FIFO).
    assert up.accepted == 2
    assert relay.stats() == {"live": 1, "accepted": 3, "refused": 1, "resets": 1, "upstream_failures": 0}


def test_up_ends_a_down_period_early(server_factory, relay_factory, clients):
    up = server_factory(banner=BANNER)
    relay = relay_factory(up.address)
    assert relay.down(60) == 0
    assert relay.is_down
    assert refused(relay.port)
    relay.up()
    assert not relay.is_down
    sock = clients(relay.port)
    assert recv_exactly(sock, len(BANNER)) == BANNER
    assert up.accepted == 1


def test_down_zero_is_a_plain_reset(server, relay_factory, clients):
    relay = relay_factory(server.address)
    sock = clients(relay.port)
    sock.sendall(b"a")
    assert recv_exactly(sock, 1) == b"a"
    assert relay.down(0) == 1
    assert not relay.is_down
    new = clients(relay.port)
    new.sendall(b"b")
    assert recv_exactly(new, 1) == b"b"


def test_down_rejects_bad_seconds(server, relay_factory):
    relay = relay_factory(server.address)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"down\(seconds\) needs a finite number >= 0"):
            relay.down(bad)


def test_refusing_upstream_closes_the_client_promptly(relay_factory, clients):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: connects are refused
        relay = relay_factory(("127.0.0.1", closed_port))
        started = time.monotonic()
        assert refused(relay.port)
        assert time.monotonic() - started < 1.0
        assert wait_until(lambda: relay.upstream_failures == 1, TIMEOUT)
        assert relay.live == 0


def test_many_concurrent_connections_then_close_frees_the_port(server, clients):
    relay = Relay(server.address).start()
    try:
        socks = [clients(relay.port) for _ in range(50)]
        for i, sock in enumerate(socks):
            sock.sendall(b"conn-%02d" % i)
        for i, sock in enumerate(socks):
            assert recv_exactly(sock, 7) == b"conn-%02d" % i
        assert relay.live == 50
        for sock in socks[:10]:
            sock.close()
        assert wait_until(lambda: relay.live == 40, TIMEOUT)
    finally:
        relay.close()
    relay.close()  # idempotent
    assert relay.error is None
    for sock in socks[10:]:
        assert closed_without_data(sock)
    with socket.socket() as again:  # the port is free: bind it again (SO_REUSEADDR, as a listener would)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", relay.port))
        again.listen()
    with Relay(server.address, listen_port=relay.port) as same_port:
        sock = clients(same_port.port)
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"
    with pytest.raises(RuntimeError, match=f"relay on port {relay.port} is closed"):
        relay.start()
    assert relay.reset() == 0


def test_reassigned_upstream_takes_new_connections(server_factory, relay_factory, clients):
    first = server_factory(banner=b"first\n")
    second = server_factory(banner=b"second\n")
    relay = relay_factory(first.address)
    a = clients(relay.port)
    assert recv_exactly(a, 6) == b"first\n"
    relay.upstream = second.address
    b = clients(relay.port)
    assert recv_exactly(b, 7) == b"second\n"
    a.sendall(b"still")
    assert recv_exactly(a, 5) == b"still"  # the live pair keeps its upstream
    assert (first.accepted, second.accepted) == (1, 1)


def test_reset_from_many_threads_at_once(server, relay_factory, clients):
    relay = relay_factory(server.address)
    for _ in range(5):
        sock = clients(relay.port)
        sock.sendall(b"z")
        assert recv_exactly(sock, 1) == b"z"
    results = []
    threads = [threading.Thread(target=lambda: results.append(relay.reset())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(results) == 8  # every caller got an answer: none hung
    assert sorted(results, reverse=True)[0] == 5
    assert sum(results) == 5
    assert relay.resets == 5


def test_not_started_and_closed_relays(server):
    relay = Relay(server.address)
    assert relay.port > 0
    assert relay.live == 0
    assert relay.reset() == 0
    assert relay.down(0) == 0
    relay.close()
    relay.close()
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
        pytest.fail(f"closed relay still accepts: {sock}")
