"""The hosts: real SSH containers, pinned host keys, labels, reuse with reset, testinfra."""

from __future__ import annotations

import stat
import subprocess

import pytest

from pytest_asyncplay import assert_play_ok
from pytest_asyncplay.plugin import host_spec
from pytest_asyncplay.targets import LABEL, OWNER_PID_LABEL, ssh_command


def spec_for_hosts(count):
    """The key under which the plugin keeps hosts for ``@pytest.mark.asyncplay(hosts=count)``."""
    return host_spec(hosts=count)


def test_one_host_by_default(asyncplay_hosts):
    (host,) = asyncplay_hosts
    assert host.name == "host1"
    assert host.address == "127.0.0.1"
    assert host.user == "ansible"
    assert stat.S_IMODE(host.identity_file.stat().st_mode) == 0o600
    key_line = f"[127.0.0.1]:{host.port} ssh-ed25519 "
    assert key_line in host.known_hosts_file.read_text()


def test_host_container_is_labelled_published_on_loopback_and_runs_an_init(asyncplay_hosts, asyncplay_pool):
    (host,) = asyncplay_hosts
    container = asyncplay_pool.client.containers.get(host.container_id)
    assert container.labels[LABEL] == asyncplay_pool.session_id
    assert container.labels[OWNER_PID_LABEL].isdigit()
    bindings = container.attrs["HostConfig"]["PortBindings"]["22/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(host.published_port)}]
    assert host.relay.port == host.port and host.relay.upstream == ("127.0.0.1", host.published_port)
    assert container.attrs["HostConfig"]["Init"] is True
    rc, output = host.exec("cat /proc/1/cmdline | tr '\\0' ' '")
    assert rc == 0 and "init" in output


def test_ssh_uses_the_pinned_host_key_and_rejects_a_wrong_one(asyncplay_hosts, tmp_path):
    (host,) = asyncplay_hosts
    done = subprocess.run(ssh_command(host, "sudo -n id -u"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{host.port} ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    argv = [a.replace(str(host.known_hosts_file), str(wrong)) for a in ssh_command(host, "true")]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in refused.stderr or "verification failed" in refused.stderr


def test_root_login_by_key_only(asyncplay_hosts):
    (host,) = asyncplay_hosts
    rc, config = host.exec("sshd -T 2>/dev/null | grep -Ei '^(permitrootlogin|passwordauthentication) '")
    assert rc == 0
    assert "permitrootlogin without-password" in config or "permitrootlogin prohibit-password" in config
    assert "passwordauthentication no" in config


def test_exec_runs_on_the_host_without_ssh(asyncplay_hosts):
    (host,) = asyncplay_hosts
    assert host.exec("hostname") == (0, "host1\n")
    rc, output = host.exec(["sh", "-c", "exit 3"])
    assert rc == 3 and output == ""
    assert host.exec("id -un", user="ansible") == (0, "ansible\n")


def test_testinfra_host_connects_over_ssh(asyncplay_hosts):
    (host,) = asyncplay_hosts
    infra = host.testinfra
    assert infra.user().name == "ansible"
    assert infra.file("/etc/sudoers.d/ansible").exists
    assert infra.run("python3 -c 'print(6*7)'").stdout.strip() == "42"
    assert infra.backend.get_connection_type() == "ssh"


@pytest.mark.asyncplay(hosts=["web", "db"], groups={"web": ["web"]})
def test_named_hosts_and_groups(asyncplay_hosts, asyncplay):
    assert [h.name for h in asyncplay_hosts] == ["web", "db"]
    result = asyncplay.run("playbooks/facts.yml", tags="groups")
    assert_play_ok(result)
    ran = {e["event_data"]["host"] for e in result.events
           if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "only on the web group"}
    assert ran == {"web"}


@pytest.mark.asyncplay(hosts=2)
def test_hosts_are_reused_and_reset_between_tests(asyncplay_hosts, asyncplay, asyncplay_pool):
    result = asyncplay.run("playbooks/leftover_job.yml")
    assert_play_ok(result)
    assert {j.outcome for j in result.jobs} == {"running"}
    # what the next test with the same marker arguments gets:
    again = asyncplay_pool.hosts([h.name for h in asyncplay_hosts], key=spec_for_hosts(2))
    assert [(h.container_id, h.port) for h in again] == [(h.container_id, h.port) for h in asyncplay_hosts]
    for host in again:
        _, leftovers = host.exec("ps -eo args | grep -c '[s]leep 300' ; ls -A /home/ansible/.ansible_async 2>&1")
        assert leftovers.splitlines()[0] == "0"
        assert "No such file" in leftovers


FRESH_SESSION = """
    from pathlib import Path

    import pytest

    SEEN = Path(__file__).with_name("seen.txt")


    def test_1_reused(asyncplay_hosts):
        SEEN.write_text(asyncplay_hosts[0].container_id + "\\n")


    @pytest.mark.asyncplay(fresh=True)
    def test_2_fresh(asyncplay_hosts, asyncplay_pool):
        (host,) = asyncplay_hosts
        assert host.container_id not in SEEN.read_text().split()
        assert asyncplay_pool.client.containers.get(host.container_id).status == "running"
        with SEEN.open("a") as seen:
            seen.write(host.container_id + "\\n")


    def test_3_after_the_fresh_test(asyncplay_pool):
        reused, fresh = SEEN.read_text().split()
        present = {c.id for c in asyncplay_pool.client.containers.list(all=True)}
        assert fresh not in present and reused in present
"""


@pytest.mark.docker  # starts hosts in a subprocess
def test_fresh_hosts_are_new_and_removed_after(pytester):
    # "after" is after the fresh test's own teardown, so a test of its own cannot see it: a real session
    # plays reused hosts, then fresh ones, then checks the fresh container is gone while the session goes on
    from helpers import orphans

    pytester.makepyfile(test_fresh=FRESH_SESSION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_1_reused PASSED*", "*test_2_fresh PASSED*",
                                 "*test_3_after_the_fresh_test PASSED*"])
    reused, fresh = (pytester.path / "seen.txt").read_text().split()
    assert reused != fresh  # fresh hosts are new containers, not the reused ones reset
    assert orphans() == []  # and the session removed the rest at its end


def test_concurrent_reapers_remove_dead_owners_containers_without_tripping(asyncplay_pool, asyncplay_hosts):
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from pytest_asyncplay.targets import OWNER_MACHINE_LABEL, reap_orphans

    client = asyncplay_pool.client
    dead_pid = 4_000_000  # above Linux's pid_max: never a live process
    labels = {LABEL: "orphan-test", OWNER_PID_LABEL: str(dead_pid), OWNER_MACHINE_LABEL: socket.gethostname()}
    ids = [client.containers.create(asyncplay_pool.image, command="sleep 60", labels=labels).id for _ in range(4)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: reap_orphans(client), range(3)))
    assert set(ids) <= {i for removed in results for i in removed}
    assert not client.api.containers(all=True, filters={"label": f"{LABEL}=orphan-test"})
    mine = client.api.containers(all=True, filters={"label": f"{LABEL}={asyncplay_pool.session_id}"})
    assert asyncplay_hosts[0].container_id in {c["Id"] for c in mine}  # live owners' containers are untouched


def test_a_start_where_several_hosts_fail_names_each_and_removes_the_ones_that_started(asyncplay_pool, tmp_path):
    from pytest_asyncplay.errors import HostStartError
    from pytest_asyncplay.targets import HostPool

    pool = HostPool(tmp_path, base=asyncplay_pool.base, image=asyncplay_pool.image, client=asyncplay_pool.client)
    real_start_one, started = pool._start_one, []

    def start_one(name, image):
        if name.startswith("bad"):
            raise HostStartError(f"{name} refused to start", "none")
        started.append(real_start_one(name, image))
        return started[-1]

    pool._start_one = start_one
    with pytest.raises(HostStartError, match=r"(?s)2 of 3 hosts did not start.*- bad1: bad1 refused.*- bad2: bad2"):
        pool.start(["good", "bad1", "bad2"])
    (good,) = started
    present = {c["Id"] for c in pool.client.api.containers(all=True, filters={"label": f"{LABEL}={pool.session_id}"})}
    assert good.container_id not in present and not present


@pytest.mark.parametrize(("docker_host", "override", "expected"), [
    ("", "", ("127.0.0.1", True)),
    ("unix:///var/run/docker.sock", "", ("127.0.0.1", True)),
    ("tcp://127.0.0.2:2375", "", ("127.0.0.2", False)),
    ("ssh://deploy@192.0.2.7:2222", "", ("192.0.2.7", False)),
    ("tcp://localhost:2375", "", ("127.0.0.1", False)),
    ("tcp://198.51.100.1:2376", "10.0.0.5", ("10.0.0.5", False)),
    ("", "127.0.0.3", ("127.0.0.3", True)),
])
def test_the_engine_address_comes_from_docker_host_or_the_override(monkeypatch, docker_host, override, expected):
    from pytest_asyncplay.targets import PUBLISH_ADDRESS_ENV, engine_endpoint

    monkeypatch.setenv(PUBLISH_ADDRESS_ENV, override)
    engine = engine_endpoint(docker_host=docker_host)
    assert (engine.address, engine.local) == expected


@pytest.mark.parametrize(("docker_host", "override", "message"), [
    ("tcp://0.0.0.0:2375", "", "every interface"),
    ("tcp://198.51.100.1:2376", "::", "every interface"),
    ("", "192.0.2.2", "not a loopback address"),
])
def test_an_engine_address_that_would_publish_beyond_loopback_or_everywhere_is_refused(
        monkeypatch, docker_host, override, message):
    from pytest_asyncplay.errors import HostStartError
    from pytest_asyncplay.targets import PUBLISH_ADDRESS_ENV, engine_endpoint

    monkeypatch.setenv(PUBLISH_ADDRESS_ENV, override)
    with pytest.raises(HostStartError, match=rf"(?s){message}.*\nHint: "):
        engine_endpoint(docker_host=docker_host)


def test_a_client_on_a_tcp_engine_gives_its_address(monkeypatch):
    import docker

    from pytest_asyncplay.targets import engine_endpoint

    monkeypatch.delenv("ASYNCPLAY_PUBLISH_ADDRESS", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")  # the client wins over the environment
    client = docker.DockerClient(base_url="tcp://127.0.0.2:2375", version="1.41")  # no call to the engine
    assert engine_endpoint(client) == engine_endpoint(docker_host="tcp://127.0.0.2:2375")
    client.close()


@pytest.mark.asyncplay(hosts=2)
def test_each_host_has_its_own_host_key_made_by_the_session_and_kept_private(asyncplay_hosts):
    known = asyncplay_hosts[0].known_hosts_file.read_text()
    keys = []
    for host in asyncplay_hosts:
        rc, output = host.exec("stat -c '%a %U' /etc/ssh/ssh_host_ed25519_key; cat /etc/ssh/ssh_host_ed25519_key.pub")
        mode, public = output.splitlines()
        assert rc == 0 and mode == "600 root"
        assert f"[127.0.0.1]:{host.port} {public}" in known
        keys.append(public)
    assert len(set(keys)) == 2
