"""The pytest plugin: options, the ``asyncplay`` marker and the fixtures. Thin: the work is in the core.

Loaded through the ``pytest11`` entry point ``asyncplay``. Nothing here touches Docker until a test
asks for a fixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pytest

from .image import DEFAULT_BASE
from .runner import PlaybookRunner, inventory_hosts
from .targets import HostPool, Target

MARKER_HELP = (
    "asyncplay(hosts=1, groups=None, image=None, inventory=None, fresh=False): the hosts a test plays on. "
    "hosts: a count (host1, host2, ...) or a list of names; groups: {group: [host, ...]}; image: the base "
    "image the target image is built FROM; inventory: the repo's inventory, each host mapped onto a "
    "container; fresh: new hosts for this test instead of reused, reset ones."
)


@dataclass(frozen=True)
class HostSpec:
    """The validated arguments of one ``asyncplay`` marker; equal specs share (reset) hosts."""

    names: tuple[str, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    image: Optional[str]
    inventory: Optional[Path]
    fresh: bool

    @property
    def group_map(self) -> dict[str, list[str]]:
        """The groups as a plain mapping."""
        return {name: list(members) for name, members in self.groups}


def host_spec(
    hosts: Union[int, Sequence[str]] = 1,
    groups: Optional[Mapping[str, Sequence[str]]] = None,
    image: Optional[str] = None,
    inventory: Union[str, Path, None] = None,
    fresh: bool = False,
    *,
    base_dirs: Sequence[Path] = (),
) -> HostSpec:
    """Validate marker arguments (``pytest.UsageError`` naming the bad one) and return a ``HostSpec``."""
    def usage(message: str) -> pytest.UsageError:
        return pytest.UsageError(f"@pytest.mark.asyncplay: {message}")

    inventory_path: Optional[Path] = None
    if inventory is not None:
        candidates = [Path(inventory)] if Path(inventory).is_absolute() else [d / inventory for d in base_dirs]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise usage(f"inventory={str(inventory)!r} does not exist (looked at "
                        f"{', '.join(map(str, candidates)) or inventory}); give a path relative to the test file.")
        inventory_path = found.resolve()
        if hosts != 1:
            raise usage("give either hosts= or inventory=, not both: with inventory= every inventory host "
                        "becomes a container.")
        names: tuple[str, ...] = tuple(inventory_hosts(inventory_path))
    elif isinstance(hosts, bool) or not isinstance(hosts, (int, list, tuple)):
        raise usage(f"hosts={hosts!r} must be a count (hosts=2) or a list of names (hosts=['web', 'db']).")
    elif isinstance(hosts, int):
        if hosts < 1:
            raise usage(f"hosts={hosts} starts no host; give hosts=1 or more.")
        names = tuple(f"host{i}" for i in range(1, hosts + 1))
    else:
        names = tuple(str(h) for h in hosts)
        if not names:
            raise usage("hosts=[] starts no host; name at least one.")
        if len(set(names)) != len(names):
            raise usage(f"hosts={list(names)} names a host twice.")
    group_items: list[tuple[str, tuple[str, ...]]] = []
    if groups is not None:
        if not isinstance(groups, Mapping):
            raise usage(f"groups={groups!r} must map a group name to a list of host names.")
        for group, members in groups.items():
            members = (members,) if isinstance(members, str) else tuple(members)
            unknown = [m for m in members if m not in names]
            if unknown:
                raise usage(f"groups={{{group!r}: ...}} names unknown host(s) {unknown}; the hosts are {list(names)}.")
            group_items.append((str(group), members))
    if image is not None and not isinstance(image, str):
        raise usage(f"image={image!r} must be an image name such as 'debian:bookworm-slim'.")
    return HostSpec(names, tuple(group_items), image, inventory_path, bool(fresh))


def spec_for(item: pytest.Item) -> HostSpec:
    """The ``HostSpec`` of a test: from its closest ``asyncplay`` marker, or the defaults."""
    marker = item.get_closest_marker("asyncplay")
    args: tuple[Any, ...] = marker.args if marker else ()
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    base_dirs = [Path(str(item.path)).parent, Path(str(item.config.rootpath))]
    try:
        return host_spec(*args, **kwargs, base_dirs=base_dirs)
    except TypeError as exc:
        raise pytest.UsageError(f"@pytest.mark.asyncplay: {exc}".replace("host_spec()", "asyncplay()")) from exc


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options and ini settings of pytest-asyncplay."""
    group = parser.getgroup("asyncplay", "pytest-asyncplay: Ansible async jobs on real SSH hosts")
    group.addoption("--asyncplay-base", default=None,
                    help=f"base image the target image is built FROM (default: ini asyncplay_base or {DEFAULT_BASE}).")
    parser.addini("asyncplay_base", f"base image the target image is built FROM (default {DEFAULT_BASE}).",
                  default=DEFAULT_BASE)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker with its full signature."""
    config.addinivalue_line("markers", MARKER_HELP)


@pytest.fixture(scope="session")
def asyncplay_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostPool]:
    """The session's hosts (one pool per xdist worker); every container is removed at the end."""
    base = request.config.getoption("asyncplay_base") or request.config.getini("asyncplay_base") or DEFAULT_BASE
    pool = HostPool(tmp_path_factory.mktemp("asyncplay"), base=str(base))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def asyncplay_hosts(request: pytest.FixtureRequest) -> Iterator[list[Target]]:
    """The test's hosts (per the ``asyncplay`` marker): reused and reset when an earlier test had the same."""
    spec = spec_for(request.node)  # a bad marker fails here, before anything starts
    asyncplay_pool: HostPool = request.getfixturevalue("asyncplay_pool")
    key = None if spec.fresh else spec
    targets = asyncplay_pool.hosts(spec.names, base=spec.image, key=key)
    try:
        yield targets
    finally:
        if spec.fresh:
            asyncplay_pool.remove(targets)


@pytest.fixture
def asyncplay(request: pytest.FixtureRequest, asyncplay_hosts: list[Target], tmp_path: Path) -> PlaybookRunner:
    """A runner bound to the test's hosts: ``asyncplay.run(playbook, faults=..., ...) -> PlayResult``."""
    spec = spec_for(request.node)
    return PlaybookRunner(
        asyncplay_hosts, groups=spec.group_map, inventory=spec.inventory,
        search=[Path(str(request.node.path)).parent], rootdir=Path(str(request.config.rootpath)),
        workdir=tmp_path / "asyncplay",
    )
