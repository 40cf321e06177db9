"""pytest-asyncplay benchmarks; prints JSON (and writes it with --json/--out). Figures are medians of N runs
measured in one process; ratios are the median of per-pair ratios, the two sides of each pair measured one
right after the other in the same run (the machine is noisy, pairs see the same load).

    .venv/bin/python benchmarks/bench.py [--runs 5] [--json benchmarks/results.json] [hosts play kill scale ...]
    .venv/bin/python benchmarks/bench.py --quick --json /tmp/bench.json        # every goal, under 10 minutes
    .venv/bin/python benchmarks/bench.py --runs 12 --load 2 --hosts 8 stress
    .venv/bin/python benchmarks/bench.py --runs 20 --load 4 resets        # moments on events, under load

Kinds: hosts, play, faults, kill, scale, molecule, audit, probes, lint (default: all; ``--quick``: all but faults, 3
runs each), stress and resets (only if named). ``stress`` plays each job fault ``--runs`` times on ``--hosts`` hosts
at once (default 4), on a CPU saturated by ``--load`` busy processes, and counts how often a job ends as the
fault promises. ``resets`` plays ``drop_connection(at=job_polled(...))`` on the keep-alive example ``--runs``
times under ``--load`` and counts the plays that ride it out. ``molecule`` installs molecule,
molecule-plugins[docker] and ansible into benchmarks/.molecule-venv (once; from PyPI) and never pulls an image.

The JSON has a flat top-level ``goals`` object: for every goal key its ``value``, ``goal`` (an upper bound),
``met`` (null when not measured) and what it measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __name__ == "__main__" or "pytest_asyncplay" not in sys.modules:  # this checkout's package first; imported
    sys.path.insert(0, str(ROOT))  # by a test (tests/unit/test_bench.py), leave the session's sys.path alone

from pytest_asyncplay.runner import PlaybookRunner, write_inventory  # noqa: E402
from pytest_asyncplay.targets import HostPool, Target  # noqa: E402
from pytest_asyncplay.versions import ansible_core_version  # noqa: E402

#: Every goal of issue 10: key -> (upper bound, what is measured). A key's value is a median (seconds) or a
#: median of per-pair ratios.
GOALS: dict[str, tuple[float, str]] = {
    "host_ready_s": (0.25, "one host, image cached: start to SSH-ready through the relay (s)"),
    "hosts8_ready_s": (1.0, "8 hosts started in parallel, all SSH-ready (s)"),
    "hosts32_ready_s": (3.0, "32 hosts started in parallel, all SSH-ready (s)"),
    "overhead_ratio": (1.05, "PlaybookRunner.run (relay) / raw ansible-playbook, same inventory, one-task play"),
    "kill_to_fail_s": (0.5, "kill applied -> play end (PlayResult.duration), minus the reap delay after the kill (s)"),
    "molecule_ratio": (0.15, "pytest + this plugin / `molecule test`, fire_and_forget_reaped.yml on one fresh host"),
    "hosts32_ratio": (2.0, "a play with one killed job on 32 hosts / the same on 1 host"),
    "audit_xdist_ratio": (0.55, "reap audit of example_playbooks/ with -n 2 / -n 0 (whole pytest process)"),
    "audit_parallel_ratio": (0.35, "reap audit of example_playbooks/ at -n 2: parallel probes / isolated probes"),
    "audit_parallel_ratio_40": (0.25, "reap audit of 40 generated tasks in 8 playbooks at -n 2: parallel / isolated"),
    "audit_estimate_500_tasks_s": (300.0, "500 tasks in 100 playbooks on one machine at -n 2, parallel probes: "
                                          "12.5 x the 40-task audit (the same tasks per playbook) (s)"),
    "lint_2000_files_s": (5.0, "static lint (pytest_asyncplay.lint) of a generated repo of 2,000 YAML files (s)"),
}
KINDS = ["hosts", "play", "faults", "kill", "scale", "molecule", "audit", "probes", "lint"]
QUICK_KINDS = [k for k in KINDS if k != "faults"]
MOLECULE_VENV = HERE / ".molecule-venv"
MOLECULE_PACKAGES = ("molecule", "molecule-plugins[docker]", "ansible")


# --- pure helpers (tested in tests/unit/test_bench.py) -------------------------------------------------------

def timed(action: Callable[[], Any], runs: int) -> list[float]:
    """Seconds each of ``runs`` calls of ``action`` took."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def summary(times: Sequence[float]) -> dict[str, Any]:
    """Median, min, max (rounded to ms) and the number of runs; the median is what goals compare."""
    if not times:
        raise ValueError("summary() of no runs")
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": len(times)}


def pair_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, Any]:
    """The ratio of two interleaved series, pair by pair: the median of ``n[i] / d[i]`` (and its range)."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(f"pair_ratio needs pairs: {len(numerators)} vs {len(denominators)}")
    ratios = [n / d for n, d in zip(numerators, denominators)]
    return {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
            "max": round(max(ratios), 3), "pairs": len(ratios)}


def figure(value: Any) -> Optional[float]:
    """The number a goal compares: a summary's median, a pair ratio's median, or a plain number."""
    if isinstance(value, Mapping):
        for key in ("median_s", "median"):
            if key in value:
                return float(value[key])
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def goal_values(results: Mapping[str, Any]) -> dict[str, Optional[float]]:
    """Each goal key's figure, wherever in the results' sections it was measured (None if not)."""
    values: dict[str, Optional[float]] = {key: None for key in GOALS}
    for section in results.values():
        if isinstance(section, Mapping):
            for key in GOALS:
                if key in section and values[key] is None:
                    values[key] = figure(section[key])
    return values


def goal_table(values: Mapping[str, Optional[float]]) -> dict[str, dict[str, Any]]:
    """The flat ``goals`` object: ``{key: {value, goal, met, what}}`` for every goal key, in GOALS order;
    ``met`` is None when the key was not measured."""
    table = {}
    for key, (goal, what) in GOALS.items():
        value = values.get(key)
        table[key] = {"value": value, "goal": goal, "met": None if value is None else value <= goal, "what": what}
    return table


def goals_markdown(table: Mapping[str, Mapping[str, Any]]) -> str:
    """The goals as a Markdown table (for docs/benchmarks.md)."""
    lines = ["| key | value | goal | met |", "|---|---|---|---|"]
    for key, row in table.items():
        value = "not measured" if row["value"] is None else f"{row['value']:g}"
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(f"| `{key}` | {value} | ≤ {row['goal']:g} | {met} |")
    return "\n".join(lines)


def kill_to_fail(kill_at: float, end: float, poll_start: Optional[float], delay: float) -> dict[str, float]:
    """From the kill to the play's end, minus the part of the reap's ``delay`` that fell after the kill.

    ``poll_start`` is when the reap's poll that saw the failure began (None: its first poll, which waits for
    nothing); the reap slept until then, so ``max(0, poll_start - kill_at)`` (at most ``delay``) is Ansible's
    schedule, not overhead. All times are on the faults clock (seconds after the play started)."""
    waited = 0.0 if poll_start is None else min(delay, max(0.0, poll_start - kill_at))
    return {"kill_to_end_s": end - kill_at, "reap_wait_s": waited, "kill_to_fail_s": end - kill_at - waited}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gib": memory, "os": os_name, "python": platform.python_version(),
            "ansible_core": ".".join(map(str, ansible_core_version())),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child pytest: this checkout's package first, and never a pull."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("ASYNCPLAY_PULL", "never")
    env.update(extra)
    return env


# --- hosts ---------------------------------------------------------------------------------------------------

def bench_hosts(pool: HostPool, runs: int, counts: Sequence[int] = (1, 4, 8, 32)) -> dict[str, Any]:
    """Start to SSH-ready (banner through the relay, host key read) for 1, 4, 8 and 32 hosts in parallel,
    interleaved; removal timed apart. ``one_host_ready``/``four_hosts_ready`` keep their old meaning (start
    and removal)."""
    assert pool.image  # built (or found) before timing
    pool.remove(pool.start(["warm"]))  # the first start also pays for imports and the docker connection
    ready: dict[int, list[float]] = {n: [] for n in counts}
    gone: dict[int, list[float]] = {n: [] for n in counts}
    for run in range(runs):
        for n in counts:
            began = time.perf_counter()
            targets = pool.start([f"b{run}x{i}" for i in range(n)])
            ready[n].append(time.perf_counter() - began)
            began = time.perf_counter()
            pool.remove(targets)
            gone[n].append(time.perf_counter() - began)
    out: dict[str, Any] = {}
    names = {1: "host_ready_s", 4: "hosts4_ready_s", 8: "hosts8_ready_s", 32: "hosts32_ready_s"}
    for n in counts:
        out[names.get(n, f"hosts{n}_ready_s")] = summary(ready[n])
        out[f"hosts{n}_remove_s"] = summary(gone[n])
    if 1 in counts and 4 in counts:
        one = [a + b for a, b in zip(ready[1], gone[1])]
        four = [a + b for a, b in zip(ready[4], gone[4])]
        out["one_host_ready"] = summary(one)
        out["four_hosts_ready"] = summary(four)
        out["four_over_one_ratio"] = round(statistics.median(four) / statistics.median(one), 2)
    return out


# --- one play: runner vs raw ansible-playbook ----------------------------------------------------------------

def direct(target: Target, folder: Path) -> Target:
    """The same host reached on its published port, bypassing the relay."""
    key = target.known_hosts_file.read_text().split(f"[{target.address}]:{target.port} ", 1)[1].splitlines()[0]
    known = folder / "known_hosts_direct"
    known.write_text(f"[{target.address}]:{target.published_port} {key}\n")
    return dataclasses.replace(target, port=target.published_port, known_hosts_file=known)



def raw_playbook(inventory: Path, playbook: Path) -> float:
    """Seconds ``ansible-playbook -i inventory playbook`` takes as a user would run it (its own ControlPersist
    folder, so every run starts without a master, as a PlaybookRunner run does); its master is closed after,
    untimed. Raises if the play fails."""
    from pytest_asyncplay.runner import _ansible_bin, _base_env, _close_masters

    control = Path(tempfile.mkdtemp(prefix="apraw", dir="/tmp"))
    env = {**_base_env(), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control), "ANSIBLE_HOST_KEY_CHECKING": "True",
           "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    began = time.perf_counter()
    done = subprocess.run([_ansible_bin("ansible-playbook"), "-i", str(inventory), str(playbook)],
                          cwd=playbook.parent, env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    _close_masters(control)
    if done.returncode != 0:
        raise RuntimeError(f"raw ansible-playbook failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return took


def bench_play(pool: HostPool, runs: int) -> dict[str, Any]:
    """A one-task play four ways, interleaved: PlaybookRunner.run through the relay (as tests run) and straight
    to the published port, and raw ``ansible-playbook`` with the same inventory of each."""
    (target,) = pool.start(["play1"])
    work = Path(tempfile.mkdtemp(prefix="bench-play-"))
    straight_target = direct(target, work)
    via_relay = PlaybookRunner([target], workdir=work / "relay")
    straight = PlaybookRunner([straight_target], workdir=work / "direct")
    raw_relay_inventory = write_inventory(work / "raw-relay", [target])
    raw_direct_inventory = write_inventory(work / "raw-direct", [straight_target])
    playbook = HERE / "trivial.yml"
    assert via_relay.run(playbook).ok and straight.run(playbook).ok  # warm-up, and both must work
    raw_playbook(raw_relay_inventory, playbook)
    raw_playbook(raw_direct_inventory, playbook)
    series: dict[str, list[float]] = {"relay": [], "raw_relay": [], "direct": [], "raw_direct": []}
    for _ in range(runs):  # interleaved, so all four see the same machine load
        series["relay"] += timed(lambda: via_relay.run(playbook), 1)
        series["raw_relay"].append(raw_playbook(raw_relay_inventory, playbook))
        series["direct"] += timed(lambda: straight.run(playbook), 1)
        series["raw_direct"].append(raw_playbook(raw_direct_inventory, playbook))
    pool.remove([target])
    return {"trivial_play_via_relay": summary(series["relay"]), "trivial_play_direct": summary(series["direct"]),
            "raw_playbook_via_relay": summary(series["raw_relay"]),
            "raw_playbook_direct": summary(series["raw_direct"]),
            "relay_over_direct_ratio": round(statistics.median(series["relay"])
                                             / statistics.median(series["direct"]), 3),
            "overhead_ratio": pair_ratio(series["relay"], series["raw_relay"]),
            "overhead_direct_ratio": pair_ratio(series["direct"], series["raw_direct"]),
            "relay_over_direct_pair_ratio": pair_ratio(series["relay"], series["direct"])}


# --- a killed job: from the kill to the play's end -----------------------------------------------------------

def _event_time(event: Mapping[str, Any]) -> Optional[float]:
    created = event.get("created")
    if not created:
        return None
    stamp = datetime.fromisoformat(str(created))
    if stamp.tzinfo is None:  # ansible-runner writes UTC without a zone
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _task_of(event: Mapping[str, Any]) -> str:
    return str((event.get("event_data") or {}).get("task", ""))


def kill_timeline(result: Any, task: str, reap: str, host: str, delay: float) -> dict[str, float]:
    """``kill_to_fail`` of one play: the kill from its FaultRecord (``at + took`` on the faults clock), the end
    from ``PlayResult.duration``, the start of the reap's deciding poll from the event stream (each
    ``runner_retry`` is sent just before the reap sleeps ``delay``), put on the faults clock by the launch event
    (whose handling is the fault's moment ``at``)."""
    (record,) = [r for r in result.faults if r.applied and r.host == host]
    kill_at = record.at + (record.took or 0.0)
    launch = [e for e in result.events if e.get("event") == "runner_on_ok" and _task_of(e) == task
              and (e.get("event_data") or {}).get("host") == host]
    wall = _event_time(launch[0]) if launch else None
    retries = [t for e in result.events if e.get("event") == "runner_retry" and _task_of(e) == reap
               for t in [_event_time(e)] if t is not None]
    poll_start = None
    if retries and wall is not None:
        poll_start = max(retries) - wall + record.at + delay
    row = kill_to_fail(kill_at, result.duration, poll_start, delay)
    seen = [f.at for f in result.failures if f.task == reap and f.host == host and f.at is not None]
    if seen:  # where the time goes: the reap's poll that sees the failure, then the end of the play
        row["kill_to_failure_seen_s"] = seen[0] - kill_at - row["reap_wait_s"]
        row["failure_seen_to_end_s"] = result.duration - seen[0]
    return row


def bench_kill(pool: HostPool, runs: int) -> dict[str, Any]:
    """kill_job on a job reaped every second (tests/playbooks/reaped_job.yml, ``delay: 1``), the job long enough
    never to end by itself: how long after the kill the play ends, less the reap's sleep after the kill."""
    from pytest_asyncplay import kill_job

    playbook = ROOT / "tests" / "playbooks" / "reaped_job.yml"
    extra = {"job_seconds": 30, "job_async": 60, "reap_retries": 60}
    (target,) = pool.start(["kill1"])
    runner = PlaybookRunner([target], workdir=Path(tempfile.mkdtemp(prefix="bench-kill-")))
    rows: list[dict[str, float]] = []
    for run in range(runs + 1):  # the first is a warm-up
        pool.reset([target])
        result = runner.run(playbook, faults=[kill_job("compress logs")], extra_vars=extra)
        if result.ok or result.job("compress logs").outcome != "failed":
            raise RuntimeError(f"the killed job did not fail the play:\n{result.summary()}")
        if run:
            rows.append(kill_timeline(result, "compress logs", "wait for compress logs", target.name, 1.0))
    pool.remove([target])
    return {"reap_delay_s": 1.0, "kill_to_fail_s": summary([r["kill_to_fail_s"] for r in rows]),
            "kill_to_end_s": summary([r["kill_to_end_s"] for r in rows]),
            "reap_wait_s": summary([r["reap_wait_s"] for r in rows]),
            **{key: summary([r[key] for r in rows if key in r])
               for key in ("kill_to_failure_seen_s", "failure_seen_to_end_s") if any(key in r for r in rows)}}


# --- 32 hosts vs 1 -------------------------------------------------------------------------------------------

def bench_scale(pool: HostPool, runs: int, hosts: int = 32, warm_up: bool = True,
                wide_forks: Optional[int] = None) -> dict[str, Any]:
    """tests/playbooks/reaped_job.yml with one job killed, on ``hosts`` hosts and on 1, interleaved (hosts reset
    between plays, untimed). ``hosts32_ratio`` uses the PlaybookRunner's defaults (Ansible's 5 forks); with
    ``wide_forks`` the many-host play is also measured with ``ANSIBLE_FORKS=wide_forks``, to show what forks bound."""
    from pytest_asyncplay import kill_job

    playbook = ROOT / "tests" / "playbooks" / "reaped_job.yml"
    many = pool.start([f"scale{i}" for i in range(1, hosts + 1)])
    (one,) = pool.start(["solo1"])
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    variants: dict[str, tuple[PlaybookRunner, list[Target], dict[str, str]]] = {
        "many": (PlaybookRunner(many, workdir=work / "many"), many, {}),
        "one": (PlaybookRunner([one], workdir=work / "one"), [one], {}),
    }
    if wide_forks:
        variants["many_wide"] = (PlaybookRunner(many, workdir=work / "wide"), many, {"ANSIBLE_FORKS": str(wide_forks)})
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for run in range(runs + (1 if warm_up else 0)):
            for name, (runner, targets, env) in variants.items():
                pool.reset(targets)
                began = time.perf_counter()
                result = runner.run(playbook, faults=[kill_job("compress logs", host=targets[0].name)], env=env)
                took = time.perf_counter() - began
                if result.failed_hosts != {targets[0].name}:
                    raise RuntimeError(f"expected only {targets[0].name} to fail:\n{result.summary()}")
                if run or not warm_up:
                    times[name].append(took)
        # what bounds the ratio: raw ansible-playbook's own, on the same hosts (no fault, so neither side has one)
        raw_scale = raw_scale_ratio(pool, many, one, work, playbook, max(2, runs - 1))
    finally:
        pool.remove([*many, one])
    out = {"hosts": hosts, f"play_{hosts}_hosts_one_killed": summary(times["many"]),
           "play_1_host_killed": summary(times["one"]), "hosts32_ratio": pair_ratio(times["many"], times["one"])}
    if wide_forks:
        out[f"play_{hosts}_hosts_forks{wide_forks}"] = summary(times["many_wide"])
        out[f"hosts32_forks{wide_forks}_ratio"] = pair_ratio(times["many_wide"], times["one"])
    out.update(raw_scale)
    return out


def raw_scale_ratio(pool: HostPool, many: list[Target], one: Target, work: Path, playbook: Path,
                    runs: int) -> dict[str, Any]:
    """Raw ``ansible-playbook`` of ``playbook`` on ``many`` hosts ÷ on ``one`` (Ansible's own scaling on this
    machine), and ``PlaybookRunner.run`` ÷ raw on the many hosts (what the plugin adds at that width)."""
    inventories = {"many": write_inventory(work / "raw-many", many), "one": write_inventory(work / "raw-one", [one])}
    runner = PlaybookRunner(many, workdir=work / "runner-many")
    times: dict[str, list[float]] = {"raw_many": [], "raw_one": [], "runner_many": []}
    for _ in range(runs):
        pool.reset(many)
        times["raw_many"].append(raw_playbook(inventories["many"], playbook))
        pool.reset([one])
        times["raw_one"].append(raw_playbook(inventories["one"], playbook))
        pool.reset(many)
        began = time.perf_counter()
        runner.run(playbook)
        times["runner_many"].append(time.perf_counter() - began)
    width = len(many)
    return {f"raw_play_{width}_hosts": summary(times["raw_many"]), "raw_play_1_host": summary(times["raw_one"]),
            f"raw_hosts{width}_ratio": pair_ratio(times["raw_many"], times["raw_one"]),
            f"runner_over_raw_{width}_hosts": pair_ratio(times["runner_many"], times["raw_many"])}


# --- molecule ------------------------------------------------------------------------------------------------

def molecule_bin() -> Path:
    """The bin folder of benchmarks/.molecule-venv, made (once) with molecule, its docker driver and ansible."""
    bin_dir = MOLECULE_VENV / "bin"
    if not (bin_dir / "molecule").exists() or not (bin_dir / "ansible-playbook").exists():
        subprocess.run([sys.executable, "-m", "venv", str(MOLECULE_VENV)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *MOLECULE_PACKAGES], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return bin_dir


def molecule_scenario(project: Path, image: str, playbook: Path, instance: str) -> Path:
    """A molecule project playing ``playbook`` on one container of ``image`` (pre-built, never pulled), with the
    sequence destroy, create, converge, verify, destroy."""
    scenario = project / "molecule" / "default"
    scenario.mkdir(parents=True, exist_ok=True)
    (scenario / "molecule.yml").write_text(textwrap.dedent(f"""\
        driver:
          name: docker
        platforms:
          - name: {instance}
            image: "{image}"
            pre_build_image: true
        provisioner:
          name: ansible
        verifier:
          name: ansible
        scenario:
          test_sequence: [destroy, create, converge, verify, destroy]
        """))
    (scenario / "converge.yml").write_text(f"- ansible.builtin.import_playbook: {playbook}\n")
    (scenario / "verify.yml").write_text(textwrap.dedent("""\
        - name: Verify
          hosts: all
          gather_facts: false
          tasks:
            - name: the host answers
              ansible.builtin.ping:
        """))
    return project


PYTEST_FILE = '''\
import pytest
from pytest_asyncplay import assert_play_ok


@pytest.mark.asyncplay(hosts=1, fresh=True)
def test_reaped_play(asyncplay):
    result = asyncplay.run({playbook!r})
    assert_play_ok(result)
    assert result.job("compress logs").outcome == "ok"
'''


def bench_molecule(image: str, runs: int, warm_up: bool = True) -> dict[str, Any]:
    """example_playbooks/fire_and_forget_reaped.yml on one fresh host: a one-test pytest file with this plugin
    (the whole process) and ``molecule test`` (docker driver, this plugin's image pre-built), interleaved."""
    bin_dir = molecule_bin()
    playbook = ROOT / "example_playbooks" / "fire_and_forget_reaped.yml"
    work = Path(tempfile.mkdtemp(prefix="bench-molecule-"))
    instance = f"asyncplay-bench-molecule-{os.getpid()}"
    project = molecule_scenario(work / "project", image, playbook, instance)
    tests = work / "tests"
    tests.mkdir()
    (tests / "test_reaped.py").write_text(PYTEST_FILE.format(playbook=str(playbook)))
    molecule_env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
                    "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0", "NO_COLOR": "1"}
    molecule_env.pop("VIRTUAL_ENV", None)

    def plugin() -> None:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_reaped.py"],
                              cwd=tests, env=subprocess_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the pytest side failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")

    def molecule() -> None:
        done = subprocess.run([str(bin_dir / "molecule"), "test"], cwd=project, env=molecule_env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"molecule test failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    times: dict[str, list[float]] = {"plugin": [], "molecule": []}
    try:
        if warm_up:  # molecule's first run also fills its caches (--quick: the median absorbs it)
            molecule()
        for _ in range(runs):
            times["plugin"] += timed(plugin, 1)
            times["molecule"] += timed(molecule, 1)
    finally:
        subprocess.run([str(bin_dir / "molecule"), "destroy"], cwd=project, env=molecule_env, capture_output=True)
        subprocess.run(["docker", "rm", "-f", instance], capture_output=True)
    versions = subprocess.run([str(bin_dir / "python"), "-c",
                               "import importlib.metadata as m; print(*(m.version(p) for p in "
                               "('molecule', 'molecule-plugins', 'ansible', 'ansible-core')))"],
                              capture_output=True, text=True).stdout.split()
    return {"molecule_versions": dict(zip(("molecule", "molecule-plugins", "ansible", "ansible-core"), versions)),
            "pytest_plugin_one_test_s": summary(times["plugin"]), "molecule_test_s": summary(times["molecule"]),
            "molecule_ratio": pair_ratio(times["plugin"], times["molecule"])}


# --- faults and stress (unchanged) --------------------------------------------------------------------------------

def bench_faults(pool: HostPool, runs: int) -> dict[str, Any]:
    """For each fault, the time from its moment to its effect (``FaultRecord.took``), in real plays."""
    from pytest_asyncplay import drop_connection, kill_job, restart_host, slow_job, task_start, vanish_job

    plays = ROOT / "tests" / "playbooks"
    pause = task_start("pause on the controller")
    cases: dict[str, tuple[str, Callable[[], Any], dict[str, Any]]] = {
        "kill_job": ("reaped_job.yml", lambda: kill_job("compress logs"), {}),
        "slow_job": ("reaped_job.yml", lambda: slow_job("compress logs", 1), {}),
        "vanish_job": ("reaped_job.yml", lambda: vanish_job("compress logs"), {"reap_retries": 2}),
        "drop_connection_reset": ("connection_window.yml", lambda: drop_connection(at=pause), {}),
        "drop_connection_down": ("connection_window.yml",
                                 lambda: drop_connection(at=pause, mode="down", seconds=1), {}),
        "restart_host": ("restart_window.yml", lambda: restart_host(at=pause), {}),
    }
    (target,) = pool.start(["fault1"])
    runner = PlaybookRunner([target], workdir=Path(tempfile.mkdtemp(prefix="bench-faults-")))
    results: dict[str, Any] = {}
    for name, (playbook, make, extra) in cases.items():
        took = []
        for _ in range(runs):
            pool.reset([target])
            result = runner.run(plays / playbook, faults=[make()], extra_vars=extra)
            took += [r.took for r in result.faults if r.applied and r.took is not None]
        results[name] = summary(took) if took else {"error": "the fault never applied"}
    pool.remove([target])
    return results


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes spinning on the CPU; each spins only while this process lives, so a bench stopped by
    a signal leaves no load behind."""
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def stop_processes(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Kill and reap ``processes``."""
    for process in processes:
        process.kill()
        process.wait()


def bench_stress(pool: HostPool, runs: int, load: int, hosts: int = 4) -> dict[str, Any]:
    """How often each job fault gives the outcome it promises: ``runs`` plays on ``hosts`` hosts at once,
    with ``load`` busy processes on the CPUs."""
    from pytest_asyncplay import kill_job, slow_job, vanish_job

    playbook = ROOT / "tests" / "playbooks" / "reaped_job.yml"
    cases: dict[str, tuple[Callable[[], Any], dict[str, Any], str]] = {
        "kill_job": (lambda: kill_job("compress logs"), {"job_seconds": 3}, "failed"),
        "slow_job_past_async": (lambda: slow_job("compress logs", 12), {"job_seconds": 3, "job_async": 4}, "timeout"),
        "vanish_job": (lambda: vanish_job("compress logs"), {"job_seconds": 3, "reap_retries": 2}, "vanished"),
    }
    targets = pool.start([f"stress{i}" for i in range(1, hosts + 1)])  # jobs launch at once on every host
    runner = PlaybookRunner(targets, workdir=Path(tempfile.mkdtemp(prefix="bench-stress-")))
    busy = busy_processes(load)
    results: dict[str, Any] = {"load_processes": load, "hosts": hosts}
    try:
        for name, (make, extra, promised) in cases.items():
            outcomes: dict[str, int] = {}
            froze_runner = 0
            took: list[float] = []
            for _ in range(runs):
                pool.reset(targets)
                result = runner.run(playbook, faults=[make()], extra_vars=extra)
                applied = {r.jid for r in result.faults if r.applied}
                for job in result.jobs:
                    key = job.outcome if job.jid in applied else "fault not applied"
                    outcomes[key] = outcomes.get(key, 0) + 1
                froze_runner += sum("SIGSTOP to the runner" in r.detail for r in result.faults)
                took += [r.took for r in result.faults if r.applied and r.took is not None]
            jobs = sum(outcomes.values())
            results[name] = {"promised": promised, "jobs": jobs, "outcomes": outcomes,
                             "promised_rate": round(outcomes.get(promised, 0) / jobs, 3),
                             "not_applied": outcomes.get("fault not applied", 0),
                             "moment_to_effect_s": summary(took) if took else None,
                             **({"froze_the_runner": froze_runner} if name.startswith("slow") else {})}
    finally:
        stop_processes(busy)
        pool.remove(targets)
    return results


def bench_resets(pool: HostPool, runs: int, load: int, hosts: int = 1) -> dict[str, Any]:
    """``drop_connection(at=job_polled("download artifact", n=1))`` on the keep-alive example, ``runs`` plays on
    ``hosts`` hosts at once with ``load`` busy processes: how many plays rode the reset out, on how many hosts
    it applied, and how long from the moment (the first poll's event) to the connections being closed."""
    from pytest_asyncplay import drop_connection, job_polled

    playbook = ROOT / "example_playbooks" / "keep_alive.yml"
    targets = pool.start([f"reset{i}" for i in range(1, hosts + 1)])
    runner = PlaybookRunner(targets, workdir=Path(tempfile.mkdtemp(prefix="bench-resets-")))
    busy = busy_processes(load)
    passed, applied, records, took = 0, 0, 0, []
    try:
        for _ in range(runs):
            pool.reset(targets)
            result = runner.run(playbook, faults=[drop_connection(at=job_polled("download artifact", n=1))])
            passed += (result.rc == 0 and len(result.jobs) == len(targets)
                       and all(j.outcome == "ok" for j in result.jobs))
            records += len(result.faults)
            applied += sum(r.applied for r in result.faults)
            took += [r.took for r in result.faults if r.applied and r.took is not None]
    finally:
        stop_processes(busy)
        pool.remove(targets)
    return {"load_processes": load, "plays": runs, "plays_ok": passed, "hosts_per_play": hosts,
            "fault_records": records, "faults_applied": applied,
            "moment_to_effect_s": summary(took) if took else None}



# --- audit and lint ------------------------------------------------------------------------------------------

def junit_items(xml_text: str) -> list[tuple[str, str, float]]:
    """``(file, name, seconds)`` of every testcase of a JUnit XML report, in run order."""
    import xml.etree.ElementTree as ET

    return [(case.get("classname", ""), case.get("name", ""), float(case.get("time") or 0.0))
            for case in ET.fromstring(xml_text).iter("testcase")]


def audit_costs(items: Sequence[tuple[str, str, float]], wall: float) -> dict[str, Any]:
    """Per-item costs of one serial audit run from its JUnit times: a ``[killed]`` item that is the first of its
    playbook also pays the playbook's baseline run (and, the very first, the host's start); ``fixed_s`` is the
    process's own time (start, collection, teardown) outside every item."""
    killed = [(f, t) for f, n, t in items if n.endswith("[killed]")]
    lint_items = [t for _, n, t in items if n.endswith("[lint]")]
    seen: set[str] = set()
    first, rest = [], []
    for file, took in killed:
        (rest if file in seen else first).append(took)
        seen.add(file)
    item = statistics.median(rest) if rest else (statistics.median(first) if first else 0.0)
    return {"items": len(items), "killed_items": len(killed), "lint_items": len(lint_items),
            "playbooks": len(seen), "killed_item_s": round(item, 3),
            "baseline_s": round(max(0.0, statistics.median(first) - item), 3) if first else 0.0,
            "lint_item_s": round(statistics.median(lint_items), 4) if lint_items else 0.0,
            "fixed_s": round(max(0.0, wall - sum(t for _, _, t in items)), 3)}


def audit_estimate(tasks: int, playbooks: int, machines: int, costs: Mapping[str, float],
                   host_start_s: float, xdist_ratio: float) -> float:
    """On-paper wall time of a sharded audit of ``tasks`` fire-and-forget tasks in ``playbooks`` playbooks on
    ``machines`` CI machines of 2 CPUs, each running ``-n 2``: shards split by playbook (so each playbook's baseline
    runs once), every shard pays the fixed process cost and one host start, and ``-n 2`` divides a shard's item
    and baseline time by ``1 / xdist_ratio`` (the measured -n 2 / -n 0 ratio, fixed costs included: pessimistic)."""
    per_machine_tasks = -(-tasks // machines)
    per_machine_books = -(-playbooks // machines)
    work = per_machine_tasks * costs["killed_item_s"] + per_machine_books * costs["baseline_s"]
    return costs["fixed_s"] + host_start_s + work * xdist_ratio


def audit_estimates(results: Mapping[str, Any], tasks: int = 500, playbooks: int = 100,
                    machines: Sequence[int] = (1, 4, 16)) -> Optional[dict[str, Any]]:
    """:func:`audit_estimate` for each count of ``machines``, from this run's audit costs, host start and -n 2
    ratio (None when the run lacks them)."""
    audit = results.get("audit") or {}
    costs = audit.get("per_item_costs_n0")
    ratio = figure(audit.get("audit_xdist_ratio"))
    host = figure((results.get("hosts") or {}).get("host_ready_s")) or 0.0
    if not costs or ratio is None:
        return None
    return {"assumptions": f"{tasks} fire-and-forget tasks in {playbooks} playbooks, one [killed] item each; "
                           "shards by playbook; 2-CPU machines running -n 2; costs measured here",
            **{f"machines_{m}_s": round(audit_estimate(tasks, playbooks, m, costs, host, ratio), 1) for m in machines}}


def make_audit_set(root: Path, playbooks: int = 8, tasks: int = 5) -> int:
    """``playbooks`` playbooks of ``tasks`` fire-and-forget tasks each under ``root``: launches started together,
    then reaped one by one; every third task loops over two items, every fifth is left unreaped. Returns the
    number of launches."""
    root.mkdir(parents=True, exist_ok=True)
    for book in range(playbooks):
        lines = [f"- name: generated set {book}", "  hosts: all", "  gather_facts: false", "  tasks:"]
        reaps = []
        for task in range(tasks):
            loop = task % 3 == 2
            lines += [f"    - name: job {book}.{task}",
                      f"      ansible.builtin.shell: sleep {1 + task % 2}; echo {'{{ item }}' if loop else 'done'}",
                      "      async: 30", "      poll: 0", f"      register: job_{task}"]
            if loop:
                lines += ["      loop: [a, b]"]
            if task % 5 == 4:
                continue  # left unreaped: its probe is swallowed
            reaps += [f"    - name: wait for job {book}.{task}", "      ansible.builtin.async_status:",
                      '        jid: "{{ item.ansible_job_id }}"' if loop else
                      f'        jid: "{{{{ job_{task}.ansible_job_id }}}}"',
                      f"      register: done_{task}", f"      until: done_{task}.finished", "      retries: 30",
                      "      delay: 1"]
            if loop:
                reaps += [f'      loop: "{{{{ job_{task}.results }}}}"']
        (root / f"set_{book}.yml").write_text("\n".join(lines + reaps) + "\n")
    return playbooks * tasks


def bench_probes(runs: int) -> dict[str, Any]:
    """The reap audit with parallel and with isolated probes, interleaved, at -n 2 (whole pytest processes): on
    example_playbooks/ and on 40 generated tasks in 8 playbooks; each ratio is parallel / isolated within a pair."""
    folder = Path(tempfile.mkdtemp(prefix="bench-probes-"))
    generated = folder / "generated"
    launches = make_audit_set(generated)

    def audit(path: Path, mode: str) -> None:
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2",
                        "--asyncplay-reap-audit", str(path), f"--asyncplay-probes={mode}"], cwd=ROOT,
                       capture_output=True, env=subprocess_env())

    out: dict[str, Any] = {}
    for key, path in (("examples", ROOT / "example_playbooks"), ("generated_40", generated)):
        parallel: list[float] = []
        isolated: list[float] = []
        for _ in range(runs):
            isolated += timed(lambda path=path: audit(path, "isolated"), 1)  # type: ignore[misc]
            parallel += timed(lambda path=path: audit(path, "parallel"), 1)  # type: ignore[misc]
        out[f"{key}_isolated_s"] = summary(isolated)
        out[f"{key}_parallel_s"] = summary(parallel)
        out["audit_parallel_ratio" if key == "examples" else "audit_parallel_ratio_40"] = pair_ratio(parallel, isolated)
    wall = figure(out["generated_40_parallel_s"])
    out["audit_estimate_500_tasks_s"] = round(wall * 500 / launches, 1) if wall is not None else None
    return out


def bench_audit(runs: int) -> dict[str, Any]:
    """Wall time of the demo audit of example_playbooks/ with -n 0 and -n 2 (whole pytest processes), interleaved;
    the per-item costs from the JUnit report of the serial runs, and what they say about 500 tasks on 1, 4 and
    16 machines."""
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))

    def audit(workers: str, junit: Optional[Path] = None) -> None:
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", workers,
                        "--asyncplay-reap-audit", "example_playbooks",
                        *([f"--junitxml={junit}"] if junit else [])], cwd=ROOT, capture_output=True,
                       env=subprocess_env())

    serial: list[float] = []
    parallel: list[float] = []
    costs: list[dict[str, Any]] = []
    for run in range(runs):
        junit = folder / f"n0-{run}.xml"
        serial += timed(lambda junit=junit: audit("0", junit), 1)  # type: ignore[misc]
        parallel += timed(lambda: audit("2"), 1)
        if junit.exists():
            costs.append(audit_costs(junit_items(junit.read_text()), serial[-1]))
    ratio = pair_ratio(parallel, serial)
    out: dict[str, Any] = {"audit_examples_n0": summary(serial), "audit_examples_n2": summary(parallel),
                           "n2_over_n0_ratio": ratio["median"], "audit_xdist_ratio": ratio}
    if costs:
        keys = ("killed_item_s", "baseline_s", "lint_item_s", "fixed_s")
        cost = {**costs[-1], **{k: round(statistics.median(c[k] for c in costs), 3) for k in keys}}
        out["per_item_costs_n0"] = cost
    return out


def make_repo(root: Path, roles: int = 160, playbooks: int = 80) -> int:
    """A generated playbook repo of about 2,000 YAML files: roles of 10 task files, defaults, meta and handlers,
    a launch and its reap in every role, and playbooks of 4 roles each. Returns the number of YAML files."""
    launch = ("- name: start {n}\n  ansible.builtin.shell: sleep 1\n  async: \"{{{{ job_async }}}}\"\n  poll: 0\n"
              "  register: job_{n}\n")
    reap = ('- name: reap {n}\n  ansible.builtin.async_status:\n    jid: "{{{{ job_{n}.ansible_job_id }}}}"\n'
            "  register: r_{n}\n  until: r_{n}.finished\n  retries: 60\n  delay: 5\n")
    plain = "- name: step {i}\n  ansible.builtin.command: /bin/true\n  when: feature_{i} | default(true)\n"
    for r in range(roles):
        base = root / "roles" / f"role{r}"
        (base / "tasks").mkdir(parents=True)
        (base / "defaults").mkdir()
        (base / "meta").mkdir()
        (base / "handlers").mkdir()
        includes = "".join(f"- ansible.builtin.include_tasks: part{i}.yml\n" for i in range(8))
        (base / "tasks" / "main.yml").write_text(launch.format(n=r) + includes + reap.format(n=r))
        for i in range(8):
            (base / "tasks" / f"part{i}.yml").write_text("".join(plain.format(i=k) for k in range(6)))
        (base / "tasks" / "extra.yml").write_text(plain.format(i=0))
        (base / "defaults" / "main.yml").write_text("job_async: 600\n")
        (base / "meta" / "main.yml").write_text(f"dependencies: [{f'role{r - 1}' if r % 5 else ''}]\n")
        (base / "handlers" / "main.yml").write_text("- name: restart\n  ansible.builtin.command: /bin/true\n")
    for p in range(playbooks):
        roles_of = ", ".join(f"role{(p * 2 + k) % roles}" for k in range(4))
        (root / f"site{p}.yml").write_text(f"- hosts: all\n  roles: [{roles_of}]\n")
    return sum(1 for _ in root.rglob("*.yml"))


def bench_lint(runs: int) -> dict[str, Any]:
    """The static lint over a generated repo of ~2,000 YAML files: through the API and a whole pytest run."""
    from pytest_asyncplay.audit import lint

    with tempfile.TemporaryDirectory(prefix="bench-lint-") as folder:
        root = Path(folder)
        files = make_repo(root)
        findings = lint(root)
        api = timed(lambda: lint(root), runs)
        session = timed(lambda: subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                                "--asyncplay-lint", str(root)], cwd=root, capture_output=True,
                                               env=subprocess_env()), runs)
    return {"yaml_files": files, "findings": len(findings), "lint_2000_files_s": summary(api),
            "pytest_lint_2000_files_s": summary(session)}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; ``runs`` and ``which`` come back resolved (``--quick``: 3 runs, all kinds but faults)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="*",
                        help=f"what to measure, of {', '.join(KINDS)} (default: all) and stress (only if named)")
    parser.add_argument("--runs", type=int, default=None, help="runs per median (default 5; --quick: 3)")
    parser.add_argument("--quick", action="store_true",
                        help="every goal in under 10 minutes on 2 CPUs: 3 runs per median, faults only if named")
    parser.add_argument("--load", type=int, default=2 * (os.cpu_count() or 1),
                        help="busy processes during stress (default: two per CPU)")
    parser.add_argument("--hosts", type=int, default=4, help="hosts that launch their jobs at once during stress")
    parser.add_argument("--json", "--out", dest="out", type=Path, metavar="PATH",
                        help="also write the JSON to PATH (after every kind, so a stopped run keeps what it has)")
    args = parser.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.which = args.which or (QUICK_KINDS if args.quick else KINDS)
    unknown = set(args.which) - {*KINDS, "stress", "resets"}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}, stress, resets")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    runs, which = args.runs, args.which

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through HostPool.__exit__: no container is left behind

    signal.signal(signal.SIGTERM, stop)
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv), "runs": runs,
                               "load_at_start": load()}

    def record(name: str, measure: Callable[[], dict[str, Any]]) -> None:
        before, t0 = load(), time.perf_counter()
        try:
            section = measure()
        except Exception as exc:  # one broken kind must not lose the others' figures
            section = {"error": f"{type(exc).__name__}: {exc}"[:4000]}
        section["load_before"], section["load_after"] = before, load()
        section["wall_s"] = round(time.perf_counter() - t0, 1)
        results[name] = section
        results["goals"] = goal_table(goal_values(results))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"[bench] {name}: {section['wall_s']} s, load {section['load_after']}", file=sys.stderr, flush=True)

    # faults and audit are the slow kinds: fewer runs than the others, never fewer than 3 unless --runs says so
    many = runs if args.quick else min(runs, max(3, runs // 2 + 1))
    if "lint" in which:
        record("lint", lambda: bench_lint(runs))
    docker_kinds = {"hosts", "play", "faults", "kill", "scale", "molecule", "stress", "resets"}
    if docker_kinds & set(which):
        with HostPool(Path(tempfile.mkdtemp(prefix="bench-"))) as pool:
            image = pool.image
            if "hosts" in which:
                record("hosts", lambda: bench_hosts(pool, runs))
            if "play" in which:
                record("play", lambda: bench_play(pool, runs))
            if "kill" in which:
                record("kill", lambda: bench_kill(pool, runs))
            if "scale" in which:
                record("scale", lambda: bench_scale(pool, runs, warm_up=not args.quick,
                                                    wide_forks=None if args.quick else 32))
            if "faults" in which:
                record("faults", lambda: bench_faults(pool, many))
            if "stress" in which:
                record("stress", lambda: bench_stress(pool, runs, args.load, args.hosts))
            if "resets" in which:
                record("resets", lambda: bench_resets(pool, runs, args.load, 1))
        if "molecule" in which:
            record("molecule", lambda: bench_molecule(image, runs, warm_up=not args.quick))
    if "audit" in which:
        record("audit", lambda: bench_audit(runs if args.quick else min(runs, max(3, runs // 2))))
    if "probes" in which:
        record("probes", lambda: bench_probes(1 if args.quick else min(runs, 3)))
    estimate = audit_estimates(results)
    if estimate:
        results["audit_estimate_500_tasks"] = estimate
    results["wall_s"] = round(time.perf_counter() - began, 1)
    results["load_at_end"] = load()
    results["goals"] = goal_table(goal_values(results))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
