#!/usr/bin/env bash
# Run tox with every pyenv-installed Python on PATH (python3.9 ... python3.13), so each env finds
# its interpreter without pyenv shims or `pyenv global`.
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in "$HOME"/.pyenv/versions/3.*/bin; do
  [ -d "$bin" ] && PATH="$PATH:$bin"
done
export PATH
exec .venv/bin/tox "$@"
