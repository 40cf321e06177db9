"""Runs inside a pytest-asyncplay host as root (``python3 -c <this file> COMMAND ARGS``), prints JSON.

Commands:
  reset                      kill every process but init, sshd's listener and docker-exec sessions;
                             remove job files and Ansible temp dirs
  jobs JSON                  JSON is [[jid, results_file], ...]: each file's text, size, mtime, and
                             whether the job's runner is still alive
  signal JID ACTION          act on the processes of one job (matched by the jid prefix in argv):
                             kill    every process in the runner's group except the runner, so the
                                     runner records a failure
                             vanish  watchdog, runner and everything in the runner's group, so the
                                     job file stays "started" forever
                             stop / cont   freeze / resume the runner's group except the runner
                                     (or the runner itself: see ``plan``)
  serve                      read commands (JSON lists, one per line) from stdin and answer each with
                             one JSON line, until stdin closes (see ``agent.HostAgent``)
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


def descendants(table, roots):
    """Every process below ``roots`` in the process table."""
    children = {}
    for pid, ppid, _pgid, _sid, _argv in table:
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [child for root in roots for child in children.get(root, [])]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def wrapper_pids(table, prefix):
    """The processes that carry the job's jid prefix in argv (async_wrapper's fork chain)."""
    return set(p[0] for p in table if prefix in p[4])


def find_job(table, prefix):
    """The job's watchdog, runner and the runner's processes in a process table (see ``processes``).

    async_wrapper forks a chain that all carry the jid prefix in argv: the launcher, a child that
    forks and exits, a session leader (setsid) that forks and exits, the watchdog, and the runner it
    forks. The first three may still be exiting when the launch is reported, so the runner is the
    wrapper process whose parent is a *daemonized* wrapper (in a session it does not lead, whose
    leader is a wrapper, exiting or gone) - the watchdog - and not a fork of another such runner (the
    module's own fork, before its exec). Right after the launch the watchdog may not yet have made
    the runner a process-group leader, so the runner's processes are its descendants plus its group.
    """
    wrappers = dict((p[0], p) for p in table if prefix in p[4])
    argv = dict((p[0], p[4]) for p in table)

    def daemonized(pid):
        sid = wrappers[pid][3]
        return sid != pid and (sid in wrappers or not any(argv.get(sid, [])))  # no argv: exiting or gone

    candidates = set(pid for pid, p in wrappers.items()
                     if p[1] in wrappers and daemonized(p[1]) and daemonized(pid))
    runner = next((pid for pid in sorted(candidates) if wrappers[pid][1] not in candidates), None)
    if runner is None:  # the watchdog alone (runner gone), or a lone process
        lone = [pid for pid in sorted(wrappers) if daemonized(pid)] or sorted(wrappers)
        return (lone[0] if lone else None, None, [])
    found = descendants(table, [runner])
    found.update(p[0] for p in table if p[2] == runner and p[0] != runner)
    return wrappers[runner][1], runner, sorted(found)


def runner_alive(table, prefix):
    """Whether the job's runner (the process that runs its module and writes its file) is alive.

    Not any process with the jid in argv: the watchdog outlives a finished runner by up to its step (5 s),
    and the launcher chain may still be exiting. The runner is the wrapper its watchdog made the leader of
    a process group (a zombie has no argv, so a finished one is never counted).
    """
    if find_job(table, prefix)[1] is not None:
        return True
    return any(pid == pgid for pid, _ppid, pgid, _sid, argv in table if prefix in argv)


def jobs(spec):
    answer = {}
    table = processes()
    for jid, path in json.loads(spec):
        record = {"exists": False, "text": None, "mtime": None, "size": None,
                  "alive": runner_alive(table, jid.split(".")[0].encode())}
        try:
            with open(path, "rb") as handle:
                data = handle.read(1 << 20)
            record["text"] = data.decode("utf-8", "replace")
            record["size"] = len(data)
            record["mtime"] = os.stat(path).st_mtime
            record["exists"] = True
        except OSError:
            pass
        answer[jid] = record
    return answer


def plan(table, prefix, action):
    """The pids to signal for ``action`` on the job, and what to report besides ``signalled``.

    ``stop`` freezes the runner's processes but the runner. If the module started before the watchdog
    made the runner a process-group leader, the module is in the watchdog's group: frozen there, it
    would take the watchdog down when the watchdog kills the runner at ``async:`` (the kernel sends
    SIGHUP to a newly orphaned process group that has a stopped member), and nothing would record the
    timeout. Then the runner alone is frozen: the module runs on, and its result is held back.
    """
    watchdog, runner, group = find_job(table, prefix)
    answer = {"watchdog": watchdog, "runner": runner, "froze": None}
    if action == "vanish":  # every process of the job, whoever is who
        wrappers = wrapper_pids(table, prefix)
        return sorted(wrappers | descendants(table, wrappers) | set(group)), answer
    if runner is None:
        return group, answer
    if action == "stop":
        pgid = dict((p[0], p[2]) for p in table)
        answer["froze"] = "runner" if any(pgid.get(pid) != runner for pid in group) else "job"
        return ([runner] if answer["froze"] == "runner" else group), answer
    if action == "cont":
        return group + [runner], answer  # resumes whichever "stop" froze
    return group, answer


def send(jid, action):
    prefix = jid.split(".")[0].encode()
    table = processes()
    deadline = time.time() + 3.0
    # launched a moment ago, the fork chain may be mid-way: wait until the runner has its module
    while action != "vanish" and time.time() < deadline and wrapper_pids(table, prefix):
        if find_job(table, prefix)[2]:
            break
        time.sleep(0.02)
        table = processes()
    targets, answer = plan(table, prefix, action)
    sig = {"kill": signal.SIGKILL, "vanish": signal.SIGKILL, "stop": signal.SIGSTOP, "cont": signal.SIGCONT}[action]
    done = []
    for pid in targets:
        try:
            os.kill(pid, sig)
            done.append(pid)
        except OSError:
            pass
    answer["signalled"] = sorted(set(done))
    return answer


def run(argv):
    command = argv[0]
    if command == "reset":
        return reset()
    if command == "jobs":
        return jobs(argv[1])
    if command == "signal":
        return send(argv[1], argv[2])
    raise SystemExit("unknown command %r" % command)


def serve():
    """Answer commands read from stdin, one JSON list per line, with one JSON line each, until stdin closes.

    Kept running for a play with job faults, so a fault costs a pipe round trip, not a process start.
    """
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            answer = {"ok": run(json.loads(line))}
        except BaseException as exc:  # the caller raises it; the agent keeps serving
            answer = {"error": "%s: %s" % (type(exc).__name__, exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main(argv):
    if argv[1] == "serve":
        serve()
        return
    sys.stdout.write(json.dumps(run(argv[1:])) + "\n")


if __name__ == "__main__":
    main(sys.argv)
