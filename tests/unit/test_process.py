"""The ansible-playbook driver: the event decoder on synthetic streams, then real plays on localhost
(``connection: local``, no containers), stopped on an event and at a timeout."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pytest_asyncplay.process import EventDecoder, display_callback_dir, event_env, run_playbook_process


def marker(data: dict[str, Any], width: int = 78) -> str:
    """What ansible-runner's awx_display callback prints for ``data`` (its ``dump``)."""
    b64 = base64.b64encode(json.dumps(data).encode()).decode()
    return "\x1b[K" + "".join(f"{b64[i:i + width]}\x1b[{len(b64[i:i + width])}D"
                              for i in range(0, len(b64), width)) + "\x1b[K"


def stream(folder: Path) -> str:
    """Two events with partial data on disk, around some text printed outside any event."""
    (folder / "job_events").mkdir(exist_ok=True)
    parts = []
    for n, (kind, text) in enumerate([("playbook_on_start", ""), ("runner_on_ok", "ok: [host1]\n")]):
        ident = f"uuid-{n}"
        (folder / "job_events" / f"{ident}-partial.json").write_text(
            json.dumps({"uuid": ident, "event": kind, "event_data": {"host": "host1"}, "created": "then"}))
        parts.append(marker({"uuid": ident}) + text + marker({}, width=4))
    return "[WARNING]: before the play\n" + parts[0] + parts[1] + "a last line without end"


def decode(folder: Path, pieces: list[str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    decoder = EventDecoder(folder, events.append)
    for piece in pieces:
        decoder.feed(piece)
    decoder.close()
    return events


def test_decoder_rebuilds_ansible_runners_events_from_any_split(tmp_path):
    whole = stream(tmp_path)
    expected = decode(tmp_path, [whole])
    kinds = [e["event"] for e in expected]
    assert kinds == ["verbose", "playbook_on_start", "runner_on_ok", "verbose"]
    assert [e["counter"] for e in expected] == [1, 2, 3, 4]
    assert expected[2]["stdout"] == "ok: [host1]" and expected[2]["event_data"] == {"host": "host1"}
    assert expected[2]["created"] == "then" and "created" in expected[0]
    assert expected[0]["stdout"] == "[WARNING]: before the play" and expected[3]["stdout"] == "a last line without end"
    assert not list((tmp_path / "job_events").iterdir())  # every partial read and removed
    for cut in range(1, len(whole)):  # a marker straddling two reads still decodes the same
        stream(tmp_path)
        again = decode(tmp_path, [whole[:cut], whole[cut:]])
        assert [(e["event"], e["stdout"]) for e in again] == [(e["event"], e["stdout"]) for e in expected], cut


def test_decoder_keeps_an_event_whose_partial_is_missing(tmp_path):
    events = decode(tmp_path, [marker({"uuid": "gone"}) + "text\n" + marker({})])
    assert [(e["uuid"], e["stdout"]) for e in events] == [("gone", "text")]


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.debug:
        msg: hello
    - name: fail here
      ansible.builtin.command: "false"
      ignore_errors: "{{ keep_going | default(false) }}"
    - name: long step
      ansible.builtin.command: sleep 30
      when: long | default(true)
"""


def play(tmp_path: Path, **kwargs: Any) -> tuple[Any, list[dict[str, Any]], float]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    env = {**os.environ, **event_env(tmp_path), "ANSIBLE_CALLBACK_PLUGINS": str(display_callback_dir()),
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "False",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    extra = kwargs.pop("extra", [])
    command = [str(Path(sys.executable).parent / "ansible-playbook"), *extra, str(playbook)]
    events: list[dict[str, Any]] = []
    stop_at = kwargs.pop("stop_at", None)
    started = time.monotonic()
    outcome = run_playbook_process(command, env=env, cwd=tmp_path, events_dir=tmp_path, on_event=events.append,
                                   should_stop=lambda: any(e["event"] == stop_at for e in events), **kwargs)
    return outcome, events, time.monotonic() - started


def test_a_real_play_streams_its_events_and_its_stdout(tmp_path):
    outcome, events, _ = play(tmp_path, extra=["-e", json.dumps({"keep_going": True, "long": False})], timeout=60)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats"
    ok = next(e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "say hello")
    assert ok["event_data"]["res"]["msg"] == "hello" and ok["event_data"]["host"] == "localhost"
    assert any(e["event"] == "runner_on_failed" and e["event_data"]["ignore_errors"] for e in events)
    assert [e["counter"] for e in events] == list(range(1, len(events) + 1))
    assert (outcome.status, outcome.rc) == ("successful", 0), outcome.stdout
    assert "PLAY [localhost]" in outcome.stdout and "PLAY RECAP" in outcome.stdout
    assert not list((tmp_path / "job_events").glob("*partial*"))


def test_a_play_past_its_timeout_is_killed_at_it(tmp_path):
    outcome, events, took = play(tmp_path, extra=["-e", json.dumps({"keep_going": True})], timeout=4)
    assert outcome.status == "timeout" and events[-1]["event"] in ("runner_on_start", "playbook_on_task_start")
    assert took < 15  # the 30 s step did not run out


def test_a_stop_kills_the_play_at_the_event_that_asked_for_it(tmp_path):
    # the failure is ignored, so the play would go on to its 30 s step: only the stop ends it early
    outcome, events, took = play(tmp_path, extra=["-e", json.dumps({"keep_going": True})], stop_at="runner_on_failed",
                                 timeout=60)
    assert outcome.status == "stopped", outcome.stdout
    assert "playbook_on_stats" not in [e["event"] for e in events]
    assert took < 20  # neither the 30 s step nor a polling interval
