"""Hosts on another Docker engine: published on that engine's address, reached there, a real faulted play.

Needs the second engine of ``scripts/second-engine.sh`` (``tcp://127.0.0.2:2375``, or ``ASYNCPLAY_REMOTE_DOCKER_HOST``);
without it these tests skip, unless ``ASYNCPLAY_REQUIRE_REMOTE=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import docker
import pytest

from pytest_asyncplay import assert_play_failed, kill_job
from pytest_asyncplay.runner import PlaybookRunner
from pytest_asyncplay.targets import LABEL, HostPool, engine_endpoint, ssh_command

pytestmark = pytest.mark.docker

REMOTE = os.environ.get("ASYNCPLAY_REMOTE_DOCKER_HOST", "tcp://127.0.0.2:2375")
REMOTE_ADDRESS = "127.0.0.2" if REMOTE == "tcp://127.0.0.2:2375" else engine_endpoint(docker_host=REMOTE).address
EXAMPLES = Path(__file__).resolve().parent.parent / "example_playbooks"


@pytest.fixture(scope="session")
def remote_engine():
    """``DOCKER_HOST`` pointing at the second engine for the session's remote tests; skips when it is not
    running (fails instead with ``ASYNCPLAY_REQUIRE_REMOTE=1``)."""
    try:
        client = docker.DockerClient(base_url=REMOTE, timeout=10)
        client.ping()
        client.close()
    except docker.errors.DockerException as exc:
        reason = (f"no second Docker engine at {REMOTE} ({type(exc).__name__}); start it with "
                  "`bash scripts/second-engine.sh`")
        if os.environ.get("ASYNCPLAY_REQUIRE_REMOTE") == "1":
            pytest.fail(reason + " (ASYNCPLAY_REQUIRE_REMOTE=1)", pytrace=False)
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", REMOTE)
        patch.delenv("ASYNCPLAY_PUBLISH_ADDRESS", raising=False)
        yield REMOTE


@pytest.fixture(scope="session")
def remote_pool(remote_engine):
    """A host pool on the second engine (its image copied there from the local engine when missing)."""
    with HostPool(Path(tempfile.mkdtemp(prefix="asyncplay-remote-"))) as pool:
        assert pool.image
        yield pool
    client = docker.DockerClient(base_url=remote_engine)
    assert not client.api.containers(all=True, filters={"label": f"{LABEL}={pool.session_id}"})


@pytest.fixture(scope="session")
def remote_host(remote_pool):
    (host,) = remote_pool.start(["host1"])
    return host


def test_the_port_is_published_on_the_remote_engines_address(remote_pool, remote_host):
    assert remote_pool.engine.address == REMOTE_ADDRESS and not remote_pool.engine.local
    assert remote_pool.client.api.base_url.endswith(REMOTE.split("://", 1)[1])
    container = remote_pool.client.api.inspect_container(remote_host.container_id)
    (binding,) = container["HostConfig"]["PortBindings"]["22/tcp"]
    assert binding["HostIp"] == REMOTE_ADDRESS  # never 0.0.0.0
    (published,) = container["NetworkSettings"]["Ports"]["22/tcp"]
    assert (published["HostIp"], int(published["HostPort"])) == (REMOTE_ADDRESS, remote_host.published_port)
    assert remote_host.relay.upstream == (REMOTE_ADDRESS, remote_host.published_port)
    assert remote_host.address == "127.0.0.1"  # Ansible talks to the relay in this process
    assert f"[127.0.0.1]:{remote_host.port} ssh-ed25519 " in remote_host.known_hosts_file.read_text()


def test_ssh_works_through_the_relay_and_straight_to_the_engine(remote_host):
    key = remote_host.known_hosts_file.read_text().split(f"[127.0.0.1]:{remote_host.port} ", 1)[1].splitlines()[0]
    known = remote_host.known_hosts_file.with_name("known_hosts_direct")
    known.write_text(f"[{remote_host.published_address}]:{remote_host.published_port} {key}\n")
    direct = [a.replace(str(remote_host.known_hosts_file), str(known))
              for a in ssh_command(remote_host, "sudo -n id -u", direct=True)]
    assert f"ansible@{REMOTE_ADDRESS}" in direct
    for argv in (ssh_command(remote_host, "sudo -n id -u"), direct):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0"


def test_a_killed_job_fails_the_play_on_a_remote_host(remote_host, tmp_path):
    remote_host.pool.reset([remote_host])
    runner = PlaybookRunner([remote_host], workdir=tmp_path / "runs")
    result = runner.run(EXAMPLES / "fire_and_forget_reaped.yml", faults=[kill_job("compress logs")])
    assert_play_failed(result, task="compress logs", host="host1")
    job = result.job("compress logs")
    assert job.outcome == "failed" and job.reaped and job.host == "host1"
    assert [f.applied for f in result.faults] == [True]
    assert result.unreaped_jobs == [] and result.swallowed_failures == []


def test_a_restart_on_the_remote_engine_repoints_the_relay(remote_pool, remote_host):
    remote_pool.restart(remote_host)  # the engine picked the port: it may pick another one now
    container = remote_pool.client.api.inspect_container(remote_host.container_id)
    (published,) = container["NetworkSettings"]["Ports"]["22/tcp"]
    assert remote_host.relay.upstream == (REMOTE_ADDRESS, int(published["HostPort"])) == (
        remote_host.published_address, remote_host.published_port)
    done = subprocess.run(ssh_command(remote_host, "true"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_the_remote_image_is_the_local_one_copied_so_the_content_hash_holds(remote_pool):
    local = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    try:
        local_image = local.images.get(remote_pool.image)
    except docker.errors.ImageNotFound:
        pytest.skip("the local engine has no target image to compare with")
    assert remote_pool.client.images.get(remote_pool.image).id == local_image.id
