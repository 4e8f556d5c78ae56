#!/usr/bin/env bash
# Build an installable wheel of Annotator into dist/ (uses the project's .venv).
# Install elsewhere with: pip install torch==2.13.0 && pip install dist/annotator-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
.venv/bin/python -m pip wheel --no-deps --no-build-isolation -w dist .
ls -l dist/
