"""An error that ends a relay's thread is not lost: the relay keeps it, logs it, and the runner raises
``RelayError`` with it (before a play on a dead relay, after a play during which it died).

Real sockets on 127.0.0.1; the "bug" is a relay method replaced by one that raises.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_asyncplay.connection import Relay
from pytest_asyncplay.errors import AsyncplayError, RelayError
from pytest_asyncplay.result import PlayResult
from pytest_asyncplay.runner import PlaybookRunner, check_relays

TIMEOUT = 5.0


def boom() -> None:
    raise RuntimeError("boom in accept")


@pytest.fixture
def dead_relay(caplog):
    """A relay whose thread died at its first accepted connection (with RuntimeError("boom in accept"))."""
    caplog.set_level(logging.DEBUG, logger="pytest_asyncplay.connection")
    relay = Relay(("127.0.0.1", 9)).start()
    relay._accept = boom  # the next wake-up on the listener ends the thread
    with socket.socket() as client:
        client.settimeout(TIMEOUT)
        with contextlib.suppress(ConnectionResetError):  # the dying relay may close the listener mid-handshake
            client.connect(("127.0.0.1", relay.port))
        relay._thread.join(TIMEOUT)
    assert not relay._thread.is_alive()
    yield relay
    relay.close()


def test_the_error_that_ended_the_thread_is_kept_and_logged(dead_relay, caplog):
    assert isinstance(dead_relay.error, RuntimeError) and str(dead_relay.error) == "boom in accept"
    (record,) = [r for r in caplog.get_records("setup")
                 if r.name == "pytest_asyncplay.connection" and r.levelno == logging.ERROR]
    assert record.getMessage() == f"relay {dead_relay.port} stopped: RuntimeError('boom in accept')"
    assert record.exc_info is not None and record.exc_info[1] is dead_relay.error
    assert dead_relay.reset() == 0  # nothing is live on a dead relay: its connections were closed with it


def test_check_relays_raises_before_a_play_on_a_dead_relay(dead_relay):
    alive = Relay(("127.0.0.1", 9)).start()
    try:
        check_relays([SimpleNamespace(name="host0", relay=alive)])  # a live relay: nothing to say
        with pytest.raises(RelayError, match=(
                rf"^the SSH relay of host1 \(127\.0\.0\.1:{dead_relay.port}\) stopped before the play with "
                r"RuntimeError\('boom in accept'\), so Ansible's connections .*\nHint: this is a pytest-asyncplay "
                r"bug")) as info:
            check_relays([SimpleNamespace(name="host0", relay=alive), SimpleNamespace(name="host1", relay=dead_relay)])
    finally:
        alive.close()
    assert info.value.__cause__ is dead_relay.error and info.value.result is None
    assert isinstance(info.value, AsyncplayError)


def test_check_relays_after_a_play_keeps_the_result_as_evidence(dead_relay):
    result = PlayResult(playbook=Path("/r/site.yml"), rc=4, stats={}, events=[], stdout="", duration=1.0,
                        faults=[], jobs=[])
    with pytest.raises(RelayError, match=r"stopped during the play with RuntimeError\('boom in accept'\)") as info:
        check_relays([SimpleNamespace(name="host1", relay=dead_relay)], result)
    assert info.value.result is result


def test_the_runner_refuses_to_play_on_a_dead_relay(dead_relay, tmp_path):
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: all\n  tasks: []\n")
    runner = PlaybookRunner([SimpleNamespace(name="host1", relay=dead_relay)], workdir=tmp_path / "runs")
    with pytest.raises(RelayError, match=r"^the SSH relay of host1 .* stopped before the play"):
        runner.run(playbook)
    assert not (tmp_path / "runs" / "run1").exists()  # nothing was started
