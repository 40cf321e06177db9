"""SSH-enabled containers as Ansible hosts: ``Target`` (one host) and ``HostPool`` (all of a session's).

Every container carries the label ``pytest-asyncplay=<session id>`` and the owner's pid and machine,
runs under an init (so async jobs leave no zombies) and has its own ed25519 host key (made here, handed to
the container, pinned in the session's ``known_hosts`` file). sshd is published on ``127.0.0.1`` only for
the local engine; with ``DOCKER_HOST`` at another engine (``tcp://H:P``, ``ssh://user@H``) it is published
on ``H`` (or ``ASYNCPLAY_PUBLISH_ADDRESS``), on a port the engine picks, and reached there (``Engine``).
Ansible always connects to a relay on ``127.0.0.1`` in this process. A pool made with ``keep=`` leaves
its containers (labelled ``pytest-asyncplay.keep=<keep>``, which ``reap_orphans`` skips) for a human.
The engine may be Podman behind its Docker-compatible API: the same calls; see docs/podman.md.
"""

from __future__ import annotations

import ipaddress
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
from urllib.parse import urlsplit

from .connection import Relay
from .errors import HostStartError
from .image import DEFAULT_BASE, docker_client, ensure_image, is_podman

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
#: Set to publish (and reach) the hosts' SSH ports on this address instead of the one ``DOCKER_HOST`` names.
PUBLISH_ADDRESS_ENV = "ASYNCPLAY_PUBLISH_ADDRESS"
AUTHORIZED_KEYS_FILE = "/etc/ssh/asyncplay_authorized_keys"
#: The container's command, in place of the image's entrypoint script (the same result, minus the ~15
#: processes that script starts): the host key and the session key from the environment, then sshd.
#: Shell builtins only; on a restart it writes the same files again.
BOOT_SCRIPT = (
    "umask 077 && printf '%s\\n' \"$ASYNCPLAY_HOST_KEY\" > /etc/ssh/ssh_host_ed25519_key"
    " && umask 022 && printf '%s\\n' \"$ASYNCPLAY_HOST_PUBLIC_KEY\" > /etc/ssh/ssh_host_ed25519_key.pub"
    f" && printf '%s\\n' \"$ASYNCPLAY_AUTHORIZED_KEY\" > {AUTHORIZED_KEYS_FILE}"
    " && { [ -d /run/sshd ] || mkdir -p /run/sshd; }"
    f" && exec /usr/sbin/sshd -D -e -o 'AuthorizedKeysFile {AUTHORIZED_KEYS_FILE} .ssh/authorized_keys'"
)

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


def host_key_pair() -> tuple[str, str]:
    """A new ed25519 host key: ``(private key in OpenSSH PEM, "ssh-ed25519 AAAA...")``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private.decode().strip(), public.decode().strip()


@dataclass(frozen=True)
class Engine:
    """Where the hosts' SSH ports are published and reached: ``address`` on the engine's machine; ``local``
    for an engine on a local socket (ports are picked here, free on ``address``; else the engine picks)."""

    address: str
    local: bool


def engine_endpoint(client: Optional[docker.DockerClient] = None, docker_host: Optional[str] = None) -> Engine:
    """The ``Engine`` of ``client`` (else of ``docker_host``, else of ``$DOCKER_HOST``): ``127.0.0.1`` for a
    local socket, the host of ``tcp://H:P`` or ``ssh://user@H``; ``$ASYNCPLAY_PUBLISH_ADDRESS`` overrides
    the address. Never an unspecified address (``0.0.0.0``); a local engine only on loopback."""
    base_url = str(getattr(getattr(client, "api", None), "base_url", "") or "")
    if base_url.startswith(("http://", "https://")):  # docker-py's form of tcp://H:P
        url = base_url
    elif base_url in ("http+docker://localhost", "http+docker://localnpipe"):
        url = ""
    else:  # no client, or ssh:// (docker-py keeps only "http+docker://ssh")
        url = docker_host if docker_host is not None else os.environ.get("DOCKER_HOST", "")
    parts = urlsplit(url) if "://" in url else None
    remote = parts is not None and parts.scheme in ("tcp", "ssh", "http", "https") and bool(parts.hostname)
    address = (parts.hostname or LOOPBACK) if remote and parts is not None else LOOPBACK
    override = os.environ.get(PUBLISH_ADDRESS_ENV, "").strip()
    address = _numeric(override or address)
    if ipaddress.ip_address(address).is_unspecified:
        raise HostStartError(
            f"the hosts' SSH ports would be published on {address}, every interface of the engine's machine",
            f"set {PUBLISH_ADDRESS_ENV} to the one address the engine's machine is reached at (127.0.0.1 for "
            "a local engine).",
        )
    if not remote and not ipaddress.ip_address(address).is_loopback:
        raise HostStartError(
            f"{PUBLISH_ADDRESS_ENV}={override} is not a loopback address, and the engine is local: its hosts "
            "are published on loopback only",
            f"unset {PUBLISH_ADDRESS_ENV}, or set it to a 127.x.y.z address.",
        )
    return Engine(address, local=not remote)


def _numeric(address: str) -> str:
    """``address`` as an IP address (a name is resolved here, IPv4 first)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(address, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise HostStartError(
            f"cannot resolve the Docker engine's address {address!r}: {exc}",
            f"use an IP address in DOCKER_HOST, or set {PUBLISH_ADDRESS_ENV}.",
        ) from exc
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


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
    #: Where the container's sshd is published (the relay's upstream): 127.0.0.1, or a remote engine's address.
    published_address: str = field(default=LOOPBACK, repr=False, compare=False)

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


def free_port(address: str = LOOPBACK) -> int:
    """A port on ``address`` (default 127.0.0.1) that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_for_ssh(address: str, port: int, timeout: float = READY_TIMEOUT) -> None:
    """Block until an SSH server banner comes back from ``address:port``; raise ``TimeoutError``.

    Polls every 5 ms at first, backing off to 50 ms: sshd is usually up 30-100 ms after the start."""
    deadline = time.monotonic() + timeout
    pause = 0.005
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
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)


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

    #: Hosts ``start`` brings up at once (one thread each: most of a start is waiting for the engine and sshd).
    max_parallel: int = 32
    #: Container creates and starts in flight on the engine at once: more only makes it thrash.
    engine_parallel: int = 8

    def __init__(
        self,
        workdir: Path,
        base: str = DEFAULT_BASE,
        image: Optional[str] = None,
        client: Optional[docker.DockerClient] = None,
        session_id: Optional[str] = None,
        keep: Optional[str] = None,
        engine: Optional[Engine] = None,
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
        self._engine = engine
        self._engine_slots = threading.BoundedSemaphore(self.engine_parallel)
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
    def engine(self) -> Engine:
        """Where the hosts' SSH ports are published and reached (from the client, ``DOCKER_HOST`` and
        ``ASYNCPLAY_PUBLISH_ADDRESS``; see ``engine_endpoint``)."""
        if self._engine is None:
            self._engine = engine_endpoint(self.client)
        return self._engine

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
        self.engine  # noqa: B018 -- resolved once, before the threads (a bad address fails here, once)
        with ThreadPoolExecutor(max_workers=min(self.max_parallel, max(1, len(names)))) as executor:
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
        private_key, host_key = host_key_pair()  # made here: nothing to read back from the container
        environment = {"ASYNCPLAY_AUTHORIZED_KEY": self.keys.public_key, "ASYNCPLAY_HOST_KEY": private_key,
                       "ASYNCPLAY_HOST_PUBLIC_KEY": host_key}
        engine, api = self.engine, self.client.api
        began = time.monotonic()
        container_id = ""
        port: Optional[int] = None
        for attempt in range(6):
            port = free_port(engine.address) if engine.local else None  # None: the engine picks one
            try:
                with self._engine_slots:
                    host_config = api.create_host_config(init=True, port_bindings={22: (engine.address, port)})
                    container_id = str(api.create_container(
                        image, command=["/bin/sh", "-c", BOOT_SCRIPT], detach=True, name=container_name,
                        hostname=_hostname(name), labels=labels, environment=environment, ports=[22],
                        host_config=host_config,
                    )["Id"])
                    api.start(container_id)
                    if port is None:
                        port = self._published_port(container_id)
                break
            except docker.errors.APIError as exc:
                self._remove_by_name(container_name)
                if ("allocated" in str(exc) or "address already in use" in str(exc)) and attempt < 5:
                    continue
                raise HostStartError(
                    f"container for host {name!r} did not start: {exc}", self._start_hint(str(exc), image),
                ) from exc
        assert container_id and port is not None
        relay: Optional[Relay] = None
        try:
            relay = Relay((engine.address, port)).start()  # Ansible connects here; faults cut connections here
            wait_for_ssh(LOOPBACK, relay.port)
        except Exception as exc:
            if relay is not None:
                relay.close()
            try:
                logs = api.logs(container_id, tail=50).decode(errors="replace")
            except docker.errors.DockerException as logs_exc:
                logs = f"(no logs: {logs_exc})"
            _remove(self.client, container_id)
            raise HostStartError(
                f"host {name!r} ({container_name}) never answered SSH on {engine.address}:{port}: {exc}\n"
                f"container logs:\n{logs}",
                "look at the logs above; a base image without sshd or a full disk are common causes.",
            ) from exc
        target = Target(
            name=name, address=LOOPBACK, port=relay.port, user=DEFAULT_USER,
            identity_file=self.keys.private_key_file, known_hosts_file=self.known_hosts_file,
            container_id=container_id, ssh_config_file=self.ssh_config_file, pool=self,
            relay=relay, published_port=port, published_address=engine.address,
        )
        with self._lock:
            self._targets[target.container_id] = target
            self._host_keys[target.container_id] = host_key
        log.debug("started %s: container %s, ssh on %s:%d (relay for %s:%d), ready in %.2fs", name,
                  target.container_id[:12], LOOPBACK, relay.port, engine.address, port, time.monotonic() - began)
        return target

    def _start_hint(self, error: str, image: str) -> str:
        """The fix for a container that did not start: Podman's two set-up slips named, else the usual checks."""
        if is_podman(self.client):
            if "init binary" in error or "catatonit" in error:  # --init needs Podman's own init binary
                return ("Podman runs --init with catatonit: install it (`apt-get install catatonit`; "
                        "`bash scripts/podman.sh` does), or set init_path in containers.conf to a tini binary.")
            if "rlimit" in error:  # Podman's default open-files limit can exceed the machine's hard limit
                return ("set `default_ulimits = []` under [containers] in /etc/containers/containers.conf "
                        "(`bash scripts/podman.sh` does) and restart the podman service.")
            return "check `podman info` and free disk space; the image is " + image
        return "check `docker info` and free disk space; the image is " + image

    def _published_port(self, container_id: str) -> int:
        """The host port the engine published the container's sshd on (one inspect)."""
        bindings = self.client.api.port(container_id, 22) or []
        for binding in bindings:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        raise HostStartError(f"container {container_id[:12]} has no published SSH port: {bindings!r}",
                             "the engine did not publish port 22; check `docker port` on it.")

    def _write_ssh_files(self) -> None:
        with self._lock:
            targets = list(self._targets.values())
            lines = [f"[{t.address}]:{t.port} {self._host_keys[t.container_id]}" for t in targets]
            if self.keep:  # after the session the relay is gone: ssh goes to the published port
                lines += [f"[{t.published_address}]:{t.published_port} {self._host_keys[t.container_id]}"
                          for t in targets]
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
        self.client.api.restart(target.container_id, timeout=0)
        # the engine picked the port, and Docker may pick another one after a restart (Podman keeps it)
        if not self.engine.local:
            port = self._published_port(target.container_id)
            if port != target.published_port:
                target.published_port = port
                target.relay.upstream = (target.published_address, port)
                self._write_ssh_files()
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
        self._remove_containers([(t.container_id, t.name) for t in targets])
        with self._lock:
            for target in targets:
                self._targets.pop(target.container_id, None)
        self._forget_sets(targets)

    def _remove_containers(self, containers: Sequence[tuple[str, str]], when: str = "") -> None:
        """Remove ``(container id, host name)`` containers, several at once (as many as ``engine_parallel``)."""
        def remove(container: tuple[str, str]) -> None:
            _remove(self._client or self.client, container[0])
            log.debug("removed %s (%s)%s", container[1], container[0][:12], when)

        if len(containers) == 1:
            remove(containers[0])
        elif containers:
            with ThreadPoolExecutor(max_workers=min(self.engine_parallel, len(containers))) as executor:
                list(executor.map(remove, containers))  # the first error is raised, after every removal was tried

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
            self._remove_containers([
                (str(c["Id"]), str((c.get("Labels") or {}).get(HOST_LABEL, "?")))
                for c in _labelled(self._client, f"{LABEL}={self.session_id}")
            ], " at close")
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
    address, port = (target.published_address, target.published_port) if direct else (target.address, target.port)
    return ["ssh", *target.ssh_args, "-p", str(port), f"{target.user}@{address}", command]


__all__ = [
    "Engine", "HostPool", "KeyPair", "Target", "engine_endpoint", "host_key_pair", "reap_orphans", "ssh_command",
    "wait_for_ssh",
]
