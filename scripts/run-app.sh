#!/usr/bin/env bash
# Builds and opens the Argus Usage desktop window on the default store
# (~/.local/share/argus-usage/usage.db, or ARGUS_USAGE_DB). Installs what is
# missing first. With no display (a server, CI), it runs under Xvfb and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/ui.sh   # the window's UI (ui/dist), embedded in the app at build time
# A debug build of every binary, as the test suite makes it, so that Tauri is not compiled twice.
cargo build --workspace --bins
app="${CARGO_TARGET_DIR:-target}/debug/argus-usage-desktop"

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run-app: no display found; running the window under Xvfb" >&2
  # Inside xvfb-run, DISPLAY and XAUTHORITY name the virtual screen: print
  # them, so that a screenshot can be taken from another shell.
  exec xvfb-run -a -s '-screen 0 1280x800x24' sh -c \
    'echo "run-app: take a screenshot from another shell with: DISPLAY=$DISPLAY XAUTHORITY=$XAUTHORITY import -window root shot.png" >&2; exec "$0"' "$app"
fi
exec "$app"
