#!/usr/bin/env bash
# Make or reuse the project's virtual environment at .venv with the pinned dependencies.
# Reinstalls only when the lock files or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
want="$(cat requirements.lock requirements-test.lock pyproject.toml | sha256sum | cut -c1-16)"
stamp=.venv/.annotator-deps
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
    # torch first, pinned, so nothing later can make pip choose a (CUDA) build from the index.
    pip_install torch==2.13.0
    pip_install -r requirements.lock -r requirements-test.lock
    pip_install --no-deps -e .
    echo "$want" > "$stamp"
fi
