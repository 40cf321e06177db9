"""pytest-asyncplay benchmarks; prints JSON (and writes it with --out). Figures are medians of N runs
measured in one process, and ratios between variants measured in the same run (the machine is noisy).

    .venv/bin/python benchmarks/bench.py [--runs 5] [--out benchmarks/results.json] [hosts play faults audit lint]
    .venv/bin/python benchmarks/bench.py --runs 12 --load 2 --hosts 8 stress

``stress`` (not in the default set) plays each job fault ``--runs`` times on ``--hosts`` hosts at once (default 4),
on a CPU saturated by ``--load`` busy processes, and counts how often a job ends as the fault promises.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from pytest_asyncplay.runner import PlaybookRunner  # noqa: E402
from pytest_asyncplay.targets import HostPool, Target  # noqa: E402
from pytest_asyncplay.versions import ansible_core_version  # noqa: E402


def timed(action: Callable[[], Any], runs: int) -> list[float]:
    """Seconds each of ``runs`` calls of ``action`` took."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": len(times)}


def bench_hosts(pool: HostPool, runs: int) -> dict[str, Any]:
    """Start to SSH-ready (banner through the relay, host key read) for 1 host and for 4 in parallel."""
    assert pool.image  # built (or found) before timing

    def start(count: int) -> None:
        pool.remove(pool.start([f"bench{i}" for i in range(count)]))

    one, four = timed(lambda: start(1), runs), timed(lambda: start(4), runs)
    return {"one_host_ready": summary(one), "four_hosts_ready": summary(four),
            "four_over_one_ratio": round(statistics.median(four) / statistics.median(one), 2)}


def direct(target: Target, folder: Path) -> Target:
    """The same host reached on its published port, bypassing the relay."""
    key = target.known_hosts_file.read_text().split(f"[{target.address}]:{target.port} ", 1)[1].splitlines()[0]
    known = folder / "known_hosts_direct"
    known.write_text(f"[{target.address}]:{target.published_port} {key}\n")
    return dataclasses.replace(target, port=target.published_port, known_hosts_file=known)


def bench_play(pool: HostPool, runs: int) -> dict[str, Any]:
    """A one-task play: through the relay (as tests run) and straight to the published port."""
    (target,) = pool.start(["play1"])
    work = Path(tempfile.mkdtemp(prefix="bench-play-"))
    via_relay = PlaybookRunner([target], workdir=work / "relay")
    straight = PlaybookRunner([direct(target, work)], workdir=work / "direct")
    playbook = HERE / "trivial.yml"
    assert via_relay.run(playbook).ok and straight.run(playbook).ok  # warm-up, and both must work
    relay_times, direct_times = [], []
    for _ in range(runs):  # interleaved, so both see the same machine load
        relay_times += timed(lambda: via_relay.run(playbook), 1)
        direct_times += timed(lambda: straight.run(playbook), 1)
    pool.remove([target])
    return {"trivial_play_via_relay": summary(relay_times), "trivial_play_direct": summary(direct_times),
            "relay_over_direct_ratio": round(statistics.median(relay_times) / statistics.median(direct_times), 3)}


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
    # each busy process spins only while this process lives: a bench stopped by a signal leaves no load behind
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(load)]
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
        for process in busy:
            process.kill()
            process.wait()
        pool.remove(targets)
    return results


def bench_audit(runs: int) -> dict[str, Any]:
    """Wall time of the demo audit of example_playbooks/ with -n 0 and -n 2."""
    def audit(workers: str) -> None:
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", workers,
                        "--asyncplay-reap-audit", "example_playbooks"], cwd=ROOT, capture_output=True)

    serial, parallel = [], []
    for _ in range(runs):
        serial += timed(lambda: audit("0"), 1)
        parallel += timed(lambda: audit("2"), 1)
    return {"audit_examples_n0": summary(serial), "audit_examples_n2": summary(parallel),
            "n2_over_n0_ratio": round(statistics.median(parallel) / statistics.median(serial), 2)}


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
                                                "--asyncplay-lint", str(root)], cwd=root, capture_output=True), runs)
    return {"yaml_files": files, "findings": len(findings), "lint_2000_files_s": summary(api),
            "pytest_lint_2000_files_s": summary(session)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = ["hosts", "play", "faults", "audit", "lint"]
    parser.add_argument("which", nargs="*",
                        help=f"what to measure, of {', '.join(kinds)} (default: all) and stress (only if named)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load", type=int, default=2 * (os.cpu_count() or 1),
                        help="busy processes during stress (default: two per CPU)")
    parser.add_argument("--hosts", type=int, default=4, help="hosts that launch their jobs at once during stress")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.which = args.which or kinds
    unknown = set(args.which) - {*kinds, "stress"}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}; choose from {', '.join(kinds)}, stress")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "ansible_core": ".".join(map(str, ansible_core_version()))},
    }
    if "lint" in args.which:
        results["lint"] = bench_lint(args.runs)
    if {"hosts", "play", "faults", "stress"} & set(args.which):  # these need hosts
        with HostPool(Path(tempfile.mkdtemp(prefix="bench-"))) as pool:
            if "hosts" in args.which:
                results["hosts"] = bench_hosts(pool, args.runs)
            if "play" in args.which:
                results["play"] = bench_play(pool, args.runs)
            if "faults" in args.which:
                results["faults"] = bench_faults(pool, max(1, args.runs // 2 + 1))
            if "stress" in args.which:
                results["stress"] = bench_stress(pool, args.runs, args.load, args.hosts)
    if "audit" in args.which:
        results["audit"] = bench_audit(max(1, args.runs // 2))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
