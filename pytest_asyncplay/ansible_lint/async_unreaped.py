"""ansible-lint rule ``async-unreaped``: a fire-and-forget job (``async: N`` + ``poll: 0``) whose failure can leave
the play green, as pytest-asyncplay's reap lint finds it (the analysis and verdicts of ``pytest --asyncplay-lint``).

ansible-lint imports this file as a top-level module from its rules directory (``-r`` or ``rulesdir:``), so
every import here is absolute. The analysis runs once per ansible-lint run,
over the paths ansible-lint was given (else its working directory), as :func:`pytest_asyncplay.audit.lint` runs
on them; each finding is reported once, at the fire-and-forget task's ``file:line``, when ansible-lint reaches
that file or the playbook whose walk found it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ansiblelint.errors import LintWarning, MatchError, WarnSource
from ansiblelint.file_utils import Lintable
from ansiblelint.rules import AnsibleLintRule, TransformMixin

from pytest_asyncplay.ansible_lint import RULE_ID
from pytest_asyncplay.audit import Finding, lint
from pytest_asyncplay.audit.fix import FIXABLE, plan_fixes
from pytest_asyncplay.audit.lint import distinct

__all__ = ["DOCS", "AsyncUnreapedRule", "Located", "locate"]

#: Where the rule is documented (``ansible-lint`` links every match of the rule there).
DOCS = "https://github.com/pytest-asyncplay/pytest-asyncplay/blob/main/docs/ansible-lint.md"
#: The tag of advice (reported as ansible-lint warnings: they never fail the run without ``--strict``).
ADVICE_TAG = f"{RULE_ID}[advice]"


@dataclass(frozen=True)
class Located:
    """A finding with where it is reported: its task's (resolved) file and line, and the playbook whose walk
    found it (a role or task file no playbook reaches is its own walk)."""

    finding: Finding
    file: Path
    line: int
    walk: Path

    @property
    def key(self) -> tuple[Path, int, str, Optional[Path], Optional[int]]:
        """What makes two findings one: the same task, kind and reap, whichever playbook's walk found them."""
        return self.file, self.line, self.finding.kind, self.finding.reap_file, self.finding.reap_line


def locate(finding: Finding) -> Located:
    """Where ``finding`` is reported: its task's line, or line 1 of a broken playbook (kind ``error``)."""
    if finding.task is not None:
        return Located(finding, finding.task.file.resolve(), finding.task.line, finding.task.playbook.resolve())
    playbook = Path(finding.playbook or ".").resolve()
    return Located(finding, playbook, 1, playbook)


def _message(finding: Finding) -> str:
    return finding.message if finding.severity == "swallows" else f"cannot establish: {finding.message}"


class AsyncUnreapedRule(AnsibleLintRule, TransformMixin):
    """A fire-and-forget job's failure can leave the play green. With ``ansible-lint --fix``, ``unreaped`` and
    ``reap-no-until`` get the change ``asyncplay lint --fix`` writes (``transform``)."""

    id = RULE_ID
    description = (
        "Every task with async: N and poll: 0 needs a later async_status reap that fails the play when the job "
        "fails (register the launch, reap with until: <result>.finished, no ignore_errors, failed_when: false, "
        "rescue or when: that skips it). Findings come from pytest-asyncplay's reap lint, the same analysis as "
        "pytest --asyncplay-lint; 'cannot establish' means the lint could not judge the task."
    )
    severity = "HIGH"
    tags = ["async", "reliability"]
    version_changed = "0.1.0"
    link = DOCS

    @property
    def url(self) -> str:
        """The rule's page in pytest-asyncplay's docs (ansible-lint links every match there)."""
        return DOCS

    def __init__(self) -> None:
        super().__init__()
        self._analysed: dict[tuple[Path, ...], list[Located]] = {}
        self._reported: set[tuple[Path, int, str, Optional[Path], Optional[int]]] = set()
        self._fixed: dict[Path, bool] = {}  # file -> whether its fix was applied (one fix per file, every match)

    def located(self) -> list[Located]:
        """Every finding of the reap lint over what ansible-lint lints: the paths it was given (those that exist),
        else its working directory; analysed once, one finding per task, kind and reap."""
        cwd = Path(self.options.cwd if self.options is not None else ".")
        given = [cwd / p for p in (self.options.lintables if self.options is not None else [])]
        paths = tuple(sorted({p.resolve() for p in given if p.exists()})) or (cwd.resolve(),)
        if paths not in self._analysed:  # a role's task found by two playbooks: once, in the first one's words
            self._analysed[paths] = [locate(f) for f in distinct(lint(paths))]
        return self._analysed[paths]

    def matchyaml(self, file: Lintable) -> list[MatchError]:
        """The findings at tasks of ``file``, and those the walk of the playbook ``file`` found in the files it
        plays (a role's tasks): each on its own file, never twice."""
        if str(file.base_kind) != "text/yaml":
            return []
        here = file.path.resolve()
        matches: list[MatchError] = []
        for item in self.located():
            if here not in (item.file, item.walk) or item.key in self._reported:
                continue
            self._reported.add(item.key)
            target = file if item.file == here else Lintable(item.file)
            hint = f"Hint: {item.finding.hint}" if item.finding.hint else ""
            if item.finding.severity == "advice":
                warnings.warn(
                    item.finding.message,
                    category=LintWarning,
                    source=WarnSource(filename=target, lineno=item.line, tag=ADVICE_TAG,
                                      message=f"{item.finding.message} ({hint})" if hint else item.finding.message),
                    stacklevel=2,
                )
                continue
            if target is not file:
                target.data  # noqa: B018  (loading the file reads its "# noqa" comments, honoured per line)
            matches.append(self.create_matcherror(message=_message(item.finding), lineno=item.line, details=hint,
                                                  filename=target))
        return matches

    def transform(self, match: MatchError, lintable: Lintable, data: Any) -> None:
        """Apply ``asyncplay lint --fix``'s change to ``lintable``: every fixable finding of the file at once, on
        its first match (the file's text fixed as ``plan_fixes`` does, loaded back into ``data``); its other
        matches are then fixed too. Kinds whose fix is the author's are left as they are."""
        from ansiblelint.yaml_utils import FormattedYAML
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        path = lintable.path.resolve()
        if path not in self._fixed:
            findings = [item.finding for item in self.located() if item.file == path and item.finding.kind in FIXABLE]
            change = next((c for c in plan_fixes(findings).files if c.path.resolve() == path), None)
            self._fixed[path] = False
            if change is not None:
                fixed = FormattedYAML(version=(1, 1) if lintable.is_owned_by_ansible() else None).load(change.after)
                if isinstance(data, CommentedSeq) and isinstance(fixed, CommentedSeq):
                    data.clear()
                    data.extend(fixed)
                elif isinstance(data, CommentedMap) and isinstance(fixed, CommentedMap):
                    data.clear()
                    data.update(fixed)
                else:
                    return
                data.ca.items.clear()
                data.ca.items.update(fixed.ca.items)
                self._fixed[path] = True
        fixable = any(item.finding.kind in FIXABLE and item.file == path and item.line == match.lineno
                      for item in self.located())
        if self._fixed[path] and fixable:
            match.fixed = True
