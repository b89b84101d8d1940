#!/usr/bin/env bash
# Set up .venv and run the whole test suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
ensure_venv 'dev,async,local'
"$VENV/bin/ruff" check .
"$VENV/bin/mypy" --strict src
"$VENV/bin/pytest" -q "$@"
