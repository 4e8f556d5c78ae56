#!/usr/bin/env bash
# Set up .venv (if needed) and launch the app. Extra arguments go to `annotator`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh app
exec .venv/bin/annotator "$@"
