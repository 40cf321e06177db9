"""The ansible-lint rule ``async-unreaped``, over the plugin's own reap lint (:func:`pytest_asyncplay.audit.lint`).

This folder is an ansible-lint rules directory: ``ansible-lint -R -r "$(python -m pytest_asyncplay.ansible_lint)"``
loads ``async_unreaped.py`` from it. Nothing here imports ansible-lint; only that module does, and only
ansible-lint imports it (as a top-level module, from this folder).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RULES_DIR", "RULE_ID"]

#: The folder to hand to ``ansible-lint -r`` (it holds the rule module and nothing else ansible-lint would load).
RULES_DIR = Path(__file__).resolve().parent
#: The rule's id, as ``skip_list``, ``warn_list`` and ``# noqa:`` name it.
RULE_ID = "async-unreaped"
