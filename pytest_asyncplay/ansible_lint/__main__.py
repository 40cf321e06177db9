"""``python -m pytest_asyncplay.ansible_lint``: print the rules directory for ``ansible-lint -r``."""

from __future__ import annotations

from pytest_asyncplay.ansible_lint import RULES_DIR

if __name__ == "__main__":
    print(RULES_DIR)
