#!/usr/bin/env bash
# Build the one-folder Linux app into dist/annotator/ with PyInstaller (the `app-bundle` extra):
#   dist/annotator/annotator            the app (no arguments) and every `annotator` subcommand
#   dist/annotator/annotator.desktop    launcher entry; install-desktop-entry.sh registers it
# Model cards and resources/ travel under annotator/_data/, where annotator.paths looks.
# Takes several minutes (torch and Qt are most of the ~1 GB); run it under `nice` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m PyInstaller --version >/dev/null 2>&1 || "$PY" -m pip install -q "pyinstaller>=6.10"
work=build/pyinstaller
"$PY" -m PyInstaller --noconfirm --clean --onedir --name annotator \
    --distpath dist --workpath "$work" --specpath "$work" \
    --collect-submodules annotator \
    --add-data "$PWD/models:annotator/_data/models" \
    --add-data "$PWD/resources:annotator/_data/resources" \
    --exclude-module ray --exclude-module sklearn --exclude-module scipy \
    --exclude-module transformers --exclude-module pytest --exclude-module hypothesis \
    --exclude-module tkinter --exclude-module matplotlib --exclude-module IPython \
    packaging/annotator_app.py
cp packaging/annotator.desktop resources/icons/annotator.svg packaging/install-desktop-entry.sh dist/annotator/
chmod +x dist/annotator/install-desktop-entry.sh
du -sh dist/annotator
