"""Every difference between ansible-core versions that pytest-asyncplay cares about, in one place.

See ``shared/ASYNC-FACTS.md``: job-file flags are ints up to 2.18 and bools from 2.19; async in
check mode is refused before 2.17; the watchdog wrote before killing (and stepped 5 s) before
2.18.19 / 2.19.12 / 2.20.8 / 2.21.2; 2.21 changes async_wrapper's argv (the jid prefix stays an
argument of its own, which is what the host-side scripts match on) and the message of a keep-alive
timeout.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

Version = tuple[int, int, int]


@functools.cache
def ansible_core_version() -> Version:
    """The installed ansible-core version as ``(major, minor, patch)``."""
    from ansible.release import __version__

    return parse_version(__version__)


def parse_version(text: str) -> Version:
    """``"2.19.14"`` → ``(2, 19, 14)``; pre-release suffixes are ignored."""
    numbers = [int(n) for n in re.findall(r"\d+", text)[:3]]
    while len(numbers) < 3:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2]


def parse_core_version(text: str) -> Version:
    """A version the user gives (``2.15``, ``2.18.3``); a :class:`ValueError` says what is wrong with another."""
    if not re.fullmatch(r"\s*2\.\d+(\.\d+)?\s*", str(text)):
        raise ValueError(f"{text!r} is not an ansible-core version (2.MINOR or 2.MINOR.PATCH)")
    return parse_version(str(text))


def flag(record: Mapping[str, Any], key: str) -> bool:
    """A job file's ``started``/``finished`` flag: ``1``/``0`` up to 2.18, ``true``/``false`` from 2.19."""
    value = record.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def undefined_reaches_tests(version: Version | None = None) -> bool:
    """Whether a Jinja test given an undefined value runs on it (up to 2.18: ``x.missing is none`` is false),
    instead of failing the template (2.19+: "object of type 'list' has no attribute ...")."""
    return (version or ansible_core_version()) < (2, 19, 0)


def check_mode_runs_async(version: Version | None = None) -> bool:
    """Whether ``--check`` runs an async task (2.17+), instead of refusing it (2.15, 2.16)."""
    return (version or ansible_core_version()) >= (2, 17, 0)


def watchdog_kills_first(version: Version | None = None) -> bool:
    """Whether the async watchdog kills before writing "Timeout exceeded" and steps N/2 for N ≤ 5."""
    v = version or ansible_core_version()
    fixed = {(2, 18): 19, (2, 19): 12, (2, 20): 8, (2, 21): 2}
    if v[:2] in fixed:
        return v[2] >= fixed[v[:2]]
    return v[:2] > (2, 21)


def watchdog_step(async_seconds: int, version: Version | None = None) -> float:
    """How often the watchdog checks a job of ``async_seconds``: the worst-case timeout overshoot."""
    if watchdog_kills_first(version) and async_seconds <= 5:
        return async_seconds / 2
    return 5.0


def keep_alive_timeout_message(version: Version | None = None) -> str:
    """What the controller says when a keep-alive task (``poll > 0``) runs out of ``async:`` time.

    Up to 2.20: "async task did not complete within the requested time - Ns"; 2.21 reports the same
    event as "async task produced unparsable results" (the last poll, still unfinished, is attached).
    """
    if (version or ansible_core_version()) >= (2, 21, 0):
        return "async task produced unparsable results"
    return "async task did not complete within the requested time"


def end_in_rescue_fails_play(version: Version | None = None) -> bool:
    """Whether ``meta: end_play``/``end_host`` in a ``rescue`` still leaves the host failed (rc 2).

    Up to 2.17 it does (ansible/ansible#83447), so a reap failure "rescued" that way still fails the play;
    from 2.18 (#83522) the play ends green and the job's failure is swallowed.
    """
    return (version or ansible_core_version()) < (2, 18, 0)


ASYNC_STATUS_ACTIONS = frozenset({"async_status", "ansible.builtin.async_status", "ansible.legacy.async_status"})
