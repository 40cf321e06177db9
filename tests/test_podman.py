"""Podman as the engine (its Docker-compatible API at ``DOCKER_HOST``): the same hosts, faults and images.

Run with ``eval "$(bash scripts/podman.sh)"`` first. On any other engine these tests skip, unless
``ASYNCPLAY_REQUIRE_PODMAN=1`` (CI's Podman run), where they fail: a CI run that meant Podman but got
Docker must not pass quietly.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

from pytest_asyncplay import assert_play_failed, assert_play_ok, kill_job, restart_host, task_start
from pytest_asyncplay.errors import DockerUnavailableError
from pytest_asyncplay.image import (
    DEFAULT_IMAGE_SOURCE,
    IMAGE_SOURCE_ENV,
    docker_client,
    image_source,
    import_rootfs,
    is_podman,
)
from pytest_asyncplay.targets import LABEL, Engine, HostPool, ssh_command

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parent.parent / "example_playbooks"


@pytest.fixture(scope="session")
def podman() -> docker.DockerClient:
    """A client of the engine at ``DOCKER_HOST`` when it is Podman; else skip (fail with
    ``ASYNCPLAY_REQUIRE_PODMAN=1``)."""
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        client = docker_client()
        components = [c.get("Name") for c in client.version().get("Components") or []]
        reason = "" if is_podman(client) else f"the engine at {where} is not Podman (components: {components})"
    except DockerUnavailableError as exc:
        reason = f"no engine answers at {where}: {exc}"
    if reason:
        reason += "; start Podman with `eval \"$(bash scripts/podman.sh)\"`"
        if os.environ.get("ASYNCPLAY_REQUIRE_PODMAN") == "1":
            pytest.fail(reason + " (ASYNCPLAY_REQUIRE_PODMAN=1)", pytrace=False)
        pytest.skip(reason)
    return client


def test_the_engine_is_podman_and_its_hosts_run_under_its_init(podman, asyncplay_pool, asyncplay_hosts):
    (host,) = asyncplay_hosts
    assert is_podman(asyncplay_pool.client)
    assert "Podman Engine" in [c["Name"] for c in asyncplay_pool.client.version()["Components"]]
    container = asyncplay_pool.client.api.inspect_container(host.container_id)
    assert container["HostConfig"]["Init"] is True
    rc, output = host.exec("cat /proc/1/cmdline | tr '\\0' ' '")
    assert rc == 0 and output.startswith("/run/podman-init "), output  # Podman's init (catatonit), not tini
    assert host.exec("hostname") == (0, "host1\n")
    (binding,) = container["HostConfig"]["PortBindings"]["22/tcp"]
    assert binding == {"HostIp": "127.0.0.1", "HostPort": str(host.published_port)}
    found = asyncplay_pool.client.api.containers(filters={"label": f"{LABEL}={asyncplay_pool.session_id}"})
    assert host.container_id in [c["Id"] for c in found]


def test_a_killed_job_fails_the_play_on_podman(podman, asyncplay):
    result = asyncplay.run(EXAMPLES / "fire_and_forget_reaped.yml", faults=[kill_job("compress logs")])
    assert_play_failed(result, task="compress logs", host="host1")
    job = result.job("compress logs")
    assert job.outcome == "failed" and job.reaped, job.evidence()
    assert [f.applied for f in result.faults] == [True]
    assert result.unreaped_jobs == [] and result.swallowed_failures == []


@pytest.mark.asyncplay(hosts=2, fresh=True)
def test_restart_host_on_podman_kills_the_job_and_the_host_comes_back_on_its_port(podman, asyncplay,
                                                                                 asyncplay_hosts):
    host1 = asyncplay_hosts[0]
    port = host1.published_port
    result = asyncplay.run("playbooks/restart_window.yml",
                           faults=[restart_host("host1", at=task_start("pause on the controller"))])
    assert_play_failed(result, task="long job", host="host1")
    assert result.job("long job", host="host1").outcome == "vanished"
    (record,) = result.faults
    assert record.applied and record.host == "host1" and "restarted" in record.detail
    assert host1.published_port == port and host1.relay.upstream == ("127.0.0.1", port)
    assert_play_ok(asyncplay.run("playbooks/facts.yml", tags="identity"))
    assert host1.exec("test -d /home/ansible/.ansible_async")[0] == 0  # files persist across the restart


def test_a_port_podman_picks_is_read_back_and_still_right_after_a_restart(podman, tmp_path):
    # Engine(local=False): the engine picks the port, as for a remote engine; the relay follows it
    with HostPool(tmp_path, client=podman, engine=Engine("127.0.0.1", local=False)) as pool:
        (host,) = pool.start(["picked"])
        for _ in range(2):
            (published,) = podman.api.inspect_container(host.container_id)["NetworkSettings"]["Ports"]["22/tcp"]
            assert host.relay.upstream == ("127.0.0.1", int(published["HostPort"])) == (
                host.published_address, host.published_port)
            done = subprocess.run(ssh_command(host, "true"), capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            pool.restart(host)
    assert not podman.api.containers(all=True, filters={"label": f"{LABEL}={pool.session_id}"})


def test_a_rootfs_imported_through_the_api_gets_the_tag_it_was_given(podman, tmp_path):
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        data = b"stand-in\n"
        info = tarfile.TarInfo("etc/asyncplay-probe")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    probe = f"asyncplay-podman-probe-{uuid.uuid4().hex[:8]}"
    try:
        image_id = import_rootfs(podman, archive, f"{probe}:bookworm",
                                 ["LABEL pytest-asyncplay.probe=yes", 'CMD ["/bin/true"]'])
        image = podman.images.get(f"{probe}:bookworm")
        assert image.id == image_id
        assert image.labels["pytest-asyncplay.probe"] == "yes" and image.attrs["Config"]["Cmd"] == ["/bin/true"]
        assert not any(tag.endswith(":latest") for tag in image.tags), image.tags
    finally:
        for image in podman.images.list(name=probe):  # also the ":latest" a lost tag would leave
            podman.images.remove(image.id, force=True)


def test_podman_is_not_taken_for_another_engine_to_copy_images_from(podman, monkeypatch):
    # Podman's info makes up a new ID on every call: the engine must still be recognised as itself
    monkeypatch.setenv(IMAGE_SOURCE_ENV, os.environ.get("DOCKER_HOST") or DEFAULT_IMAGE_SOURCE)
    assert podman.info()["ID"] != podman.info()["ID"]  # the reason; when Podman stops that, this test is moot
    assert image_source(podman) is None


def test_podmans_set_up_slips_get_their_fix_named(podman, tmp_path):
    pool = HostPool(tmp_path, client=podman)
    init = pool._start_hint('container-init binary not found on the host: stat /usr/libexec/podman/catatonit', "i")
    assert "apt-get install catatonit" in init
    limits = pool._start_hint("error setting rlimit type 7: operation not permitted", "i")
    assert "default_ulimits = []" in limits and "containers.conf" in limits
