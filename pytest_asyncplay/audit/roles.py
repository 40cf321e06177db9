"""Where Ansible finds roles and collection content, worked out from the repo as Ansible would.

Roles: ``roles/`` beside the playbook, then ``roles_path`` (``ANSIBLE_ROLES_PATH``, else the
``ansible.cfg`` Ansible would use, else Ansible's defaults), then the depending role's folder,
then the playbook's folder; a name may hold ``/`` (``kubernetes/preinstall``) or be a path
(``../..``), joined onto each of those. ``ns.coll.role`` and ``import_playbook: ns.coll.site``
come from installed collections (``collections_path``/``ANSIBLE_COLLECTIONS_PATH``,
``collections/`` beside the playbook, an ``ansible_collections/`` tree in the repo, or the repo
itself when it is that collection).
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

__all__ = ["SearchPaths", "collection_name", "find_config", "search_paths"]

DEFAULT_ROLES_PATH = ("~/.ansible/roles", "/usr/share/ansible/roles", "/etc/ansible/roles")
DEFAULT_COLLECTIONS_PATH = ("~/.ansible/collections", "/usr/share/ansible/collections")
_FQCN = re.compile(r"([a-z_]\w*)\.([a-z_]\w*)\.([\w.]+)")


def collection_name(name: str) -> tuple[str, str, str] | None:
    """``(namespace, collection, rest)`` for a fully qualified name such as ``ns.coll.role``."""
    if "/" in name:
        return None
    match = _FQCN.fullmatch(name)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def find_config(start: Path) -> Path | None:
    """The ``ansible.cfg`` Ansible would use for a playbook in ``start``: ``ANSIBLE_CONFIG``, else the
    nearest ``ansible.cfg`` from ``start`` up to the repository's top (a folder holding ``.git``)."""
    env = os.environ.get("ANSIBLE_CONFIG")
    if env and Path(env).is_file():
        return Path(env).resolve()
    return _nearest_config(start.resolve())


@lru_cache(maxsize=512)
def _nearest_config(folder: Path) -> Path | None:
    candidate = folder / "ansible.cfg"
    if candidate.is_file():
        return candidate
    if (folder / ".git").exists() or folder.parent == folder:
        return None
    return _nearest_config(folder.parent)


@dataclass(frozen=True)
class SearchPaths:
    """Where roles and collections are looked for, after the playbook's own ``roles/``."""

    roles: tuple[Path, ...]
    collections: tuple[Path, ...]
    config: Path | None = None


def _split_paths(value: str, base: Path) -> list[Path]:
    out = []
    for part in value.replace(",", os.pathsep).split(os.pathsep):
        part = part.strip()
        if part:
            path = Path(os.path.expandvars(os.path.expanduser(part)))
            out.append(path if path.is_absolute() else base / path)
    return out


@lru_cache(maxsize=128)
def _from_config(config: Path | None) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    roles: list[Path] = []
    collections: list[Path] = []
    if config is not None:
        parser = configparser.ConfigParser(interpolation=None, strict=False, inline_comment_prefixes=(";", "#"))
        try:
            parser.read(config, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            pass  # Ansible would refuse it too; fall back to the defaults
        if parser.has_section("defaults"):
            defaults = parser["defaults"]
            roles = _split_paths(defaults.get("roles_path", ""), config.parent)
            collections = _split_paths(
                defaults.get("collections_path", defaults.get("collections_paths", "")), config.parent
            )
    return tuple(roles), tuple(collections)


def search_paths(playbook_dir: Path, extra_roles: Sequence[Path] = ()) -> SearchPaths:
    """The configured search paths for a playbook in ``playbook_dir``; ``extra_roles`` go first."""
    config = find_config(playbook_dir)
    cfg_roles, cfg_collections = _from_config(config)
    env_roles = os.environ.get("ANSIBLE_ROLES_PATH")
    roles = _split_paths(env_roles, Path.cwd()) if env_roles else list(cfg_roles)
    if not env_roles and not cfg_roles:
        roles = [Path(os.path.expanduser(p)) for p in DEFAULT_ROLES_PATH]
    env_collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.environ.get("ANSIBLE_COLLECTIONS_PATHS"))
    collections = _split_paths(env_collections, Path.cwd()) if env_collections else list(cfg_collections)
    if not env_collections and not cfg_collections:
        collections = [Path(os.path.expanduser(p)) for p in DEFAULT_COLLECTIONS_PATH]
    own = _collection_root(playbook_dir.resolve())  # a playbook inside a collection finds its roles by short name
    if own is not None:
        roles.append(own / "roles")
    return SearchPaths((*extra_roles, *roles), tuple(collections), config)


@lru_cache(maxsize=512)
def _collection_root(folder: Path) -> Path | None:
    """The collection (a folder with ``galaxy.yml``) that ``folder`` lies in, up to the repository's top."""
    if (folder / "galaxy.yml").is_file():
        return folder
    if (folder / ".git").exists() or folder.parent == folder:
        return None
    return _collection_root(folder.parent)


def role_candidates(name: str, play_dir: Path, paths: SearchPaths, depending_role: Path | None) -> list[Path]:
    """Every folder Ansible tries for role ``name``, in its order (a path-like name included)."""
    bases = [play_dir / "roles", *paths.roles]
    if depending_role is not None:
        bases.append(depending_role.parent)
    bases.append(play_dir)
    candidates = [Path(os.path.normpath(base / name)) for base in bases]
    if Path(name).is_absolute():
        candidates.insert(0, Path(name))
    return list(dict.fromkeys(candidates))


def collection_roots(namespace: str, collection: str, play_dir: Path, paths: SearchPaths) -> list[Path]:
    """Folders that would hold collection ``namespace.collection``, in the order they are tried."""
    roots = [play_dir / "collections", *paths.collections]
    found = [root / "ansible_collections" / namespace / collection for root in roots]
    for folder in (play_dir, *play_dir.parents):
        if folder.name == "ansible_collections":
            found.append(folder / namespace / collection)
        if _is_collection(folder, namespace, collection):
            found.append(folder)
        if (folder / ".git").exists():
            break
    return list(dict.fromkeys(found))


@lru_cache(maxsize=256)
def _is_collection(folder: Path, namespace: str, collection: str) -> bool:
    galaxy = folder / "galaxy.yml"
    if not galaxy.is_file():
        return False
    try:
        data = yaml.safe_load(galaxy.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("namespace") == namespace and data.get("name") == collection


def first_dir(candidates: Iterable[Path]) -> Path | None:
    """The first candidate that is a folder."""
    return next((c for c in candidates if c.is_dir()), None)
