"""Runs inside a pytest-asyncplay host as root (``python3 -c <this file> COMMAND ARGS``), prints JSON.

Commands:
  reset                      kill every process but init, sshd's listener and docker-exec sessions;
                             remove job files and Ansible temp dirs
  jobs JSON                  JSON is [[jid, results_file], ...]: each file's text, mtime, and whether
                             a process of the job is still alive
  signal JID ACTION          act on the processes of one job (matched by the jid prefix in argv):
                             kill    every process in the runner's group except the runner, so the
                                     runner records a failure
                             vanish  watchdog, runner and everything in the runner's group, so the
                                     job file stays "started" forever
                             stop / cont   freeze / resume the runner's group except the runner
Stdlib only; Python 3.5+ (the oldest target Python ansible-core 2.15 supports).
"""
import glob
import json
import os
import shutil
import signal
import sys


def processes():
    """Every process as (pid, ppid, pgid, sid, argv list of bytes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                stat = handle.read()
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        found.append((int(entry), int(fields[1]), int(fields[2]), int(fields[3]), argv))
    return found


def reset():
    me = os.getpid()
    for pid, ppid, _pgid, _sid, argv in processes():
        if pid in (1, me) or ppid == 0:
            continue
        if ppid == 1 and argv and argv[0].startswith(b"sshd"):  # the listener (proctitle "sshd: ...")
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for home in glob.glob("/home/*") + ["/root"]:
        for sub in (".ansible_async", ".ansible/tmp"):
            shutil.rmtree(os.path.join(home, sub), ignore_errors=True)
    return {"reset": True}


def job_processes(jid):
    """(watchdog pid, runner pid, [pids in the runner's group]) of one job."""
    prefix = jid.split(".")[0].encode()
    table = processes()
    wrappers = [p for p in table if prefix in p[4]]
    # The runner leads its own process group (the watchdog calls setpgid on it); the watchdog is its
    # parent: after daemonizing (fork, setsid, fork) it is in its own session but not its leader.
    runner_row = next((p for p in wrappers if p[0] == p[2]), None)
    runner = runner_row[0] if runner_row else None
    watchdog = runner_row[1] if runner_row and any(p[0] == runner_row[1] for p in wrappers) else None
    if watchdog is None:
        watchdog = next((p[0] for p in wrappers if p[0] != runner), None)
    group = [p[0] for p in table if runner is not None and p[2] == runner]
    return watchdog, runner, group


def jobs(spec):
    answer = {}
    alive_prefixes = set()
    for _pid, _ppid, _pgid, _sid, argv in processes():
        for arg in argv:
            if arg.startswith(b"j") and arg[1:].isdigit():
                alive_prefixes.add(arg.decode())
    for jid, path in json.loads(spec):
        record = {"exists": False, "text": None, "mtime": None,
                  "alive": jid.split(".")[0] in alive_prefixes}
        try:
            with open(path, "rb") as handle:
                record["text"] = handle.read(1 << 20).decode("utf-8", "replace")
            record["mtime"] = os.stat(path).st_mtime
            record["exists"] = True
        except OSError:
            pass
        answer[jid] = record
    return answer


def send(jid, action):
    watchdog, runner, group = job_processes(jid)
    if action == "vanish":
        targets = [p for p in [watchdog, runner] + group if p is not None]
        sig = signal.SIGKILL
    else:
        targets = [p for p in group if p != runner]
        sig = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP, "cont": signal.SIGCONT}[action]
    done = []
    for pid in targets:
        try:
            os.kill(pid, sig)
            done.append(pid)
        except OSError:
            pass
    return {"watchdog": watchdog, "runner": runner, "signalled": sorted(set(done))}


def main(argv):
    command = argv[1]
    if command == "reset":
        answer = reset()
    elif command == "jobs":
        answer = jobs(argv[2])
    elif command == "signal":
        answer = send(argv[2], argv[3])
    else:
        raise SystemExit("unknown command %r" % command)
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(sys.argv)
