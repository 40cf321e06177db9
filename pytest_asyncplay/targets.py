"""SSH-enabled containers as Ansible hosts: ``Target`` (one host) and ``HostPool`` (all of a session's).

Every container carries the label ``pytest-asyncplay=<session id>`` and the owner's pid and machine,
publishes sshd on ``127.0.0.1`` only, runs under an init (so async jobs leave no zombies) and has its
own ed25519 host key, which is pinned in the session's ``known_hosts`` file. A pool made with ``keep=``
leaves its containers (labelled ``pytest-asyncplay.keep=<keep>``, which ``reap_orphans`` skips) for a human.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .connection import Relay
from .errors import HostStartError
from .image import DEFAULT_BASE, docker_client, ensure_image

if TYPE_CHECKING:
    import docker

LABEL = "pytest-asyncplay"
OWNER_PID_LABEL = "pytest-asyncplay.pid"
OWNER_MACHINE_LABEL = "pytest-asyncplay.machine"
HOST_LABEL = "pytest-asyncplay.host"
KEEP_LABEL = "pytest-asyncplay.keep"
LOOPBACK = "127.0.0.1"
DEFAULT_USER = "ansible"
READY_TIMEOUT = 60.0

HOSTSIDE_SCRIPT = (Path(__file__).parent / "data" / "hostside.py").read_text()

log = logging.getLogger("pytest_asyncplay.targets")


@dataclass
class KeyPair:
    """The session's ed25519 key pair; the private key file is mode 0600."""

    private_key_file: Path
    public_key: str

    @classmethod
    def generate(cls, folder: Path) -> KeyPair:
        """Write a new key pair into ``folder`` (``id_ed25519`` and ``id_ed25519.pub``)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "id_ed25519"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        os.chmod(path, 0o600)
        text = public.decode() + " pytest-asyncplay"
        (folder / "id_ed25519.pub").write_text(text + "\n")
        return cls(path, text)


@dataclass
class Target:
    """One Ansible host: a container reachable over SSH at ``address:port`` as ``user``."""

    name: str
    address: str
    port: int
    user: str
    identity_file: Path
    known_hosts_file: Path
    container_id: str
    ssh_config_file: Path
    pool: HostPool = field(repr=False, compare=False)
    relay: Relay = field(repr=False, compare=False)
    published_port: int = field(default=0, repr=False, compare=False)

    def exec(self, cmd: Union[str, Sequence[str]], user: str = "root") -> tuple[int, str]:
        """Run ``cmd`` on the host through Docker (not SSH); return ``(exit code, output)``."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        api = self.pool.client.api  # create, start, inspect: no container lookup first (faults race short jobs)
        exec_id = api.exec_create(self.container_id, argv, user=user)["Id"]
        output = api.exec_start(exec_id)
        rc = api.exec_inspect(exec_id).get("ExitCode")
        return int(rc if rc is not None else -1), (output or b"").decode(errors="replace")

    def hostside(self, command: str, *args: str) -> Any:
        """Run one command of ``data/hostside.py`` on the host as root; return the JSON it prints."""
        rc, output = self.exec(["python3", "-c", HOSTSIDE_SCRIPT, command, *args])
        if rc != 0:
            raise HostStartError(f"a helper script failed on {self.name} (exit {rc}):\n{output}",
                                 "the host may have been stopped; look at the container's logs.")
        lines = output.strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    def drop_connections(self, seconds: float = 0.0) -> int:
        """Close every live SSH connection to this host; with ``seconds``, refuse new ones that long."""
        return self.relay.down(seconds) if seconds > 0 else self.relay.reset()

    @property
    def testinfra(self) -> Any:
        """A testinfra host connected to this target over SSH (pinned host key)."""
        import testinfra

        return testinfra.get_host(
            f"ssh://{self.user}@{self.name}", ssh_config=str(self.ssh_config_file),
        )

    @property
    def ssh_args(self) -> list[str]:
        """Options that make ``ssh`` use this session's key and pinned known_hosts."""
        return [
            "-o", f"UserKnownHostsFile={self.known_hosts_file}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={self.identity_file}",
        ]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_ssh(address: str, port: int, timeout: float = READY_TIMEOUT) -> None:
    """Block until an SSH server banner comes back from ``address:port``; raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                sock.settimeout(2)
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no SSH banner from {address}:{port} within {timeout:.0f}s")
        time.sleep(0.05)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _labelled(client: docker.DockerClient, label: str) -> list[dict[str, Any]]:
    """Containers with ``label`` from one list call (no per-container inspect that a concurrent removal
    could turn into NotFound)."""
    return list(client.api.containers(all=True, filters={"label": label}))


def _remove(client: docker.DockerClient, container_id: str) -> None:
    """Remove a container; one that is already gone, or being removed by another reaper, is fine."""
    import docker

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: removal already in progress elsewhere
            raise


def reap_orphans(client: docker.DockerClient) -> list[str]:
    """Remove labelled containers whose owner process (on this machine) is dead; return their ids. Kept
    containers (``--asyncplay-keep-hosts``) are left alone.

    Safe to run from several processes at once (xdist workers, the controller)."""
    removed = []
    machine = socket.gethostname()
    for container in _labelled(client, LABEL):
        labels = container.get("Labels") or {}
        if labels.get(OWNER_MACHINE_LABEL) != machine or labels.get(KEEP_LABEL):
            continue
        try:
            pid = int(labels.get(OWNER_PID_LABEL, ""))
        except ValueError:
            continue
        if not _process_alive(pid):
            _remove(client, container["Id"])
            removed.append(str(container["Id"]))
            log.debug("reaped orphan %s (%s): owner pid %d is dead", str(container["Id"])[:12],
                      labels.get(HOST_LABEL, "?"), pid)
    return removed


class HostPool:
    """All hosts of one session: image, key pair, known_hosts, containers; reuse and reset between tests."""

    def __init__(
        self,
        workdir: Path,
        base: str = DEFAULT_BASE,
        image: Optional[str] = None,
        client: Optional[docker.DockerClient] = None,
        session_id: Optional[str] = None,
        keep: Optional[str] = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.base = base
        self._images: dict[str, str] = {base: image} if image else {}
        self._client = client
        self.session_id = session_id or uuid.uuid4().hex[:10]
        self.keys = KeyPair.generate(self.workdir / "keys")
        self.known_hosts_file = self.workdir / "known_hosts"
        self.known_hosts_file.touch()
        self.ssh_config_file = self.workdir / "ssh_config"
        self.ssh_config_file.touch()
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {}
        self._host_keys: dict[str, str] = {}
        self._sets: dict[Any, list[Target]] = {}
        self._counter = 0
        self._reaped = False
        #: With a value, containers are left after ``close``/``remove`` and labelled ``KEEP_LABEL=<keep>``.
        self.keep = keep
        self._kept: dict[str, Target] = {}

    @property
    def client(self) -> docker.DockerClient:
        """The Docker client, created (and orphans reaped) on first use."""
        if self._client is None:
            self._client = docker_client()
        if not self._reaped:
            self._reaped = True
            reap_orphans(self._client)
        return self._client

    @property
    def image(self) -> str:
        """The target image tag for the pool's base, built on first use."""
        return self.image_for(self.base)

    def image_for(self, base: str) -> str:
        """The target image tag built ``FROM base`` (built once per machine, then reused)."""
        if base not in self._images:
            self._images[base] = ensure_image(self.client, base)
        return self._images[base]

    def hosts(self, names: Sequence[str], base: Optional[str] = None, key: Any = None) -> list[Target]:
        """Hosts named ``names`` (image built FROM ``base``), reused when ``key`` was asked for before
        (then reset), else new ones."""
        if key is not None and key in self._sets:
            targets = self._sets[key]
            self.reset(targets)
            return targets
        targets = self.start(names, image=self.image_for(base or self.base))
        if key is not None:
            self._sets[key] = targets
        return targets

    def start(self, names: Sequence[str], image: Optional[str] = None) -> list[Target]:
        """Start one container per name in parallel; return when every one answers SSH."""
        image = image or self.image
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(names)))) as executor:
            futures = [executor.submit(self._start_one, name, image) for name in names]
            targets: list[Target] = []
            errors: list[tuple[str, Exception]] = []
            for name, future in zip(names, futures):
                try:
                    targets.append(future.result())
                except Exception as exc:  # collected: every started host is removed below
                    errors.append((name, exc))
        if errors:
            self._discard(targets)
            if len(errors) == 1:
                raise errors[0][1]
            raise HostStartError(
                f"{len(errors)} of {len(names)} hosts did not start (the {len(targets)} that did were removed):\n"
                + "\n".join(f"- {name}: {exc}" for name, exc in errors),
                "look at each host's reason above; when all fail alike, check `docker info`, free disk space "
                "and the image " + image,
            ) from errors[0][1]
        self._write_ssh_files()
        return targets

    def _start_one(self, name: str, image: str) -> Target:
        import docker

        with self._lock:
            self._counter += 1
            container_name = f"asyncplay-{self.session_id}-{self._counter}-{name}"[:60]
        labels = {
            LABEL: self.session_id, OWNER_PID_LABEL: str(os.getpid()),
            OWNER_MACHINE_LABEL: socket.gethostname(), HOST_LABEL: name,
            **({KEEP_LABEL: self.keep} if self.keep else {}),
        }
        began = time.monotonic()
        container = None
        for attempt in range(6):
            port = free_port()
            try:
                container = self.client.containers.run(
                    image, detach=True, init=True, name=container_name, hostname=_hostname(name),
                    labels=labels, environment={"ASYNCPLAY_AUTHORIZED_KEY": self.keys.public_key},
                    ports={"22/tcp": (LOOPBACK, port)},
                )
                break
            except docker.errors.APIError as exc:
                self._remove_by_name(container_name)
                if ("allocated" in str(exc) or "address already in use" in str(exc)) and attempt < 5:
                    continue
                raise HostStartError(
                    f"container for host {name!r} did not start: {exc}",
                    "check `docker info` and free disk space; the image is " + image,
                ) from exc
        assert container is not None
        relay: Optional[Relay] = None
        try:
            relay = Relay((LOOPBACK, port)).start()  # Ansible connects here; faults cut connections here
            wait_for_ssh(LOOPBACK, relay.port)
            rc, output = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
            if rc != 0:
                raise TimeoutError(f"no host key: {output!r}")
        except Exception as exc:
            if relay is not None:
                relay.close()
            try:
                logs = container.logs(tail=50).decode(errors="replace")
            except docker.errors.DockerException as logs_exc:
                logs = f"(no logs: {logs_exc})"
            _remove(self.client, str(container.id))
            raise HostStartError(
                f"host {name!r} ({container_name}) never answered SSH on {LOOPBACK}:{port}: {exc}\n"
                f"container logs:\n{logs}",
                "look at the logs above; a base image without sshd or a full disk are common causes.",
            ) from exc
        host_key = " ".join(output.decode().split()[:2])
        target = Target(
            name=name, address=LOOPBACK, port=relay.port, user=DEFAULT_USER,
            identity_file=self.keys.private_key_file, known_hosts_file=self.known_hosts_file,
            container_id=str(container.id), ssh_config_file=self.ssh_config_file, pool=self,
            relay=relay, published_port=port,
        )
        with self._lock:
            self._targets[target.container_id] = target
            self._host_keys[target.container_id] = host_key
        log.debug("started %s: container %s, ssh on %s:%d (relay for %d), ready in %.1fs", name,
                  target.container_id[:12], LOOPBACK, relay.port, port, time.monotonic() - began)
        return target

    def _write_ssh_files(self) -> None:
        with self._lock:
            targets = list(self._targets.values())
            lines = [f"[{t.address}]:{t.port} {self._host_keys[t.container_id]}" for t in targets]
            if self.keep:  # after the session the relay is gone: ssh goes to the published port
                lines += [f"[{t.address}]:{t.published_port} {self._host_keys[t.container_id]}" for t in targets]
            self.known_hosts_file.write_text("\n".join(lines) + "\n")
            config = []
            for t in targets:
                config += [
                    f"Host {t.name}", f"  HostName {t.address}", f"  Port {t.port}", f"  User {t.user}",
                    f"  IdentityFile {t.identity_file}", "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {t.known_hosts_file}", "  StrictHostKeyChecking yes",
                    f"  HostKeyAlias [{t.address}]:{t.port}", "",
                ]
            self.ssh_config_file.write_text("\n".join(config))

    def reset(self, targets: Sequence[Target]) -> None:
        """Kill every leftover process (jobs included), remove job files and Ansible temp dirs, and close
        leftover connections (ending any down period a fault left)."""
        for target in targets:
            target.relay.up()
            target.relay.reset()
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(targets)))) as executor:
            list(executor.map(lambda t: t.hostside("reset"), targets))
        log.debug("reset %s", ", ".join(f"{t.name} ({t.container_id[:12]})" for t in targets))

    def restart(self, target: Target, timeout: float = READY_TIMEOUT) -> None:
        """Restart a host's container (a crash-reboot) and wait until it answers SSH again."""
        began = time.monotonic()
        container = self.client.containers.get(target.container_id)
        container.restart(timeout=0)
        wait_for_ssh(target.address, target.port, timeout)  # through the relay: same address and port
        log.debug("restarted %s (%s): ssh ready in %.1fs", target.name, target.container_id[:12],
                  time.monotonic() - began)

    def remove(self, targets: Sequence[Target]) -> None:
        """Remove the containers of ``targets`` (and forget them); a keeping pool only forgets them."""
        if self.keep:
            for target in targets:
                target.relay.close()
                self._kept[target.container_id] = target
                with self._lock:
                    self._targets.pop(target.container_id, None)
            self._forget_sets(targets)
            return
        self._discard(targets)

    def _discard(self, targets: Sequence[Target]) -> None:
        """Remove the containers of ``targets`` whatever ``keep`` says (hosts of a start that failed)."""
        for target in targets:
            target.relay.close()
            _remove(self.client, target.container_id)
            log.debug("removed %s (%s)", target.name, target.container_id[:12])
            with self._lock:
                self._targets.pop(target.container_id, None)
        self._forget_sets(targets)

    def _forget_sets(self, targets: Sequence[Target]) -> None:
        for key in [k for k, v in self._sets.items() if any(t in targets for t in v)]:
            del self._sets[key]

    def _remove_by_name(self, name: str) -> None:
        import docker

        try:
            self.client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass

    def close(self) -> None:
        """Remove every container this session started (by its session label); a keeping pool leaves them
        and only stops its relays."""
        for target in list(self._targets.values()):
            target.relay.close()
        if self.keep:
            self._kept.update(self._targets)
        elif self._client is not None:
            for container in _labelled(self._client, f"{LABEL}={self.session_id}"):
                _remove(self._client, container["Id"])
                log.debug("removed %s (%s) at close", (container.get("Labels") or {}).get(HOST_LABEL, "?"),
                          str(container["Id"])[:12])
        self._targets.clear()
        self._sets.clear()

    def kept(self) -> list[tuple[Target, list[str]]]:
        """The hosts a keeping pool leaves (running or let go), each with an ``ssh`` argv that reaches it
        without the relay, so also after the session (its published port, the session key, the pinned host key)."""
        with self._lock:
            hosts = {**self._kept, **self._targets} if self.keep else {}
        return [(t, ssh_command(t, "", direct=True)[:-1]) for t in hosts.values()]

    def removal_command(self) -> str:
        """The shell command that removes every container kept under this pool's ``keep`` value."""
        label = shlex.quote(f"{KEEP_LABEL}={self.keep}")
        return f"docker rm -f $(docker ps -aq --filter label={label})"

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hostname(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return (cleaned or "host")[:63]


def ssh_command(target: Target, command: str, direct: bool = False) -> list[str]:
    """An ``ssh`` argv that runs ``command`` on ``target`` with the pinned host key; ``direct`` goes to the
    container's published port instead of the relay (a kept host, after the session)."""
    port = target.published_port if direct else target.port
    return ["ssh", *target.ssh_args, "-p", str(port), f"{target.user}@{target.address}", command]


__all__ = ["HostPool", "KeyPair", "Target", "reap_orphans", "ssh_command", "wait_for_ssh"]
