#!/usr/bin/env bash
# Builds and opens the Argus Usage desktop window on the default store
# (~/.local/share/argus-usage/usage.db, or ARGUS_USAGE_DB). Installs what is
# missing first. With no display (a server, CI), it runs under Xvfb and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release -p argus-desktop -p argus-cli
app=target/release/argus-usage-desktop
if [ -n "${CARGO_TARGET_DIR:-}" ]; then app="$CARGO_TARGET_DIR/release/argus-usage-desktop"; fi

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run-app: no display found; running the window under Xvfb (take a screenshot with: import -window root shot.png)" >&2
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$app"
fi
exec "$app"
