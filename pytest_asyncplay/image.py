"""The target image: built from the Dockerfile in ``data/``, tagged by content hash, built once per machine.

The image builds ``FROM`` a configurable base (default ``debian:bookworm-slim``). When the base is not
present locally it is pulled (unless pulling is switched off); when it cannot be pulled and
``debootstrap`` is available, a minimal Debian with the needed packages is bootstrapped and imported
as a stand-in for the base, so the build itself needs no network. A machine-wide file lock makes
sure exactly one process (one pytest-xdist worker, one CI job) builds.

With ``DOCKER_HOST`` at another engine, the images are made there: the target image (or else its base)
is copied from the local engine when it has it (``docker save | docker load``, streamed, ids kept, so
the content hash is the same), else the base is pulled there or debootstrapped here and imported there.
The engine may be Podman behind its Docker-compatible API (``is_podman``; docs/podman.md).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import filelock

from .errors import DockerUnavailableError, ImageBuildError

if TYPE_CHECKING:
    import docker

DEFAULT_BASE = "debian:bookworm-slim"
TARGET_REPOSITORY = "pytest-asyncplay-target"
BASE_REPOSITORY = "pytest-asyncplay-base"
SUBSTITUTE_LABEL = "pytest-asyncplay.substitute-for"
DEBOOTSTRAP_PACKAGES = ("openssh-server", "python3", "sudo", "procps")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DATA_DIR = Path(__file__).parent / "data"
CONTEXT_FILES = ("Dockerfile", "sshd_config", "entrypoint.sh")
PULL_POLICIES = ("auto", "never")
#: The engine images are copied from when the one in use lacks them (``DOCKER_HOST`` syntax).
IMAGE_SOURCE_ENV = "ASYNCPLAY_IMAGE_SOURCE"
DEFAULT_IMAGE_SOURCE = "unix:///var/run/docker.sock"


def cache_dir() -> Path:
    """The machine-wide folder for locks and build scratch (``$XDG_CACHE_HOME/pytest-asyncplay``)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "pytest-asyncplay"
    path.mkdir(parents=True, exist_ok=True)
    return path


def docker_client() -> docker.DockerClient:
    """A Docker SDK client from the environment (``DOCKER_HOST`` etc.), or a clear error."""
    import docker

    try:
        client = docker.from_env(timeout=120, max_pool_size=64)  # one connection per parallel host start
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine: {exc}",
            "start it (`dockerd &` or `systemctl start docker`), or point DOCKER_HOST at a running engine.",
        ) from exc
    return client


_PODMAN: weakref.WeakKeyDictionary[docker.DockerClient, bool] = weakref.WeakKeyDictionary()


def is_podman(client: docker.DockerClient) -> bool:
    """Whether ``client``'s engine is Podman (its Docker-compatible API), from the engine's own version
    report (a component or platform named Podman), not from ``DOCKER_HOST``; asked once per client."""
    if client not in _PODMAN:
        version = client.version()
        names = [str(c.get("Name", "")) for c in version.get("Components") or []]
        names.append(str((version.get("Platform") or {}).get("Name", "")))
        _PODMAN[client] = any("podman" in name.lower() for name in names)
    return _PODMAN[client]


def context_hash(base_id: str) -> str:
    """Content hash of the build: the Dockerfile, its files and the base image's id."""
    digest = hashlib.sha256(base_id.encode())
    for name in CONTEXT_FILES:
        digest.update(name.encode() + b"\0" + (DATA_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def debian_suite(base: str) -> Optional[str]:
    """The Debian suite a base name stands for (``debian:bookworm-slim`` → ``bookworm``), if any."""
    match = re.fullmatch(r"(?:docker\.io/)?(?:library/)?debian:([a-z]+)(?:-slim)?", base)
    return match.group(1) if match else None


def stand_in_tag(base: str) -> Optional[str]:
    """The tag of the debootstrapped stand-in for a Debian base (``pytest-asyncplay-base:bookworm``)."""
    suite = debian_suite(base)
    return f"{BASE_REPOSITORY}:{suite}" if suite else None


def _find_local(client: docker.DockerClient, base: str) -> Optional[str]:
    """The id of the base, or of the debootstrapped stand-in made earlier for it (found by its tag:
    labels are inherited by every image built on top, so a label cannot tell the stand-in apart)."""
    import docker

    for name in filter(None, (base, stand_in_tag(base))):
        try:
            return str(client.images.get(name).id)
        except docker.errors.ImageNotFound:
            continue
    return None


def _pull(client: docker.DockerClient, base: str) -> Optional[str]:
    import docker

    try:
        return str(client.images.pull(base).id)
    except docker.errors.DockerException:
        return None


def bootstrap_base(client: docker.DockerClient, base: str) -> str:
    """Build a stand-in for ``base`` with debootstrap and import it; return its image id."""
    suite = debian_suite(base)
    if suite is None:
        raise ImageBuildError(
            f"the base image {base!r} is not present and cannot be pulled, and it is not a Debian "
            "image that debootstrap could make",
            f"load it first (`docker load -i base.tar` or `docker pull {base}`), or use a Debian base "
            "such as --asyncplay-base=debian:bookworm-slim.",
        )
    debootstrap = shutil.which("debootstrap", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if debootstrap is None:
        raise ImageBuildError(
            f"the base image {base!r} is not present, cannot be pulled, and debootstrap is not installed",
            f"install debootstrap (`apt-get install debootstrap`, as root) or provide the base: "
            f"`docker pull {base}` or `docker load -i base.tar`.",
        )
    mirror = os.environ.get("ASYNCPLAY_DEBIAN_MIRROR", DEFAULT_MIRROR)
    with tempfile.TemporaryDirectory(prefix="asyncplay-rootfs-", dir=cache_dir()) as scratch:
        rootfs = Path(scratch) / "rootfs"
        command = [
            debootstrap, "--variant=minbase", f"--include={','.join(DEBOOTSTRAP_PACKAGES)}",
            suite, str(rootfs), mirror,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageBuildError(
                f"debootstrap of {suite} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}",
                "debootstrap must run as root and reach the Debian mirror; set ASYNCPLAY_DEBIAN_MIRROR "
                "to a reachable mirror, or provide the base image yourself.",
            )
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        archive = Path(scratch) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        return import_rootfs(client, archive, f"{BASE_REPOSITORY}:{suite}",
                             [f"LABEL {SUBSTITUTE_LABEL}={base}", 'CMD ["/bin/bash"]'])


def import_rootfs(client: docker.DockerClient, archive: Path, name: str, changes: Sequence[str]) -> str:
    """Import a root filesystem tarball as the image ``name`` (``repository:tag``) with Dockerfile
    ``changes`` applied; return its id."""
    # the tag inside the repository parameter: Podman (4.3) ignores the tag parameter and tags ":latest"
    client.api.import_image(src=str(archive), repository=name, changes=list(changes))
    return str(client.images.get(name).id)


def image_source(client: docker.DockerClient) -> Optional[docker.DockerClient]:
    """The engine to copy images from (``$ASYNCPLAY_IMAGE_SOURCE``, default the local socket; ``none``: no
    copies) when it answers and is not ``client``'s own engine; else None."""
    import docker

    url = os.environ.get(IMAGE_SOURCE_ENV, DEFAULT_IMAGE_SOURCE)
    if url.startswith("unix://") and not os.path.exists(url[len("unix://"):]):
        return None
    try:
        source = docker.DockerClient(base_url=url, timeout=600)
        if _identity(source) == _identity(client):
            source.close()
            return None
    except docker.errors.DockerException:
        return None
    return source


def _identity(client: docker.DockerClient) -> tuple[str, str, str]:
    """What tells engines apart: two on one machine can share an ID (``/etc/docker/key.json``), not a root dir."""
    info = client.info()
    engine_id = "" if is_podman(client) else str(info.get("ID"))  # Podman makes up a new ID on every call
    return engine_id, str(info.get("Name")), str(info.get("DockerRootDir"))


def copy_image(source: docker.DockerClient, client: docker.DockerClient, names: Sequence[str]) -> Optional[str]:
    """Copy the first of ``names`` that ``source`` has onto ``client``'s engine (save → load, streamed, tag
    and id kept); return its id there, or None when ``source`` has none of them."""
    import docker

    for name in names:
        try:
            source.images.get(name)
        except docker.errors.ImageNotFound:
            continue
        try:
            client.images.load(source.api.get_image(name, chunk_size=1 << 20))
            return str(client.images.get(name).id)
        except docker.errors.DockerException as exc:
            raise ImageBuildError(
                f"copying the image {name} to the engine at {client.api.base_url} failed: {exc}",
                "check the free disk space of that engine (`docker info` on it), or set "
                f"{IMAGE_SOURCE_ENV}=none to make the image there instead of copying it.",
            ) from exc
    return None


def _copy_from_source(client: docker.DockerClient, names: Sequence[str]) -> Optional[str]:
    if os.environ.get(IMAGE_SOURCE_ENV, "") == "none":
        return None
    source = image_source(client)
    if source is None:
        return None
    try:
        return copy_image(source, client, names)
    finally:
        source.close()


def resolve_base(client: docker.DockerClient, base: str = DEFAULT_BASE, pull: str = "auto") -> str:
    """Make sure the base (or a stand-in) is present; return its image id. Missing, it is copied from the
    local engine (when ``client`` is another engine), else pulled, else debootstrapped."""
    if pull not in PULL_POLICIES:
        raise ImageBuildError(f"unknown pull policy {pull!r}", f"use one of {', '.join(PULL_POLICIES)}.")
    found = _find_local(client, base)
    if found is None:
        found = _copy_from_source(client, [name for name in (base, stand_in_tag(base)) if name])
    if found is None and pull == "auto":
        found = _pull(client, base)
    return found or bootstrap_base(client, base)


def ensure_image(
    client: Optional[docker.DockerClient] = None, base: str = DEFAULT_BASE, pull: Optional[str] = None
) -> str:
    """Return the tag of the target image for ``base``, building it (once per machine) if needed."""
    client = client or docker_client()
    pull = pull or os.environ.get("ASYNCPLAY_PULL", "auto")
    import docker

    with filelock.FileLock(str(cache_dir() / "image.lock"), timeout=1800):
        base_id = resolve_base(client, base, pull)
        tag = f"{TARGET_REPOSITORY}:{context_hash(base_id)}"
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        if _copy_from_source(client, [tag]):  # another engine: the local one may have built it already
            return tag
        base_ref = base if _has_tag(client, base) else _tag_of(client, base_id)
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name in CONTEXT_FILES:
                tar.add(DATA_DIR / name, arcname=name)
        context.seek(0)
        try:
            client.images.build(
                fileobj=context, custom_context=True, tag=tag, buildargs={"BASE": base_ref},
                rm=True, forcerm=True, labels={"pytest-asyncplay.base": base},
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)
            raise ImageBuildError(
                f"building {tag} from {base} failed: {exc.msg}\n{log[-3000:]}",
                "the base must be Debian-like (apt-get, useradd); if it lacks openssh-server, python3, "
                "sudo and procps the build installs them, which needs network.",
            ) from exc
        return tag


def _has_tag(client: docker.DockerClient, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def _tag_of(client: docker.DockerClient, image_id: str) -> str:
    tags = client.images.get(image_id).tags
    return str(tags[0]) if tags else image_id
