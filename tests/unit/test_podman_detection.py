"""Telling Podman from Docker by the engine's own version report (payloads recorded from Docker 20.10
(Debian's docker.io) and Podman 4.3 (Debian's podman), trimmed to what the detection reads)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_asyncplay.image import is_podman

DOCKER_20_10 = {"Platform": {"Name": ""}, "Components": [
    {"Name": "Engine", "Version": "20.10.24+dfsg1"}, {"Name": "containerd"}, {"Name": "runc"},
    {"Name": "docker-init"}], "Version": "20.10.24+dfsg1", "ApiVersion": "1.41"}
DOCKER_CE = {"Platform": {"Name": "Docker Engine - Community"}, "Components": [{"Name": "Engine"}]}
PODMAN_4_3 = {"Platform": {"Name": "linux/amd64/debian-12"}, "Components": [
    {"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon"}, {"Name": "OCI Runtime (runc)"}],
    "Version": "4.3.1", "ApiVersion": "1.41"}
PODMAN_BY_PLATFORM = {"Platform": {"Name": "Podman Engine"}, "Version": "5.0.0"}


class Recorded:
    """An engine client that answers ``version()`` with a recorded payload and counts the calls."""

    def __init__(self, version: dict[str, Any]) -> None:
        self.payload = version
        self.calls = 0

    def version(self) -> dict[str, Any]:
        self.calls += 1
        return self.payload


@pytest.mark.parametrize(("payload", "expected"), [
    (DOCKER_20_10, False), (DOCKER_CE, False), (PODMAN_4_3, True), (PODMAN_BY_PLATFORM, True),
    ({"Version": "1.0"}, False),
])
def test_podman_is_told_by_its_components_or_platform(payload, expected):
    assert is_podman(Recorded(payload)) is expected  # type: ignore[arg-type]


def test_the_engine_is_asked_once_per_client():
    client = Recorded(PODMAN_4_3)
    assert is_podman(client) and is_podman(client)  # type: ignore[arg-type]
    assert client.calls == 1
