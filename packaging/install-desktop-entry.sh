#!/usr/bin/env bash
# Register this folder's Annotator with the desktop (launcher entry + icon) for the current user.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
cp "$here/annotator.svg" "$icons/annotator.svg"
sed "s|^Exec=annotator|Exec=\"$here/annotator\"|" "$here/annotator.desktop" > "$apps/annotator.desktop"
echo "installed $apps/annotator.desktop (runs $here/annotator)"
