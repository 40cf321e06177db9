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
import time


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
    """(watchdog pid, runner pid, [the runner's processes but itself]) of one job, or Nones.

    The job's two long-lived processes carry the jid prefix in argv. The runner is the one whose
    parent is the other (the watchdog forks it); right after the launch the watchdog may not yet
    have made it a process-group leader, so its processes are its descendants plus its group.
    """
    prefix = jid.split(".")[0].encode()
    table = processes()
    wrappers = dict((p[0], p) for p in table if prefix in p[4])
    runner = next((pid for pid, p in wrappers.items() if p[1] in wrappers), None)
    if runner is None:  # the watchdog alone (runner gone), or a lone process
        return (next(iter(wrappers), None), None, [])
    watchdog = wrappers[runner][1]
    children = {}
    for pid, ppid, _pgid, _sid, _argv in table:
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(children.get(runner, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    found.update(p[0] for p in table if p[2] == runner and p[0] != runner)
    return watchdog, runner, sorted(found)


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
    deadline = time.time() + 3.0
    while runner is not None and not group and action != "vanish" and time.time() < deadline:
        time.sleep(0.02)  # launched a moment ago: wait for the runner to start the module
        watchdog, runner, group = job_processes(jid)
    if action == "vanish":
        targets = [p for p in [watchdog, runner] + group if p is not None]
        sig = signal.SIGKILL
    else:
        targets = group
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
