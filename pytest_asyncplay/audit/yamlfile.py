"""A YAML loader that remembers lines: every mapping and list carries ``.line`` (1-based start line).

Ansible's ``!unsafe`` and ``!vault`` tags load as plain strings. No Ansible import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

import yaml

from pytest_asyncplay.errors import PlaybookSyntaxError

__all__ = ["StrPath", "line_of", "load_yaml"]

StrPath = Union[str, "os.PathLike[str]"]



class _LineMapping(dict[Any, Any]):
    """A YAML mapping that remembers the 1-based line it starts on."""

    line: int = 0


class _LineList(list[Any]):
    """A YAML sequence that remembers the 1-based line it starts on."""

    line: int = 0


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: ~5x faster


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader that records the start line of every mapping and sequence.

    Ansible's ``!unsafe`` and ``!vault`` tags load as plain strings.
    """


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[_LineMapping]:
    data = _LineMapping()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[_LineList]:
    data = _LineList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))


def _construct_tagged_string(loader: _Loader, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    return ""


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("!unsafe", _construct_tagged_string)
_Loader.add_constructor("!vault", _construct_tagged_string)


def load_yaml(path: StrPath) -> Any:
    """Load one YAML file; mappings and lists carry a ``.line`` (1-based start line).

    Raises :class:`PlaybookSyntaxError` naming ``file:line`` when the file cannot be read or parsed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookSyntaxError(
            f"{path}: cannot be read: {exc}", hint="Check that the file exists and is UTF-8 text."
        ) from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise PlaybookSyntaxError(
            f"{where}: invalid YAML: {problem}",
            hint="Fix the YAML at that line (indentation, a ':' inside an unquoted string, or a "
            "value starting with '{{' that needs quotes); `ansible-playbook --syntax-check` "
            "points at the same spot.",
        ) from exc
    except yaml.YAMLError as exc:
        raise PlaybookSyntaxError(f"{path}: invalid YAML: {exc}", hint="Fix the YAML syntax of the file.") from exc


def line_of(node: object) -> int:
    """The 1-based line a loaded mapping or list starts on (0 for scalars)."""
    return int(getattr(node, "line", 0))


class Files:
    """What one discovery run has read of the file system, so that each file is parsed, resolved and
    stat'ed once however many playbooks reach it (a repo of 400 playbooks importing each other reads the
    same role files thousands of times). Broken files are remembered as their :class:`PlaybookSyntaxError`."""

    def __init__(self) -> None:
        self._data: dict[Path, Any] = {}
        self._real: dict[Path, Path] = {}
        self._file: dict[Path, bool] = {}
        self._dir: dict[Path, bool] = {}
        #: Anything else worth computing once per run (group_vars, search paths), by a key of the caller's.
        self.memo: dict[Any, Any] = {}

    @staticmethod
    def _once(table: dict[Path, Any], path: Path, compute: Callable[[], Any]) -> Any:
        if path not in table:
            table[path] = compute()
        return table[path]

    def real(self, path: Path) -> Path:
        """``path.resolve()``, once."""
        return self._once(self._real, path, path.resolve)  # type: ignore[no-any-return]

    def is_file(self, path: Path) -> bool:
        """``path.is_file()``, once."""
        return self._once(self._file, path, path.is_file)  # type: ignore[no-any-return]

    def is_dir(self, path: Path) -> bool:
        """``path.is_dir()``, once."""
        return self._once(self._dir, path, path.is_dir)  # type: ignore[no-any-return]

    def data(self, path: Path) -> Any:
        """The loaded YAML of ``path``, or the :class:`PlaybookSyntaxError` it gave."""
        key = self.real(path)
        if key not in self._data:
            try:
                self._data[key] = load_yaml(path)
            except PlaybookSyntaxError as exc:
                self._data[key] = exc
        return self._data[key]

    def load(self, path: Path) -> Any:
        """The loaded YAML of ``path``; raises its :class:`PlaybookSyntaxError`."""
        data = self.data(path)
        if isinstance(data, PlaybookSyntaxError):
            raise data
        return data
