"""The target image: built once per content hash, on a base or its debootstrapped stand-in."""

from __future__ import annotations

import os

import docker
import pytest

from pytest_asyncplay.errors import ImageBuildError
from pytest_asyncplay.image import (
    BASE_REPOSITORY,
    SUBSTITUTE_LABEL,
    TARGET_REPOSITORY,
    context_hash,
    debian_suite,
    ensure_image,
    resolve_base,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
    return docker.from_env()


def test_the_image_is_built_once_and_then_reused(client):
    first = ensure_image(client, pull="never")
    created = client.images.get(first).attrs["Created"]
    assert ensure_image(client, pull="never") == first  # same tag: nothing rebuilt
    assert client.images.get(first).attrs["Created"] == created
    assert first.startswith(f"{TARGET_REPOSITORY}:")


def test_the_base_is_never_a_target_image(client):
    base_id = resolve_base(client, pull="never")
    base = client.images.get(base_id)
    assert not any(tag.startswith(TARGET_REPOSITORY) for tag in base.tags)
    target = client.images.get(ensure_image(client, pull="never"))
    assert target.labels.get(SUBSTITUTE_LABEL, "") == ""  # the stand-in's label is not inherited
    assert ensure_image(client, pull="never").endswith(context_hash(base_id))


def test_a_base_that_cannot_be_had_is_a_clear_error(client):
    with pytest.raises(ImageBuildError, match=r"not a Debian image that debootstrap could make.*\nHint: load it"):
        resolve_base(client, "example.invalid/nothing:here", pull="never")


def test_debian_suite_names():
    assert debian_suite("debian:bookworm-slim") == "bookworm"
    assert debian_suite("docker.io/library/debian:trixie") == "trixie"
    assert debian_suite("ubuntu:24.04") is None
    assert BASE_REPOSITORY != TARGET_REPOSITORY


def test_an_engine_is_never_its_own_image_source(client, monkeypatch):
    from pytest_asyncplay.image import DEFAULT_IMAGE_SOURCE, IMAGE_SOURCE_ENV, image_source

    monkeypatch.delenv(IMAGE_SOURCE_ENV, raising=False)
    if os.environ.get("DOCKER_HOST", "") in ("", DEFAULT_IMAGE_SOURCE):
        assert image_source(client) is None  # the client is the default local engine itself
    monkeypatch.setenv(IMAGE_SOURCE_ENV, "unix:///nonexistent/docker.sock")
    assert image_source(client) is None


def test_copy_image_finds_nothing_to_copy_without_error(client):
    from pytest_asyncplay.image import copy_image

    assert copy_image(client, client, ["pytest-asyncplay-nothing:here"]) is None
