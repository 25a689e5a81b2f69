#!/usr/bin/env bash
# Installs the test dependencies (Python venv + the official npm client) and runs every check:
# ruff, mypy (strict on src/) and the pytest suite. Used by CI (.ci/run) and by developers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
if [ -f tests/clients/js/package-lock.json ]; then
    (cd tests/clients/js && npm ci --silent --no-audit --no-fund)
fi
echo "== ruff"
.venv/bin/ruff check src tests examples bench
echo "== mypy (strict, src/)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
