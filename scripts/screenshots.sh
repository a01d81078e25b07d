#!/usr/bin/env bash
# Takes screenshots of every screen of the real desktop window, light and
# dark, on a fresh demo store, under Xvfb, into docs/screenshots/console-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ui.sh
cargo build --workspace --bins
target="$(realpath "${CARGO_TARGET_DIR:-target}")"
(cd ui && CARGO_TARGET_DIR="$target" xvfb-run -a -s '-screen 0 1600x1000x24' node desktop/screenshots.mjs)
